"""A disk cache of embeddings that never returns a stale or wrong vector.

Layout: ``<cache_dir>/<key>/`` per embedder, where ``key`` is a hash of the embedder's ``id``
(which names the model and every output-changing option), holding ``meta.json`` (the full id,
model, dimension) and shards ``s-<rows>-<digest>.npz``. A shard holds the sha256 of each text,
its float32 vector and the embedder id; ``digest`` is the sha256 of the shard's bytes, checked
on every read, so a truncated or corrupt shard is detected, logged with a warning, deleted and
its texts re-embedded.

Writes go to a temporary file in the same folder and are renamed into place (``os.replace``,
atomic) while holding a file lock, so two processes writing at once never leave a partial
shard; both may store the same text, which is harmless. Many small shards (one per batch, so a
crashed job keeps its finished batches) are merged now and then by :meth:`EmbeddingCache.compact`.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import shutil
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

#: Environment variable naming themekit's cache root; embeddings live in its ``embeddings/``.
CACHE_ENV = "THEMEKIT_CACHE"
FORMAT_VERSION = 1
_SHARD_RE = re.compile(r"^s-(\d+)-([0-9a-f]{32})\.npz$")
_LOCK_TIMEOUT_S = 600.0


def default_cache_dir() -> Path:
    """``$THEMEKIT_CACHE/embeddings``, else ``$XDG_CACHE_HOME/themekit/embeddings``, else
    ``~/.cache/themekit/embeddings``."""
    root = os.environ.get(CACHE_ENV)
    if root:
        return Path(root).expanduser() / "embeddings"
    xdg = os.environ.get("XDG_CACHE_HOME")
    # the XDG spec: a relative path is invalid and is ignored
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "themekit" / "embeddings"


def text_hash(text: str) -> bytes:
    """Hex sha256 of the UTF-8 text, as ASCII bytes (the cache's per-text key)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest().encode("ascii")


def embedder_key(embedder_id: str) -> str:
    """Folder name of an embedder's entries: a hash of its id."""
    return hashlib.sha256(embedder_id.encode("utf-8")).hexdigest()[:24]


@dataclass(frozen=True)
class Shard:
    path: Path
    rows: int
    digest: str


class EmbeddingCache:
    """The cached vectors of one embedder (one ``id``) under ``cache_dir``."""

    def __init__(self, cache_dir: Path, embedder_id: str, *, model_id: str = ""):
        self.cache_dir = Path(cache_dir)
        self.embedder_id = embedder_id
        self.model_id = model_id
        self.dir = self.cache_dir / embedder_key(embedder_id)
        self._lock_obj: Any = None

    # -- locking & metadata --------------------------------------------------------------
    def _lock(self) -> Any:
        """The folder's file lock (one object per cache, so it is re-entrant in a process)."""
        if self._lock_obj is None:
            from filelock import FileLock

            self.dir.mkdir(parents=True, exist_ok=True)
            self._lock_obj = FileLock(str(self.dir / ".lock"), timeout=_LOCK_TIMEOUT_S)
        return self._lock_obj

    def meta(self) -> dict[str, Any] | None:
        """``meta.json`` if present and for this embedder, else ``None``."""
        try:
            meta = json.loads((self.dir / "meta.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            logger.warning(
                "embedding cache: unreadable %s; it will be rewritten", self.dir / "meta.json"
            )
            return None
        if meta.get("id") != self.embedder_id:
            logger.warning(
                "embedding cache: %s belongs to another embedder (%r); not using it",
                self.dir,
                meta.get("id"),
            )
            return None
        return dict(meta)

    @property
    def dim(self) -> int | None:
        meta = self.meta()
        return _int_or_none(meta.get("dim")) if meta else None

    def _write_meta(self, dim: int) -> None:
        meta = {
            "id": self.embedder_id,
            "model_id": self.model_id,
            "dim": dim,
            "format": FORMAT_VERSION,
        }
        _atomic_write(self.dir / "meta.json", json.dumps(meta, indent=2).encode("utf-8"))

    # -- shards --------------------------------------------------------------------------
    def shards(self) -> list[Shard]:
        if not self.dir.is_dir():
            return []
        out = []
        for p in sorted(self.dir.iterdir()):
            m = _SHARD_RE.match(p.name)
            if m and p.is_file():  # a folder of that name is not a shard (and is left alone)
                out.append(Shard(p, int(m.group(1)), m.group(2)))
        return out

    def put(self, hashes: Sequence[bytes], vectors: np.ndarray) -> Path | None:
        """Store ``vectors[i]`` under ``hashes[i]`` as one new shard; returns its path."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if len(hashes) != vectors.shape[0]:
            raise ValueError(f"{len(hashes)} hashes for {vectors.shape[0]} vectors")
        if len(hashes) == 0:
            return None
        with self._lock():
            meta = self.meta()
            if meta is None:
                self._write_meta(int(vectors.shape[1]))
            elif _int_or_none(meta.get("dim")) != vectors.shape[1]:
                # a damaged meta.json, or an embedder whose id does not describe its output:
                # either way the stored vectors cannot be trusted
                logger.warning(
                    "embedding cache: %s says %r-d vectors but embedder %r gives %d-d ones; "
                    "its shards are removed and the cache restarted",
                    self.dir / "meta.json",
                    meta.get("dim"),
                    self.embedder_id,
                    vectors.shape[1],
                )
                for shard in self.shards():
                    shard.path.unlink(missing_ok=True)
                self._write_meta(int(vectors.shape[1]))
            path = self._write_shard(np.asarray(hashes, dtype="S64"), vectors)
        return path

    def read(self, shard: Shard) -> tuple[np.ndarray, np.ndarray] | None:
        """``(hashes, vectors)`` of a shard, or ``None`` (with a warning) if it is corrupt."""
        try:
            data = shard.path.read_bytes()
        except FileNotFoundError:  # merged away by a concurrent compaction
            return None
        except OSError as exc:
            logger.warning("embedding cache: cannot read shard %s (%s); skipped", shard.path, exc)
            return None
        reason = None
        if hashlib.sha256(data).hexdigest()[:32] != shard.digest:
            reason = "checksum mismatch (truncated or corrupt file)"
        else:
            try:
                with np.load(io.BytesIO(data), allow_pickle=False) as z:
                    sid, hashes, vectors = str(z["id"]), z["hashes"], z["vectors"]
            except (OSError, ValueError, KeyError) as exc:
                sid, hashes, vectors = "", np.empty(0, "S64"), np.empty((0, 0), np.float32)
                reason = f"unreadable ({exc})"
            if reason is None and sid != self.embedder_id:
                reason = f"written for another embedder ({sid!r})"
            elif reason is None and (
                vectors.ndim != 2 or len(hashes) != len(vectors) or len(vectors) != shard.rows
            ):
                reason = "inconsistent shapes"
        if reason is not None:
            logger.warning(
                "embedding cache: shard %s is %s; removing it, its %d texts will be re-embedded",
                shard.path,
                reason,
                shard.rows,
            )
            self._remove(shard.path)
            return None
        return hashes, vectors.astype(np.float32, copy=False)

    def iter_shards(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Verified ``(hashes, vectors)`` of every shard; corrupt ones are skipped."""
        for shard in self.shards():
            got = self.read(shard)
            if got is not None:
                yield got

    def _remove(self, path: Path) -> None:
        with self._lock():
            try:
                path.unlink()
            except FileNotFoundError:
                pass

    def compact(self, *, min_shards: int = 32, target_rows: int | None = None) -> int:
        """Merge small shards into ones of about ``target_rows`` rows; returns shards removed.

        ``target_rows`` defaults to about 4 MiB of vectors. Runs only when there are at least
        ``min_shards`` shards smaller than that (memory: about two merged shards). Readers
        never see a gap: merged shards are written before the small ones are deleted.
        """
        if target_rows is None:
            target_rows = max(256, (4 << 20) // (4 * (self.dim or 384)))
        small = [s for s in self.shards() if s.rows < target_rows]
        if len(small) < min_shards:
            return 0
        removed = 0
        with self._lock():
            small = [s for s in self.shards() if s.rows < target_rows]
            group: list[Shard] = []
            rows = 0
            for shard in [*small, None]:
                if shard is not None:
                    group.append(shard)
                    rows += shard.rows
                if group and (shard is None or rows >= target_rows):
                    removed += self._merge(group)
                    group, rows = [], 0
        return removed

    def _merge(self, group: list[Shard]) -> int:
        if len(group) < 2:
            return 0
        seen: set[bytes] = set()
        hs: list[np.ndarray] = []
        vs: list[np.ndarray] = []
        for shard in group:
            got = self.read(shard)
            if got is None:
                continue
            h, v = got
            keep = np.fromiter((x not in seen for x in h.tolist()), dtype=bool, count=len(h))
            seen.update(h.tolist())
            hs.append(h[keep])
            vs.append(v[keep])
        if hs:
            H, V = np.concatenate(hs), np.concatenate(vs)
            del hs, vs
            self._write_shard(H, V)
        for shard in group:
            try:
                shard.path.unlink()
            except FileNotFoundError:
                pass
        return len(group)

    def _write_shard(self, hashes: np.ndarray, vectors: np.ndarray) -> Path:
        """Write a shard to a temporary file, name it by its sha256 and rename it into place."""
        tmp = self.dir / f".tmp-{uuid.uuid4().hex}"
        try:
            with tmp.open("wb") as fh:
                np.savez(fh, id=np.array(self.embedder_id), hashes=hashes, vectors=vectors)
                fh.flush()
                os.fsync(fh.fileno())
            h = hashlib.sha256()
            with tmp.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
            path = self.dir / f"s-{len(hashes):08d}-{h.hexdigest()[:32]}.npz"
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()
        return path

    def info(self) -> dict[str, Any]:
        shards = self.shards()
        meta = self.meta() or {}
        return {
            "key": self.dir.name,
            "id": meta.get("id", self.embedder_id),
            "model_id": meta.get("model_id", self.model_id),
            "dim": meta.get("dim"),
            "shards": len(shards),
            "vectors": sum(s.rows for s in shards),
            "bytes": sum(_size(s.path) for s in shards),
        }


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value else None
    except (TypeError, ValueError):
        return None


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".tmp-{uuid.uuid4().hex}")
    try:
        with tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _embedder_dirs(cache_dir: Path) -> list[Path]:
    if not cache_dir.is_dir():
        return []
    return sorted(p for p in cache_dir.iterdir() if p.is_dir() and (p / "meta.json").is_file())


def cache_info(cache_dir: Path) -> dict[str, Any]:
    """What the cache holds: one entry per embedder, and totals."""
    cache_dir = Path(cache_dir)
    entries = []
    for d in _embedder_dirs(cache_dir):
        try:
            meta = json.loads((d / "meta.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            meta = {}
        shards = [(p, int(m.group(1))) for p in d.iterdir() if (m := _SHARD_RE.match(p.name))]
        entries.append(
            {
                "key": d.name,
                "id": meta.get("id"),
                "model_id": meta.get("model_id"),
                "dim": meta.get("dim"),
                "shards": len(shards),
                "vectors": sum(rows for _, rows in shards),
                "bytes": sum(_size(p) for p, _ in shards),
            }
        )
    return {
        "path": str(cache_dir),
        "embedders": entries,
        "vectors": sum(e["vectors"] for e in entries),
        "bytes": sum(e["bytes"] for e in entries),
    }


def clear_cache(cache_dir: Path, embedder_id: str | None = None) -> int:
    """Delete cached embeddings: all of them, or one embedder's (by id or by folder key).

    Returns the number of vectors removed. Only folders that themekit wrote (with a
    ``meta.json``) are touched.
    """
    from filelock import FileLock

    cache_dir = Path(cache_dir)
    removed = 0
    for d in _embedder_dirs(cache_dir):
        if embedder_id is not None and d.name not in (embedder_id, embedder_key(embedder_id)):
            continue
        with FileLock(str(d / ".lock"), timeout=_LOCK_TIMEOUT_S):
            for p in d.iterdir():
                m = _SHARD_RE.match(p.name)
                if m:
                    removed += int(m.group(1))
            for p in d.iterdir():
                if p.name != ".lock":
                    if p.is_dir():
                        shutil.rmtree(p)
                    else:
                        p.unlink()
        try:
            (d / ".lock").unlink()
            d.rmdir()
        except OSError:
            pass  # another process is using it again
    return removed
