"""The learning curve of a semi-supervised run (themekit.themes.curve) and the QDPX output of
``themekit suggest`` (themekit.qda.folder.export_suggestions_qdpx). Fast: TF-IDF vectors or the
shared synthetic corpus, no fine-tuning."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

import themekit
from themekit.cli import app
from themekit.qda import read_qdpx
from themekit.qda.folder import TO_CODE, export_suggestions_qdpx
from themekit.qda.model import CODEBOOK_FOLDER
from themekit.themes import ThemeFinder
from themekit.themes.curve import curve_markdown, learning_curve

from .conftest import DEMO_CONFIG, FAST_DEMO

runner = CliRunner()


def _three_topics(n: int) -> tuple[list[str], list[str], list[str], np.ndarray]:
    """``n`` unit vectors around three well-separated directions, with their topic as code."""
    rng = np.random.default_rng(0)
    topics = [("food", "bus", "work")[i % 3] for i in range(n)]
    centres = {t: rng.normal(size=24) for t in ("food", "bus", "work")}
    X = np.stack([centres[t] + 0.4 * rng.normal(size=24) for t in topics]).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    langs = ["ms" if i % 2 else "en" for i in range(n)]
    words = {"food": "rice curry lunch", "bus": "driver ticket stop", "work": "boss shift pay"}
    texts = [f"{words[t]} {t} number {i}" for i, t in enumerate(topics)]
    return texts, langs, topics, X


def test_learning_curve_scores_only_the_segments_not_given() -> None:
    n = 150
    texts, langs, topics, X = _three_topics(n)
    finder = ThemeFinder(mode="semi-supervised", semi_supervised_share=0.3, seed=3)
    curve = learning_curve(
        finder, X[:n], texts[:n], topics[:n], shares=[0.5, 0.05, 0.2], languages=langs[:n]
    )
    points = curve["points"]
    assert [p["share"] for p in points] == [0.05, 0.2, 0.5]
    given = [p["n_given"] for p in points]
    assert given == sorted(given) and given[0] < given[-1]
    assert all(p["n_given"] + p["n_scored"] == n for p in points)
    # well-separated topics: coded almost perfectly from a few examples each
    assert all(p["kappa"] is not None and p["kappa"] > 0.8 for p in points)
    assert curve["method"] == "prototype" and curve["vectors"] == "frozen"
    # the finder handed in is not refitted
    assert not hasattr(finder, "labels_")


def test_learning_curve_in_manifest_and_reports(tmp_path: Path) -> None:
    result = themekit.run(
        DEMO_CONFIG,
        out_dir=tmp_path,
        overrides=[
            *FAST_DEMO,
            "themes.mode=semi-supervised",
            "themes.semi_supervised.method=prototype",  # the curve, not the method, is tested
            "themes.semi_supervised.learning_curve=[0.1,0.3,0.5]",
        ],
    )
    assert result.path is not None
    manifest = json.loads((result.path / "manifest.json").read_text(encoding="utf-8"))
    curve = manifest["semi_supervised"]["learning_curve"]
    assert [p["share"] for p in curve["points"]] == [0.1, 0.3, 0.5]
    # the point at the run's own share is the run's own prototype coding, so its kappa
    assert result.scores is not None
    at_run = next(p for p in curve["points"] if p["share"] == 0.3)
    assert abs(at_run["kappa"] - result.scores.cohen_kappa) < 1e-3
    md = (result.path / "report.md").read_text(encoding="utf-8")
    assert "### Learning curve" in md and "| 50% |" in md
    html = (result.path / "report.html").read_text(encoding="utf-8")
    assert 'id="learning-curve"' in html and "fig-learning-curve" in html
    assert curve_markdown(result.manifest)[0] == "### Learning curve"


def test_no_learning_curve_when_switched_off(tmp_path: Path) -> None:
    result = themekit.run(
        DEMO_CONFIG,
        write=False,
        overrides=[
            *FAST_DEMO,
            "themes.mode=semi-supervised",
            "themes.semi_supervised.method=prototype",
            "themes.semi_supervised.learning_curve=[]",
        ],
    )
    assert result.manifest.semi_supervised["learning_curve"] is None  # type: ignore[attr-defined]
    assert curve_markdown(result.manifest) == []


def test_suggestions_as_qdpx(tmp_path: Path) -> None:
    result = themekit.run(DEMO_CONFIG, out_dir=tmp_path, overrides=[*FAST_DEMO])
    assert result.path is not None
    segs = pd.read_csv(result.path / "segments.csv", dtype={"id": str}, keep_default_na=False)
    answers = segs[segs["is_context"].astype(str).str.lower() != "true"]
    ids = [str(v) for v in answers["id"].iloc[[5, 40, 100, 7]]]
    out = export_suggestions_qdpx(
        result.path, ids, ["giving_back", "other", "support"], tmp_path / "next.qdpx"
    )
    project = read_qdpx(out)
    assert [s.name for s in sorted(project.selections, key=lambda s: ids.index(s.name))] == ids
    todo = next(c for c in project.codes if c.name == TO_CODE)
    assert all(s.codes == (todo.guid,) for s in project.selections)
    folder = next(c for c in project.codes if c.name == CODEBOOK_FOLDER)
    under = sorted(c.name for c in project.codes if c.parent == folder.guid)
    assert under == ["giving_back", "other", "support"]
    text = dict(zip(answers["id"].astype(str), answers["text"], strict=True))
    for sel in project.selections:  # each selection spans its segment's text in its source
        source = project.source(sel.source).text
        assert (
            text[sel.name] in source[sel.start : sel.end]
            or source[sel.start : sel.end] in text[sel.name]
        )
    with zipfile.ZipFile(out) as zf:
        assert "project.qde" in zf.namelist()


def test_suggest_refuses_to_overwrite_a_qdpx(tmp_path: Path) -> None:
    result = themekit.run(DEMO_CONFIG, out_dir=tmp_path, overrides=[*FAST_DEMO])
    assert result.path is not None
    target = tmp_path / "next.qdpx"
    target.write_bytes(b"keep me")
    res = runner.invoke(app, ["suggest", str(result.path), "--qdpx", str(target)])
    assert res.exit_code == 2 and "--qdpx" in res.output
    assert target.read_bytes() == b"keep me"
    # no CSV is written beside it when only --qdpx is asked for
    assert not (result.path / "suggestions.csv").exists()
    res = runner.invoke(app, ["suggest", str(result.path), "--qdpx", str(tmp_path / "n.txt")])
    assert res.exit_code == 2 and ".qdpx" in res.output
