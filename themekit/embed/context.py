"""Read each answer in the light of the question: add the moderator's prompt to its segments.

In a focus group the moderator's question is the strongest cue to what the answers after it are
about, and a human coder reads every turn with that question in mind. With
``segmentation.moderator: context`` the moderator's turns are not analysed themselves; each
participant segment is linked to the last moderator turn before it in the same session
(:func:`link_prompts`) and, before themes are found, its unit vector gets
``embedding.context_weight`` times the prompt's unit vector added (:func:`add_prompt_context`).
Segments before the first moderator turn of a session keep their own vector.

Measured on the demo corpus (benchmarks/themes_choices.py, multilingual-e5-small, moderator turns
as context): weight 0.3 raised guided coding's Cohen's kappa from 0.661 / 0.548 / 0.619 to
0.707 / 0.607 / 0.794 on the three sessions fitted one at a time; weights of 0.5 and more let
the question dominate (themes become "the answers to question 4").

For discovery the question is used a second time (:class:`QuestionSubspace`): the answers are
projected onto the few directions along which they vary *with* the questions asked (partial least
squares between answer and question vectors), which filters out how people tell their stories
(who, where, when) and keeps what they talk about. Measured in benchmarks/question_subspace.py.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from themekit.config.embedding import DEFAULT_CONTEXT_WEIGHT as DEFAULT_CONTEXT_WEIGHT
from themekit.corpus import Corpus, Segment
from themekit.embed.base import l2_normalize
from themekit.errors import NotFittedError

logger = logging.getLogger(__name__)


def link_prompts(corpus: Corpus) -> tuple[list[int | None], list[Segment]]:
    """Link every analysed segment to the context segment (moderator turn) it follows.

    Walks ``corpus`` (analysed and context segments together, in reading order, as
    :func:`themekit.load.load_corpus` returns them) and returns ``(links, prompts)``: ``prompts``
    are the context segments that at least one analysed segment follows, and ``links[i]`` is the
    index into ``prompts`` for the i-th segment of ``corpus.analysed()`` (``None`` before the first
    moderator turn of its session). Sessions are told apart by ``(source, session)``.
    """
    last: dict[tuple[str, str], int] = {}
    links: list[int | None] = []
    prompts: list[Segment] = []
    slot: dict[int, int] = {}
    for pos, seg in enumerate(corpus):
        key = (seg.source, seg.session)
        if seg.is_context:
            last[key] = pos
            continue
        prompt = last.get(key)
        if prompt is None:
            links.append(None)
            continue
        if prompt not in slot:
            slot[prompt] = len(prompts)
            prompts.append(corpus.segments[prompt])
        links.append(slot[prompt])
    return links, prompts


def add_prompt_context(
    X: np.ndarray, prompts: np.ndarray, links: Sequence[int | None], weight: float
) -> np.ndarray:
    """``unit(X[i]) + weight * unit(prompts[links[i]])`` re-normalised, for linked rows; the other
    rows are returned unit-normalised. ``weight == 0`` returns ``unit(X)``."""
    if len(links) != len(X):
        raise ValueError(f"{len(links)} prompt links for {len(X)} segment vectors")
    if weight < 0:
        raise ValueError(f"weight must be >= 0, got {weight}")
    out = l2_normalize(X)
    rows = np.asarray([i for i, j in enumerate(links) if j is not None], dtype=int)
    if weight == 0 or len(rows) == 0:
        return out
    P = l2_normalize(prompts)
    cols = np.asarray([links[i] for i in rows], dtype=int)
    out[rows] = out[rows] + np.float32(weight) * P[cols]
    return l2_normalize(out)


def is_question(text: str) -> bool:
    """A moderator turn that asks something (holds a question mark), as opposed to a thank-you,
    a transition or, in a counselling session, a reflection."""
    return "?" in text


def question_vectors(
    prompts: np.ndarray, links: Sequence[int | None], asks: Sequence[bool] | None = None
) -> np.ndarray:
    """For each segment the vector of the question it answers (``prompts[links[i]]``), zeros
    where it answers none or, with ``asks`` (one flag per prompt, e.g. :func:`is_question`),
    where its prompt asks nothing: the ``question_embeddings`` of :meth:`ThemeFinder.fit`."""
    P = np.asarray(prompts, dtype=np.float32)
    out = np.zeros((len(links), P.shape[1] if P.ndim == 2 else 0), dtype=np.float32)
    linked = [(i, j) for i, j in enumerate(links) if j is not None and (asks is None or asks[j])]
    if linked:
        out[[i for i, _ in linked]] = P[[j for _, j in linked]]
    return out


#: Default ``themes.question_components``, measured on the demo (benchmarks/question_subspace.py:
#: hand-coded themes recovered, mean over the whole demo and each session alone x 5 seeds, of 3):
#: off 1.65, 2: 1.75, 3: 2.45, 4: 2.50, 5: 2.35, 6: 2.25, 8: 2.15; the whole demo 3 of 3 for every
#: number from 2 to 8 and every seed.
DEFAULT_QUESTION_COMPONENTS = 4
#: Weight of the full (unprojected) vector beside the question directions, so that talk the
#: moderator never asked about still separates: cosine in the result is 0.8 x the cosine in the
#: question directions + 0.2 x the full cosine.
FULL_SPACE_WEIGHT = 0.5


class QuestionSubspace:
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
