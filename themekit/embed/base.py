"""The embedder interface, the backend registry and what every backend shares.

An embedder turns a list of texts into a float32 matrix, one row per text. Its ``id`` names
the model *and every option that changes its output* (revision, prompt, normalisation, max
length, dtype/quantisation, package version): the embedding cache is keyed by it, so two
embedders with the same ``id`` must produce the same vectors (within float tolerance).

Backends register a factory ``EmbeddingConfig -> Embedder`` in :data:`EMBEDDERS`. Factories
are cheap: they validate the config (and fail fast, e.g. on a hub id with remote access off)
but load no model; the model is loaded on the first ``encode``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from themekit.errors import ConfigError, RemoteAccessError
from themekit.registry import Registry

if TYPE_CHECKING:  # pragma: no cover
    from themekit.config.embedding import EmbeddingConfig

logger = logging.getLogger(__name__)


@runtime_checkable
class Embedder(Protocol):
    """What the pipeline needs from an embedding backend."""

    @property
    def id(self) -> str:
        """Stable; describes model, revision and every output-changing option. Cache key."""
        ...  # pragma: no cover

    @property
    def model_id(self) -> str:
        """Human-readable model id for the run manifest."""
        ...  # pragma: no cover

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` into a float32 array of shape ``(len(texts), dim)``."""
        ...  # pragma: no cover


@runtime_checkable
class CorpusFittedEmbedder(Embedder, Protocol):
    """An embedder whose vectors depend on the corpus it was fitted on (TF-IDF).

    :func:`themekit.embed.embed_texts` calls ``fit(texts)`` on the whole list before
    encoding it in batches; the ``id`` then includes a hash of the fitted corpus.
    """

    requires_fit: bool

    def fit(self, texts: Sequence[str]) -> CorpusFittedEmbedder: ...  # pragma: no cover


#: Backends chosen by ``embedding.backend`` in the job config.
EMBEDDERS: Registry[Embedder] = Registry("embedding backend", "embedding.backend")


def build_embedder(cfg: EmbeddingConfig) -> Embedder:
    """Create the embedder that ``cfg`` describes. Cheap: no model is loaded until ``encode``."""
    return EMBEDDERS.get(cfg.backend)(cfg)


def build_query_embedder(cfg: EmbeddingConfig, embedder: Embedder) -> Embedder:
    """The embedder for texts that segments are matched *against* (codebook descriptions).

    ``embedder`` itself unless ``embedding.query_prompt`` sets another prompt (e.g. e5's
    ``"query: "``, which its model card advises for asymmetric matching); then a twin that
    shares the original's (lazily loaded) model. The e5 query prompt is not the default: on the
    demo it raised guided kappa only with the moderator's question added to each answer and
    lowered it otherwise (benchmarks/guided_codebook.py; numbers in benchmarks/RESULTS.md).
    """
    prompt = cfg.query_prompt
    current = getattr(embedder, "effective_prompt", getattr(embedder, "prompt", None))
    if prompt is None or prompt == current:
        return embedder
    twin = copy.copy(embedder)
    twin.prompt = prompt  # type: ignore[attr-defined]
    if hasattr(twin, "_id"):
        twin._id = None  # a cached id names the old prompt
    # one model in memory: the twin loads (and keeps) it through the original
    twin._load = embedder._load  # type: ignore[attr-defined]
    return twin


def make_id(backend: str, **options: Any) -> str:
    """A readable, stable id: ``backend:key=value;key=value`` with keys sorted."""
    parts = [f"{k}={_fmt(v)}" for k, v in sorted(options.items())]
    return f"{backend}:" + ";".join(parts)


def _fmt(v: Any) -> str:
    if v is None:
        return "default"
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # quotes keep "" and "a;b" unambiguous
    return str(v)


def package_version(dist: str) -> str:
    """Installed version of a distribution, or ``"unknown"``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "unknown"


def as_float32_matrix(vectors: Any, n: int) -> np.ndarray:
    """Coerce a backend's output to a C-contiguous float32 ``(n, d)`` array."""
    arr = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
    if arr.ndim == 1 and n == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[0] != n:
        raise RuntimeError(f"embedder returned shape {arr.shape} for {n} texts")
    return arr


#: Rows per block when a pass over every vector needs a temporary of its own (8,192 x 384
#: float32: 12 MiB), so that no n x d temporary is ever made (benchmarks/RESULTS.md, issue 15).
ROW_CHUNK = 8192


