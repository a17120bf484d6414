"""Theme stability: how often each theme reappears when the fit is repeated on subsamples.

Each refit clusters a random 80 % subsample with another seed. A theme "reappears" in a refit when
some refit theme overlaps it with a Jaccard index of at least 0.5 on the shared segments
(Hennig's cluster-wise stability; 0.5 is his "dissolved" threshold).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: A theme reappears when a refit theme matches it with at least this Jaccard index.
JACCARD_MATCH = 0.5
#: Share of segments in each refit.
SUBSAMPLE = 0.8
#: Themes that reappear in less than this share of refits are flagged as unstable.
FLAG_BELOW = 0.5


def reappearance(
    labels: np.ndarray, refit_labels: np.ndarray, subset: np.ndarray
) -> dict[int, bool]:
    """For each theme in ``labels`` (-1 ignored): does a theme of ``refit_labels`` (the labels of
    ``subset``) match it with Jaccard >= :data:`JACCARD_MATCH`?"""
    base = labels[subset]
    out: dict[int, bool] = {}
    for t in sorted(set(labels.tolist()) - {-1}):
        a = base == t
        if not a.any():
            out[t] = False
            continue
        best = 0.0
        for c in set(refit_labels[a].tolist()) - {-1}:
            b = refit_labels == c
            best = max(best, float((a & b).sum() / (a | b).sum()))
        out[t] = best >= JACCARD_MATCH
    return out


def stability(
    labels: np.ndarray,
    refit: Callable[[np.ndarray, int], np.ndarray],
    runs: int,
    seed: int,
    progress: Callable[[int], None] | None = None,
) -> dict[int, float]:
    """Share of ``runs`` refits in which each theme reappears.

    ``refit(subset_indices, seed)`` returns the labels of the subset fitted with that seed.
    """
    labels = np.asarray(labels)
    n = len(labels)
    rng = np.random.default_rng(seed)
    hits = {t: 0 for t in sorted(set(labels.tolist()) - {-1})}
    for r in range(runs):
        subset = np.sort(rng.choice(n, size=max(2, round(SUBSAMPLE * n)), replace=False))
        lab = np.asarray(refit(subset, seed + 1 + r))
        for t, ok in reappearance(labels, lab, subset).items():
            hits[t] += int(ok)
        if progress is not None:
            progress(r + 1)
    return {t: h / runs for t, h in hits.items()} if runs else {}
