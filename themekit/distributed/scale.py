"""Themes at scale: fit on a stratified sample on the driver, assign the rest on the cluster.

BERTopic's own advice for corpora that do not fit (out of memory from about a million
documents) is to fit on a sample and ``transform`` the rest. :class:`SampleFitter` does this
for :meth:`ThemeFinder.fit`, with the same arguments: when the corpus has more than
``execution.sample_size`` segments, the finder is fitted on a sample stratified by session and
language (:func:`themekit.distributed.sampling.stratified_sample`, seeded with the job's seed),
and every other segment is put into the same space (unit length, the sample's language means
removed, the sample's question directions) and assigned to the nearest theme centre, and coded
with the codebook theme whose descriptions it is closest to, in parallel with Ray Data
``map_batches``. A corpus no larger than ``sample_size`` is fitted whole, exactly as by the
local engine, so both engines give the same themes.

The codebook coding of the segments outside the sample is the similarity rule only (the
self-training and the pooling over answers to the same question use the sample).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from themekit.distributed.sampling import stratified_sample
from themekit.embed.base import l2_normalize

if TYPE_CHECKING:  # pragma: no cover
    from themekit.corpus import Corpus
    from themekit.distributed.ray_engine import RayEngine
    from themekit.themes import ThemeFinder

logger = logging.getLogger(__name__)

#: ThemeFinder.fit arguments that are not one row per segment.
_NOT_PER_SEGMENT = ("codebook", "codebook_embeddings", "progress")


class SampleFitter:
    """Callable like ``finder.fit``; fits on a stratified sample when the corpus is large."""

    def __init__(self, engine: RayEngine, finder: ThemeFinder, corpus: Corpus, seed: int):
        self.engine = engine
        self.finder = finder
        self.corpus = corpus
        self.seed = seed

    def __call__(self, embeddings: np.ndarray, texts: Sequence[str], **kwargs: Any) -> ThemeFinder:
        finder = self.finder
        n = len(texts)
        size = self.engine.cfg.sample_size
        record: dict[str, Any] = {
            "sample_size": size,
            "seed": self.seed,
            "strata": "session x language",
            "n_segments": n,
        }
        if n <= size:
            self.engine.sample = {**record, "n_sample": n, "whole_corpus": True}
            return finder.fit(embeddings, texts, **kwargs)

        strata = [(s.session or "", s.language or "") for s in self.corpus]
        idx = stratified_sample(strata, size, self.seed)
        rest = np.setdiff1d(np.arange(n), idx)
        self.engine.sample = {
            **record,
            "n_sample": len(idx),
            "n_strata": len(set(strata)),
            "whole_corpus": False,
        }
        logger.info(
            "themes fitted on a sample of %d of %d segments (stratified by session and "
            "language over %d strata, seed %d); the other %d are assigned on Ray",
            len(idx),
            n,
            len(set(strata)),
            self.seed,
            len(rest),
        )
        X = np.asarray(embeddings, dtype=np.float32)

        def take(v: Any, rows: np.ndarray) -> Any:
            if isinstance(v, np.ndarray):
                return v[rows]
            return [v[int(i)] for i in rows]

        per_segment = {
            k: v
            for k, v in kwargs.items()
            if k not in _NOT_PER_SEGMENT and v is not None and hasattr(v, "__len__") and len(v) == n
        }
        sub = {k: (take(v, idx) if k in per_segment else v) for k, v in kwargs.items()}
        context = kwargs.get("context")
        if context is not None:  # a themekit.context.QuestionContext: the sample's rows of it
            sub["context"] = context.subset(idx)
        finder.fit(X[idx], [texts[int(i)] for i in idx], **sub)

        languages = per_segment.get("languages")
        answers = kwargs.get("answer_embeddings")
        if context is not None:
            answers = context.answer_vectors
        assigner = Assigner.from_fitted(
            finder,
            X[idx],
            take(languages, idx) if languages is not None else None,
            np.asarray(answers, dtype=np.float32)[idx] if answers is not None else None,
        )
        rows = {
            "x": X[rest],
            "language": np.asarray(
                take(languages, rest) if languages is not None else [""] * len(rest), dtype=object
            ),
        }
        if answers is not None and assigner.subspace is not None:
            rows["a"] = np.asarray(answers, dtype=np.float32)[rest]
        labels_rest, codes_rest, space_rest = self.engine.assign(assigner, rows)

        labels = np.full(n, -1, dtype=int)
        labels[idx] = finder.labels_
        labels[rest] = labels_rest
        space = np.empty((n, finder.embeddings_.shape[1]), dtype=np.float32)
        space[idx] = finder.embeddings_
        space[rest] = space_rest
        finder.labels_ = labels
        finder.embeddings_ = space
        if finder.codebook_theme_ is not None:
            codes: list[str] = [""] * n
            for j, i in enumerate(idx.tolist()):
                codes[i] = finder.codebook_theme_[j]
            for j, i in enumerate(rest.tolist()):
                codes[i] = str(codes_rest[j])
            finder.codebook_theme_ = codes
            from themekit.themes.finder import _majority_map

            finder.theme_codebook_ = _majority_map(labels, codes)
        mask = np.ones(n, dtype=bool)
        if finder.eval_mask_ is not None:
            mask[idx] = finder.eval_mask_
        finder.eval_mask_ = mask
        return finder


class Assigner:
    """What a worker needs to assign segments to the themes fitted on the sample (picklable):
    the sample's language means, question directions, theme centres and codebook vectors."""

    def __init__(
        self,
        *,
        remover: Any,
        answer_remover: Any,
        subspace: Any,
        keys: np.ndarray,
        centres: np.ndarray,
        codebook: tuple[np.ndarray, list[str], list[str], str, float] | None,
    ):
        self.remover = remover
        self.answer_remover = answer_remover
        self.subspace = subspace
        self.keys = keys
        self.centres = centres
        self.codebook = codebook

    @classmethod
    def from_fitted(
        cls,
        finder: ThemeFinder,
        X_sample: np.ndarray,
        languages: Sequence[str] | None,
        answers_sample: np.ndarray | None,
    ) -> Assigner:
        from themekit.embed.neutral import LanguageMeanRemover

        def remover_for(V: np.ndarray) -> Any:
            if not finder.language_neutral or languages is None:
                return None
            return LanguageMeanRemover().fit(l2_normalize(V), list(languages))

        subspace = finder.question_subspace_
        labels = np.asarray(finder.labels_)
        keys = np.asarray(sorted(set(labels.tolist()) - {-1}), dtype=int)
        centres = np.stack(
            [
                l2_normalize(finder.embeddings_[labels == k].mean(axis=0, keepdims=True))[0]
                for k in keys
            ]
        )
        codebook = None
        C = getattr(finder, "_C", None)
        cb = getattr(finder, "_codebook", None)
        if finder.codebook_theme_ is not None and C is not None and cb is not None:
            owners = list(cb.descriptions()[1])
            codebook = (np.asarray(C), owners, list(cb.ids), cb.other_id, finder.min_similarity)
        return cls(
            remover=remover_for(X_sample),
            answer_remover=(
                remover_for(answers_sample)
                if answers_sample is not None and subspace is not None
                else None
            ),
            subspace=subspace,
            keys=keys,
            centres=centres,
            codebook=codebook,
        )

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        langs = [str(x) for x in batch["language"].tolist()]
        X = np.asarray(batch["x"], dtype=np.float32)
        Y = self.remover.transform(l2_normalize(X), langs) if self.remover else l2_normalize(X)
        space = Y
        if self.subspace is not None:
            A = Y  # the question directions are found in the answers' own vectors if given
            if "a" in batch:
                A = l2_normalize(np.asarray(batch["a"], dtype=np.float32))
                if self.answer_remover is not None:
                    A = self.answer_remover.transform(A, langs)
            space = self.subspace.transform(A)
        label = self.keys[np.argmax(space @ self.centres.T, axis=1)]
        out: dict[str, np.ndarray] = {"row": batch["row"], "label": label, "space": space}
        if self.codebook is not None:
            from themekit.themes import guided

            C, owners, ids, other, min_sim = self.codebook
            scores = guided.theme_scores(Y, C, owners, ids)
            pick = scores.argmax(axis=1)
            codes = np.asarray([ids[j] for j in pick], dtype=object)
            real = [j for j, t in enumerate(ids) if t != other]
            if other not in ids and real:
                codes[scores[:, real].max(axis=1) < min_sim] = other
            out["code"] = codes
        return out
