"""The finer level: sub-themes under each candidate theme (themekit.themes.subthemes)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from themekit.themes.subthemes import split_themes


def _blob(rng: np.random.Generator, centre: np.ndarray, n: int, spread: float) -> np.ndarray:
    return centre + spread * rng.standard_normal((n, len(centre)))


def test_a_theme_of_two_clear_parts_is_split_and_a_blob_is_not() -> None:
    rng = np.random.default_rng(0)
    dim = 64
    a, b, c = (rng.standard_normal(dim) for _ in range(3))
    X = np.vstack(
        [
            _blob(rng, a, 20, 0.1),  # theme 0, part one
            _blob(rng, -a, 20, 0.1),  # theme 0, part two: far from part one
            _blob(rng, b, 40, 1.0),  # theme 1: one round cloud, no parts
            _blob(rng, c, 6, 0.1),  # theme 2: too small to split
        ]
    )
    labels = np.asarray([0] * 40 + [1] * 40 + [2] * 6 + [-1] * 0)
    split = split_themes(X, labels, seed=1)
    assert split.themes[0]["k"] == 2
    assert len(set(split.sub[:20].tolist())) == 1 and len(set(split.sub[20:40].tolist())) == 1
    assert split.sub[0] != split.sub[20]
    assert split.themes[1]["k"] == 1 and "no clear parts" in split.themes[1]["reason"]
    assert split.themes[2]["k"] == 1 and "too few" in split.themes[2]["reason"]
    assert (split.sub[40:] == -1).all()
    ids = split.ids(labels)
    assert {ids[0], ids[20]} == {"0.1", "0.2"} and ids[40] == "" and ids[-1] == ""
    fine = split.fine_labels(labels)
    assert len(set(fine.tolist())) == 4  # two parts of theme 0, theme 1 whole, theme 2 whole
    # deterministic for a seed
    np.testing.assert_array_equal(split_themes(X, labels, seed=1).sub, split.sub)


def test_outliers_are_never_split() -> None:
    rng = np.random.default_rng(2)
    X = np.vstack([_blob(rng, np.ones(16), 30, 0.1), _blob(rng, -np.ones(16), 30, 0.1)])
    split = split_themes(X, np.full(60, -1))
    assert split.themes == {} and (split.sub == -1).all()
    with pytest.raises(ValueError, match="59 embeddings for 60 labels"):
        split_themes(X[:59], np.zeros(60, dtype=int))


@pytest.fixture(scope="module")
def demo_in_question_directions(demo_result: Any) -> Any:
    """The demo with its themes found in the question directions (``question_space: on``), where
    its themes fall into parts. By default they are now found in the seeded full vectors (issue
    14, twelfth session), where no theme splits (as on the rest of the suite; README). Its
    vectors come from the session's cache, which ``demo_result`` filled."""
    import themekit

    from .conftest import DEMO_CONFIG

    overrides = ["evaluation.bootstrap=0", "themes.question_space=on"]
    return themekit.run(DEMO_CONFIG, write=False, overrides=overrides)


def test_demo_themes_carry_their_sub_themes_into_every_output(
    demo_in_question_directions: Any,
) -> None:
    from themekit.report import render_markdown

    demo_result = demo_in_question_directions

    labels = np.asarray(demo_result.labels)
    ids = demo_result.subtheme_ids
    assert ids is not None and len(ids) == len(labels)
    split_any = False
    for theme in demo_result.themes:
        if not theme.subthemes:
            continue
        split_any = True
        assert sum(s.size for s in theme.subthemes) == theme.size
        mine = {ids[i] for i in np.flatnonzero(labels == theme.id)}
        assert mine == {s.id for s in theme.subthemes}
        assert all(s.id.startswith(f"{theme.id}.") and s.label for s in theme.subthemes)
        assert demo_result.manifest.subthemes[str(theme.id)]["k"] == len(theme.subthemes)
    assert split_any
    frame = demo_result.assignments()
    assert {"subtheme", "subtheme_label"} <= set(frame.columns)
    assert "Sub-themes" in render_markdown(demo_result)
    assert "themes fall into clear parts" in render_markdown(demo_result)


def test_a_large_theme_is_split_on_a_sample_and_placed_chunk_by_chunk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from themekit.themes import subthemes

    rng = np.random.default_rng(3)
    a = rng.standard_normal(16)
    X = np.vstack([_blob(rng, a, 150, 0.1), _blob(rng, -a, 150, 0.1)]).astype(np.float32)
    labels = np.zeros(300, dtype=int)
    monkeypatch.setattr(subthemes, "FIT_SAMPLE", 100)  # fitted on 100 of the 300
    whole = split_themes(X, labels, seed=1)
    monkeypatch.setattr(subthemes, "PREDICT_CHUNK", 37)
    chunked = split_themes(X, labels, seed=1)
    assert whole.themes[0]["k"] == 2
    np.testing.assert_array_equal(whole.sub, chunked.sub)
    assert len(set(whole.sub[:150].tolist())) == 1 and whole.sub[0] != whole.sub[150]
