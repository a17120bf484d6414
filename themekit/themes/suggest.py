"""Which segments should the researcher code next? (``themekit suggest RUN --n 30``)

Active sampling over a run's fine-tuned coder (:mod:`themekit.themes.finetune`): every segment
the coder was not given is scored by its *uncertainty* (1 minus the margin between its two most
probable codes) and picked greedily, each pick maximising

    uncertainty x (0.5 + 0.5 x distance to the nearest segment already known) x 0.7 ** (picks
    already made in its session and language)

so that the list holds segments the model is unsure about, unlike those it has already seen,
and spread over the sessions and languages.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from themekit.errors import InputError, UserError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

logger = logging.getLogger(__name__)

#: Each earlier pick from the same session and language multiplies a segment's score by this.
SPREAD_PENALTY = 0.7


def pick_informative(
    proba: np.ndarray,
    vectors: np.ndarray,
    known: np.ndarray,
    candidates: np.ndarray,
    strata: list[str],
    n: int,
) -> list[int]:
    """Indices of ``n`` candidates, most informative first (see the module doc).

    ``proba``: (N, K) code probabilities; ``vectors``: (N, d) unit vectors; ``known``: boolean
    mask of segments the model was given; ``candidates``: boolean mask of segments that may be
    suggested; ``strata``: a session/language key per segment.
    """
    p = np.sort(proba, axis=1)
    margin = p[:, -1] - (p[:, -2] if p.shape[1] > 1 else 0.0)
    uncertainty = 1.0 - margin
    ref = vectors[known]
    nearest = (
        (vectors @ ref.T).max(axis=1) if len(ref) else np.full(len(vectors), -1.0)
    )  # cosine to the nearest known segment
    distance = np.clip((1.0 - nearest) / 2.0, 0.0, 1.0)
    counts: dict[str, int] = {}
    chosen: list[int] = []
    open_ = candidates.copy()
    for _ in range(min(n, int(candidates.sum()))):
        penalty = np.asarray([SPREAD_PENALTY ** counts.get(s, 0) for s in strata])
        score = np.where(open_, uncertainty * (0.5 + 0.5 * distance) * penalty, -np.inf)
        best = int(np.argmax(score))
        chosen.append(best)
        open_[best] = False
        counts[strata[best]] = counts.get(strata[best], 0) + 1
        sim = vectors @ vectors[best]
        distance = np.minimum(distance, np.clip((1.0 - sim) / 2.0, 0.0, 1.0))
    return chosen


def suggest(run_dir: str | Path, n: int = 30, *, device: str = "auto") -> pd.DataFrame:
    """The ``n`` segments of a run whose coding would teach its fine-tuned coder most.

    Candidates are the segments the coder was not given (``scored`` in ``assignments.csv``, or
    no hand code). Returns a table to fill in: ``segment_id``, an empty ``code``, the coder's
    ``suggested_code`` and ``second_code`` with their ``margin``, where it was said and the text
    (and the ``hand_code`` when the run had one)."""
    import pandas as pd

    from themekit.corpus import Corpus
    from themekit.embed.context import link_prompts
    from themekit.themes.finetune import CODER_DIR, Coder

    if n < 1:
        raise UserError(f"--n must be at least 1; got {n}")
    run_dir = Path(run_dir)
    seg_path, assign_path = run_dir / "segments.csv", run_dir / "assignments.csv"
    for path in (seg_path, assign_path):
        if not path.is_file():
            raise InputError(f"not a themekit run folder (no {path.name})", path=run_dir)
    coder = Coder.load(run_dir / CODER_DIR, device=device)
    frame = pd.read_csv(
        seg_path,
        dtype={"id": str, "session": str, "speaker": str},
        keep_default_na=False,
        na_values={c: [""] for c in ("char_start", "char_end", "start", "end", "position")},
    )
    full = Corpus.from_frame(frame)
    corpus = full.analysed()
    assign = pd.read_csv(assign_path, dtype={"segment_id": str}, keep_default_na=False)
    if list(assign["segment_id"]) != corpus.ids:
        raise InputError(
            "segments.csv and assignments.csv do not list the same segments", path=run_dir
        )
    links, prompts = link_prompts(full)
    proba, Y = coder.predict_proba(corpus.texts, corpus.languages, [p.text for p in prompts], links)
    if "scored" in assign:
        given = ~assign["scored"].astype(str).str.lower().isin(["true", "1"]).to_numpy()
        if "hand_code" in assign:
            given &= assign["hand_code"].astype(str).str.len().to_numpy() > 0
    else:
        given = np.zeros(len(corpus), dtype=bool)
    candidates = ~given
    if not candidates.any():
        raise InputError(
            "every segment of this run was given to the coder: nothing to suggest", path=run_dir
        )
    strata = [f"{s.session}|{s.language}" for s in corpus]
    picks = pick_informative(proba, Y, given, candidates, strata, n)
    order = np.argsort(-proba, axis=1)
    classes = coder.head.classes_
    rows = []
    for i in picks:
        seg = corpus[i]
        first, second = (
            int(order[i, 0]),
            int(order[i, 1]) if proba.shape[1] > 1 else int(order[i, 0]),
        )
        row = {
            "segment_id": seg.id,
            "code": "",
            "suggested_code": classes[first],
            "second_code": classes[second],
            "margin": round(float(proba[i, first] - proba[i, second]), 4),
            "session": seg.session,
            "speaker": seg.speaker,
            "language": seg.language,
            "text": seg.text,
            "prompt": prompts[links[i]].text if links[i] is not None else "",  # type: ignore[index]
        }
        if "hand_code" in assign:
            row["hand_code"] = assign["hand_code"].iloc[i]
        rows.append(row)
    logger.info(
        "%d segments suggested from %d candidates over %d session/language groups",
        len(rows),
        int(candidates.sum()),
        len({strata[i] for i in picks}),
    )
    return pd.DataFrame(rows)
