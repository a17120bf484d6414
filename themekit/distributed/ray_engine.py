"""The ``ray`` execution engine: embedding (and the themes at scale) on a Ray cluster.

Embedding is a Ray Data pipeline: the distinct texts that the embedding cache does not hold
yet go into a :class:`ray.data.Dataset` (blocks of ``execution.shard_rows`` texts, longest
first so batches pad little), ``map_batches`` runs them through a pool of
``execution.num_workers`` embedder actors (one model load per actor; one GPU each when the
cluster has GPUs, else CPU), and each finished batch is written as one shard of the *local*
embedding cache (by the worker when the cache folder is shared, ``execution.shared_cache``,
else by the driver) (:class:`themekit.embed.cache.EmbeddingCache`: same folder, keys and
format). So a job moves between a laptop and a cluster and reuses what either has done; a
worker that dies has its batch retried (``execution.max_retries``) and loses no finished
shard; a job that fails is resumed by running it again. The pipeline then reads the vectors
back with :func:`themekit.embed.embed_texts`, which finds them all in the cache: all of them
for a corpus no larger than ``execution.sample_size``, else only the sample's
(:meth:`RayEngine.sample_rows`; the others stay in the shards and are read there by the
workers, :mod:`themekit.distributed.stream`).

Ray is imported only here and only when ``execution.engine`` is ``ray``.
"""

from __future__ import annotations

import logging
import os
import pickle
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from themekit.embed.base import Embedder, as_float32_matrix
from themekit.embed.cache import EmbeddingCache, text_hash
from themekit.errors import ConfigError
from themekit.progress import ProgressCallback

if TYPE_CHECKING:  # pragma: no cover
    from themekit.config import ExecutionConfig, JobConfig
    from themekit.config.embedding import EmbeddingConfig

logger = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'themekit[ray]'"


def import_ray() -> Any:
    """``ray`` (with Ray Data), or a :class:`UserError` telling the user to install the extra."""
    try:
        import ray
        import ray.data  # Ray Data comes with the ray[data] extra
    except ImportError as exc:
        raise ConfigError(
            f"the ray engine needs Ray, which is not installed ({exc}). Install it with "
            f"`{INSTALL_HINT}`, or set execution.engine: local",
            key="execution.engine",
        ) from None
    return ray


def check_address(address: str, timeout_s: float) -> None:
    """Fail fast (:class:`UserError` naming ``address``) when a remote cluster cannot be reached
    within ``timeout_s`` seconds; ``auto`` and ``local`` need no check."""
    if address in ("auto", "local"):
        return
    hostport = address.removeprefix("ray://")
    host, _, port = hostport.rpartition(":")
    host = host.strip("[]")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise _unreachable(address, timeout_s, str(exc)) from None
    # something listens there; is it Ray? (ray.init retries for minutes, so ask in a child
    # process that is killed after timeout_s)
    probe = (
        "import logging, ray; "
        f"ray.init(address={address!r}, logging_level=logging.ERROR, log_to_driver=False); "
        "ray.shutdown()"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, timeout=timeout_s
        )
    except subprocess.TimeoutExpired:
        raise _unreachable(address, timeout_s, "no Ray cluster answered") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["ray.init failed"])[-1]
        raise _unreachable(address, timeout_s, last[:300])


def _unreachable(address: str, timeout_s: float, why: str) -> ConfigError:
    return ConfigError(
        f"cannot reach the Ray cluster at {address!r} within {timeout_s:g} s ({why}). "
        "Check that its head node is running (`ray start --head` prints the address; Ray "
        "Client listens on port 10001) and reachable from here, or set "
        "execution.address: local to run on this machine",
        key="execution.address",
    )


@dataclass
class EmbedStats:
    """What :meth:`RayEngine.embed` did: distinct texts, found in the cache, embedded, shards."""

    n_texts: int
    n_distinct: int
    n_cached: int
    n_embedded: int
    n_shards: int
    seconds: float