def even_blocks(rows: np.ndarray, chunk: int = ROW_CHUNK) -> list[np.ndarray]:
    """``rows`` cut into consecutive blocks of equal size (within one row), at most ``chunk``
    rows each: one block when there are no more than ``chunk``, else none under ``chunk / 2``,
    so that no matrix product runs on a few rows only (where BLAS may choose other kernels)."""
    n_blocks = max(1, -(-len(rows) // chunk))
    return [b for b in np.array_split(rows, n_blocks) if len(b)]


def row_norms(X: np.ndarray, chunk: int = ROW_CHUNK) -> np.ndarray:
    """``np.linalg.norm(X, axis=1, keepdims=True)``, ``chunk`` rows at a time: the same numbers
    (each row's sum is its own), without the squared copy of the whole matrix."""
    out = np.empty((len(X), 1), dtype=np.result_type(X.dtype, np.float32))
    for a in range(0, len(X), chunk):
        out[a : a + chunk] = np.linalg.norm(X[a : a + chunk], axis=1, keepdims=True)
    return out


def l2_normalize(X: np.ndarray, *, copy: bool = True) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as float32. ``copy=False``: in place
    when ``X`` already is a writable float32 array (its owner's vectors are then gone)."""
    X = np.asarray(X, dtype=np.float32)
    norms = row_norms(X)
    np.maximum(norms, 1e-12, out=norms)
    if not copy and X.flags.writeable:
        X /= norms
        return X
    return X / norms


@contextmanager
def rows_in_front(
    X: np.ndarray, rows: np.ndarray, others: np.ndarray, others_copy: np.ndarray
) -> Iterator[np.ndarray]:
    """``X[rows]`` as a view, without copying those rows: for the ``with`` block they are moved
    to the front of ``X`` in place (:data:`ROW_CHUNK` rows at a time), and afterwards ``X`` is put back
    exactly as it was. ``rows`` and ``others`` are ascending and split ``range(len(X))``;
    ``others_copy`` is ``X[others]``, kept by the caller (it restores the rows overwritten).
    When ``X`` cannot be changed in place (read-only, not C-contiguous) this is ``X[rows]``."""
    if not (X.flags.writeable and X.flags.c_contiguous) or len(rows) + len(others) != len(X):
        yield X[rows]
        return
    k = len(rows)
    # forward: row rows[j] goes to j <= rows[j]; a block is read (a copy) before it is written,
    # and what later blocks read lies at or after their own positions, beyond this block
    for a in range(0, k, ROW_CHUNK):
        b = min(a + ROW_CHUNK, k)
        X[a:b] = X[rows[a:b]]
    try:
        yield X[:k]
    finally:  # back, from the end: j goes to rows[j] >= j, so no block overwrites a later source
        for b in range(k, 0, -ROW_CHUNK):
            a = max(0, b - ROW_CHUNK)
            X[rows[a:b]] = X[a:b].copy()
        X[others] = others_copy


def folder_fingerprint(folder: Path, *, head_bytes: int = 1 << 20) -> str:
    """A cheap content fingerprint of a model folder.

    Hashes every file's relative path and size, the whole of small files (configs,
    tokenisers) and the first and last ``head_bytes`` of large ones (weights), so a different
    model, a retrained one, or changed prompts/pooling/max length in the configs changes it.
    """
    h = hashlib.sha256()
    files = sorted(p for p in folder.rglob("*") if p.is_file() and ".cache" not in p.parts)
    for p in files:
        size = p.stat().st_size
        h.update(f"{p.relative_to(folder).as_posix()}\0{size}\0".encode())
        with p.open("rb") as fh:
            if size <= 2 * head_bytes:
                h.update(fh.read())
            else:
                h.update(fh.read(head_bytes))
                fh.seek(-head_bytes, os.SEEK_END)
                h.update(fh.read(head_bytes))
    return h.hexdigest()[:16]


def resolve_model_source(
    model: str, *, allow_remote: bool, backend: str, revision: str | None = None
) -> tuple[Path | None, str]:
    """Decide where a model comes from without touching the network.

    Returns ``(local_folder, hub_id)``: ``local_folder`` when ``model`` is an existing
    folder (``hub_id`` is then ``""``), else ``(None, model)`` for a hub id, which is only
    allowed when ``allow_remote`` is true or the model is already in the local Hugging Face
    cache (that check reads the disk only). Otherwise raises :class:`RemoteAccessError`.
    """
    path = Path(model).expanduser()
    if path.is_dir():
        return path.resolve(), ""
    if allow_remote or hub_cached_folder(model, revision) is not None:
        return None, model
    looks_like_path = model.startswith((".", "/", "~")) or model.count("/") > 1 or "\\" in model
    hint = (
        f"No folder {str(path)!r} exists. "
        if looks_like_path
        else f"{model!r} is not a local folder, so it would be downloaded from the Hugging Face Hub. "
    )
    raise RemoteAccessError(
        f"{hint}Remote access is switched off for the {backend} backend. Either set "
        "`embedding.allow_remote: true` in the job config to allow the download, or download "
        "the model once elsewhere (e.g. `huggingface-cli download <id> --local-dir <folder>`) "
        "and set `embedding.model` to that local folder path."
    )


def hub_cached_folder(repo_id: str, revision: str | None) -> Path | None:
    """The snapshot folder of ``repo_id`` in the local Hugging Face cache, if any (disk only)."""
    if repo_id.count("/") > 1 or not repo_id.strip():
        return None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - huggingface_hub comes with sentence-transformers
        return None
    try:
        hit = try_to_load_from_cache(repo_id, "config.json", revision=revision)
    except ValueError:  # malformed repo id
        return None
    if isinstance(hit, str):
        return Path(hit).parent
    return None


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when torch sees a GPU, then ``mps``, then ``cpu``."""
    if device != "auto":
        if device not in ("cpu", "mps") and not device.startswith("cuda"):
            raise ConfigError(
                f"must be one of auto, cpu, cuda, cuda:N or mps. Got {device!r} instead.",
                key="embedding.device",
            )
        return device
    try:
        import torch
    except ImportError:
        return "cpu"
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"
