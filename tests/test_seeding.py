"""Discovery seeded by the codebook (``themes.seed_with_codebook``, :mod:`themekit.themes.seeding`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from themekit.config import load_config
from themekit.embed.base import l2_normalize
from themekit.errors import ConfigError
from themekit.explain import seeding_sentences
from themekit.themes import ThemeFinder, seeding

from .conftest import DEMO_CONFIG, REPO


def _themed(n_per: int, d: int, spread: float, seed: int = 0) -> tuple[np.ndarray, dict, list]:
    """Unit vectors in three groups, each around one theme vector (plus noise of ``spread``),
    the theme vectors, and each row's theme."""
    rng = np.random.default_rng(seed)
    vectors = {t: l2_normalize(rng.normal(size=(1, d)))[0] for t in ("a", "b", "c")}
    rows, codes = [], []
    for t, v in vectors.items():
        rows.append(v + spread * rng.normal(size=(n_per, d)))
        codes += [t] * n_per
    return l2_normalize(np.vstack(rows)), vectors, codes


def test_contrast_ratio_is_one_for_random_directions_and_high_along_the_themes() -> None:
    rng = np.random.default_rng(1)
    noise = l2_normalize(rng.normal(size=(600, 64)))
    unrelated = {t: l2_normalize(rng.normal(size=(1, 64)))[0] for t in "abc"}
    assert 0.7 < seeding.contrast_ratio(noise, unrelated) < 1.3
    Y, vectors, _ = _themed(50, 64, spread=0.15)
    assert seeding.contrast_ratio(Y, vectors) > 3 * seeding.MIN_CONTRAST_RATIO
    assert np.isnan(seeding.contrast_ratio(Y, {"a": vectors["a"]}))


def test_seeds_move_toward_their_theme_and_other_never_attracts() -> None:
    Y, vectors, codes = _themed(20, 32, spread=0.3)
    codes[0] = codes[25] = "other"  # coded other: not seeds, left where they are
    ratio = seeding.contrast_ratio(Y, vectors)
    Z, rec = seeding.seed("auto", 0.25, Y, codes, vectors, ratio)
    assert rec is not None and rec.used and rec.setting == "auto"
    assert rec.n_coded_other == 2 and rec.n_seeds == int(seeding.seeds(Y, codes, vectors).sum())
    moved = np.flatnonzero(~np.isclose(Z, Y).all(axis=1))
    assert 0 not in moved and 25 not in moved and len(moved) == rec.n_seeds
    assert np.allclose(np.linalg.norm(Z, axis=1), 1.0, atol=1e-5)
    for i in moved:  # each seed is now closer to its own theme vector
        assert Z[i] @ vectors[codes[i]] > Y[i] @ vectors[codes[i]]
    assert "moved 0.25 of the way" in rec.reason
    assert seeding.seed(False, 0.25, Y, codes, vectors, ratio) == (Y, None)
    assert seeding.seed("auto", 0.25, Y, None, vectors, ratio)[1] is None


def test_auto_falls_back_when_the_codebook_does_not_fit_and_true_forces_it() -> None:
    rng = np.random.default_rng(2)
    Y = l2_normalize(rng.normal(size=(90, 64)))  # no theme structure at all
    vectors = {t: l2_normalize(rng.normal(size=(1, 64)))[0] for t in "abc"}
    codes = [("a", "b", "c")[int(j)] for j in np.argmax(Y @ np.stack(list(vectors.values())).T, 1)]
    ratio = seeding.contrast_ratio(Y, vectors)
    Z, rec = seeding.seed("auto", 0.25, Y, codes, vectors, ratio)
    assert rec is not None and not rec.used and Z is Y
    assert rec.reason.startswith("the codebook does not fit these segments")
    assert "not told apart" in rec.reason
    Z, rec = seeding.seed(True, 0.25, Y, codes, vectors, ratio)
    assert rec is not None and rec.used and "seeded as set" in rec.reason
    assert not np.allclose(Z, Y)