class RayEngine:
    """Runs the embedding of a job on Ray. Construct with :meth:`check` (fails fast)."""

    def __init__(self, cfg: ExecutionConfig):
        self.cfg = cfg
        self.embed_stats: EmbedStats | None = None
        self.sample: dict[str, Any] | None = None

    def record(self) -> dict[str, Any]:
        """What the run manifest records about the engine: its settings, what the embedding
        did (texts found in the cache, embedded on Ray) and the sample the themes were fitted on."""
        from dataclasses import asdict

        return {
            "engine": "ray",
            "address": self.cfg.address,
            "num_workers": self.cfg.num_workers,
            "gpus_per_worker": self.cfg.gpus_per_worker,
            "ray_version": _ray_version(),
            "embedding": asdict(self.embed_stats) if self.embed_stats else None,
            "sample": self.sample,
        }

    @classmethod
    def check(cls, cfg: JobConfig) -> RayEngine:
        """Check before any work that Ray is installed, the cluster is reachable and the job
        can use the engine; raises :class:`UserError` subclasses naming the config key."""
        import_ray()
        if not cfg.embedding.cache:
            raise ConfigError(
                "the ray engine writes the embeddings as embedding cache shards (that is how a "
                "job resumes): set embedding.cache: true (and embedding.cache_dir to a folder "
                "the driver can write)",
                key="embedding.cache",
            )
        address = cfg.execution.address
        if address == "auto" and os.environ.get("RAY_ADDRESS"):
            address = os.environ["RAY_ADDRESS"]
        check_address(address, cfg.execution.connect_timeout_s)
        return cls(cfg.execution)

    # -- connection ----------------------------------------------------------------------------
    @contextmanager
    def session(self) -> Iterator[Any]:
        """Ray, connected: reuses an initialised Ray; else connects or starts one, and shuts it
        down on exit (so no Ray process outlives the job)."""
        ray = import_ray()
        started = False
        if not ray.is_initialized():
            started = True
            common: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
            address = self.cfg.address
            if address == "local":
                ray.init(address="local", include_dashboard=False, **common)
            elif address == "auto":
                try:
                    ray.init(address="auto", **common)
                except (ConnectionError, RuntimeError):
                    logger.info("no running Ray cluster found: starting a local one")
                    ray.init(address="local", include_dashboard=False, **common)
            else:
                try:
                    ray.init(address=address, **common)
                except (ConnectionError, RuntimeError, TimeoutError) as exc:
                    raise ConfigError(
                        f"cannot connect to the Ray cluster at {address!r} ({exc})",
                        key="execution.address",
                    ) from None
        logging.getLogger("ray.data").setLevel(logging.WARNING)  # its per-dataset INFO lines
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False  # themekit reports progress itself, and says so once:
        logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)
        ctx.print_on_execution_start = False
        res = ray.cluster_resources()
        logger.info(
            "ray: %g CPUs, %g GPUs in the cluster", res.get("CPU", 0.0), res.get("GPU", 0.0)
        )
        try:
            yield ray
        finally:
            if started:
                ray.shutdown()

    def _gpus(self, ray: Any) -> float:
        g = self.cfg.gpus_per_worker
        if g == "auto":
            return 1.0 if ray.cluster_resources().get("GPU", 0.0) >= 1 else 0.0
        return float(g)

    # -- embedding -----------------------------------------------------------------------------
    def embed(
        self,
        texts: Sequence[str],
        embedder: Embedder,
        embedding_cfg: EmbeddingConfig,
        *,
        cache_dir: Path,
        progress: ProgressCallback | None = None,
    ) -> EmbedStats:
        """Put the vectors of every text of ``texts`` into the embedding cache under
        ``cache_dir`` (those not there yet are embedded on the cluster). Returns what was done.

        A corpus-fitted embedder (``requires_fit``, tfidf) is fitted here on ``texts`` and sent
        to the workers fitted; any other is built on each worker from ``embedding_cfg`` through
        the backend registry (:func:`themekit.embed.build_embedder`), once per actor.
        """
        t0 = time.perf_counter()
        if getattr(embedder, "requires_fit", False):
            embedder.fit(texts)  # type: ignore[attr-defined]
        cache = EmbeddingCache(Path(cache_dir), embedder.id, model_id=embedder.model_id)
        distinct: dict[bytes, str] = {}
        for t in texts:
            distinct.setdefault(text_hash(t), t)
        n_distinct = len(distinct)
        for hashes, _ in cache.iter_shards():
            for h in hashes.tolist():
                distinct.pop(h, None)
        n_cached = n_distinct - len(distinct)
        logger.info(
            "embedding cache: %d of %d distinct texts found; %d to embed on Ray",
            n_cached,
            n_distinct,
            len(distinct),
        )
        if progress is not None:
            progress("embed", n_cached, n_distinct)
        if not distinct:
            self.embed_stats = EmbedStats(
                len(texts), n_distinct, n_cached, 0, 0, time.perf_counter() - t0
            )
            return self.embed_stats

        todo = sorted(distinct.items(), key=lambda ht: -len(ht[1]))
        del distinct
        rows = self.cfg.shard_rows
        payload = _actor_payload(embedder, embedding_cfg)
        done = n_shards = 0
        with self.session() as ray:
            import pandas as pd

            blocks = [
                pd.DataFrame(
                    {
                        "hash": [h.decode("ascii") for h, _ in todo[i : i + rows]],
                        "text": [t for _, t in todo[i : i + rows]],
                    }
                )
                for i in range(0, len(todo), rows)
            ]
            n_todo = len(todo)
            blocks_sizes = [len(b) for b in blocks]
            del todo
            ds = ray.data.from_pandas(blocks)
            del blocks
            gpus = self._gpus(ray)
            retries = self.cfg.max_retries
            with warnings.catch_warnings():
                # Ray 2.60 deprecates passing actor options this way but has no other yet
                warnings.simplefilter("ignore", DeprecationWarning)
                out = ds.map_batches(
                    EmbedActor,
                    fn_constructor_kwargs={
                        "payload": payload,
                        "cache_dir": str(cache_dir) if self.cfg.shared_cache else None,
                    },
                    batch_size=rows,
                    batch_format="numpy",
                    compute=ray.data.ActorPoolStrategy(
                        size=min(self.cfg.num_workers, len(blocks_sizes))
                    ),
                    num_gpus=gpus,
                    num_cpus=self.cfg.cpus_per_worker,
                    max_restarts=retries,  # a killed actor is restarted ...
                    max_task_retries=retries,  # ... and its batch retried
                )
            logger.info(
                "embedding %d texts on %d Ray workers (%s each), %d texts per shard",
                n_todo,
                self.cfg.num_workers,
                f"{gpus:g} GPU" if gpus else f"{self.cfg.cpus_per_worker:g} CPU",
                rows,
            )
            try:
                for batch in out.iter_batches(batch_size=None, batch_format="numpy"):
                    if "vector" in batch:  # not written by the worker: write it here
                        keys = [str(h).encode("ascii") for h in batch["hash"].tolist()]
                        cache.put(keys, np.asarray(batch["vector"], dtype=np.float32))
                    done += len(batch["hash"])
                    n_shards += 1
                    if progress is not None:
                        progress("embed", n_cached + done, n_distinct)
            except ray.exceptions.RayError as exc:
                raise RuntimeError(
                    f"the embedding on Ray failed; every finished batch is kept as a shard in "
                    f"{cache.dir} ({done} of {n_todo} texts reported back so far): run the job "
                    "again to resume from them. "
                    f"Cause: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                ) from exc
        cache.compact()
        secs = time.perf_counter() - t0
        logger.info("embedded %d texts on Ray in %.1f s (%d shards)", done, secs, n_shards)
        self.embed_stats = EmbedStats(len(texts), n_distinct, n_cached, done, n_shards, secs)
        return self.embed_stats

    # -- themes at scale ---------------------------------------------------------------------------
    def sample_rows(self, corpus: Any, seed: int) -> np.ndarray | None:
        """The rows of the sample the themes are fitted on (stratified by session and language,
        :func:`themekit.distributed.sampling.stratified_sample`), or None when the corpus is no
        larger than ``execution.sample_size`` (it is then fitted whole, as by the local
        engine). Recorded for the manifest."""
        from themekit.distributed.sampling import stratified_sample

        n, size = len(corpus), self.cfg.sample_size
        record: dict[str, Any] = {
            "sample_size": size,
            "seed": seed,
            "strata": "session x language",
            "n_segments": n,
        }
        if n <= size:
            self.sample = {**record, "n_sample": n, "whole_corpus": True}
            return None
        strata = [(s.session or "", s.language or "") for s in corpus]
        idx = stratified_sample(strata, size, seed)
        self.sample = {
            **record,
            "n_sample": len(idx),
            "n_strata": len(set(strata)),
            "whole_corpus": False,
        }
        logger.info(
            "themes fitted on a sample of %d of %d segments (stratified by session and "
            "language over %d strata, seed %d); the other %d are assigned on Ray, their "
            "vectors read by the workers from the embedding cache",
            len(idx),
            n,
            len(set(strata)),
            seed,
            n - len(idx),
        )
        return idx


def _actor_payload(embedder: Embedder, cfg: EmbeddingConfig) -> bytes:
    """What a worker needs to build its embedder: the fitted embedder itself when it is fitted
    on the corpus (pickled), else the config (the worker builds it through the registry)."""
    if getattr(embedder, "requires_fit", False):
        return pickle.dumps(("embedder", embedder, embedder.id))
    return pickle.dumps(("config", cfg.model_dump(mode="json"), embedder.id))


class EmbedActor:
    """A Ray Data actor: builds the embedder once, then embeds batches of ``text``. With
    ``cache_dir`` it writes each batch as a cache shard itself (and returns only the hashes),
    so a batch is kept as soon as it is finished; else it returns the vectors."""

    def __init__(self, payload: bytes, cache_dir: str | None = None):
        kind, obj, expected_id = pickle.loads(payload)
        if kind == "embedder":
            self.embedder: Embedder = obj
        else:
            from themekit.config.embedding import EmbeddingConfig
            from themekit.embed import build_embedder

            self.embedder = build_embedder(EmbeddingConfig.model_validate(obj))
        if self.embedder.id != expected_id:  # the cache key must be the driver's
            raise RuntimeError(
                f"the worker's embedder id {self.embedder.id!r} differs from the driver's "
                f"{expected_id!r}: install the same themekit and model on every node, and set "
                "embedding.device (cpu or cuda) rather than auto when the driver has no GPU but "
                "the workers do"
            )
        self.cache = (
            EmbeddingCache(Path(cache_dir), expected_id, model_id=self.embedder.model_id)
            if cache_dir
            else None
        )

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        texts = [str(t) for t in batch["text"].tolist()]
        vectors = as_float32_matrix(self.embedder.encode(texts), len(texts))
        if self.cache is not None:
            self.cache.put([str(h).encode("ascii") for h in batch["hash"].tolist()], vectors)
            return {"hash": batch["hash"]}
        return {"hash": batch["hash"], "vector": vectors}


def _ray_version() -> str:
    from themekit.embed.base import package_version

    return package_version("ray")
