"""The question context, one stage: read each answer in the light of the moderator's prompt.

In a focus group the moderator's question is the strongest cue to what the answers after it are
about, and a human coder reads every turn with that question in mind. With
``segmentation.moderator: context`` the moderator's turns are not analysed themselves. This
stage

1. links every analysed segment to the last context segment (moderator turn) before it in the
   same session (:func:`link_prompts`; segments before the first one keep no link);
2. decides which prompts ask something (:func:`is_question`: a question mark, or an opening such
   as "Tell me about..." / "Cuba ceritakan..."), as opposed to thanks, transitions or a
   counsellor's reflections;
3. builds the vectors: each linked segment's unit vector plus ``embedding.context_weight`` times
   its prompt's unit vector (:func:`add_prompt_context`), and for each segment the vector of the
   question it answers (:func:`question_vectors`, zeros where none);

and returns one :class:`QuestionContext`, which :meth:`themekit.themes.ThemeFinder.fit` takes as
``context=``. Whether discovery then clusters in the directions along which the answers vary with
the questions is decided there, from the data (:mod:`themekit.themes.space`). The measurements
behind the defaults are in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from themekit.config.embedding import DEFAULT_CONTEXT_WEIGHT as DEFAULT_CONTEXT_WEIGHT
from themekit.corpus import Corpus, Segment
from themekit.embed.base import l2_normalize

logger = logging.getLogger(__name__)

#: Openings of a prompt that asks without a question mark (English and Malay).
_PROMPT_OPENINGS = re.compile(
    r"(?i)^\W*(?:\w+\W+){0,3}?(tell (me|us)|describe|talk (to me |to us )?about|share|"
    r"walk (me|us) through|give (me|us) an example|say more|explain|"
    r"ceritakan|cerita(kan)? sikit|cuba cerita|terangkan|jelaskan|kongsikan|kongsi|"
    r"beritahu|bagi tahu|boleh (awak|anda|kamu|tak)?\s*cerita)\b"
)


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


def is_question(text: str) -> bool:
    """A moderator turn that asks something: it holds a question mark, or it opens with a prompt
    such as "Tell me about...", "Describe...", "Cuba ceritakan...", "Kongsikan..." (a
    moderator asks half of the questions of some guides that way). Thanks, transitions and a
    counsellor's reflections ask nothing."""
    return "?" in text or bool(_PROMPT_OPENINGS.search(text.strip()))


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
    return l2_normalize(out, copy=False)  # out is ours


def question_vectors(
    prompts: np.ndarray, links: Sequence[int | None], asks: Sequence[bool] | None = None
) -> np.ndarray:
    """For each segment the vector of the question it answers (``prompts[links[i]]``), zeros
    where it answers none or, with ``asks`` (one flag per prompt, e.g. :func:`is_question`),
    where its prompt asks nothing."""
    P = np.asarray(prompts, dtype=np.float32)
    out = np.zeros((len(links), P.shape[1] if P.ndim == 2 else 0), dtype=np.float32)
    linked = [(i, j) for i, j in enumerate(links) if j is not None and (asks is None or asks[j])]
    if linked:
        out[[i for i, _ in linked]] = P[[j for _, j in linked]]
    return out


