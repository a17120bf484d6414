"""The head that codes the segments not given in semi-supervised ``finetune`` mode, and how it
is chosen (``themes.semi_supervised.head``).

Two heads, both fitted on the (fine-tuned) vectors of the given segments and the codebook's texts:

- ``logistic``: a multinomial logistic regression on the given segments and the codebook texts
  (the SetFit head; :class:`~themekit.themes.finetune.CodingHead`);
- ``prototype``: what ``method: prototype`` does, on the same vectors: each segment scored by
  its mean cosine to each theme's codebook texts (the nearest codebook theme), then a logistic
  regression self-trained on the most clearly scored half of each theme's segments, the
  codebook texts and the given segments (:func:`themekit.themes.guided.self_train`). Without a
  codebook there is nothing to score against and it is the logistic head.

``auto`` chooses between them from the **given** codes only: stratified k-fold
(:data:`CV_FOLDS`) over the given segments; each fold's held-out segments are coded by each head
fitted on the other folds' given segments (and the codebook texts), pooled over the question as
the run pools; Cohen's kappa over all held-out predictions. The head with the higher kappa is
used; within :data:`TIE` of each other (or when the given codes are too few to cross-validate)
the ``logistic`` head is used. The codes not given are never looked at.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from themekit.codebook import Codebook
from themekit.themes import guided
from themekit.themes.finetune import CodingHead

logger = logging.getLogger(__name__)

#: ``themes.semi_supervised.head`` values.
HEADS = ("auto", "logistic", "prototype")
#: Folds of the cross-validation over the given segments (fewer when a code has fewer given).
CV_FOLDS = 5
#: ``auto``: cross-validated kappas this close count as a tie, which goes to :data:`TIE_HEAD`.
TIE = 0.01
#: ``auto``: the head used on a tie or when the given codes cannot be cross-validated.
TIE_HEAD = "logistic"


@dataclass(frozen=True)
class HeadChoice:
    """Which head coded the segments, and the cross-validated kappas it was chosen by."""

    setting: str
    head: str
    cv_kappa: dict[str, float | None]
    folds: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fit_head(
    name: str,
    Y: np.ndarray,
    train: np.ndarray,
    y: Sequence[str],
    codebook: Codebook | None,
    C: np.ndarray | None,
) -> tuple[CodingHead, np.ndarray]:
    """Fit head ``name`` on the rows ``train`` of ``Y`` (codes ``y``) and the codebook texts
    ``C``; returns the head (a linear model over vectors, saved with a run's coder) and its
    class probabilities for every row of ``Y`` (columns in ``head.classes_`` order)."""
    X_parts, labels = [Y[train]], [str(v) for v in y]
    owners = list(codebook.descriptions()[1]) if codebook is not None and C is not None else []
    if owners:
        X_parts.append(C)
        labels += owners
    if name == "prototype" and owners:
        assert codebook is not None and C is not None
        ids = list(codebook.ids) + sorted(set(labels) - set(codebook.ids))
        scores = guided.theme_scores(Y, C, owners, ids)
        _, clf = guided.self_train_model(
            Y,
            scores,
            C,
            np.asarray([ids.index(o) for o in owners]),
            extra_X=Y[train],
            extra_y=np.asarray([ids.index(str(v)) for v in y], dtype=int),
        )
        if clf is not None:
            head = CodingHead.from_linear(
                [ids[int(j)] for j in clf.classes_], clf.coef_, clf.intercept_
            )
            return head, head.predict_proba(Y)
    head = CodingHead().fit(np.vstack(X_parts), labels)
    return head, head.predict_proba(Y)


def _coded(
    name: str,
    Y: np.ndarray,
    train: np.ndarray,
    y: Sequence[str],
    codebook: Codebook | None,
    C: np.ndarray | None,
    questions: np.ndarray,
    question_weight: float | str,
) -> list[str]:
    head, proba = fit_head(name, Y, train, y, codebook, C)
    choice = guided.choose_question_weight(proba, questions, question_weight)
    proba = guided.pool_by_question(proba, questions, choice.weight)
    return [head.classes_[int(j)] for j in proba.argmax(axis=1)]


def cv_kappas(
    Y: np.ndarray,
    given_idx: np.ndarray,
    y: Sequence[str],
    codebook: Codebook | None,
    C: np.ndarray | None,
    questions: np.ndarray,
    question_weight: float | str,
    seed: int,
) -> tuple[dict[str, float | None], int]:
    """Cohen's kappa of each head on the given segments, by stratified k-fold over them."""
    from sklearn.metrics import cohen_kappa_score
    from sklearn.model_selection import StratifiedKFold

    y_arr = np.asarray([str(v) for v in y], dtype=object)
    counts = np.unique(y_arr, return_counts=True)[1]
    folds = int(min(CV_FOLDS, counts.max() if len(counts) else 0))
    heads = ("logistic", "prototype")
    if len(counts) < 2 or folds < 2:
        return dict.fromkeys(heads), 0
    pred = {h: np.empty(len(y_arr), dtype=object) for h in heads}
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():  # a code given fewer times than there are folds
        warnings.simplefilter("ignore", UserWarning)
        splits = list(cv.split(np.zeros(len(y_arr)), y_arr))
    for fit_rows, held in splits:
        for h in heads:
            codes = _coded(
                h,
                Y,
                given_idx[fit_rows],
                y_arr[fit_rows].tolist(),
                codebook,
                C,
                questions,
                question_weight,
            )
            pred[h][held] = [codes[int(i)] for i in given_idx[held]]
    out: dict[str, float | None] = {}
    for h in heads:
        k = cohen_kappa_score(y_arr.tolist(), pred[h].tolist())
        out[h] = round(float(k), 4) if np.isfinite(k) else None
    return out, folds


def choose_head(
    setting: str,
    Y: np.ndarray,
    given_idx: np.ndarray,
    y: Sequence[str],
    codebook: Codebook | None,
    C: np.ndarray | None,
    questions: np.ndarray,
    question_weight: float | str,
    seed: int,
) -> HeadChoice:
    """The head ``themes.semi_supervised.head`` asks for (``auto``: by cross-validation on the
    given codes, see the module doc; only then are the kappas computed)."""
    if codebook is None or C is None:
        return HeadChoice(
            setting, "logistic", {}, 0, "no codebook: both heads are the logistic regression"
        )
    if setting != "auto":
        return HeadChoice(setting, setting, {}, 0, "as set")
    kappas, folds = cv_kappas(Y, given_idx, y, codebook, C, questions, question_weight, seed)
    lo, pr = kappas["logistic"], kappas["prototype"]
    if lo is None or pr is None:
        return HeadChoice(setting, TIE_HEAD, kappas, folds, "too few codes given to cross-validate")
    if abs(pr - lo) <= TIE:
        return HeadChoice(
            setting,
            TIE_HEAD,
            kappas,
            folds,
            f"cross-validated kappas within {TIE} of each other (a tie goes to {TIE_HEAD})",
        )
    best = "prototype" if pr > lo else "logistic"
    return HeadChoice(
        setting, best, kappas, folds, f"higher cross-validated kappa on the {len(y)} codes given"
    )


def code_with_head(
    setting: str,
    Y: np.ndarray,
    hand_codes: Sequence[str | None],
    given: np.ndarray,
    questions: np.ndarray,
    codebook: Codebook | None,
    C: np.ndarray | None,
    *,
    other: str,
    question_weight: float | str,
    seed: int,
) -> tuple[list[str], CodingHead, guided.PoolingChoice, HeadChoice]:
    """semi-supervised, method finetune: choose the head (:func:`choose_head`), fit it on the
    given segments and the codebook texts, pool over the question; the given segments keep
    their own codes. Returns the codes, the head, the pooling choice and the head choice."""
    idx = np.flatnonzero(given)
    y = [hand_codes[int(i)] or other for i in idx]
    choice = choose_head(setting, Y, idx, y, codebook, C, questions, question_weight, seed)
    head, proba = fit_head(choice.head, Y, idx, y, codebook, C)
    proba, pooling = guided.pool_as_set(proba, questions, question_weight)
    codes = [head.classes_[int(j)] for j in proba.argmax(axis=1)]
    for i in idx:
        codes[int(i)] = hand_codes[int(i)] or other
    logger.info(
        "semi-supervised head: %s (%s; cross-validated kappa %s)",
        choice.head,
        choice.reason,
        choice.cv_kappa,
    )
    return codes, head, pooling, choice
