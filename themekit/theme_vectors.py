"""What describing themes needs from the segments' vectors, built chunk by chunk.

:func:`themekit.describe.describe_themes` never reads the whole ``(n, dim)`` matrix itself: it
reads a :class:`ThemeVectors`, which holds

- per theme the mean of its segments' unit vectors in the theme space (for its centre: quotes
  and the one-line description) and in the phrase space (for keyphrases and the similarity to
  a codebook theme), and the phrase-space mean of every segment (keyphrases are ranked in
  directions away from it) — ``k x dim`` floats;
- per segment its cosine to its theme's centre (two floats: the quotes' and the description's
  normalisation of the centre) — O(n) floats, not O(n x dim);
- per theme the vectors of its most central segments, the candidates for its quotes (at most
  :data:`QUOTE_POOL_MAX` each).

Both engines build it with the same two chunk functions: :meth:`ThemeSums.of` (pass 1: sums)
and :meth:`ThemeVectors.chunk` (pass 2: cosines and quote candidates), merged with ``+`` and
:meth:`ThemeVectors.add`. The local engine calls them once on the whole matrix (one chunk, so
the arithmetic is the one describe always did); the ray engine calls them per embedding cache
shard on the workers (:mod:`themekit.distributed.stream`), so the driver holds only these.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Quotes are chosen among at most this many of a theme's most central segments (the more
#: central half of the theme, at least 3 x n_quotes, capped here so that a theme of a million
#: segments does not need half a million vectors in one place).
QUOTE_POOL_MAX = 2000


def unit64(X: np.ndarray) -> np.ndarray:
    """Rows (or a vector) scaled to unit length, in float64 (as describe compares them)."""
    X = np.asarray(X, dtype=np.float64)
    return X / np.maximum(np.linalg.norm(X, axis=-1, keepdims=True), 1e-12)


def pool_size(size: int, n_quotes: int) -> int:
    """How many of a theme's ``size`` segments are candidates for its ``n_quotes`` quotes."""
    if n_quotes <= 0 or size == 0:
        return 0
    return min(max(3 * n_quotes, (size + 1) // 2), max(QUOTE_POOL_MAX, 3 * n_quotes), size)


@dataclass
class ThemeSums:
    """Pass 1 over a chunk of segments: per theme how many, and the sums of their unit vectors
    in the theme space (``z``) and the phrase space (``p``); ``p_all`` sums every segment's."""

    count: dict[int, int] = field(default_factory=dict)
    z: dict[int, np.ndarray] = field(default_factory=dict)
    p: dict[int, np.ndarray] = field(default_factory=dict)
    p_all: np.ndarray | None = None
    n: int = 0

    @classmethod
    def of(cls, labels: np.ndarray, Z: np.ndarray, P: np.ndarray) -> ThemeSums:
        """The sums of one chunk: ``labels`` its themes, ``Z`` / ``P`` its unit rows (float64)."""
        labels = np.asarray(labels, dtype=int)
        out = cls(n=len(labels))
        for t in sorted(set(labels.tolist())):
            idx = np.flatnonzero(labels == t)
            out.count[t] = len(idx)
            out.z[t] = Z[idx].sum(axis=0)
            out.p[t] = P[idx].sum(axis=0)
        if len(labels):
            out.p_all = P.sum(axis=0)
        return out

    def __add__(self, other: ThemeSums) -> ThemeSums:
        out = ThemeSums(dict(self.count), dict(self.z), dict(self.p), self.p_all, self.n + other.n)
        for t, c in other.count.items():
            if t in out.count:
                out.count[t] += c
                out.z[t] = out.z[t] + other.z[t]
                out.p[t] = out.p[t] + other.p[t]
            else:
                out.count[t], out.z[t], out.p[t] = c, other.z[t], other.p[t]
        if other.p_all is not None:
            out.p_all = other.p_all if out.p_all is None else out.p_all + other.p_all
        return out


@dataclass
class QuotePool:
    """A theme's quote candidates: segment rows, their cosine to the centre, their unit
    vectors; most central first (ties: lower row first)."""

    rows: np.ndarray
    central: np.ndarray
    vectors: np.ndarray

    def merged(self, other: QuotePool, size: int) -> QuotePool:
        rows = np.concatenate([self.rows, other.rows])
        central = np.concatenate([self.central, other.central])
        keep = np.lexsort((rows, -central))[:size]
        return QuotePool(
            rows[keep], central[keep], np.concatenate([self.vectors, other.vectors])[keep]
        )


@dataclass
class ThemeVectors:
    """Everything describe reads from the vectors of ``n`` segments (see the module doc)."""

    n: int
    sizes: dict[int, int]
    means: dict[int, np.ndarray]
    phrase_means: dict[int, np.ndarray]
    phrase_mean_all: np.ndarray | None
    pool_sizes: dict[int, int]
    central: np.ndarray = field(default_factory=lambda: np.empty(0))
    central_unit: np.ndarray = field(default_factory=lambda: np.empty(0))
    pools: dict[int, QuotePool] = field(default_factory=dict)

    @classmethod
    def from_sums(cls, sums: ThemeSums, n_quotes: int) -> ThemeVectors:
        """The centres from pass 1; pass 2 (:meth:`chunk`, :meth:`add`) fills the rest."""
        out = cls(
            n=sums.n,
            sizes=dict(sums.count),
            means={t: sums.z[t] / c for t, c in sums.count.items()},
            phrase_means={t: sums.p[t] / c for t, c in sums.count.items()},
            phrase_mean_all=None if sums.p_all is None else sums.p_all / sums.n,
            pool_sizes={t: pool_size(c, n_quotes) for t, c in sums.count.items()},
        )
        out.central = np.full(sums.n, np.nan)
        out.central_unit = np.full(sums.n, np.nan)
        return out

    def centre(self, t: int) -> np.ndarray:
        """Theme ``t``'s centre as the quotes use it."""
        c = self.means[t].copy()
        c /= max(float(np.linalg.norm(c)), 1e-12)
        return c

    def chunk(
        self, rows: np.ndarray, labels: np.ndarray, Z: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[int, QuotePool]]:
        """Pass 2 over a chunk: ``rows`` its segments' positions in the corpus, ``labels`` their
        themes, ``Z`` their unit theme-space rows (float64). Returns (rows, cosine to the centre,
        cosine to the unit-normalised centre, quote candidates per theme)."""
        labels = np.asarray(labels, dtype=int)
        rows = np.asarray(rows, dtype=np.int64)
        c_q = np.empty(len(rows))
        c_d = np.empty(len(rows))
        pools: dict[int, QuotePool] = {}
        for t in sorted(set(labels.tolist())):
            idx = np.flatnonzero(labels == t)
            c_q[idx] = Z[idx] @ self.centre(t)
            c_d[idx] = Z[idx] @ unit64(self.means[t])
            size = self.pool_sizes.get(t, 0)
            if size:
                keep = np.lexsort((rows[idx], -c_q[idx]))[:size]
                pools[t] = QuotePool(rows[idx][keep], c_q[idx][keep], Z[idx][keep])
        return rows, c_q, c_d, pools

    def add(self, part: tuple[np.ndarray, np.ndarray, np.ndarray, dict[int, QuotePool]]) -> None:
        """Merge one chunk's pass-2 result (:meth:`chunk`) in."""
        rows, c_q, c_d, pools = part
        self.central[rows] = c_q
        self.central_unit[rows] = c_d
        for t, pool in pools.items():
            old = self.pools.get(t)
            self.pools[t] = pool if old is None else old.merged(pool, self.pool_sizes[t])


#: Rows per chunk when the vectors are in memory (8,192 x 384 float64: 24 MiB).
CHUNK_ROWS = 8192


def in_memory(
    labels: np.ndarray, embeddings: np.ndarray, phrase_space: np.ndarray | None, n_quotes: int
) -> ThemeVectors:
    """:class:`ThemeVectors` of vectors held in memory (the local engine): one chunk."""
    labels = np.asarray(labels, dtype=int)
    # in chunks, as over the cache shards: no float64 copy of all the vectors at once
    spans = [(a, min(a + CHUNK_ROWS, len(labels))) for a in range(0, len(labels), CHUNK_ROWS)]

    def unit_rows(a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        Z = unit64(embeddings[a:b])
        return Z, (Z if phrase_space is None else unit64(phrase_space[a:b]))

    sums = ThemeSums()
    for a, b in spans:
        sums = sums + ThemeSums.of(labels[a:b], *unit_rows(a, b))
    vectors = ThemeVectors.from_sums(sums, n_quotes)
    for a, b in spans:
        vectors.add(vectors.chunk(np.arange(a, b), labels[a:b], unit_rows(a, b)[0]))
    return vectors
