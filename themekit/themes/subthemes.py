"""A finer level under each candidate theme: sub-themes, as qualitative codebooks have them.

Discovery cuts the corpus once, and its k is often the smallest of several near-best ones
(``manifest["k"]["near_best"]``; benchmarks/RESULTS.md): a theme can hold two or three things a
researcher would code apart. :func:`split_themes` looks inside each theme: k-means with k = 2 to
:data:`MAX_SUBTHEMES` on the theme's own segments, in the space the themes were found in, and
keeps the k whose silhouette most exceeds that of a featureless Gaussian cloud with the theme's
own mean and covariance, when it exceeds it by at least :data:`MIN_SILHOUETTE` and every part has
at least :data:`MIN_SUBTHEME_SIZE` segments; otherwise the theme is left whole. (A raw
silhouette threshold would split any cloud in a space of few dimensions, such as the question
directions, where k-means on pure noise scores 0.2-0.35.)
The themes themselves never change: sub-themes only add a level below them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

#: At most this many sub-themes per theme.
MAX_SUBTHEMES = 4
#: Every sub-theme holds at least this many segments (a theme needs twice as many to be split).
MIN_SUBTHEME_SIZE = 5
#: A split is kept only when its silhouette (within the theme) beats, by this much, the
#: silhouette that the same k-means gets on a Gaussian cloud with the theme's own mean and
#: covariance (what any cloud of points gets, whatever its dimension); measured on the
#: development suite (benchmarks/RESULTS.md, "Sub-themes").
MIN_SILHOUETTE = 0.05
#: Silhouettes of larger themes are measured on a sample of this many segments.
SILHOUETTE_SAMPLE = 2000
#: Themes larger than this are split on a sample of this many of their segments.
FIT_SAMPLE = 5000
#: Rows of a large theme placed by the parts' centres at a time (memory stays at the chunk).
PREDICT_CHUNK = 8192


@dataclass
class Split:
    """How the themes were split: ``sub[i]`` is segment i's sub-theme within its theme (0, 1, …;
    -1 where its theme was not split or it is an outlier); ``themes`` maps each theme to its
    chosen k and silhouette (k = 1 when left whole, with the reason)."""

    sub: np.ndarray
    themes: dict[int, dict[str, Any]] = field(default_factory=dict)

    def ids(self, labels: np.ndarray) -> list[str]:
        """Per segment ``"<theme>.<n>"`` (n from 1) where its theme was split, else ``""``."""
        return [
            f"{int(t)}.{int(s) + 1}" if s >= 0 else ""
            for t, s in zip(np.asarray(labels).tolist(), self.sub.tolist(), strict=True)
        ]

    def fine_labels(self, labels: np.ndarray) -> np.ndarray:
        """One integer per sub-theme (and per theme left whole), for scoring the finer level."""
        labels = np.asarray(labels, dtype=int)
        return np.where(labels < 0, -1, labels * (MAX_SUBTHEMES + 1) + self.sub + 1)


def split_themes(
    embeddings: np.ndarray,
    labels: np.ndarray,
    *,
    seed: int = 42,
    max_k: int = MAX_SUBTHEMES,
    min_size: int = MIN_SUBTHEME_SIZE,
    min_silhouette: float = MIN_SILHOUETTE,
) -> Split:
    """Split each theme (label >= 0) of ``labels`` where its segments fall into clear parts."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    labels = np.asarray(labels, dtype=int)
    if embeddings.shape[0] != len(labels):
        raise ValueError(f"{embeddings.shape[0]} embeddings for {len(labels)} labels")

    def unit(rows: np.ndarray) -> np.ndarray:  # only the rows needed, never a copy of them all
        X = np.asarray(embeddings[rows], dtype=np.float64)
        return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)

    sub = np.full(len(labels), -1, dtype=int)
    record: dict[int, dict[str, Any]] = {}
    rng = np.random.default_rng(seed)
    for t in sorted(set(labels.tolist()) - {-1}):
        idx = np.flatnonzero(labels == t)
        # a large theme is split on a sample of it (the parts' centres then place the rest)
        fit = idx if len(idx) <= FIT_SAMPLE else np.sort(rng.choice(idx, FIT_SAMPLE, replace=False))
        Zf = unit(fit)
        noise = _null_cloud(Zf, seed)
        best: tuple[float, int, Any] | None = None
        for k in range(2, max_k + 1):
            if len(idx) < k * min_size:
                break
            km = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(Zf)
            if np.bincount(km.labels_, minlength=k).min() < min_size:
                continue
            n_sample = min(len(fit), SILHOUETTE_SAMPLE)
            score = float(
                silhouette_score(Zf, km.labels_, sample_size=n_sample, random_state=seed)
            ) - _null_silhouette(noise, k, seed)
            if best is None or score > best[0]:
                best = (score, k, km)
        if best is None:
            record[t] = {"k": 1, "reason": f"too few segments to split ({len(idx)})"}
        elif best[0] < min_silhouette:
            record[t] = {
                "k": 1,
                "silhouette": round(best[0], 3),
                "reason": f"no clear parts (best silhouette {best[0]:.3f} above a Gaussian "
                f"cloud's, at k={best[1]}; {min_silhouette} needed)",
            }
        else:
            if len(fit) == len(idx):
                sub[idx] = best[2].labels_
            else:  # the rest placed by the parts' centres, a chunk of rows at a time
                for a in range(0, len(idx), PREDICT_CHUNK):
                    sub[idx[a : a + PREDICT_CHUNK]] = best[2].predict(
                        unit(idx[a : a + PREDICT_CHUNK])
                    )
            record[t] = {"k": best[1], "silhouette": round(best[0], 3)}
    n_split = sum(1 for r in record.values() if r["k"] > 1)
    logger.info("sub-themes: %d of %d themes split into parts", n_split, len(record))
    return Split(sub=sub, themes=record)


def _null_cloud(Z: np.ndarray, seed: int) -> np.ndarray:
    """A Gaussian cloud with the mean and covariance of ``Z`` (at most
    :data:`SILHOUETTE_SAMPLE` of its unit rows), its points put on the unit sphere as ``Z``'s
    are: a cloud of the theme's shape with no parts."""
    rng = np.random.default_rng(seed)
    if len(Z) > SILHOUETTE_SAMPLE:
        Z = Z[rng.choice(len(Z), SILHOUETTE_SAMPLE, replace=False)]
    mean = Z.mean(axis=0)
    noise = mean + rng.standard_normal((len(Z), len(Z))) @ (Z - mean) / np.sqrt(len(Z) - 1)
    noise /= np.maximum(np.linalg.norm(noise, axis=1, keepdims=True), 1e-12)  # as Z is
    return noise


def _null_silhouette(noise: np.ndarray, k: int, seed: int) -> float:
    """The silhouette of k-means with ``k`` on a cloud from :func:`_null_cloud`: what a split
    of a cloud with no parts scores."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    labels = KMeans(n_clusters=k, n_init=4, random_state=seed).fit_predict(noise)
    if len(set(labels.tolist())) < 2:
        return 0.0
    return float(silhouette_score(noise, labels))
