"""Coding segments with a codebook: the nearest codebook theme, refined by self-training.

Measured on the demo corpus (benchmarks/themes_choices.py, multilingual-e5-small): scoring a
segment against a theme by the *mean* cosine to the theme's description texts, after removing the
language means from segments and descriptions alike, then fitting a logistic regression on the
half of each theme's segments with the clearest margin (plus the descriptions themselves) and
relabelling, gave the highest Cohen's kappa; max/top-3 cosine and prototype centroids were lower.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from themekit.codebook import Codebook
from themekit.config.themes import DEFAULT_QUESTION_WEIGHT

logger = logging.getLogger(__name__)

#: Share of each theme's segments (highest margin first) used to train the self-training classifier.
SELF_TRAIN_SHARE = 0.5

#: ``themes.guided_scale``: how each codebook theme's similarities are scaled before the first
#: coding in guided mode (:func:`scale_scores`); the default is the first.
GUIDED_SCALES = ("spread", "none")

#: Default ``themes.question_weight``: ``"auto"`` (:func:`choose_question_weight`), or how much of
#: the mean theme probabilities of the answers to the same moderator question each answer takes
#: (defined by the config schema; measured in benchmarks/RESULTS.md, benchmarks/question_pooling.py).
QUESTION_WEIGHT = DEFAULT_QUESTION_WEIGHT
#: ``auto``: the weight used when the answers to one question share their theme.
AUTO_POOL_WEIGHT = 0.5
#: ``auto``: pool only when the answers' own theme probabilities agree within questions at least
#: this much beyond chance (:func:`question_agreement`); derived on the development suite, where
#: corpora that pooling helped scored 0.55 or more and those it hurt 0.43 or less
#: (benchmarks/RESULTS.md, "Pooling answers to one question, decided from the data").
AUTO_MIN_AGREEMENT = 0.5
#: ``auto``: and only with at least this many questions that two or more answers follow.
AUTO_MIN_QUESTIONS = 5


def description_languages(codebook: Codebook) -> list[str]:
    """The language of each text of ``codebook.descriptions()[0]`` ("unknown" where not recorded).

    Follows the order of :meth:`CodebookTheme.descriptions`: name, definitions, inclusion notes,
    keyword lists (one per language), examples.
    """
    langs: list[str] = []
    for t in codebook.themes:
        langs.append("unknown")
        langs += [_lang(k) for k, v in t.definition.items() if v.strip()]
        langs += ["unknown"] * len([n for n in t.include if n.strip()])
        langs += [_lang(k) for k, words in t.keywords.items() if words]
        langs += [_lang(e.language) for e in t.examples]
    return langs


def _lang(key: str) -> str:
    return key if key not in ("any", "") else "unknown"


def theme_scores(
    segments: np.ndarray, descriptions: np.ndarray, owners: Sequence[str], ids: Sequence[str]
) -> np.ndarray:
    """Mean cosine of each (unit-length) segment to each theme's (unit-length) descriptions."""
    sims = segments @ descriptions.T
    owners_arr = np.asarray(owners, dtype=object)
    return np.stack([sims[:, owners_arr == t].mean(axis=1) for t in ids], axis=1)


def scale_scores(scores: np.ndarray, setting: str = GUIDED_SCALES[0]) -> np.ndarray:
    """Each theme's similarities (columns of ``scores``) divided by their spread over the segments.

    ``setting`` ``"spread"``: by their standard deviation over the rows, so that a theme whose
    descriptions sit close to every segment (a wide spread of similarities) does not take the
    segments of the others before self-training; ``"none"``: unchanged. The sign, and so the
    ``min_similarity`` rule's 0, is kept; a column with no spread is left as it is. Measured on
    the development suite (benchmarks/RESULTS.md, "ninth session, guided coding").
    """
    if setting == "none" or len(scores) < 2:
        return scores
    spread = scores.std(axis=0)
    return scores / np.where(spread > 1e-12, spread, 1.0)


def scale_as_set(scores: np.ndarray, setting: str, centred: bool) -> np.ndarray:
    """:func:`scale_scores` as ``themes.guided_scale`` says, when the similarities are
    ``centred`` (the language means were removed, so the average segment sits at 0); without
    that the raw similarities share a large offset (e5: about 0.8) that the spread would
    magnify, so they are left as they are, and the log says so."""
    if setting == "none":
        return scores
    if not centred:
        logger.info(
            "codebook coding: the similarities were not divided by their spread "
            "(themes.guided_scale): the language means were not removed"
        )
        return scores
    return scale_scores(scores, setting)


