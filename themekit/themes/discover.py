"""Discover mode of :class:`themekit.themes.ThemeFinder`: BERTopic with a reducer and cluster model
sized to the corpus, the space chosen from the data, k recorded honestly.

Functions here take the fitted-or-fitting finder (``est``) for its parameters; the finder holds
the state. The steps are listed in :mod:`themekit.themes.finder`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from themekit.embed.base import ROW_CHUNK, even_blocks, l2_normalize, rows_in_front
from themekit.themes import seeding
from themekit.themes import space as space_choice
from themekit.themes.cluster import (
    DEFAULT_MIN_THEMES,
    SILHOUETTE_TOLERANCE,
    k_choice,
    make_clusterer,
    make_reducer,
)
from themekit.themes.subspace import QuestionSubspace

if TYPE_CHECKING:  # pragma: no cover
    from themekit.context import QuestionContext

#: The finder these functions serve (:class:`themekit.themes.finder.ThemeFinder`, which imports
#: this module: typed loosely here so that the two do not import each other).
ThemeFinder = Any

logger = logging.getLogger(__name__)

#: From this many segments on, ``clustering: auto`` uses HDBSCAN on UMAP (BERTopic's own recipe,
#: with sizes scaled to the corpus) instead of k-means on the full embeddings
#: (benchmarks/RESULTS.md: k-means is better on a few hundred segments, HDBSCAN+UMAP on SIB-200).
DENSITY_MIN_SEGMENTS = 1000


def resolved(est: ThemeFinder, n: int) -> tuple[str, str]:
    """The clustering and reduction ``auto`` resolves to for ``n`` segments."""
    clustering = est.clustering
    if clustering == "auto":
        large = n >= DENSITY_MIN_SEGMENTS and est.n_themes == "auto"
        clustering = "hdbscan" if large else "kmeans"
    if est.reduction != "auto":
        return clustering, est.reduction
    return clustering, ("umap" if clustering == "hdbscan" else "none")


def sample(n: int, size: int, seed: int) -> np.ndarray:
    """All rows, or a sorted random sample of ``size`` of them."""
    if n <= size:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=size, replace=False))


def clusterer(
    est: ThemeFinder,
    clustering: str,
    n: int,
    seed: int,
    n_themes: int | str | None = None,
    reference: Sequence[str] | None = None,
) -> Any:
    """The finder's cluster model; ``reference``: the codebook coding of the ``n`` rows, for
    ``themes.codebook_k`` (the final fit only: the space choice and the refits use the
    silhouette's k)."""
    return make_clusterer(
        clustering,
        n,
        n_themes=est.n_themes if n_themes is None else n_themes,
        min_k=lowest_k(est),
        max_k=est.max_themes,
        seed=seed,
        codebook_k=est.codebook_k if reference is not None else "off",  # floor: lowest_k
        reference=reference,
        other_id=est._other_id(),
    )


def lowest_k(est: ThemeFinder) -> int:
    """The smallest k tried: ``themes.min_themes`` when set; else, under ``codebook_k: floor``
    with a codebook, the codebook's size (its themes and ``other``); else
    :data:`~themekit.themes.cluster.DEFAULT_MIN_THEMES`."""
    if est.min_themes is not None:
        return int(est.min_themes)
    cb = getattr(est, "_codebook", None)
    if est.codebook_k == "floor" and est.mode == "discover" and cb is not None:
        return max(2, len(cb.ids))
    return DEFAULT_MIN_THEMES


def coding_record(est: ThemeFinder, codes: Sequence[str] | None) -> dict[str, Any] | None:
    """How discover's codebook coding (no hand codes; it checks the space, moves k and picks the
    seeds) scaled each theme's similarities: ``themes.guided_scale`` as guided mode does
    (``setting``; ``scale``: what was applied, ``none`` when the language means were not
    removed) and how many segments it gave each code. None without a codebook. The spread
    scale made the coding agree better with the hand codes on 9 of the suite's 11 corpora
    with a codebook (``prompts_no_qmark`` κ 0.55 -> 0.72; benchmarks/RESULTS.md, tenth
    session)."""
    if codes is None:
        return None
    scale = est.guided_scale if est._remover is not None else "none"
    counts = dict(sorted(Counter(codes).items()))
    logger.info(
        "codebook coding (discover, no hand codes) scaled %s (themes.guided_scale: %s): %s",
        "by each theme's spread" if scale != "none" else "not at all",
        est.guided_scale,
        ", ".join(f"{c} {n}" for c, n in counts.items()),
    )
    return {"scale": scale, "setting": est.guided_scale, "codes": counts}


def choose_space(
    est: ThemeFinder,
    Y: np.ndarray,
    languages: Sequence[str] | None,
    context: QuestionContext | None,
    reference: Sequence[str] | None = None,
) -> tuple[np.ndarray, space_choice.SpaceChoice, QuestionSubspace | None]:
    """The space themes are found in (``Y`` or the question directions), why, and the fitted
    :class:`QuestionSubspace` when it is used. ``reference``: the segments' codes from the
    codebook coding, when there is a codebook (:func:`themekit.themes.space.choose`)."""
    evidence = context.evidence() if context is not None else {}
    setting = "off" if est.question_components == 0 else est.question_space
    Qv = context.question_vectors if context is not None else None
    if setting == "off" or context is None or Qv is None or not context.answers_question.any():
        choice = space_choice.choose(setting, evidence, Y, None, 0, _labels_fn(est), est.seed)
        return Y, choice, None
    # the directions are found in the answers' own vectors, so the question is not counted twice
    A = est._prepare(context.answer_vectors, languages, None, None)[0]
    evidence["question_share"] = round(space_choice.question_share(A, context.question_ids), 4)
    sub = QuestionSubspace(est.question_components).fit(A, Qv, context.question_ids)
    Zq = sub.transform(A) if sub.n_components_ else None
    choice = space_choice.choose(
        setting,
        evidence,
        Y,
        Zq,
        sub.n_components_,
        _labels_fn(est),
        est.seed,
        reference=reference,
        other_id=est._other_id(),
    )
    if choice.used == "question" and Zq is not None:
        logger.info(
            "themes found in %d directions along which %d answers vary with %d moderator "
            "questions, beside their full vectors: %s",
            sub.n_components_,
            sub.n_answers_,
            sub.n_questions_,
            choice.reason,
        )
        return Zq, choice, sub
    logger.info("themes found in the full vectors: %s", choice.reason)
    return Y, choice, None


def seed_space(
    est: ThemeFinder, Y: np.ndarray, Z: np.ndarray, codes: Sequence[str] | None
) -> tuple[np.ndarray, seeding.SeedingChoice | None]:
    """The vectors to cluster: ``Z`` (the space chosen; ``Y`` the full vectors) with the
    segments the codebook coding gives a theme nudged toward it
    (``themes.seed_with_codebook``, :mod:`themekit.themes.seeding`), or ``Z`` itself; and the
    record of that. ``auto`` seeds in the full vectors only, and keeps the seeds only when they
    make the clustering recover more of the codebook's themes, or all of them as the unseeded
    clustering does (:func:`seeding.gain_check`). Where ``themes.question_space: auto`` chose
    the question directions, the full vectors are seeded so and, when they pass, clustered
    instead (:func:`seeding.over_question_directions`; ``est.space_``, ``est.embeddings_`` and
    ``est.question_subspace_`` then say the full vectors); ``question_space: on`` keeps the
    question directions, unseeded."""
    cb, C = est._codebook, est._C
    est._codebook_contrast = None  # also gates themes.codebook_k (fit_bertopic)
    if codes is None or cb is None or C is None:
        return Z, None
    themes = [t for t in cb.ids if t != est._other_id()]
    owners = cb.descriptions()[1]
    full = seeding.theme_vectors(C, owners, themes)
    ratio = est._codebook_contrast = seeding.contrast_ratio(Y, full)
    if est.seed_with_codebook is False:
        return Z, None
    sub, auto, ref = est.question_subspace_, est.seed_with_codebook == "auto", codes

    def count(V: np.ndarray) -> int:  # clustered as the final fit is (k with themes.codebook_k)
        got = labels_only(est, V, est.seed, reference=ref)[0]
        return space_choice.codebook_recovery(got, ref, est._other_id())

    if auto and sub is not None and (est.space_ is None or est.space_.setting != "auto"):
        return Z, seeding.in_question_directions(est.seed_with_codebook, est.seed_weight)
    if auto and sub is not None:  # auto chose the question directions: the full vectors seeded?
        seeded, over, check = seeding.over_question_directions(
            est.seed_weight, Y, codes, full, ratio, count
        )
        space_choice.use_seeded_full(est.space_, check)
        if seeded is None:
            return Z, over
        est.embeddings_, est.question_subspace_ = Y, None  # described in the full vectors
        return seeded, over
    vectors = seeding.theme_vectors(sub.transform(C), owners, themes) if sub else full
    out, record = seeding.seed(est.seed_with_codebook, est.seed_weight, Z, codes, vectors, ratio)
    if record is not None and record.used and auto:
        if not seeding.gain_check(record, count(Z), count(out), len(themes)):
            return Z, record
    return out, record


def _labels_fn(est: ThemeFinder) -> Any:
    return lambda Z, seed, k=None: labels_only(est, Z, seed, k)[0]


def labels_only(
    est: ThemeFinder,
    Y: np.ndarray,
    seed: int,
    n_themes: int | None = None,
    reference: Sequence[str] | None = None,
) -> tuple[np.ndarray, int]:
    """Cluster without BERTopic (stability refits, the space choice, seeding's check; same
    models and rules as :func:`fit_bertopic`; ``n_themes`` overrides the finder's;
    ``reference``: the codebook coding of the rows, for ``themes.codebook_k``). Returns labels
    and the number of initial outliers."""
    n = len(Y)
    clustering, reduction = resolved(est, n)
    fit_idx = sample(n, est.sample_size, seed)
    reducer = make_reducer(reduction, len(fit_idx), seed)
    Z = reducer.fit_transform(Y[fit_idx]) if reduction == "umap" else Y[fit_idx]
    ref = None
    if reference is not None and est.codebook_k != "off":
        ref = [reference[int(i)] for i in fit_idx]
    model = clusterer(est, clustering, len(fit_idx), seed, n_themes, reference=ref)
    model.fit(Z)
    labels = np.full(n, -1, dtype=int)
    labels[fit_idx] = np.asarray(model.labels_, dtype=int)
    n_out = int((labels[fit_idx] == -1).sum())
    todo = np.ones(n, dtype=bool)
    todo[fit_idx] = False
    if est.outliers == "reassign":
        todo |= labels == -1
    if todo.any() and (labels >= 0).any():
        labels[todo] = nearest_centre(Y, labels, np.flatnonzero(todo))
    return relabel(labels), n_out


def fit_bertopic(
    est: ThemeFinder, Y: np.ndarray, texts: Sequence[str], codes: Sequence[str] | None = None
) -> tuple[Any, np.ndarray, int, dict[str, Any]]:
    """BERTopic with the reducer and cluster model in its slots, fitted on a sample when the
    corpus is larger than ``sample_size``; the rest assigned with ``transform``; outliers
    reassigned with ``reduce_outliers(strategy="embeddings")`` unless kept. ``codes``: the
    codebook coding, for ``themes.codebook_k``. Returns the model, the labels, the initial
    outliers and the k record (:func:`k_record`)."""
    n = len(Y)
    clustering, reduction = resolved(est, n)
    fit_idx = sample(n, est.sample_size, est.seed)
    skipped = codebook_k_gate(est) if codes is not None else None
    use_codes = codes is not None and est.codebook_k != "off" and skipped is None
    ref = [codes[i] for i in fit_idx] if codes is not None and use_codes else None
    cluster_model = clusterer(est, clustering, len(fit_idx), est.seed, reference=ref)
    tm = make_bertopic(
        est.stop_words, make_reducer(reduction, len(fit_idx), est.seed), cluster_model
    )
    topics = np.full(n, -1, dtype=int)
    Y_fit = Y[fit_idx]
    topics[fit_idx], _ = tm.fit_transform([texts[i] for i in fit_idx], embeddings=Y_fit)
    n_out = int((topics[fit_idx] == -1).sum())
    changed = False
    if len(fit_idx) < n:
        # the rest in one call (UMAP's transform draws its random numbers per call), as a view
        # of Y's rows moved in place rather than a copy of them (issue 15)
        rest = np.setdiff1d(np.arange(n), fit_idx)
        with rows_in_front(Y, rest, fit_idx, Y_fit) as Y_rest:
            pred, _ = tm.transform([texts[i] for i in rest], embeddings=Y_rest)
        topics[rest] = np.asarray(pred, dtype=int)
        changed = True
    if est.outliers == "reassign" and (topics == -1).any() and (topics >= 0).any():
        topics = reduce_outliers(tm, texts, topics, Y)
        # BERTopic keeps a document an outlier when its similarities sum to <= 0, which
        # happens in the centred (language-neutralised) space: nearest theme centre instead
        left = np.flatnonzero(topics == -1)
        if len(left):
            topics[left] = nearest_centre(Y, topics, left)
        changed = True
    if changed:
        tm.update_topics(list(texts), topics=topics.tolist())
    rec = k_record(cluster_model, clustering, topics)
    if skipped is not None and "codebook_k" in rec:
        rec["codebook_k"], rec["codebook_k_skipped"] = est.codebook_k, skipped
        logger.info("k was not checked against the codebook: %s", skipped)
    if rec.get("codebook_k") == "floor" and est.min_themes is None:
        rec["codebook_floor"] = lowest_k(est)  # the smallest k tried, from the codebook
    return tm, np.asarray(topics, dtype=int), n_out, rec


def codebook_k_gate(est: ThemeFinder) -> str | None:
    """None when ``themes.codebook_k`` (``near_best`` / ``range``) may use the codebook, else
    why not: only when the codebook fits the segments as seeding's ``auto`` requires (along the
    directions between its themes the segments vary at least
    :data:`~themekit.themes.seeding.MIN_CONTRAST_RATIO` times as much as along an average
    direction), so that a codebook of another domain cannot move k."""
    ratio = getattr(est, "_codebook_contrast", None)
    if est.codebook_k not in ("near_best", "range") or ratio is None:
        return None
    if ratio >= seeding.MIN_CONTRAST_RATIO:
        return None
    if not np.isfinite(ratio):
        return "the codebook has fewer than two themes to tell apart"
    return (
        f"along the directions between its themes the segments vary only {ratio:.1f} times as "
        f"much as along an average direction (needs {seeding.MIN_CONTRAST_RATIO:g}): its themes "
        "are not told apart in these vectors"
    )


def k_record(model: Any, clustering: str, labels: np.ndarray) -> dict[str, Any]:
    """How many themes, how chosen, and the runner-up (logged; a warning at a bound)."""
    if not hasattr(model, "n_clusters_"):  # HDBSCAN: the density decides
        k = len(set(labels.tolist()) - {-1})
        cap = getattr(model, "max_cluster_size", None)
        return {
            "chosen": k,
            "by": clustering,
            "runner_up": None,
            "at_bound": None,
            "max_theme_size": int(cap) if cap else None,
        }
    rec = k_choice(model)
    moved = rec["codebook_recovery"] is not None and rec["chosen"] != rec["silhouette_choice"]
    rec["by"] = (
        "fixed (themes.n_themes)"
        if rec["forced"]
        else ("silhouette and the codebook" if moved else "silhouette")
    )
    if rec["codebook_recovery"] is not None:
        logger.info("%s", codebook_k_sentence(rec))
    if rec["runner_up"] is not None:
        logger.info(
            "k=%d chosen by silhouette (%s); runner-up k=%d (%s), agreement with the chosen "
            "clustering ARI %s",
            rec["chosen"],
            rec["score"],
            rec["runner_up"],
            rec["runner_up_score"],
            rec["runner_up_agreement"],
        )
    if rec["at_bound"]:
        logger.warning("%s", bound_warning(rec))
    return rec


def codebook_k_sentence(rec: dict[str, Any]) -> str:
    """How the codebook took part in choosing k (``rec``: :func:`k_record`'s record, with
    ``codebook_recovery``)."""
    counts, k, sil = rec["codebook_recovery"], rec["chosen"], rec["silhouette_choice"]
    among = (
        f"the ks whose silhouette is within {SILHOUETTE_TOLERANCE:.0%} of the best"
        if rec["codebook_k"] == "near_best"
        else "every k of the range"
    )
    by_k = ", ".join(f"{kk}: {v}" for kk, v in sorted(counts.items()))
    of = rec.get("codebook_themes")
    if len(counts) == 1:
        return (
            f"The codebook could not move k: no other k is among {among} (themes.codebook_k: "
            f"{rec['codebook_k']})"
        )
    if k == sil:
        what = f"k = {k}, the silhouette's choice, recovers as many as any other"
    else:
        what = (
            f"k = {k} recovers more of them than the silhouette's choice, k = {sil} "
            f"({counts[k]} vs {counts[sil]})"
        )
    return (
        f"k was also checked against the codebook: among {among}, the codebook themes (of {of}) "
        f"that each clustering recovers, as the codebook coding sees them (no hand codes), are "
        f"{by_k}; {what} (themes.codebook_k: {rec['codebook_k']})"
    )


def bound_warning(rec: dict[str, Any]) -> str:
    """What a k at the bound of its range means (``rec``: :func:`k_record`'s record)."""
    k, lo_hi = rec["chosen"], rec["range"]
    if rec["at_bound"] == "upper":
        return (
            f"k={k} sits at the upper bound of its range {lo_hi}: the data may hold more themes; "
            "widen themes.max_themes or set themes.n_themes to look"
        )
    near = rec.get("near_best") or []
    if len(near) > 1:
        return (
            f"k={k} sits at the lower bound of its range {lo_hi}: it is the smallest of the ks "
            f"whose silhouette is within {SILHOUETTE_TOLERANCE:.0%} of the best "
            f"({', '.join(map(str, near))}; best k={rec.get('best')}), so the silhouette does "
            "not single out one k here; with many fine codes, look at a larger k "
            "(themes.n_themes)"
        )
    return (
        f"k={k} sits at the lower bound of its range {lo_hi} and has the best silhouette: the "
        "data may hold fewer themes (themes.min_themes), or finer ones that the silhouette on "
        "these vectors does not show (themes.n_themes)"
    )


def make_bertopic(stop_words: Sequence[str], reducer: Any, cluster_model: Any) -> Any:
    """A BERTopic that never loads a model (``embedding_model=None``; embeddings passed in),
    with Malay + English stop words removed from its c-TF-IDF keywords and each word counted
    once per segment, as in :func:`themekit.describe.describe_themes`."""
    from bertopic import BERTopic
    from bertopic.vectorizers import ClassTfidfTransformer
    from sklearn.feature_extraction.text import CountVectorizer

    from themekit.stopwords import TOKEN_PATTERN
    from themekit.stopwords import stop_words as all_stop_words

    vectorizer = CountVectorizer(
        stop_words=all_stop_words(stop_words), token_pattern=TOKEN_PATTERN, binary=True
    )
    return BERTopic(
        embedding_model=None,
        umap_model=reducer,
        hdbscan_model=cluster_model,
        vectorizer_model=vectorizer,
        ctfidf_model=ClassTfidfTransformer(reduce_frequent_words=True),
        calculate_probabilities=False,
        verbose=False,
    )


def describe_with_bertopic(
    stop_words: Sequence[str], texts: Sequence[str], Y: np.ndarray, labels: np.ndarray
) -> tuple[Any, np.ndarray]:
    """Fit BERTopic with the labels found (manual mode: ``BaseCluster`` + ``y``)."""
    from bertopic.cluster import BaseCluster
    from bertopic.dimensionality import BaseDimensionalityReduction

    tm = make_bertopic(stop_words, BaseDimensionalityReduction(), BaseCluster())
    topics, _ = tm.fit_transform(list(texts), embeddings=Y, y=np.asarray(labels))
    return tm, np.asarray(topics, dtype=int)


def reduce_outliers(
    tm: Any, texts: Sequence[str], topics: np.ndarray, Y: np.ndarray, chunk: int = ROW_CHUNK
) -> np.ndarray:
    """BERTopic's ``reduce_outliers(strategy="embeddings", threshold=-1)``, called on the
    outliers' rows only, in blocks (:func:`~themekit.embed.base.even_blocks`): BERTopic copies
    the rows it reassigns twice (a list of row views made into an array, then normalised), so
    one call over every outlier held two copies of them (issue 15). Each row's similarities
    are its own, so the topics are the same as one call's."""
    out = topics.copy()
    for rows in even_blocks(np.flatnonzero(topics == -1), chunk):
        got = tm.reduce_outliers(
            [texts[i] for i in rows.tolist()],
            [-1] * len(rows),
            strategy="embeddings",
            embeddings=Y[rows],
            threshold=-1.0,
        )
        out[rows] = np.asarray(got, dtype=int)
    return out


def nearest_centre(
    Y: np.ndarray, labels: np.ndarray, rows: np.ndarray, chunk: int = ROW_CHUNK
) -> np.ndarray:
    """For each of ``rows`` (indices into ``Y``) the label whose (unit) centre in ``Y`` it is
    most similar to. The centres are masked means (no copy of a theme's rows) and the rows are
    read in blocks; the numbers are those of ``Y[labels == c].mean(axis=0)`` and
    ``Y[rows] @ centres.T``."""
    keys = sorted(set(labels.tolist()) - {-1})
    cents = np.stack(
        [l2_normalize(Y.mean(axis=0, keepdims=True, where=(labels == c)[:, None]))[0] for c in keys]
    )
    out = np.empty(len(rows), dtype=np.asarray(keys).dtype)
    at = 0
    for block in even_blocks(np.asarray(rows), chunk):
        out[at : at + len(block)] = np.asarray(keys)[np.argmax(Y[block] @ cents.T, axis=1)]
        at += len(block)
    return out


def relabel(labels: np.ndarray) -> np.ndarray:
    """Consecutive ids 0..k-1 in order of first appearance (-1 kept)."""
    mapping: dict[int, int] = {}
    out = labels.copy()
    for i, v in enumerate(labels.tolist()):
        if v == -1:
            continue
        out[i] = mapping.setdefault(v, len(mapping))
    return out