def test_auto_keeps_the_seeds_only_when_they_recover_more_codebook_themes() -> None:
    Y, vectors, codes = _themed(20, 32, spread=0.3)
    _, rec = seeding.seed("auto", 0.5, Y, codes, vectors, seeding.contrast_ratio(Y, vectors))
    assert rec is not None and rec.used and rec.codebook_check is None
    assert seeding.gain_check(rec, unseeded=1, seeded=3, n_themes=3)
    assert rec.used and rec.codebook_check == {"unseeded": 1, "seeded": 3, "codebook_themes": 3}
    assert rec.reason.endswith("than the unseeded one (3 vs 1 of 3)")
    _, rec = seeding.seed("auto", 0.5, Y, codes, vectors, seeding.contrast_ratio(Y, vectors))
    assert rec is not None
    assert not seeding.gain_check(rec, unseeded=2, seeded=2, n_themes=3)  # a tie: not seeded
    assert not rec.used and rec.codebook_check == {"unseeded": 2, "seeded": 2, "codebook_themes": 3}
    assert rec.reason.startswith("the clustering of the seeded vectors would recover no more")
    (s,) = seeding_sentences({"codebook_seeding": rec.to_dict()})
    assert s.startswith("Discovery was not seeded by the codebook: the clustering of the seeded")
    q = seeding.in_question_directions("auto", 0.5)
    assert not q.used and q.setting == "auto" and "question directions" in q.reason


def test_at_the_codebook_ceiling_the_seeds_are_kept_and_the_reason_says_why() -> None:
    """Both clusterings recover every codebook theme: "strictly more" cannot be measured there,
    so the check falls back to seeding (rule (c), benchmarks/RESULTS.md, twelfth session); one
    theme short of it, a tie still leaves the vectors unseeded."""
    Y, vectors, codes = _themed(20, 32, spread=0.3)
    ratio = seeding.contrast_ratio(Y, vectors)
    _, rec = seeding.seed("auto", 0.5, Y, codes, vectors, ratio)
    assert rec is not None and not rec.kept_at_ceiling
    assert seeding.gain_check(rec, unseeded=3, seeded=3, n_themes=3)
    assert rec.used and rec.kept_at_ceiling
    assert rec.codebook_check == {"unseeded": 3, "seeded": 3, "codebook_themes": 3}
    assert rec.reason.endswith("at that ceiling a gain cannot be measured, so the seeds are kept")
    assert rec.to_dict()["kept_at_ceiling"] is True
    (s,) = seeding_sentences({"codebook_seeding": rec.to_dict()})
    assert s.startswith("Discovery was seeded by the codebook") and "(3 vs 3 of 3)" in s
    for unseeded, seeded in ((3, 2), (2, 2)):  # below the ceiling, or the seeds lose one
        _, rec = seeding.seed("auto", 0.5, Y, codes, vectors, ratio)
        assert rec is not None
        assert not seeding.gain_check(rec, unseeded=unseeded, seeded=seeded, n_themes=3)
        assert not rec.used and not rec.kept_at_ceiling


def _count(codes: list[str]):  # type: ignore[no-untyped-def]
    """The codebook themes a k-means clustering (k by silhouette, 3-6) of some vectors
    recovers, as ``codes`` say: the finder's own check, on the finder's own clusterer."""
    from themekit.themes.cluster import AutoKMeans
    from themekit.themes.space import codebook_recovery

    return lambda V: codebook_recovery(AutoKMeans("auto", 3, 6, 0).fit(V).labels_, codes, "other")


