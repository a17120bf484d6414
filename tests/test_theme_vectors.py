"""What describe reads from the vectors, built chunk by chunk (themekit.theme_vectors): any split
of the segments into chunks, merged in any order, gives what one chunk gives."""

from __future__ import annotations

import numpy as np

from themekit.theme_vectors import (
    QUOTE_POOL_MAX,
    ThemeSums,
    ThemeVectors,
    in_memory,
    pool_size,
    unit64,
)


def _chunked(labels: np.ndarray, X: np.ndarray, P: np.ndarray, parts: int, seed: int):
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(labels))
    chunks = np.array_split(order, parts)
    Z, Q = unit64(X), unit64(P)
    sums = ThemeSums()
    for c in chunks:
        sums = sums + ThemeSums.of(labels[c], Z[c], Q[c])
    vectors = ThemeVectors.from_sums(sums, n_quotes=3)
    for c in rng.permutation(len(chunks)):
        rows = chunks[c]
        vectors.add(vectors.chunk(rows, labels[rows], Z[rows]))
    return vectors


def test_chunks_merged_in_any_order_give_the_one_chunk_result() -> None:
    rng = np.random.default_rng(0)
    n = 500
    labels = rng.integers(-1, 4, n)
    X = rng.normal(size=(n, 24)).astype(np.float32)
    P = rng.normal(size=(n, 16)).astype(np.float32)
    whole = in_memory(labels, X, P, n_quotes=3)
    for parts, seed in ((1, 0), (7, 1), (50, 2)):
        got = _chunked(labels, X, P, parts, seed)
        assert got.n == whole.n == n and got.sizes == whole.sizes
        for t in whole.sizes:
            np.testing.assert_allclose(got.means[t], whole.means[t], atol=1e-12)
            np.testing.assert_allclose(got.phrase_means[t], whole.phrase_means[t], atol=1e-12)
            # the same quote candidates, in the same order (most central first)
            np.testing.assert_array_equal(got.pools[t].rows, whole.pools[t].rows)
            np.testing.assert_allclose(got.pools[t].vectors, whole.pools[t].vectors)
        np.testing.assert_allclose(got.central, whole.central, atol=1e-12)
        np.testing.assert_allclose(got.central_unit, whole.central_unit, atol=1e-12)
        assert not np.isnan(got.central).any()


def test_the_one_chunk_centres_are_the_plain_means() -> None:
    rng = np.random.default_rng(1)
    labels = np.asarray([0, 0, 1, 1, 1, -1])
    X = rng.normal(size=(6, 5))
    v = in_memory(labels, X, None, n_quotes=1)
    Z = unit64(X)
    for t in (-1, 0, 1):
        np.testing.assert_array_equal(v.means[t], Z[labels == t].mean(axis=0))
    assert v.phrase_mean_all is not None
    np.testing.assert_allclose(v.phrase_mean_all, Z.mean(axis=0))
    # each segment's cosine to its own theme's centre
    for i, t in enumerate(labels.tolist()):
        assert abs(v.central[i] - Z[i] @ unit64(Z[labels == t].mean(axis=0))) < 1e-12


def test_quote_pool_is_half_the_theme_capped() -> None:
    assert pool_size(10, 5) == 10  # 3 x n_quotes, at most the theme
    assert pool_size(100, 5) == 50  # the more central half
    assert pool_size(10**6, 5) == QUOTE_POOL_MAX
    assert pool_size(100, 0) == 0


def test_in_memory_works_in_chunks_and_gives_the_one_chunk_result(monkeypatch) -> None:
    import themekit.theme_vectors as tv

    rng = np.random.default_rng(3)
    n = 500
    labels = rng.integers(-1, 4, n)
    X = rng.normal(size=(n, 24)).astype(np.float32)
    P = rng.normal(size=(n, 16)).astype(np.float32)
    one = _chunked(labels, X, P, 1, 0)
    monkeypatch.setattr(tv, "CHUNK_ROWS", 37)  # 14 chunks
    got = tv.in_memory(labels, X, P, n_quotes=3)
    assert got.sizes == one.sizes
    for t in one.sizes:
        np.testing.assert_allclose(got.means[t], one.means[t], atol=1e-12)
        np.testing.assert_allclose(got.phrase_means[t], one.phrase_means[t], atol=1e-12)
        np.testing.assert_array_equal(got.pools[t].rows, one.pools[t].rows)
    np.testing.assert_allclose(got.central, one.central, atol=1e-12)
    np.testing.assert_allclose(got.central_unit, one.central_unit, atol=1e-12)
