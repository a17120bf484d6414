"""QuestionSubspace: the directions along which answers vary with the question they answer.

For discovery the moderator's question can be used a second time: the answers are projected onto
the few directions along which they vary *with* the questions asked (partial least squares between
answer and question vectors), which filters out how people tell their stories (who, where, when)
and keeps what they talk about. Whether this helps on a corpus is decided from the data in
:mod:`themekit.themes.space`; the measurements are in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import logging

import numpy as np
from sklearn.base import BaseEstimator

from themekit.embed.base import l2_normalize
from themekit.errors import NotFittedError

logger = logging.getLogger(__name__)

#: Default ``themes.question_components`` (benchmarks/RESULTS.md, "question directions").
DEFAULT_QUESTION_COMPONENTS = 4
#: Weight of the full (unprojected) vector beside the question directions, so that talk the
#: moderator never asked about still separates: cosine in the result is 0.8 x the cosine in the
#: question directions + 0.2 x the full cosine.
FULL_SPACE_WEIGHT = 0.5


class QuestionSubspace(BaseEstimator):
    """The directions along which answers vary with the question they answer (scikit-learn style).

    ``fit(Y, Q, questions)`` runs partial least squares (:class:`sklearn.cross_decomposition.PLSSVD`,
    centred, not scaled) between the answer vectors and the vectors of the moderator's questions
    they follow (rows that follow no question, or whose question vector is all zeros, are left
    out of the fit), keeping at most
    ``n_components`` pairs of directions (and one fewer than the number of distinct questions).
    ``transform(Y)`` gives every row its scores on those answer directions, each standardised and
    weighted by the square of its covariance with the questions relative to the first one (so a
    direction along which answers hardly follow the questions counts for little, however much the
    answers vary along it), unit-normalised and followed by ``full_weight`` x ``unit(Y)``,
    re-normalised. Answers to questions on the same subject end up close even when their stories
    differ; rows without a question are projected the same way.

    ``n_components_`` is the number used (0 when there were too few questions: ``transform`` then
    returns ``unit(Y)`` unchanged); ``n_answers_`` / ``n_questions_`` the answers and distinct
    questions the fit used; ``covariances_`` the covariance of each pair of directions.
    """

    def __init__(
        self,
        n_components: int = DEFAULT_QUESTION_COMPONENTS,
        full_weight: float = FULL_SPACE_WEIGHT,
    ):
        self.n_components = n_components
        self.full_weight = full_weight

    def fit(self, Y: np.ndarray, Q: np.ndarray, questions: np.ndarray) -> QuestionSubspace:
        """``Y``: answer vectors; ``Q``: for each row the vector of the question it answers;
        ``questions``: for each row an integer question id, -1 where it answers none (its ``Q``
        row is then ignored, as is a ``Q`` row of zeros)."""
        from sklearn.cross_decomposition import PLSSVD

        questions = np.asarray(questions)
        if len(Y) != len(Q) or questions.shape != (len(Y),):
            raise ValueError(
                f"answers {np.shape(Y)}, questions {np.shape(Q)} and ids {questions.shape} "
                "do not match"
            )
        Q = np.asarray(Q)
        linked = (questions >= 0) & np.any(Q != 0, axis=1)
        A, B = l2_normalize(np.asarray(Y)[linked]), l2_normalize(Q[linked])
        self.n_answers_ = int(linked.sum())
        self.n_questions_ = len(np.unique(questions[linked]))
        k = min(self.n_components, self.n_questions_ - 1, len(A) - 1, A.shape[1])
        self.n_components_ = int(k) if k >= 2 else 0  # one direction cannot hold 3 themes apart
        if self.n_components_ == 0:
            logger.info(
                "question directions not used: %d answers to %d distinct questions",
                len(A),
                self.n_questions_,
            )
            return self
        self.pls_ = PLSSVD(n_components=self.n_components_, scale=False).fit(A, B)
        xs, ys = self.pls_.transform(A, B)
        xs, ys = xs - xs.mean(axis=0), ys - ys.mean(axis=0)
        self.covariances_ = (xs * ys).mean(axis=0)
        if not self.covariances_[0] > 1e-12:  # the questions' vectors do not differ
            logger.info("question directions not used: the questions' vectors are all the same")
            self.n_components_ = 0
            return self
        spread = xs.std(axis=0)
        weight = (self.covariances_ / self.covariances_[0]) ** 2
        self.scale_ = np.where(spread > 0, weight / np.maximum(spread, 1e-12), 0.0)
        return self

    def transform(self, Y: np.ndarray) -> np.ndarray:
        if not hasattr(self, "n_components_"):
            raise NotFittedError("This QuestionSubspace is not fitted yet. Call 'fit' first.")
        U = l2_normalize(Y)
        if self.n_components_ == 0:
            return U
        S = l2_normalize(self.pls_.transform(U) * self.scale_)
        return l2_normalize(np.hstack([S, self.full_weight * U]))

    def fit_transform(self, Y: np.ndarray, Q: np.ndarray, questions: np.ndarray) -> np.ndarray:
        return self.fit(Y, Q, questions).transform(Y)