def test_the_full_vectors_seeded_replace_the_question_directions_only_when_they_pass() -> None:
    """Where auto chose the question directions, the full vectors are seeded as auto seeds them
    and clustered instead only when the fit check and the gain check pass; the space record
    says so (``seeded_full``) and switches to the full vectors."""
    from themekit.themes.space import SpaceChoice, use_seeded_full

    Y, vectors, codes = _themed(20, 32, spread=0.3)
    ratio = seeding.contrast_ratio(Y, vectors)
    out, rec, check = seeding.over_question_directions(0.5, Y, codes, vectors, ratio, _count(codes))
    assert out is not None and rec.used and check["used"]
    assert check == {"used": True, "unseeded": 3, "seeded": 3, "codebook_themes": 3}
    assert rec.kept_at_ceiling and rec.reason.endswith("(themes.question_space: auto)")
    assert not np.allclose(out, Y)
    q = SpaceChoice("question", "auto", "more stable", n_components=4)
    use_seeded_full(q, check)
    assert q.used == "full" and q.n_components == 0 and q.seeded_full == check
    assert q.reason.startswith("more stable; but seeded by the codebook, the full vectors'")
    assert q.reason.endswith("so the seeded full vectors were clustered instead")
    # a codebook the vectors do not tell apart: the question directions stay, unseeded
    rng = np.random.default_rng(4)
    unrelated = {t: l2_normalize(rng.normal(size=(1, 32)))[0] for t in "abc"}
    bad = seeding.contrast_ratio(Y, unrelated)
    out, rec, check = seeding.over_question_directions(0.5, Y, codes, unrelated, bad, _count(codes))
    assert out is None and not rec.used and not check["used"]
    assert check["unseeded"] is None and check["seeded"] is None
    assert rec.reason.startswith(seeding.in_question_directions("auto", 0.5).reason)
    assert "the codebook does not fit these segments" in rec.reason
    q = SpaceChoice("question", "auto", "more stable", n_components=4)
    use_seeded_full(q, check)
    assert q.used == "question" and q.reason == "more stable" and q.seeded_full == check


def test_auto_is_the_default_and_weighs_half() -> None:
    from themekit.config.themes import ThemesConfig

    cfg = ThemesConfig()
    assert cfg.seed_with_codebook == "auto" and cfg.seed_weight == seeding.DEFAULT_SEED_WEIGHT
    est = ThemeFinder()
    assert est.seed_with_codebook == "auto" and est.seed_weight == 0.5


def test_bad_settings_name_the_key(tmp_path: Path) -> None:
    job = tmp_path / "job.yaml"
    job.write_text("corpus:\n  path: x.csv\n", encoding="utf-8")
    assert load_config(job, ["themes.seed_with_codebook=true"]).themes.seed_with_codebook is True
    assert load_config(job, ["themes.seed_with_codebook=auto"]).themes.seed_with_codebook == "auto"
    for key, bad in (
        ("themes.seed_with_codebook", "sometimes"),
        ("themes.seed_weight", "0"),
        ("themes.seed_weight", "1.5"),
    ):
        with pytest.raises(ConfigError, match=rf"\[{key}[\].]"):
            load_config(job, [f"{key}={bad}"])
    X = l2_normalize(np.random.default_rng(0).normal(size=(10, 8)))
    with pytest.raises(ConfigError, match=r"themes\.seed_with_codebook"):
        ThemeFinder(seed_with_codebook="yes").fit(X, [f"t{i}" for i in range(10)])
    with pytest.raises(ConfigError, match=r"themes\.seed_weight"):
        ThemeFinder(seed_weight=1.0).fit(X, [f"t{i}" for i in range(10)])


def test_report_sentences_say_whether_discovery_was_seeded() -> None:
    assert seeding_sentences({}) == []
    used = {"used": True, "setting": "auto", "weight": 0.25, "reason": "40 of 80 segments ..."}
    (s,) = seeding_sentences({"codebook_seeding": used})
    assert s.startswith("Discovery was seeded by the codebook, so it is not independent of it")
    assert "themes.seed_with_codebook: auto" in s and "themes.seed_weight: 0.25" in s
    off = {"used": False, "setting": "auto", "reason": "the codebook does not fit these segments"}
    (s,) = seeding_sentences({"codebook_seeding": off})
    assert s.startswith("Discovery was not seeded by the codebook: the codebook does not fit")


