"""What a run produced (:class:`RunResult`): the object the pipeline returns and the run folder,
the reports and the REFI-QDA export are written from.

It lives apart from :mod:`themekit.pipeline` so that the writers import the result, not the
pipeline that makes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from themekit.config import JobConfig
from themekit.corpus import Corpus
from themekit.manifest import Manifest

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from themekit.codebook import Codebook
    from themekit.compare import Scores
    from themekit.describe import CandidateTheme

__all__ = ["RunResult"]


@dataclass
class RunResult:
    """Everything a run produced. ``corpus`` holds the analysed segments (one per row of
    ``labels``; of ``embeddings`` too, unless ``sample_rows``); ``full_corpus`` also the
    context segments (moderator turns) in reading order.
    ``path`` is the run folder (None when not written)."""

    config: JobConfig
    corpus: Corpus
    embeddings: np.ndarray
    cluster_embeddings: np.ndarray
    labels: np.ndarray
    codebook_theme: list[str] | None
    themes: list[CandidateTheme]
    codebook: Codebook | None
    scores: Scores | None
    manifest: Manifest
    stability: dict[int, float] | None = None
    eval_mask: np.ndarray | None = None
    full_corpus: Corpus | None = None
    path: Path | None = None
    #: semi-supervised, method finetune: the fine-tuned coder, saved in the run folder
    coder: Any | None = None
    #: per segment its sub-theme (``"<theme>.<n>"``, ``""`` where its theme was not split);
    #: None when sub-themes were not looked for (``themes.subthemes``)
    subtheme_ids: list[str] | None = None
    #: the ray engine on a corpus larger than ``execution.sample_size``: the rows of the sample
    #: the themes were fitted on; ``embeddings`` and ``cluster_embeddings`` then hold only these
    #: rows (the others' vectors stay in the embedding cache)
    sample_rows: np.ndarray | None = None

    def vector_rows(self) -> np.ndarray:
        """The rows of ``corpus`` that ``embeddings`` and ``cluster_embeddings`` hold: all, or
        the sample (the ray engine at scale; the report's map then shows the sample)."""
        if self.sample_rows is not None:
            return np.asarray(self.sample_rows, dtype=int)
        return np.arange(len(self.corpus))

    def assignments(self) -> pd.DataFrame:
        """One row per analysed segment: ``segment_id``, ``theme_id``, ``theme_label``,
        ``codebook_theme`` (when a codebook is used), ``hand_code`` (when present), where it was
        said, its text and (with moderator turns as context) the ``prompt`` it answers."""
        import pandas as pd

        from themekit.context import link_prompts

        links, prompts = link_prompts(self.full_corpus) if self.full_corpus else ([], [])
        labels_by_theme = {t.id: t.label for t in self.themes}
        sub_labels = {s.id: s.label for t in self.themes for s in t.subthemes}
        rows = []
        for i, seg in enumerate(self.corpus):
            row: dict[str, Any] = {
                "segment_id": seg.id,
                "theme_id": int(self.labels[i]),
                "theme_label": labels_by_theme.get(int(self.labels[i]), "outlier"),
            }
            if self.subtheme_ids is not None:
                row["subtheme"] = self.subtheme_ids[i]
                row["subtheme_label"] = sub_labels.get(self.subtheme_ids[i], "")
            if self.codebook_theme is not None:
                row["codebook_theme"] = self.codebook_theme[i]
            if seg.code is not None:
                row["hand_code"] = seg.code
                row["hand_secondary_code"] = seg.secondary_code or ""
            if self.eval_mask is not None:
                row["scored"] = bool(self.eval_mask[i])
            row.update(
                session=seg.session,
                speaker=seg.speaker,
                language=seg.language,
                position=seg.position,
                text=seg.text,
            )
            if prompts:
                j = links[i]
                row["prompt"] = prompts[j].text if j is not None else ""
            rows.append(row)
        return pd.DataFrame(rows)
