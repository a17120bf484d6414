"""Segment-level agreement between two nominal codings (machine and human).

All statistics are computed from confusion matrices (rows: machine, columns: human), so the
same code serves one matrix or a stack of bootstrap matrices of shape ``(B, k, k)``.

Conventions for degenerate data (documented in the scores' ``definitions``):

* Cohen's kappa is **0** when either coder uses a single category. Then the agreement is
  exactly what chance predicts (or, when both use the same single category, kappa is 0/0);
  in both cases no agreement beyond chance can be shown. This is the score of a coding that
  puts every segment in one theme.
* Krippendorff's alpha is **undefined** (``None``) when both codings together use a single
  category: the krippendorff package refuses such data.
* Per-code precision is undefined when the machine never uses the code, recall when the
  humans never do; F1 = 2·TP / (predicted + true) is then 0 (undefined only when both are 0).
  Macro-F1 averages F1 over the codes the humans used.
"""

from __future__ import annotations

import logging

import numpy as np

logger = logging.getLogger(__name__)

#: Largest number of resampled indices held in memory at once during the bootstrap.
_CHUNK_CELLS = 4_000_000


def confusion(machine: np.ndarray, human: np.ndarray, k: int) -> np.ndarray:
    """``k x k`` counts, rows = machine category index, columns = human category index."""
    return np.bincount(machine * k + human, minlength=k * k).reshape(k, k)


def _parts(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    cm = cm.astype(np.float64)
    n = cm.sum(axis=(-2, -1))
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    pred = cm.sum(axis=-1)  # machine marginals
    true = cm.sum(axis=-2)  # human marginals
    return n, tp, pred, true


def percent_agreement(cm: np.ndarray) -> np.ndarray:
    n, tp, _, _ = _parts(cm)
    return tp.sum(axis=-1) / n


def cohen_kappa(cm: np.ndarray) -> np.ndarray:
    """Cohen's kappa: (p_o - p_e) / (1 - p_e); 0 when either coder uses one category."""
    n, tp, pred, true = _parts(cm)
    p_o = tp.sum(axis=-1) / n
    pm = pred / n[..., None]
    ph = true / n[..., None]
    p_e = (pm * ph).sum(axis=-1)
    single = ((pred > 0).sum(axis=-1) <= 1) | ((true > 0).sum(axis=-1) <= 1)
    denom = np.where(single, 1.0, 1.0 - p_e)
    return np.where(single, 0.0, (p_o - p_e) / denom)


def alpha_nominal(cm: np.ndarray) -> np.ndarray:
    """Krippendorff's alpha (nominal, two coders, no missing values); NaN when undefined.

    With n = 2N pairable values, n_c the number of values in category c over both coders and
    D the number of disagreeing units: alpha = 1 - (n - 1) * 2D / (n^2 - sum_c n_c^2).
    """
    n_units, tp, pred, true = _parts(cm)
    n = 2.0 * n_units
    n_c = pred + true
    disagree = n_units - tp.sum(axis=-1)
    expected = n * n - (n_c * n_c).sum(axis=-1)
    undefined = expected <= 0
    safe = np.where(undefined, 1.0, expected)
    return np.where(undefined, np.nan, 1.0 - (n - 1.0) * 2.0 * disagree / safe)


def krippendorff_alpha(machine: np.ndarray, human: np.ndarray) -> float | None:
    """Krippendorff's alpha (nominal) from the krippendorff package; None when undefined."""
    if len(np.union1d(machine, human)) < 2:
        return None
    import krippendorff

    data = np.vstack([machine, human]).astype(np.float64)
    return float(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))


def f1_parts(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-category precision, recall, F1 (NaN where undefined) and human support."""
    _, tp, pred, true = _parts(cm)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(pred > 0, tp / np.where(pred > 0, pred, 1), np.nan)
        recall = np.where(true > 0, tp / np.where(true > 0, true, 1), np.nan)
        both = pred + true
        f1 = np.where(both > 0, 2 * tp / np.where(both > 0, both, 1), np.nan)
    return precision, recall, f1, true


def macro_f1(cm: np.ndarray) -> np.ndarray:
    """Mean F1 over the categories the humans used (F1 = 0 where the machine missed them)."""
    _, _, f1, true = f1_parts(cm)
    present = true > 0
    return np.where(present, np.nan_to_num(f1), 0.0).sum(axis=-1) / present.sum(axis=-1)


STATISTICS = {
    "cohen_kappa": cohen_kappa,
    "krippendorff_alpha": alpha_nominal,
    "percent_agreement": percent_agreement,
    "macro_f1": macro_f1,
}


def bootstrap(
    machine: np.ndarray,
    human: np.ndarray,
    k: int,
    *,
    resamples: int,
    confidence: float,
    seed: int,
) -> dict[str, tuple[float, float] | None]:
    """Percentile bootstrap intervals for :data:`STATISTICS`, resampling segments.

    Draws ``resamples`` samples of the segments with replacement from
    ``numpy.random.default_rng(seed)``; resamples where a statistic is undefined (alpha on a
    single category) are left out of that statistic's interval.
    """
    n = len(machine)
    if resamples <= 0 or n == 0:
        return dict.fromkeys(STATISTICS)
    rng = np.random.default_rng(seed)
    joint = machine * k + human
    values: dict[str, list[np.ndarray]] = {name: [] for name in STATISTICS}
    chunk = max(1, _CHUNK_CELLS // n)
    done = 0
    while done < resamples:
        b = min(chunk, resamples - done)
        idx = rng.integers(0, n, size=(b, n))
        offsets = (np.arange(b) * (k * k))[:, None]
        cms = np.bincount((joint[idx] + offsets).ravel(), minlength=b * k * k).reshape(b, k, k)
        for name, stat in STATISTICS.items():
            values[name].append(stat(cms))
        done += b
    tail = 100.0 * (1.0 - confidence) / 2.0
    out: dict[str, tuple[float, float] | None] = {}
    for name, parts in values.items():
        v = np.concatenate(parts)
        v = v[~np.isnan(v)]
        if v.size == 0:
            out[name] = None
            continue
        low, high = np.percentile(v, [tail, 100.0 - tail])
        out[name] = (float(low), float(high))
    logger.debug("bootstrap: %d resamples of %d segments", resamples, n)
    return out
