"""Nothing lost, nothing silently changed: path safety, codes checked, user mistakes exit 2.

Each test backs a row of docs/bad-inputs.md. The runs use the TF-IDF backend on the first
session of the demo: what is checked here does not depend on the embeddings.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from themekit.cli import app
from themekit.config import OutputConfig, load_config
from themekit.errors import ConfigError, InputError, UserError
from themekit.pipeline import run
from themekit.rundir import atomic_folder, check_export_target, safe_name

from .conftest import DEMO

runner = CliRunner()

JOB = {
    "seed": 1,
    "corpus": {"path": "week1.txt", "hand_codes": "hand_codes.csv"},
    "segmentation": {"strategy": "turn", "moderator": "context"},
    "embedding": {"backend": "tfidf"},
    "themes": {"mode": "guided"},
    "codebook": {"path": "codebook.yaml"},
    "evaluation": {"bootstrap": 20},
    "output": {"dir": "runs", "html": False},
}


def _cli(args: list[str]) -> tuple[int, str, str]:
    res = runner.invoke(app, args)
    return res.exit_code, res.stdout, res.stderr


def make_project(folder: Path, typo: bool = False, **changes: object) -> Path:
    """A project folder: week1 of the demo, its hand codes (one 'support' misspelt when
    ``typo``), the codebook and job.yaml. Returns the job file."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("week1.txt", "codebook.yaml"):
        shutil.copy(DEMO / name, folder / name)
    with open(DEMO / "hand_codes.csv", encoding="utf-8") as fh:
        rows = [r for r in csv.reader(fh) if r[0] == "segment_id" or r[0].startswith("week1")]
    if typo:
        first = next(r for r in rows if r[4] == "support")
        first[4] = "suport"
    with open(folder / "hand_codes.csv", "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    job = json.loads(json.dumps(JOB))
    for key, value in changes.items():
        node = job
        *parents, last = key.split("__")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    (folder / "job.yaml").write_text(yaml.safe_dump(job), encoding="utf-8")
    return folder / "job.yaml"


@pytest.fixture(scope="module")
def guided_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A written guided run of the clean project."""
    job = make_project(tmp_path_factory.mktemp("proj"))
    result = run(job, overrides=["output.name=clean"], out_dir=job.parent / "runs")
    assert result.path is not None
    return result.path


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


# ------------------------------------------------------------------------------ 1. output.name
@pytest.mark.parametrize("name", [".", "..", ".hidden", "a/b", "../x", "/etc", ""])
def test_output_name_must_be_one_folder_name(name: str) -> None:
    with pytest.raises(ValueError, match="single folder name"):
        OutputConfig(name=name)


@pytest.mark.parametrize("name", ["..", "."])
def test_output_name_dots_delete_nothing(tmp_path: Path, name: str) -> None:
    job = make_project(tmp_path / "proj")
    (tmp_path / "proj" / "runs" / "old").mkdir(parents=True)
    before = _tree(tmp_path)
    code, _, err = _cli(
        [
            "run",
            str(job),
            "--out",
            str(tmp_path / "proj" / "runs"),
            "--set",
            f"output.name={name}",
            "--set",
            "output.overwrite=true",
            "-q",
        ]
    )
    assert code == 2
    assert "[output.name]" in err and "single folder name" in err
    assert _tree(tmp_path) == before
    assert (tmp_path / "proj" / "runs" / "old").is_dir()


def test_overwrite_replaces_only_a_folder_themekit_wrote(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("precious", encoding="utf-8")
    with pytest.raises(UserError, match="not a run folder themekit wrote"):
        with atomic_folder(mine, replace=True):
            pass
    assert (mine / "notes.txt").read_text(encoding="utf-8") == "precious"
    # a folder with a manifest.json that is not themekit's is not replaced either
    (mine / "manifest.json").write_text('{"name": "my app"}', encoding="utf-8")
    with pytest.raises(UserError, match="not a run folder themekit wrote"):
        with atomic_folder(mine, replace=True):
            pass
    # a link to a run folder is not followed
    run_dir = tmp_path / "run"
    with atomic_folder(run_dir) as tmp:
        (tmp / "manifest.json").write_text('{"themekit_version": "0"}', encoding="utf-8")
    link = tmp_path / "link"
    link.symlink_to(run_dir)
    with pytest.raises(UserError, match="not a run folder"):
        with atomic_folder(link, replace=True):
            pass
    # a run folder is replaced, and nothing else is left next to it
    with atomic_folder(run_dir, replace=True) as tmp:
        (tmp / "manifest.json").write_text('{"themekit_version": "1"}', encoding="utf-8")
    assert json.loads((run_dir / "manifest.json").read_text())["themekit_version"] == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "mine", "run"]


def test_failed_block_leaves_no_partial_folder(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        with atomic_folder(tmp_path / "r"):
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------ 2. evaluate --name
@pytest.mark.parametrize("name", ["..", ".", "../../X", "/tmp/X", "a/b", ".x"])
def test_evaluate_name_is_checked(guided_run: Path, tmp_path: Path, name: str) -> None:
    before = _tree(guided_run.parent.parent)
    code, _, err = _cli(
        [
            "evaluate",
            str(guided_run),
            "--codes",
            str(guided_run.parent.parent / "hand_codes.csv"),
            "--name",
            name,
        ]
    )
    assert code == 2, err
    assert "single folder name" in err
    assert _tree(guided_run.parent.parent) == before


def test_safe_name() -> None:
    assert safe_name("coder-2.v1", what="x") == "coder-2.v1"
    for bad in ("..", ".", "a/b", "a\\b", "/abs", ""):
        with pytest.raises(UserError):
            safe_name(bad, what="x")


def test_evaluate_replaces_only_its_own_evaluation(guided_run: Path) -> None:
    codes = guided_run.parent.parent / "hand_codes.csv"
    foreign = guided_run / "evaluations" / "mine"
    foreign.mkdir(parents=True)
    (foreign / "keep.txt").write_text("x", encoding="utf-8")
    code, _, err = _cli(["evaluate", str(guided_run), "--codes", str(codes), "--name", "mine"])
    assert code == 2 and "themekit never deletes it" in err
    assert (foreign / "keep.txt").is_file()
    for _ in range(2):  # a second evaluation of the same name replaces the first
        code, _out, err = _cli(["evaluate", str(guided_run), "--codes", str(codes), "-q"])
        assert code == 0, err
    assert (guided_run / "evaluations" / "hand_codes" / "scores.json").is_file()


# ------------------------------------------------------------------------------ 3. hand codes
def test_unknown_hand_code_stops_before_any_work(tmp_path: Path) -> None:
    job = make_project(tmp_path / "p", typo=True)
    code, _, err = _cli(["run", str(job), "--out", str(tmp_path / "p" / "runs"), "-q"])
    assert code == 2
    assert "'suport' x1" in err and "week1-" in err and "hand_codes.csv, row" in err
    assert "evaluation.unknown_codes: ignore" in err
    assert not (tmp_path / "p" / "runs").exists()


def test_unknown_hand_code_in_discover_mode_too(tmp_path: Path) -> None:
    job = make_project(tmp_path / "p", typo=True, themes__mode="discover")
    with pytest.raises(InputError, match="suport"):
        run(job, write=False)


def test_guided_coding_never_reads_hand_codes(
    guided_run: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    job = make_project(tmp_path / "p", typo=True, evaluation__unknown_codes="ignore")
    result = run(job, write=False)
    assert "dropped 1 hand code(s)" in caplog.text and "suport" in caplog.text
    clean = pd.read_csv(guided_run / "assignments.csv")
    assert result.codebook_theme == clean["codebook_theme"].tolist()
    # the segment with the typo is not scored; the others are
    assert result.scores is not None
    assert result.scores.n_segments == len(clean) - 1


def test_evaluate_checks_codes_against_the_runs_codebook(guided_run: Path, tmp_path: Path) -> None:
    make_project(tmp_path / "p", typo=True)
    typo = tmp_path / "p" / "hand_codes.csv"
    code, _, err = _cli(["evaluate", str(guided_run), "--codes", str(typo), "--name", "t"])
    assert code == 2 and "suport" in err
    assert not (guided_run / "evaluations" / "t").exists()
    code, _, err = _cli(
        [
            "evaluate",
            str(guided_run),
            "--codes",
            str(typo),
            "--name",
            "t",
            "--unknown-codes",
            "ignore",
        ]
    )
    assert code == 0, err
    assert "dropped 1 hand code(s)" in err


def test_guided_codebook_with_one_theme_is_refused(tmp_path: Path) -> None:
    job = make_project(tmp_path / "p")
    book = yaml.safe_load((tmp_path / "p" / "codebook.yaml").read_text(encoding="utf-8"))
    book["themes"] = [t for t in book["themes"] if t["id"] == "support"]
    (tmp_path / "p" / "codebook.yaml").write_text(yaml.safe_dump(book), encoding="utf-8")
    (tmp_path / "p" / "hand_codes.csv").write_text(
        "segment_id,code\nweek1-0001,support\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError, match="at least 2 themes") as info:
        run(job, write=False)
    assert info.value.key == "codebook.path"


def test_guided_codebook_without_other_codes_only_its_ids(guided_run: Path, tmp_path: Path) -> None:
    """Without an 'other' theme, segments that fit none are coded codebook.other_id."""
    job = make_project(tmp_path / "p", evaluation__enabled=False)
    book = yaml.safe_load((tmp_path / "p" / "codebook.yaml").read_text(encoding="utf-8"))
    book["themes"] = [t for t in book["themes"] if t["id"] != "other"]
    (tmp_path / "p" / "codebook.yaml").write_text(yaml.safe_dump(book), encoding="utf-8")
    result = run(job, write=False)
    ids = {t["id"] for t in book["themes"]}
    assert result.codebook_theme is not None
    assert set(result.codebook_theme) <= ids | {"other"}
    assert len(set(result.codebook_theme) & ids) >= 2


# ------------------------------------------------------------------------------ 4. export
def test_export_never_overwrites_without_force(guided_run: Path, tmp_path: Path) -> None:
    own = guided_run / "assignments.csv"
    before = own.read_bytes()
    code, _, err = _cli(["export", str(guided_run), "--qdpx", str(own)])
    assert code == 2 and "ending in .qdpx" in err
    code, _, err = _cli(["export", str(guided_run), "--qdpx", str(own), "--force"])
    assert code == 2
    assert own.read_bytes() == before
    target = tmp_path / "out.qdpx"
    target.write_bytes(b"mine")
    code, _, err = _cli(["export", str(guided_run), "--qdpx", str(target)])
    assert code == 2 and "--force" in err
    assert target.read_bytes() == b"mine"
    code, _, err = _cli(["export", str(guided_run), "--qdpx", str(target), "--force"])
    assert code == 0, err
    assert target.read_bytes()[:2] == b"PK"


def test_export_target_checks(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        check_export_target(tmp_path / "no" / "a.qdc", suffix=".qdc", option="--qdc", force=False)
    (tmp_path / "d.qdc").mkdir()
    with pytest.raises(UserError, match="is a folder"):
        check_export_target(tmp_path / "d.qdc", suffix=".qdc", option="--qdc", force=True)


# ------------------------------------------------------------------------------ 9. umask
@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o755), (0o077, 0o700), (0o002, 0o775)])
def test_run_folder_follows_the_umask(tmp_path: Path, mask: int, mode: int) -> None:
    old = os.umask(mask)
    try:
        with atomic_folder(tmp_path / "r") as tmp:
            (tmp / "f").write_text("x", encoding="utf-8")
    finally:
        os.umask(old)
    assert (tmp_path / "r").stat().st_mode & 0o777 == mode


def test_load_config_is_unchanged_by_checks(tmp_path: Path) -> None:
    job = make_project(tmp_path / "p")
    cfg = load_config(job)
    assert cfg.evaluation.unknown_codes == "error"


# ------------------------------------------------------------------------------ 7. user mistakes
def _corpus_job(tmp_path: Path, lines: list[str], **changes: object) -> Path:
    (tmp_path / "t.txt").write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    job = {
        "corpus": {"path": "t.txt"},
        "embedding": {"backend": "tfidf"},
        "output": {"dir": str(tmp_path / "runs"), "html": False},
    }
    for key, value in changes.items():
        section, name = key.split("__")
        job.setdefault(section, {})[name] = value
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(job), encoding="utf-8")
    return tmp_path / "job.yaml"


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["A: Saya suka kumpulan ini kerana semua membantu."] * 20, "only 1 different text"),
        ([f"A{i % 3}: {['Ya.', 'Ok.', 'Hmm.'][i % 3]}" for i in range(30)], "stop word"),
        (["A: satu dua tiga empat", "B: lima enam tujuh"], "at least 3 segments"),
    ],
)
def test_corpus_that_cannot_give_themes_is_a_user_error(
    tmp_path: Path, lines: list[str], message: str
) -> None:
    job = _corpus_job(tmp_path, lines)
    code, _, err = _cli(["run", str(job), "-q"])
    assert code == 2, err
    assert message in err and "t.txt" in err and "bug" not in err
    assert not (tmp_path / "runs").exists()


def test_n_themes_more_than_segments(tmp_path: Path) -> None:
    lines = [f"A{i % 3}: kata{i} perkataan{i} lain{i}" for i in range(12)]
    job = _corpus_job(tmp_path, lines, themes__n_themes=50)
    code, _, err = _cli(["run", str(job), "-q"])
    assert code == 2 and "[themes.n_themes]" in err and "only 12 segments" in err


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("seed=true", "[seed]"),
        ("themes.n_themes=-3", "[themes.n_themes]"),
        ("themes.n_themes=0", "[themes.n_themes]"),
        ("themes.n_themes='5'", "[themes.n_themes]"),
        ("themes.n_themes=5000", "[themes.n_themes]"),
        ("base_dir=/etc", "[base_dir]"),
        ("output.html=yes-please", "[output.html]"),
    ],
)
def test_strict_config_values(tmp_path: Path, override: str, key: str) -> None:
    job = _corpus_job(tmp_path, ["A: x"])
    code, _, err = _cli(["validate", str(job), "--set", override])
    assert code == 2, err
    assert key in err and "job.yaml" in err


def test_out_is_a_file(tmp_path: Path) -> None:
    job = _corpus_job(tmp_path, [f"A{i % 3}: kata{i} perkataan{i}" for i in range(10)])
    (tmp_path / "afile").write_text("x", encoding="utf-8")
    code, _, err = _cli(["run", str(job), "--out", str(tmp_path / "afile"), "-q"])
    assert code == 2 and "is a file" in err
    code, _, err = _cli(["run", str(job), "--out", str(tmp_path / "afile" / "sub"), "-q"])
    assert code == 2 and "is a file" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into read-only folders")
def test_out_is_read_only(tmp_path: Path) -> None:
    job = _corpus_job(tmp_path, [f"A{i % 3}: kata{i} perkataan{i}" for i in range(10)])
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        code, _, err = _cli(["run", str(job), "--out", str(ro), "-q"])
    finally:
        ro.chmod(0o755)
    assert code == 2 and "not writable" in err


def test_remote_model_without_network_is_a_user_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """allow_remote: true, no network (here: HF_HUB_OFFLINE): exit 2 naming the model."""
    from themekit.config import EmbeddingConfig
    from themekit.embed import build_embedder
    from themekit.errors import RemoteAccessError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = EmbeddingConfig(
        backend="sentence-transformers", model="nobody/no-such-model-xyz", allow_remote=True
    )
    with pytest.raises(RemoteAccessError, match="nobody/no-such-model-xyz"):
        build_embedder(cfg).encode(["a text"])


def test_damaged_cache_is_rebuilt_not_a_crash(tmp_path: Path) -> None:
    import numpy as np

    from themekit.embed.cache import EmbeddingCache, text_hash

    cache = EmbeddingCache(tmp_path, "test:damaged")
    vecs = np.eye(3, 4, dtype=np.float32)
    cache.put([text_hash(t) for t in "abc"], vecs)
    meta = json.loads((cache.dir / "meta.json").read_text())
    (cache.dir / "meta.json").write_text(json.dumps({**meta, "dim": 7}), encoding="utf-8")
    (cache.dir / ("s-3-" + "0" * 32 + ".npz")).mkdir()  # a folder where a shard should be
    assert cache.dim is not None
    cache.put([text_hash(t) for t in "de"], np.ones((2, 4), dtype=np.float32))
    rows = sum(len(h) for h, _ in cache.iter_shards())
    assert rows == 2 and cache.dim == 4


# ------------------------------------------------------------------------------ 5. limits
BOMB = "\n".join(
    ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    + ["corpus: {path: *a8}", "themes: {nonsense: *a8}"]
)


def test_yaml_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    (tmp_path / "bomb.yaml").write_text(BOMB, encoding="utf-8")
    assert len(BOMB) < 600
    code, _, err = _cli(["validate", str(tmp_path / "bomb.yaml")])
    assert code == 2 and "aliases" in err and "bomb.yaml" in err


@pytest.mark.parametrize(
    "text", ["a: &a [*a]", "a: " + "[" * 5000 + "]" * 5000, "seed: " + "x" * 6_000_000]
)
def test_self_referencing_deep_or_huge_yaml(tmp_path: Path, text: str) -> None:
    (tmp_path / "j.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError):
        load_config(tmp_path / "j.yaml")


def test_override_with_alias_bomb_is_refused(tmp_path: Path) -> None:
    job = _corpus_job(tmp_path, ["A: x"])
    with pytest.raises(ConfigError, match="aliases"):
        load_config(job, ["themes.stop_words=" + BOMB.replace("\n", ", ").join("{}")])


def test_error_message_of_a_large_value_is_short(tmp_path: Path) -> None:
    (tmp_path / "j.yaml").write_text(
        "corpus: {path: a.txt}\nthemes:\n  nonsense: " + json.dumps(["w" * 1000] * 500),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "j.yaml")
    assert "[themes.nonsense]" in str(info.value) and len(str(info.value)) < 400


def _qdpx(path: Path, member_bytes: int) -> Path:
    import zipfile

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("project.qde", '<Project xmlns="urn:QDA-XML:project:1.0" name="x"/>')
        zf.writestr("sources/a.txt", b"\0" * member_bytes)
    return path


def test_qdpx_unpacked_size_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from themekit.qda import read_qdpx

    small = _qdpx(tmp_path / "b.qdpx", 3_000_000)
    assert small.stat().st_size < 20_000
    with pytest.raises(InputError, match=r"unpack to 3 MB .*at most 1 MB"):
        read_qdpx(small, max_mb=1)
    monkeypatch.setenv("THEMEKIT_QDPX_MAX_MB", "2")
    with pytest.raises(InputError, match="at most 2 MB"):
        read_qdpx(small)
    monkeypatch.setenv("THEMEKIT_QDPX_MAX_MB", "lots")
    with pytest.raises(InputError, match="THEMEKIT_QDPX_MAX_MB"):
        read_qdpx(small)
    monkeypatch.delenv("THEMEKIT_QDPX_MAX_MB")
    assert read_qdpx(small).codes == []  # under the default 200 MB


def test_a_very_long_line_is_refused_naming_it(tmp_path: Path) -> None:
    lines = ["A: satu dua", "B: tiga empat", "C: " + "kata " * 30_000, "A: lima"]
    job = _corpus_job(tmp_path, lines)
    code, _, err = _cli(["run", str(job), "-q"])
    assert code == 2
    assert "t.txt, line 3" in err and "150,003 characters" in err


def test_a_very_long_table_cell_is_refused_naming_it(tmp_path: Path) -> None:
    pd.DataFrame({"id": ["a", "b", "c"], "text": ["x y", "z " * 60_000, "w v"]}).to_parquet(
        tmp_path / "t.parquet"
    )
    job = _corpus_job(tmp_path, ["A: x"])
    cfg = load_config(job, ["corpus.path=t.parquet"])
    with pytest.raises(InputError, match=r"t.parquet: turn 'b' is 119,999 characters"):
        run(cfg, write=False)


# ------------------------------------------------------------------------------ 6. decoding
def test_a_few_bad_bytes_in_utf8_are_replaced_not_redecoded(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from themekit.readers import read_text

    good = "A: Café — it’s naïve\nB: ya lah\n" * 5
    data = good.encode("utf-8")
    cut = data.index(b"B: ya", 40)  # the start of line 4
    (tmp_path / "t.txt").write_bytes(data[:cut] + b"\xff" + data[cut:])
    text = read_text(tmp_path / "t.txt")
    assert text.replace("\ufffd", "") == good  # every é, — and ’ intact
    assert text.count("\ufffd") == 1
    assert "line(s) 4" in caplog.text and "U+FFFD" in caplog.text


def test_single_byte_guess_names_the_codec_and_shows_the_characters(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from themekit.readers import read_text

    (tmp_path / "t.txt").write_bytes("A: Café — it’s\n".encode("cp1252"))
    assert read_text(tmp_path / "t.txt") == "A: Café — it’s\n"
    assert "cp1252" in caplog.text and "'é' (0xE9)" in caplog.text and "'’' (0x92)" in caplog.text


def test_a_file_mixing_utf8_and_other_bytes_is_refused(tmp_path: Path) -> None:
    from themekit.readers import read_text

    (tmp_path / "t.txt").write_bytes("A: Café\n".encode() + b"B: \xe9\xe8\xe0\xf9 ok\n")
    with pytest.raises(InputError, match=r"t.txt, line 2: mixes 1 valid UTF-8"):
        read_text(tmp_path / "t.txt")


VTT = """WEBVTT

00:00:01.000 --> 00:00:02.000
<v Aina>Saya rasa kumpulan ini membantu.

00:00:03.000 -> 00:00:04.000
<v Badrul>This cue has a broken arrow.

00:00:06.000 --> 00:00:05.000
<v Chong>This cue ends before it starts.

00:00:07.000 --> 00:00:08.000
<v Aina>Terima kasih semua.
"""

SRT = """1
00:00:01,000 --> 00:00:02,000
Aina: Saya rasa kumpulan ini membantu.

2
00:00:03,000 --> 00:00:0x,000
Badrul: This block has bad timing.

3
00:00:07,000 --> 00:00:08,000
Chong: Terima kasih semua.
"""


@pytest.mark.parametrize(("name", "content", "line"), [("a.vtt", VTT, 6), ("a.srt", SRT, 6)])
def test_subtitle_cue_with_bad_timing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, name: str, content: str, line: int
) -> None:
    from themekit.readers import read_srt, read_vtt

    reader = read_vtt if name.endswith("vtt") else read_srt
    (tmp_path / name).write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=rf"{name}, line {line}: the cue has a malformed timing"):
        reader(tmp_path / name, "s")
    turns = reader(tmp_path / name, "s", lenient=True)
    texts = " ".join(t.text for t in turns)
    assert "Badrul" not in texts and "broken" not in texts and "bad timing" not in texts
    assert "Saya rasa" in texts and "Terima kasih" in texts
    assert f"line {line}" in caplog.text
    if name.endswith("vtt"):
        assert "line 9: ends before it starts" in caplog.text
    source = (tmp_path / name).read_text(encoding="utf-8")
    for t in turns:  # offsets still point into the file
        assert t.offsets is not None
        assert "".join(source[i] for i in t.offsets) == t.text


def test_reversed_cue_is_refused(tmp_path: Path) -> None:
    from themekit.readers import read_srt

    (tmp_path / "r.srt").write_text("1\n00:00:05,000 --> 00:00:01,000\nA: hi\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"r\.srt, line 2: the cue ends before it starts"):
        read_srt(tmp_path / "r.srt", "s")


# ------------------------------------------------------------------------------ 9. housekeeping
def test_stale_partial_folders_are_cleaned(tmp_path: Path) -> None:
    from themekit.rundir import clean_stale

    old = tmp_path / ".run.partial-abc123x"
    fresh = tmp_path / ".run.partial-def456y"
    mine = tmp_path / ".notes.partial"  # not a themekit name
    for p in (old, fresh, mine):
        p.mkdir()
        (p / "f").write_text("x", encoding="utf-8")
    os.utime(old, (0, 0))
    os.utime(mine, (0, 0))
    with atomic_folder(tmp_path / "run2") as tmp:
        (tmp / "f").write_text("x", encoding="utf-8")
    assert not old.exists() and fresh.is_dir() and mine.is_dir()
    assert clean_stale(tmp_path, older_than_s=0) == [fresh]
    assert mine.is_dir()
