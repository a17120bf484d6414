"""Matching candidate themes to hand codes from segment overlap.

Everything here works on the theme-by-code contingency table: how many segments of candidate
theme ``t`` carry hand code ``c``. Outlier segments (theme ``-1``) are kept in a separate row:
they count towards a code's size but never match anything.

Three views of the table:

* **one-to-one**: the optimal assignment (scipy's ``linear_sum_assignment``, maximising the
  total overlap) that pairs each code with at most one theme and vice versa;
* **many-to-one**: each candidate theme goes to the code it is mostly made of (its majority
  code, ties broken by code order), with its purity (the majority code's share of the theme);
  a code can collect several themes, as when the machine splits a human theme;
* **recovery**: a code is recovered when one candidate theme holds at least ``threshold`` of
  the code's segments *and* is at least ``threshold`` made of them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger(__name__)

#: Tolerance for threshold comparisons, so that 3 of 6 counts as "at least half" exactly.
_EPS = 1e-9


@dataclass(frozen=True)
class Contingency:
    """A theme-by-code table of segment counts.

    ``table[i, j]`` counts segments of candidate theme ``themes[i]`` with hand code ``codes[j]``;
    ``outliers[j]`` counts outlier segments (theme -1) with code ``codes[j]``.
    """

    themes: list[int]
    codes: list[str]
    table: np.ndarray
    outliers: np.ndarray

    @property
    def theme_sizes(self) -> np.ndarray:
        return self.table.sum(axis=1)

    @property
    def code_sizes(self) -> np.ndarray:
        """Segments per code, outliers included."""
        return self.table.sum(axis=0) + self.outliers


def contingency(theme_ids: np.ndarray, hand_codes: Sequence[str], codes: list[str]) -> Contingency:
    """Count segments per (candidate theme, hand code). Every hand code must be in ``codes``."""
    themes = sorted(int(t) for t in np.unique(theme_ids) if t != -1)
    row = {t: i for i, t in enumerate(themes)}
    col = {c: j for j, c in enumerate(codes)}
    table = np.zeros((len(themes), len(codes)), dtype=np.int64)
    outliers = np.zeros(len(codes), dtype=np.int64)
    for t, c in zip(theme_ids.tolist(), hand_codes, strict=True):
        if t == -1:
            outliers[col[c]] += 1
        else:
            table[row[t], col[c]] += 1
    return Contingency(themes=themes, codes=list(codes), table=table, outliers=outliers)


def one_to_one(ct: Contingency) -> list[tuple[int, str, int]]:
    """The optimal one-to-one assignment as ``(theme, code, overlap)``, pairs with overlap > 0.

    Maximises the total number of segments shared by paired themes and codes (the Hungarian
    algorithm on the contingency table). Pairs that share no segment are dropped: they are no
    match at all.
    """
    if ct.table.size == 0:
        return []
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(ct.table, maximize=True)
    pairs = [
        (ct.themes[i], ct.codes[j], int(ct.table[i, j]))
        for i, j in zip(rows.tolist(), cols.tolist(), strict=True)
        if ct.table[i, j] > 0
    ]
    return sorted(pairs, key=lambda p: p[0])


def many_to_one(ct: Contingency) -> dict[int, tuple[str, float, int]]:
    """Each candidate theme's majority code: ``theme -> (code, purity, theme size)``.

    Ties go to the code that comes first in ``ct.codes``.
    """
    out: dict[int, tuple[str, float, int]] = {}
    sizes = ct.theme_sizes
    for i, t in enumerate(ct.themes):
        j = int(np.argmax(ct.table[i]))
        size = int(sizes[i])
        out[t] = (ct.codes[j], float(ct.table[i, j] / size), size)
    return out


def at_least(count: float, total: float, threshold: float) -> bool:
    """``count / total >= threshold`` without floating-point surprises; False when total is 0."""
    return total > 0 and count + _EPS >= threshold * total


def recovering_themes(ct: Contingency, code: str, threshold: float) -> list[int]:
    """Candidate themes that recover ``code``, largest overlap first.

    A theme recovers a code when it holds at least ``threshold`` of the code's segments
    (outliers included in the code's size) and at least ``threshold`` of the theme's segments
    carry the code.
    """
    j = ct.codes.index(code)
    n_code = int(ct.code_sizes[j])
    sizes = ct.theme_sizes
    found = [
        (int(ct.table[i, j]), t)
        for i, t in enumerate(ct.themes)
        if at_least(ct.table[i, j], n_code, threshold)
        and at_least(ct.table[i, j], sizes[i], threshold)
    ]
    return [t for _, t in sorted(found, key=lambda x: (-x[0], x[1]))]


def theme_to_code(ct: Contingency) -> tuple[dict[int, str], dict[int, str]]:
    """Map every candidate theme to one code for segment-level agreement.

    Themes paired by the optimal one-to-one assignment take their partner; themes left over
    take their majority code (many-to-one). Returns ``(mapping, how)`` where ``how[t]`` is
    ``"one_to_one"`` or ``"majority"``.
    """
    mapping: dict[int, str] = {}
    how: dict[int, str] = {}
    for t, c, _ in one_to_one(ct):
        mapping[t] = c
        how[t] = "one_to_one"
    for t, (c, _, _) in many_to_one(ct).items():
        if t not in mapping:
            mapping[t] = c
            how[t] = "majority"
    return mapping, how
