"""The HTML report: written into the run folder, self-contained, every section present, text escaped."""

from __future__ import annotations

import dataclasses
import re
from html.parser import HTMLParser

import pandas as pd
import pytest

from themekit.corpus import Corpus
from themekit.report_html import SECTION_IDS, project_2d, render_html

from .conftest import DEMO_CONFIG
from .conftest import FAST_DEMO as FAST


class _Scan(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.external: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(str(a["id"]))
        if tag == "script":
            self.scripts += 1
        for key in ("src", "href"):
            url = a.get(key) or ""
            if tag in ("script", "link", "img", "iframe") and re.match(r"(https?:)?//", url):
                self.external.append(url)


def _scan(text: str) -> _Scan:
    s = _Scan()
    s.feed(text)
    return s


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory):
    pytest.importorskip("themekit.describe", reason="the describe stage has not landed yet")
    pytest.importorskip("themekit.themes", reason="the theme stage has not landed yet")
    import themekit

    return themekit.run(
        DEMO_CONFIG,
        overrides=FAST,
        out_dir=tmp_path_factory.mktemp("runs"),
    )


def test_report_is_written_self_contained_with_every_section(demo_run) -> None:
    path = demo_run.path / "report.html"
    text = path.read_text(encoding="utf-8")
    scan = _scan(text)
    assert scan.external == []
    assert not re.search(r"<script[^>]*\bsrc=", text)  # plotly.js is inline, not fetched
    assert set(SECTION_IDS) <= scan.ids
    assert {f"theme-{t.id}" for t in demo_run.themes} <= scan.ids
    assert text.count("Plotly.newPlot") == len([i for i in scan.ids if i.startswith("fig-")])
    assert len(re.findall(r"plotly\.js v\d", text)) == 1  # the library is inlined once
    assert demo_run.scores is not None
    assert {"fig-agreement-heatmap", "agreement-figures", "agreement-themes"} <= scan.ids
    for t in demo_run.themes:
        for q in t.quotes:
            assert q.segment_id in text
    assert "provenance-config" in scan.ids and demo_run.manifest["model_id"] in text

    coords = pd.read_csv(demo_run.path / "embeddings_2d.csv")
    assert coords["segment_id"].tolist() == demo_run.corpus.ids
    assert coords["theme_id"].tolist() == [int(x) for x in demo_run.labels]


def test_report_without_hand_codes_says_so(demo_run) -> None:
    text = render_html(dataclasses.replace(demo_run, scores=None))
    scan = _scan(text)
    assert set(SECTION_IDS) <= scan.ids
    assert "agreement-none" in scan.ids and "fig-agreement-heatmap" not in scan.ids


def test_transcript_text_is_escaped(demo_run) -> None:
    nasty = "<script>alert('x')</script> & <img src=x onerror=alert(1)>"
    segs = list(demo_run.corpus)
    segs[0] = dataclasses.replace(segs[0], text=nasty, speaker="<b>Azman</b>")
    text = render_html(dataclasses.replace(demo_run, corpus=Corpus(segs)))
    assert "alert('x')</script>" not in text and "<img src=x" not in text
    assert "&lt;script&gt;alert(&#x27;x&#x27;)" in text  # in the map's hover text
    base = _scan(render_html(demo_run)).scripts
    assert _scan(text).scripts == base


def test_projection_is_deterministic_and_two_dimensional() -> None:
    import numpy as np

    X = np.random.default_rng(0).normal(size=(50, 8))
    a, b = project_2d(X), project_2d(X[:, ::-1][:, ::-1].copy())
    assert a.shape == (50, 2)
    np.testing.assert_allclose(a, b)
    np.testing.assert_allclose(project_2d(-X), -a, atol=1e-9)  # axis signs fixed by the loadings
    assert project_2d(np.zeros((1, 3))).shape == (1, 2)


def test_projection_matches_the_svd_and_does_not_depend_on_the_chunk() -> None:
    import numpy as np

    X = np.random.default_rng(1).normal(size=(300, 12)) * np.linspace(3, 0.5, 12)
    Xc = X - X.mean(axis=0)
    _, _, vt = np.linalg.svd(Xc, full_matrices=False)
    ref = np.abs(Xc @ vt[:2].T)
    got = project_2d(X.astype(np.float32), chunk=7)
    np.testing.assert_allclose(np.abs(got), ref, atol=1e-4)  # same axes up to their signs
    np.testing.assert_allclose(got, project_2d(X), atol=1e-4)


def test_map_sample_keeps_every_theme_in_proportion() -> None:
    import numpy as np

    from themekit.html_parts import map_sample

    labels = np.array([0] * 9000 + [1] * 900 + [2] * 3 + [-1] * 97)
    rows = map_sample(labels, limit=1000)
    counts = {t: int((labels[rows] == t).sum()) for t in (0, 1, 2, -1)}
    assert counts == {0: 900, 1: 90, 2: 1, -1: 10}
    assert np.all(np.diff(rows) > 0)
    np.testing.assert_array_equal(map_sample(labels[:500], limit=1000), np.arange(500))
