"""A stratified sample of segments, for fitting the themes of a corpus too large to fit whole."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def stratified_sample(
    strata: Sequence[tuple[str, str]] | Sequence[str], size: int, seed: int
) -> np.ndarray:
    """Sorted indices of ``size`` items drawn without replacement, proportionally from each
    stratum (e.g. ``(session, language)``), so a small session or language keeps its share.

    Each stratum gets ``floor(size * share)`` items and the remaining ones go to the strata with
    the largest remainders (Hamilton's rule; ties broken by stratum order), at least one item per
    stratum while ``size`` allows. ``size >= len(strata)`` returns every index. Same ``strata``,
    ``size`` and ``seed`` give the same sample.
    """
    n = len(strata)
    if size >= n:
        return np.arange(n)
    keys: dict[object, list[int]] = {}
    for i, s in enumerate(strata):
        keys.setdefault(s, []).append(i)
    groups = [np.asarray(idx) for _, idx in sorted(keys.items(), key=lambda kv: str(kv[0]))]
    sizes = np.asarray([len(g) for g in groups], dtype=float)
    quota = size * sizes / n
    take = np.floor(quota).astype(int)
    if size >= len(groups):  # every stratum is represented
        take = np.maximum(take, 1)
    left = size - int(take.sum())
    if left > 0:
        order = np.argsort(-(quota - np.floor(quota)), kind="stable")
        for j in order:
            if left == 0:
                break
            if take[j] < sizes[j]:
                take[j] += 1
                left -= 1
    while left < 0:  # the minimum of one per stratum overshot: trim the largest strata
        j = int(np.argmax(take))
        take[j] -= 1
        left += 1
    rng = np.random.default_rng(seed)
    picked = [
        rng.choice(g, size=int(k), replace=False)
        for g, k in zip(groups, take, strict=True)
        if k > 0
    ]
    return np.sort(np.concatenate(picked)) if picked else np.empty(0, dtype=int)