def self_train(
    segments: np.ndarray,
    scores: np.ndarray,
    descriptions: np.ndarray,
    description_labels: np.ndarray,
    *,
    share: float = SELF_TRAIN_SHARE,
    extra_X: np.ndarray | None = None,
    extra_y: np.ndarray | None = None,
) -> np.ndarray:
    """Relabel by a logistic regression trained on the confident segments (and the descriptions).

    ``scores``: (n, T) theme scores; for each theme the ``share`` of its segments with the widest
    margin over the runner-up are the pseudo-labelled training set. ``extra_X``/``extra_y`` add
    labelled rows (semi-supervised mode). Returns (n, T) class probabilities.
    """
    return self_train_model(
        segments,
        scores,
        descriptions,
        description_labels,
        share=share,
        extra_X=extra_X,
        extra_y=extra_y,
    )[0]


def self_train_model(
    segments: np.ndarray,
    scores: np.ndarray,
    descriptions: np.ndarray,
    description_labels: np.ndarray,
    *,
    share: float = SELF_TRAIN_SHARE,
    extra_X: np.ndarray | None = None,
    extra_y: np.ndarray | None = None,
) -> tuple[np.ndarray, Any]:
    """:func:`self_train`'s probabilities and the fitted ``LogisticRegression`` (classes: theme
    columns of ``scores``), or None when there was only one label to learn."""
    from sklearn.linear_model import LogisticRegression

    lab = scores.argmax(axis=1)
    top2 = np.sort(scores, axis=1)[:, -2:] if scores.shape[1] > 1 else np.hstack([scores, scores])
    margin = top2[:, 1] - top2[:, 0]
    conf = np.zeros(len(lab), dtype=bool)
    for j in range(scores.shape[1]):
        m = lab == j
        if m.any():
            conf[m] = margin[m] >= np.quantile(margin[m], 1.0 - share)
    X_parts = [segments[conf], descriptions]
    y_parts = [lab[conf], description_labels]
    if extra_X is not None and extra_y is not None and len(extra_y):
        X_parts.append(extra_X)
        y_parts.append(extra_y)
    X = np.vstack(X_parts)
    y = np.concatenate(y_parts).astype(int)
    T = scores.shape[1]
    if len(set(y.tolist())) < 2:
        return np.eye(T)[lab], None
    clf = LogisticRegression(C=1.0, max_iter=2000).fit(X, y)
    return class_proba(clf, segments, T), clf


def class_proba(clf: Any, X: np.ndarray, n_classes: int) -> np.ndarray:
    """``clf``'s probabilities as ``(len(X), n_classes)``: a column per theme, zeros for the
    themes it never saw (its ``classes_`` are theme columns)."""
    proba = np.zeros((len(X), n_classes))
    proba[:, clf.classes_] = clf.predict_proba(X)
    return proba


def given_labels(
    hand_codes: Sequence[str | None], given: np.ndarray, ids: Sequence[str], other: str
) -> np.ndarray:
    """The column of ``ids`` of each given segment's hand code (``other`` when it has none;
    column 0 for a code that is not in ``ids``), in the order of ``np.flatnonzero(given)``."""
    out = []
    for i in np.flatnonzero(given):
        code = hand_codes[int(i)] or other
        out.append(ids.index(code) if code in ids else 0)
    return np.asarray(out, dtype=int)


def group_ids(groups: Sequence[Hashable | None] | None, n: int) -> np.ndarray:
    """Integer ids (-1 = no group) for ``n`` segments from any hashable group labels."""
    if groups is None:
        return np.full(n, -1, dtype=int)
    import pandas as pd

    codes, _ = pd.factorize(pd.Series(list(groups), dtype=object), use_na_sentinel=True)
    return np.asarray(codes, dtype=int)


def pool_by_question(proba: np.ndarray, questions: np.ndarray, weight: float) -> np.ndarray:
    """Mix each segment's theme probabilities with the mean over the answers to its question.

    ``(1 - weight) * p_i + weight * mean(p_j for j answering the same question)``; segments
    that answer no question (-1) or are the only answer keep their own. Answers to one question
    in a focus group mostly share a theme, so this pulls a segment whose own wording is
    ambiguous towards what its neighbours in the discussion talk about.
    """
    if weight <= 0 or len(proba) == 0:
        return proba
    rows = np.flatnonzero(questions >= 0)
    g = questions[rows]
    counts = np.bincount(g)
    sums = np.zeros((len(counts), proba.shape[1]))
    np.add.at(sums, g, proba[rows])
    shared = counts[g] > 1
    rows, g = rows[shared], g[shared]
    out = proba.copy()
    out[rows] = (1.0 - weight) * proba[rows] + weight * sums[g] / counts[g][:, None]
    return out


