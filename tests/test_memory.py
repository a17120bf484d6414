"""Passes over every vector make no n x d temporaries and give the same numbers as before
(issue 15: memory flat apart from the vectors themselves)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from themekit import heap
from themekit.context import build_context
from themekit.embed import LanguageMeanRemover
from themekit.embed.base import ROW_CHUNK, l2_normalize, row_norms, rows_in_front
from themekit.themes import ThemeFinder

N = 2 * ROW_CHUNK + 123  # three blocks, the last one short
D = 48


def _vectors(seed: int = 0) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, D)).astype(np.float32)
    X[5] = 0.0  # a zero row stays zero
    langs = rng.choice(["ms", "en", "mixed", "unknown"], N, p=[0.45, 0.45, 0.05, 0.05]).tolist()
    langs[10:13] = ["id"] * 3  # a language too rare for a mean of its own
    return X, langs


def _reference_transform(rem: LanguageMeanRemover, X: np.ndarray, langs: list[str]) -> np.ndarray:
    """The transform as it was written before it worked in blocks (whole masks, one copy)."""
    out = np.array(X, dtype=np.float32, copy=True)
    labels = np.asarray(langs, dtype=object)
    handled = np.zeros(len(labels), dtype=bool)
    for lang, mean in rem.means_.items():
        mask = labels == lang
        out[mask] -= mean
        handled |= mask
    out[~handled] -= rem.center_
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    np.maximum(norms, 1e-12, out=norms)
    return out / norms


def test_row_blocks_give_the_same_numbers_as_whole_matrix_operations() -> None:
    X, langs = _vectors()
    assert np.array_equal(row_norms(X), np.linalg.norm(X, axis=1, keepdims=True))
    whole = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    assert np.array_equal(l2_normalize(X), whole)
    rem = LanguageMeanRemover().fit(X, langs)
    labels = np.asarray(langs)
    for lang in ("ms", "en"):  # each language's mean, without copying its rows
        assert np.array_equal(rem.means_[lang], X[labels == lang].mean(axis=0))
    assert "id" not in rem.means_  # too few rows: the centre, as before
    assert np.array_equal(rem.transform(X, langs), _reference_transform(rem, X, langs))


def test_in_place_only_when_asked_and_allowed() -> None:
    X, langs = _vectors(1)
    mine = X.copy()
    out = l2_normalize(mine, copy=False)
    assert out is mine and np.array_equal(out, l2_normalize(X))
    kept = X.copy()
    assert l2_normalize(kept) is not kept and np.array_equal(kept, X)  # the default copies
    frozen = X.copy()
    frozen.setflags(write=False)
    assert l2_normalize(frozen, copy=False) is not frozen  # read-only (a memory map): a copy
    rem = LanguageMeanRemover().fit(X, langs)
    expected = rem.transform(X, langs)
    assert np.array_equal(X, _vectors(1)[0])  # transform leaves its input alone by default
    mine = X.copy()
    out = rem.transform(mine, langs, copy=False)
    assert out is mine and np.array_equal(out, expected)


def _peak_above(fn: object) -> int:
    """Bytes allocated at the peak of ``fn()`` above what was allocated before (tracemalloc
    sees numpy's buffers)."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        fn()  # type: ignore[operator]
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def test_normalising_and_neutralising_hold_one_copy_at_most() -> None:
    n, d = 3 * ROW_CHUNK, 384  # e5's width: per-row bookkeeping is small beside a row
    X = np.random.default_rng(2).standard_normal((n, d)).astype(np.float32)
    langs = (["ms", "en"] * (n // 2))[: n - 8] + ["mixed"] * 8
    block, bookkeeping = ROW_CHUNK * d * 4, 64 * n

    def prepare() -> None:  # as ThemeFinder._prepare does it
        Xn = l2_normalize(X)
        LanguageMeanRemover().fit(Xn, langs).transform(Xn, langs, copy=False)

    # before: 3.1 copies (the unit copy, the norms' squared temporary, a language's rows, the
    # output); now the unit copy and a block
    assert _peak_above(prepare) < X.nbytes + 1.5 * block + bookkeeping
    mine = X.copy()
    assert _peak_above(lambda: l2_normalize(mine, copy=False)) < 1.5 * block + bookkeeping


def test_a_context_without_prompts_holds_no_unit_copy() -> None:
    X, _ = _vectors(3)
    ctx = build_context([None] * N, [], X, None)
    assert ctx.fitted is None and ctx.answer_vectors is X
    assert np.array_equal(ctx.fitted_vectors, l2_normalize(X))  # computed when read
    sub = ctx.subset(np.arange(10))
    assert sub.fitted is None and np.array_equal(sub.fitted_vectors, l2_normalize(X[:10]))


@pytest.mark.parametrize("neutral", [True, False])
def test_the_finder_does_not_change_its_input(neutral: bool) -> None:
    X, langs = _vectors(4)
    X = X[:600]
    before = X.copy()
    finder = ThemeFinder(n_themes=3, language_neutral=neutral, seed=0, describe=False)
    Y, _ = finder._prepare(X, langs[:600], None, None)
    assert np.array_equal(X, before) and not np.shares_memory(X, Y)


def test_rows_moved_to_the_front_are_a_view_and_put_back_exactly() -> None:
    X, _ = _vectors(5)
    before = X.copy()
    others = np.sort(np.random.default_rng(5).choice(N, 700, replace=False))
    rows = np.setdiff1d(np.arange(N), others)
    kept = X[others]
    with rows_in_front(X, rows, others, kept) as view:
        assert np.shares_memory(view, X) and view.flags.c_contiguous
        assert np.array_equal(view, before[rows])  # what X[rows] would have copied
    assert np.array_equal(X, before)  # bitwise as it was
    with pytest.raises(RuntimeError), rows_in_front(X, rows, others, kept):
        raise RuntimeError("the transform failed")
    assert np.array_equal(X, before)  # put back on an error too
    frozen = X.copy()
    frozen.setflags(write=False)
    with rows_in_front(frozen, rows, others, kept) as view:  # read-only: a copy, as before
        assert not np.shares_memory(view, frozen) and np.array_equal(view, before[rows])


def test_moving_rows_to_the_front_allocates_a_block_not_a_copy() -> None:
    n, d = 3 * ROW_CHUNK, 384
    X = np.random.default_rng(6).standard_normal((n, d)).astype(np.float32)
    others = np.sort(np.random.default_rng(6).choice(n, 2000, replace=False))
    rows = np.setdiff1d(np.arange(n), others)
    kept = X[others]
    block = ROW_CHUNK * d * 4

    def move() -> None:
        with rows_in_front(X, rows, others, kept) as view:
            assert view.shape == (len(rows), d)

    # X[rows] would be 0.92 of X (27 MiB here); the move holds one block and its index
    assert _peak_above(move) < 1.2 * block + 64 * n


def test_even_blocks_cover_the_rows_in_order_and_none_is_small() -> None:
    from themekit.embed.base import even_blocks

    rows = np.arange(3, 3 + 2 * 100 + 7)
    blocks = even_blocks(rows, 100)
    assert np.array_equal(np.concatenate(blocks), rows)
    assert all(50 <= len(b) <= 100 for b in blocks)
    assert [len(b) for b in even_blocks(rows[:80], 100)] == [80]  # one block: one call
    assert even_blocks(rows[:0], 100) == []


def _clustered(seed: int, n: int = 3000, k: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((k, D)).astype(np.float32)
    labels = rng.integers(0, k, n)
    Y = l2_normalize(centres[labels] + 0.8 * rng.standard_normal((n, D)).astype(np.float32))
    labels[rng.random(n) < 0.4] = -1  # outliers
    return Y, labels


def test_nearest_centre_in_blocks_gives_the_same_numbers() -> None:
    from themekit.themes.discover import nearest_centre

    Y, labels = _clustered(0)
    rows = np.flatnonzero(labels == -1)
    keys = sorted(set(labels.tolist()) - {-1})
    # as it was written: a copy of each theme's rows and of the rows placed
    cents = np.stack([l2_normalize(Y[labels == c].mean(axis=0, keepdims=True))[0] for c in keys])
    for c, centre in zip(keys, cents, strict=True):
        masked = Y.mean(axis=0, keepdims=True, where=(labels == c)[:, None])
        assert np.array_equal(l2_normalize(masked)[0], centre)
    before = np.asarray(keys)[np.argmax(Y[rows] @ cents.T, axis=1)]
    assert np.array_equal(nearest_centre(Y, labels, rows, chunk=256), before)
    assert np.array_equal(nearest_centre(Y, labels, rows), before)


def test_outliers_reassigned_in_blocks_as_by_one_call() -> None:
    from bertopic import BERTopic

    from themekit.themes.discover import reduce_outliers

    Y, labels = _clustered(1)
    tm = BERTopic(embedding_model=None)  # what reduce_outliers reads of a fitted model
    keys = sorted(set(labels.tolist()) - {-1})
    tm.topic_sizes_ = {t: int((labels == t).sum()) for t in [-1, *keys]}
    tm.topic_embeddings_ = np.vstack(
        [Y[labels == -1].mean(axis=0)] + [Y[labels == c].mean(axis=0) for c in keys]
    )
    texts = [f"text {i}" for i in range(len(Y))]
    whole = tm.reduce_outliers(
        texts, labels.tolist(), strategy="embeddings", embeddings=Y, threshold=-1.0
    )
    got = reduce_outliers(tm, texts, labels, Y, chunk=256)
    assert np.array_equal(got, np.asarray(whole)) and (got >= 0).all()
    assert (labels == -1).any()  # the input is not changed
    assert np.array_equal(reduce_outliers(tm, texts, labels, Y), np.asarray(whole))


@pytest.mark.skipif(heap._malloc_trim() is None, reason="glibc's malloc_trim only")
def test_freed_heap_pages_are_given_back() -> None:
    # 64 KiB blocks come from the heap (below glibc's mmap threshold); keep one in ten, so
    # the freed ones sit between live blocks, where only malloc_trim can return their pages
    blocks = [np.ones(8192) for _ in range(3000)]  # ~190 MiB, every page touched
    kept = blocks[::10]
    del blocks
    before = heap.resident_bytes()
    released = heap.release_freed_memory("test")
    assert before is not None and released is not None
    assert released > 100 * 2**20  # of the ~170 MiB freed
    assert before - (heap.resident_bytes() or 0) > 100 * 2**20
    assert all(float(b.sum()) == 8192.0 for b in kept)  # what is referenced is untouched


def test_without_glibc_it_only_collects(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(heap, "_malloc_trim", lambda: None)
    assert heap.release_freed_memory("test") is None
