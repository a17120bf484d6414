"""Themes at scale: what a worker needs to assign a segment to the themes fitted on a sample.

With the ray engine and a corpus of more than ``execution.sample_size`` segments the themes are
fitted on a stratified sample (:mod:`themekit.distributed.stream`) and every other segment is put
into the same space (unit length, the sample's language means removed, the sample's question
directions), assigned to the nearest theme centre, and coded with the codebook theme whose
descriptions it is closest to, by :class:`Assigner` on the workers. A corpus no larger than
``sample_size`` is fitted whole, exactly as by the local engine, so both engines give the same
themes.

The segments outside the sample are coded with the codebook by the classifier that coded the
sample: the logistic regression self-trained on the sample's most confident segments and the
codebook's texts (``ThemeFinder.coding_model_``, so the theme scale of ``themes.guided_scale`` that
chose its training set carries over), then the ``min_similarity`` rule where the codebook has no
``other`` theme, as on the sample. Only the pooling over answers to the same question is not
applied outside the sample (it needs every answer to a question at once). Where nothing was
self-trained (one label only), the nearest codebook theme is taken.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from themekit.embed.base import l2_normalize

if TYPE_CHECKING:  # pragma: no cover
    from themekit.themes import ThemeFinder

logger = logging.getLogger(__name__)


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
        coder: tuple[Any, list[str]] | None = None,
    ):
        self.remover = remover
        self.answer_remover = answer_remover
        self.subspace = subspace
        self.keys = keys
        self.centres = centres
        self.codebook = codebook
        self.coder = coder

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
        coder = finder.coding_model_ if codebook is not None else None
        if codebook is not None and coder is None:
            logger.info(
                "segments outside the sample are coded with the nearest codebook theme: nothing "
                "was self-trained on the sample (one codebook theme only)"
            )
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
            coder=coder,
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
            if self.coder is not None:  # the sample's self-trained coder, as ThemeFinder._code
                clf, coder_ids = self.coder
                pick = guided.class_proba(clf, Y, len(coder_ids)).argmax(axis=1)
                codes = np.asarray([coder_ids[j] for j in pick], dtype=object)
            else:
                codes = np.asarray([ids[j] for j in scores.argmax(axis=1)], dtype=object)
            real = [j for j, t in enumerate(ids) if t != other]
            if other not in ids and real:
                codes[scores[:, real].max(axis=1) < min_sim] = other
            out["code"] = codes
        return out
