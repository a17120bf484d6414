"""The first step of a comparison: check the inputs and pick the segments that are scored."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from themekit.corpus import LANGUAGES
from themekit.errors import UserError


@dataclass(frozen=True)
class Scored:
    """The segments that are scored: their positions in the input (``rows``), candidate themes
    and hand codes, and the counts of those left out."""

    n_total: int
    rows: list[int]
    themes: np.ndarray
    hand: list[str]
    n_without_hand_code: int
    n_outside_eval_mask: int


def _check_length(name: str, values: Sequence[Any] | np.ndarray | None, n: int) -> None:
    if values is not None and len(values) != n:
        raise UserError(f"'{name}' must have one entry per segment ({n}); got {len(values)}")


def _theme_array(theme_ids: Sequence[int] | np.ndarray) -> np.ndarray:
    arr = np.asarray(theme_ids)
    if arr.ndim != 1:
        raise UserError(f"'theme_ids' must be a flat sequence of ints; got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise UserError(f"'theme_ids' must be ints (-1 = outlier); got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.size and arr.min() < -1:
        raise UserError(f"'theme_ids' must be >= -1 (-1 = outlier); got {int(arr.min())}")
    return arr


def validate(
    theme_ids: Sequence[int] | np.ndarray,
    hand_codes: Sequence[str | None],
    per_segment: dict[str, Sequence[Any] | np.ndarray | None],
    *,
    recovery_threshold: float,
    confidence: float,
    bootstrap: int,
) -> Scored:
    """Check the inputs (one entry per segment, settings in range, known languages) and pick the
    segments to score: those with a hand code, inside ``eval_mask``."""
    themes_all = _theme_array(theme_ids)
    n_total = len(themes_all)
    _check_length("hand_codes", hand_codes, n_total)
    for name, values in per_segment.items():
        _check_length(name, values, n_total)
    if not 0.0 < recovery_threshold <= 1.0:
        raise UserError(f"'recovery_threshold' must be in (0, 1]; got {recovery_threshold}")
    if not 0.0 < confidence < 1.0:
        raise UserError(f"'confidence' must be in (0, 1); got {confidence}")
    if bootstrap < 0:
        raise UserError(f"'bootstrap' must be >= 0; got {bootstrap}")
    languages = per_segment.get("languages")
    if languages is not None:
        bad = sorted({lang for lang in languages if lang not in LANGUAGES})
        if bad:
            raise UserError(f"'languages' must be among {list(LANGUAGES)}; got {bad}")

    eval_mask = per_segment.get("eval_mask")
    coded = np.array([bool(c) for c in hand_codes], dtype=bool)
    mask = np.ones(n_total, dtype=bool) if eval_mask is None else np.asarray(eval_mask, dtype=bool)
    keep = np.flatnonzero(coded & mask)
    if keep.size == 0:
        raise UserError(
            f"no segment to score: of {n_total} segments, {int(coded.sum())} have a hand code "
            f"and {int(mask.sum())} are in the evaluation mask"
        )
    rows: list[int] = keep.tolist()
    return Scored(
        n_total=n_total,
        rows=rows,
        themes=themes_all[keep],
        hand=[str(hand_codes[i]) for i in rows],
        n_without_hand_code=int((~coded).sum()),
        n_outside_eval_mask=int((~mask).sum()),
    )