@pytest.mark.slow
def test_the_demo_seeded_by_its_codebook(demo_result) -> None:  # type: ignore[no-untyped-def]
    """The real demo (e5, its codebook; embeddings from the session's cache): by default (auto)
    the question directions are chosen, then the full vectors seeded by the codebook recover
    more of its themes and are clustered instead, and the report says so; with the question
    directions forced (on) they are not seeded; forced (true), seeding changes the clustering
    only, and k is still chosen by the data."""
    import themekit
    from themekit.report import render_markdown
    from themekit.report_html import render_html

    sd = demo_result.manifest.codebook_seeding
    sp = demo_result.manifest.clustering_space
    assert sd is not None and sd["used"] and sd["setting"] == "auto"
    assert sp["used"] == "full" and sp["seeded_full"]["used"]
    assert sp["seeded_full"]["seeded"] >= sp["seeded_full"]["unseeded"]
    assert "instead of the question directions" in sd["reason"]
    assert "Discovery was seeded by the codebook" in render_markdown(demo_result)
    assert "the seeded full vectors were clustered instead" in render_markdown(demo_result)
    common = ["evaluation.bootstrap=0", "themes.subthemes=false"]
    on = themekit.run(DEMO_CONFIG, write=False, overrides=[*common, "themes.question_space=on"])
    assert on.manifest.clustering_space["used"] == "question"
    assert not on.manifest.codebook_seeding["used"]
    assert "auto seeds in the full vectors only" in on.manifest.codebook_seeding["reason"]
    res = themekit.run(
        DEMO_CONFIG, write=False, overrides=[*common, "themes.seed_with_codebook=true"]
    )
    sd = res.manifest.codebook_seeding
    assert sd is not None and sd["used"] and sd["setting"] == "true"
    assert sd["contrast_ratio"] >= seeding.MIN_CONTRAST_RATIO
    assert set(sd["seeds_per_theme"]) == {"support", "giving_back", "leader_hope"}
    assert 0 < sd["n_seeds"] <= sd["n_segments"] - sd["n_coded_other"]
    assert res.manifest.k is not None and res.manifest.k["by"] in (
        "silhouette",
        "silhouette and the codebook",
    )
    # the themes are described in the unseeded vectors (forced, in the question directions
    # auto chose): the same as the unseeded run's
    assert np.allclose(res.cluster_embeddings, on.cluster_embeddings)
    assert "Discovery was seeded by the codebook" in render_markdown(res)
    assert "Discovery was seeded by the codebook" in render_html(res)


@pytest.mark.slow
def test_a_codebook_of_another_study_is_not_used_to_seed() -> None:
    """The caregiving corpus with the demo's (recovery group) codebook: auto falls back and the
    manifest and report say why; with its own codebook it seeds."""
    import themekit
    from themekit.report import render_markdown

    job = REPO / "benchmarks" / "corpora" / "caregiving" / "job.yaml"
    common = ["evaluation.bootstrap=0", "themes.seed_with_codebook=auto", "themes.subthemes=false"]
    own = themekit.run(job, write=False, overrides=common)
    sd = own.manifest.codebook_seeding
    assert sd["used"] and sd["codebook_check"]["seeded"] > sd["codebook_check"]["unseeded"]
    other = themekit.run(
        job,
        write=False,
        overrides=[
            *common,
            "codebook.path=themekit://demo/codebook.yaml",
            "evaluation.unknown_codes=ignore",
            "evaluation.enabled=false",
        ],
    )
    sd = other.manifest.codebook_seeding
    assert not sd["used"] and sd["contrast_ratio"] < seeding.MIN_CONTRAST_RATIO
    assert "Discovery was not seeded by the codebook" in render_markdown(other)