@dataclass
class QuestionContext:
    """What the question-context stage decided and built, for one corpus.

    ``links[i]``: the prompt the i-th analysed segment follows (index into ``prompts``, None
    where none); ``asks[j]``: whether prompt ``j`` asks something; ``answer_vectors``: the
    segments' own (raw) vectors; ``fitted_vectors``: the vectors themes are fitted on (the answer
    plus ``context_weight`` x its prompt where linked, else the answers unit-normalised; stored
    in ``fitted`` when there are prompts, otherwise ``fitted`` is None and they are computed
    when read, so that a corpus without prompts holds no second copy of its vectors);
    ``question_vectors``: per segment the raw vector of the question it answers (zeros where it
    answers none), None when there are no prompts; ``decisions``: one sentence per decision.
    """

    links: list[int | None]
    prompts: list[Segment]
    asks: list[bool]
    answer_vectors: np.ndarray
    fitted: np.ndarray | None
    question_vectors: np.ndarray | None
    context_weight: float
    decisions: list[str]

    @property
    def fitted_vectors(self) -> np.ndarray:
        """The vectors themes are fitted on (a new unit copy of the answers when there are no
        prompts: read it once)."""
        return l2_normalize(self.answer_vectors) if self.fitted is None else self.fitted

    @property
    def n_linked(self) -> int:
        """Analysed segments that follow a moderator turn."""
        return sum(j is not None for j in self.links)

    @property
    def answers_question(self) -> np.ndarray:
        """Per segment: it follows a prompt that asks something."""
        return np.asarray([j is not None and self.asks[j] for j in self.links], dtype=bool)

    @property
    def question_ids(self) -> np.ndarray:
        """Per segment the id of the asking prompt it answers, -1 where none."""
        return np.asarray(
            [j if j is not None and self.asks[j] else -1 for j in self.links], dtype=int
        )

    def subset(self, rows: np.ndarray) -> QuestionContext:
        """The context of the segments ``rows`` (prompts kept whole)."""
        idx = [int(i) for i in rows]
        Q = self.question_vectors
        return QuestionContext(
            [self.links[i] for i in idx],
            self.prompts,
            self.asks,
            self.answer_vectors[idx],
            self.fitted[idx] if self.fitted is not None else None,
            Q[idx] if Q is not None else None,
            self.context_weight,
            self.decisions,
        )

    def evidence(self) -> dict[str, int | float]:
        """How much question structure there is: segments, those answering a question, the
        distinct questions they answer, and the share of segments that answer one."""
        answering = self.answers_question
        n = len(self.links)
        return {
            "n_segments": n,
            "n_following_prompt": self.n_linked,
            "n_answering_question": int(answering.sum()),
            "n_questions": len({j for j in self.question_ids.tolist() if j >= 0}),
            "answered_share": float(answering.mean()) if n else 0.0,
        }


def build_context(
    links: list[int | None],
    prompts: list[Segment],
    answer_vectors: np.ndarray,
    prompt_vectors: np.ndarray | None,
    context_weight: float = DEFAULT_CONTEXT_WEIGHT,
) -> QuestionContext:
    """The :class:`QuestionContext` from linked prompts (:func:`link_prompts`) and the raw vectors
    of the analysed segments and of the prompts (one row per prompt)."""
    X = np.asarray(answer_vectors, dtype=np.float32)
    if len(links) != len(X):
        raise ValueError(f"{len(links)} prompt links for {len(X)} segment vectors")
    asks = [is_question(p.text) for p in prompts]
    decisions: list[str] = []
    n_linked = sum(j is not None for j in links)
    if not prompts or prompt_vectors is None or n_linked == 0:
        decisions.append("no moderator turns as context: each segment is read on its own")
        return QuestionContext(links, prompts, asks, X, None, None, 0.0, decisions)
    P = np.asarray(prompt_vectors, dtype=np.float32)
    if len(P) != len(prompts):
        raise ValueError(f"{len(P)} prompt vectors for {len(prompts)} prompts")
    fitted = add_prompt_context(X, P, links, context_weight)
    if context_weight > 0:
        decisions.append(
            f"{n_linked} of {len(links)} segments read with the moderator turn before them "
            f"(embedding.context_weight {context_weight:g})"
        )
    n_asking = sum(asks)
    decisions.append(
        f"{n_asking} of {len(prompts)} moderator turns ask something (a question mark or an "
        "opening such as 'Tell me about' / 'Ceritakan')"
    )
    Q = question_vectors(P, links, asks)
    return QuestionContext(links, prompts, asks, X, fitted, Q, context_weight, decisions)


def question_context(
    corpus: Corpus,
    embed: Callable[[list[str]], np.ndarray],
    context_weight: float = DEFAULT_CONTEXT_WEIGHT,
) -> QuestionContext:
    """The whole stage for a library caller: link the prompts of ``corpus`` (analysed and context
    segments in reading order), embed the analysed segments and the prompts with ``embed`` (a
    function from texts to raw vectors, e.g. ``lambda t: embed_texts(t, embedder)``) and build
    the :class:`QuestionContext`."""
    links, prompts = link_prompts(corpus)
    analysed = corpus.analysed()
    texts = analysed.texts + [p.text for p in prompts]
    V = np.asarray(embed(texts), dtype=np.float32)
    n = len(analysed)
    return build_context(links, prompts, V[:n], V[n:] if prompts else None, context_weight)