def question_agreement(proba: np.ndarray, questions: np.ndarray) -> tuple[float | None, int]:
    """How far the answers to one question share their theme, beyond chance, and on how many
    questions that was measured.

    The between-question share of the variance of the theme probabilities over the answers to
    questions that two or more answers follow (the groups :func:`pool_by_question` pools),
    adjusted for the share that random groups of the same sizes would get, ``(G - 1) / (n - 1)``:
    0 when the question says nothing about the theme, 1 when every answer to a question has the
    same probabilities. ``(None, G)`` when there are fewer than 2 such questions.
    """
    rows = np.flatnonzero(questions >= 0)
    g = questions[rows]
    counts = np.bincount(g) if len(g) else np.zeros(0, dtype=int)
    keep = counts[g] > 1 if len(g) else np.zeros(0, dtype=bool)
    rows, g = rows[keep], g[keep]
    _, g = np.unique(g, return_inverse=True)
    n_groups, n = int(g.max()) + 1 if len(g) else 0, len(g)
    if n_groups < 2 or n <= n_groups:
        return None, n_groups
    p = proba[rows]
    mean = p.mean(axis=0)
    total = float(((p - mean) ** 2).sum())
    if total <= 1e-12:
        return None, n_groups
    sums = np.zeros((n_groups, p.shape[1]))
    np.add.at(sums, g, p)
    sizes = np.bincount(g)
    between = float((sizes[:, None] * (sums / sizes[:, None] - mean) ** 2).sum())
    expected = (n_groups - 1) / (n - 1)
    return (between / total - expected) / (1.0 - expected), n_groups


@dataclass(frozen=True)
class PoolingChoice:
    """How much the answers to one question were pooled (``themes.question_weight``), and why."""

    setting: str  # "auto" or the weight that was set
    weight: float
    agreement: float | None
    n_questions: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if self.agreement is not None:
            out["agreement"] = round(self.agreement, 3)
        return out


def choose_question_weight(
    proba: np.ndarray, questions: np.ndarray, setting: float | str
) -> PoolingChoice:
    """The pooling weight for :func:`pool_by_question`: ``setting`` when it is a number; for
    ``"auto"``, :data:`AUTO_POOL_WEIGHT` when the answers to the same question share their theme
    (:func:`question_agreement` at least :data:`AUTO_MIN_AGREEMENT`, on at least
    :data:`AUTO_MIN_QUESTIONS` questions), else 0: where the interview guide does not follow the
    themes, pooling pulls an answer towards what the others said to the same question instead
    of what it says."""
    agreement, n_q = question_agreement(proba, questions)
    if setting != "auto":
        weight = float(setting)
        return PoolingChoice(str(setting), weight, agreement, n_q, "as set")
    if n_q < AUTO_MIN_QUESTIONS or agreement is None:
        return PoolingChoice(
            "auto",
            0.0,
            agreement,
            n_q,
            f"{n_q} moderator question(s) are followed by two or more answers "
            f"(at least {AUTO_MIN_QUESTIONS} are needed to judge); each segment coded on its own",
        )
    if agreement >= AUTO_MIN_AGREEMENT:
        return PoolingChoice(
            "auto",
            AUTO_POOL_WEIGHT,
            agreement,
            n_q,
            f"the answers to one question share their theme ({agreement:.2f} beyond chance, "
            f"at least {AUTO_MIN_AGREEMENT} needed, over {n_q} questions)",
        )
    return PoolingChoice(
        "auto",
        0.0,
        agreement,
        n_q,
        f"the answers to one question do not share their theme enough ({agreement:.2f} beyond "
        f"chance, {AUTO_MIN_AGREEMENT} needed, over {n_q} questions): each segment coded on its own",
    )


def pool_as_set(
    proba: np.ndarray, questions: np.ndarray, setting: float | str
) -> tuple[np.ndarray, PoolingChoice]:
    """Pool the answers to one question as ``themes.question_weight`` says (a number, or
    ``"auto"``: :func:`choose_question_weight`, logged); the pooled probabilities and the choice."""
    choice = choose_question_weight(proba, questions, setting)
    if setting == "auto":
        logger.info("codebook coding: question pooling %.2f: %s", choice.weight, choice.reason)
    return pool_by_question(proba, questions, choice.weight), choice


def majority_map(labels: np.ndarray, codes: Sequence[str]) -> dict[int, str]:
    """Each candidate theme's most frequent code (ties: the first code by name)."""
    out: dict[int, str] = {}
    for t in sorted(set(labels.tolist()) - {-1}):
        counts = Counter(codes[i] for i in np.flatnonzero(labels == t).tolist())
        out[int(t)] = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
    return out


def supervised_only(
    Y: np.ndarray, hand_codes: Sequence[str | None], given: np.ndarray
) -> list[str]:
    """Semi-supervised coding without a codebook: a logistic regression on the codes given."""
    from sklearn.linear_model import LogisticRegression

    idx = np.flatnonzero(given).tolist()
    y = [hand_codes[i] or "other" for i in idx]
    if len(set(y)) < 2:
        return [y[0]] * len(Y) if y else ["other"] * len(Y)
    clf = LogisticRegression(C=1.0, max_iter=2000).fit(Y[idx], y)
    codes = [str(c) for c in clf.predict(Y)]
    for i in idx:
        codes[i] = hand_codes[i] or "other"
    return codes
