"""Themes for a corpus larger than the sample, with the vectors left in the cache shards.

BERTopic's own advice for corpora that do not fit (out of memory from about a million
documents) is to fit on a sample and ``transform`` the rest. With the ray engine and a corpus of
more than ``execution.sample_size`` segments:

1. the driver draws a sample stratified by session and language
   (:func:`themekit.distributed.sampling.stratified_sample`, the job's seed) and reads only the
   sample's vectors (and the prompts' and the codebook's) from the embedding cache;
2. the themes are fitted on the sample on the driver, exactly as the local engine fits a corpus;
3. **pass 1** (Ray Data ``map_batches``, one embedding cache shard per batch): each worker reads
   a shard, builds the vectors of the segments whose text it holds (with their prompt's context,
   as the fit did), assigns each to the nearest theme centre of the sample and codes it against
   the codebook (:class:`themekit.distributed.scale.Assigner`), and returns the labels, the codes
   and the per-theme sums describe needs (:class:`themekit.theme_vectors.ThemeSums`);
4. **pass 2**: the same over the shards again, with the centres from pass 1: each segment's
   cosine to its theme's centre and each theme's quote candidates
   (:meth:`themekit.theme_vectors.ThemeVectors.chunk`).

What the driver holds, then: the sample's vectors (``sample_size x dim``), per-segment data of
a few bytes (the text's 64-byte hash, language and prompt link, its label, code and two
cosines: O(n), no vectors), ``k x dim`` sums and at most ``k x QUOTE_POOL_MAX`` quote
candidates. Describe and the evaluation read these (:func:`themekit.compare.compare` takes the
per-segment labels and codes, O(n) ints and strings), never an ``(n, dim)`` matrix. Each segment
is handled by exactly one shard (the first that holds its text), so a text stored twice counts
once. The shards are read by the workers, so the cache folder must be one every worker sees
(``execution.shared_cache``, the default); without it the driver reads each shard and hands it
to the object store.
"""

from __future__ import annotations

import logging
import pickle
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from themekit.context import add_prompt_context
from themekit.embed.cache import _SHARD_RE, EmbeddingCache, Shard, text_hash
from themekit.theme_vectors import ThemeSums, ThemeVectors, unit64

if TYPE_CHECKING:  # pragma: no cover
    from themekit.distributed.ray_engine import RayEngine
    from themekit.distributed.scale import Assigner

logger = logging.getLogger(__name__)


@dataclass
class SegmentTable:
    """Per segment what a worker needs to find and place it (no vectors): the hash of its text,
    its language (index into ``languages``), the prompt it follows (-1: none), whether it is in
    the sample, and the shard that holds its text (index into ``shards``)."""

    hashes: np.ndarray
    language: np.ndarray
    languages: list[str]
    link: np.ndarray
    in_sample: np.ndarray
    owner: np.ndarray
    shards: list[str]

    @classmethod
    def build(
        cls,
        texts: list[str],
        languages: list[str],
        links: list[int | None],
        sample: np.ndarray,
        cache: EmbeddingCache,
    ) -> SegmentTable:
        n = len(texts)
        hashes = np.asarray([text_hash(t) for t in texts], dtype="S64")
        vocab = sorted(set(languages))
        code = {g: i for i, g in enumerate(vocab)}
        in_sample = np.zeros(n, dtype=bool)
        in_sample[sample] = True
        owner, shards = _owners(hashes, cache)
        return cls(
            hashes=hashes,
            language=np.asarray([code[g] for g in languages], dtype=np.int32),
            languages=vocab,
            link=np.asarray([-1 if j is None else j for j in links], dtype=np.int32),
            in_sample=in_sample,
            owner=owner,
            shards=shards,
        )


def _owners(hashes: np.ndarray, cache: EmbeddingCache) -> tuple[np.ndarray, list[str]]:
    """For each segment the first shard holding its text (reading only the shards' hashes)."""
    order = np.argsort(hashes, kind="stable")
    sorted_h = hashes[order]
    owner = np.full(len(hashes), -1, dtype=np.int32)
    used: list[str] = []
    for shard in cache.shards():
        try:
            with np.load(shard.path, allow_pickle=False) as z:
                H = z["hashes"]
        except (OSError, ValueError, KeyError):
            continue  # a damaged shard: the worker's checked read would drop it too
        rows = order[_matches(sorted_h, H)]
        rows = rows[owner[rows] < 0]
        if len(rows):
            owner[rows] = len(used)
            used.append(str(shard.path))
    missing = int((owner < 0).sum())
    if missing:
        raise RuntimeError(
            f"{missing} segments have no vector in the embedding cache {cache.dir} (a shard "
            "was removed while the job ran?): run the job again to embed them"
        )
    return owner, used


def _matches(sorted_h: np.ndarray, H: np.ndarray) -> np.ndarray:
    """Positions in ``sorted_h`` of every element equal to one of ``H``."""
    lo = np.searchsorted(sorted_h, H, side="left")
    hi = np.searchsorted(sorted_h, H, side="right")
    counts = hi - lo
    total = int(counts.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64)
    starts = np.repeat(lo - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
    return starts + np.arange(total)


@dataclass
class PassJob:
    """What a worker needs besides the table: the assigner fitted on the sample, the prompts'
    raw vectors and the context weight the fit used, and (pass 2) the centres."""

    assigner: Assigner | None
    prompts: np.ndarray | None
    context_weight: float
    cache_dir: str
    embedder_id: str
    vectors: ThemeVectors | None = None


class ShardPass:
    """A Ray Data actor: one embedding cache shard in, the results for its segments out.
    ``shards``: the shards' contents in the object store, when the workers cannot read the
    cache folder (``execution.shared_cache: false``)."""

    def __init__(self, table: Any, job: bytes, shards: list[Any] | None = None):
        import ray

        self.table: SegmentTable = ray.get(table) if isinstance(table, ray.ObjectRef) else table
        self.job: PassJob = pickle.loads(job)
        self.cache = EmbeddingCache(Path(self.job.cache_dir), self.job.embedder_id)
        self.shards = shards

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = [self.one(int(s), str(p)) for s, p in zip(batch["shard"], batch["path"], strict=True)]
        return {"result": np.asarray([pickle.dumps(o) for o in out], dtype=object)}

    def one(self, shard_id: int, path: str) -> dict[str, Any]:
        t = self.table
        rows = np.flatnonzero((t.owner == shard_id) & ~t.in_sample)
        if len(rows) == 0:
            return {"shard": shard_id, "rows": rows}
        if self.shards is not None:
            import ray

            got = ray.get(self.shards[shard_id])
        else:
            got = _read(self.cache, path)
        if got is None:
            raise RuntimeError(f"embedding cache shard {path} could not be read")
        H, V = got
        order = np.argsort(H, kind="stable")
        pos = order[np.searchsorted(H[order], t.hashes[rows])]
        return {"shard": shard_id, **self.place(rows, V[pos])}

    def place(self, rows: np.ndarray, raw: np.ndarray) -> dict[str, Any]:
        """Assign (pass 1) or measure against the centres (pass 2) the segments ``rows``."""
        t, job = self.table, self.job
        assert job.assigner is not None
        X = raw
        links = t.link[rows]
        if job.prompts is not None and job.context_weight > 0:
            X = add_prompt_context(
                raw, job.prompts, [None if j < 0 else int(j) for j in links], job.context_weight
            )
        langs = np.asarray(t.languages, dtype=object)[t.language[rows]]
        batch: dict[str, np.ndarray] = {"x": X, "language": langs, "row": rows}
        if job.assigner.subspace is not None:
            batch["a"] = raw
        got = job.assigner(batch)
        labels = np.asarray(got["label"], dtype=int)
        Z = unit64(got["space"])
        if job.vectors is None:
            return {
                "rows": rows,
                "label": labels,
                "code": got.get("code"),
                "sums": ThemeSums.of(labels, Z, unit64(raw)),
            }
        return {"rows": rows, "chunk": job.vectors.chunk(rows, labels, Z)}


def _read(cache: EmbeddingCache, path: str) -> tuple[np.ndarray, np.ndarray] | None:
    m = _SHARD_RE.match(Path(path).name)
    return cache.read(Shard(Path(path), int(m.group(1)), m.group(2))) if m else None


def run_pass(engine: RayEngine, table: SegmentTable, job: PassJob) -> list[dict[str, Any]]:
    """One pass over the shards on Ray; the per-shard results in shard order."""
    with engine.session() as ray:
        table_ref = ray.put(table)
        shards = None
        if not engine.cfg.shared_cache:  # the driver reads each shard into the object store
            cache = EmbeddingCache(Path(job.cache_dir), job.embedder_id)
            shards = [ray.put(_read(cache, p)) for p in table.shards]
        import pandas as pd

        # one block per shard, so the actors share them out
        items = [pd.DataFrame({"shard": [i], "path": [p]}) for i, p in enumerate(table.shards)]
        ds = ray.data.from_pandas(items)
        retries = engine.cfg.max_retries
        with warnings.catch_warnings():
            # Ray 2.60 deprecates passing actor options this way but has no other yet
            warnings.simplefilter("ignore", DeprecationWarning)
            out = ds.map_batches(
                ShardPass,
                fn_constructor_kwargs={
                    "table": table_ref,
                    "job": pickle.dumps(job),
                    "shards": shards,
                },
                batch_size=1,
                batch_format="numpy",
                compute=ray.data.ActorPoolStrategy(
                    size=max(1, min(engine.cfg.num_workers, len(items)))
                ),
                num_cpus=engine.cfg.cpus_per_worker,
                max_restarts=retries,  # a pass only reads: a killed worker's shard is redone
                max_task_retries=retries,
            )
        results = [
            pickle.loads(r)
            for b in out.iter_batches(batch_size=None, batch_format="numpy")
            for r in b["result"].tolist()
        ]
        del table_ref
    return sorted(results, key=lambda r: r["shard"])


def fit_and_stream(
    engine: RayEngine,
    finder: Any,
    table: SegmentTable,
    *,
    sample_raw: np.ndarray,
    sample_fit: np.ndarray,
    job: PassJob,
    n_quotes: int,
    fit_kwargs: dict[str, Any],
) -> ThemeVectors:
    """Fit ``finder`` on the sample (``sample_fit``: its rows of the vectors themes are fitted
    on, ``fit_kwargs``: the rest of :meth:`ThemeFinder.fit`'s arguments, the sample's rows), then
    assign and measure every other segment over the shards (passes 1 and 2). Leaves on
    ``finder`` the labels, codes and scoring mask of all segments (its ``embeddings_`` stay the
    sample's); returns what describe needs."""
    from themekit.distributed.scale import Assigner
    from themekit.themes.finder import _majority_map

    idx = np.flatnonzero(table.in_sample)
    n = len(table.hashes)
    languages = fit_kwargs.get("languages")
    finder.fit(sample_fit, **fit_kwargs)
    context = fit_kwargs.get("context")
    job.assigner = Assigner.from_fitted(
        finder,
        sample_fit,
        languages,
        context.answer_vectors if context is not None else None,
    )
    if engine.sample is not None and job.assigner.codebook is not None:
        # manifest.json, execution.sample: the rule that coded the segments outside the sample
        engine.sample["coding_outside_sample"] = (
            "the classifier self-trained on the sample"
            if job.assigner.coder is not None
            else "the nearest codebook theme"
        )
    first = run_pass(engine, table, job)

    labels = np.full(n, -1, dtype=int)
    labels[idx] = finder.labels_
    codes: list[str] | None = None
    if finder.codebook_theme_ is not None:
        codes = [""] * n
        for j, i in enumerate(idx.tolist()):
            codes[i] = finder.codebook_theme_[j]
    Z_sample = unit64(finder.embeddings_)
    sums = ThemeSums.of(np.asarray(finder.labels_), Z_sample, unit64(sample_raw))
    for r in first:
        if not len(r["rows"]):
            continue
        labels[r["rows"]] = r["label"]
        if codes is not None and r["code"] is not None:
            for i, c in zip(r["rows"].tolist(), r["code"].tolist(), strict=True):
                codes[i] = str(c)
        sums = sums + r["sums"]
    del first
    vectors = ThemeVectors.from_sums(sums, n_quotes)
    job.vectors = ThemeVectors(  # the centres only: the per-segment arrays stay here
        n,
        vectors.sizes,
        vectors.means,
        vectors.phrase_means,
        vectors.phrase_mean_all,
        vectors.pool_sizes,
    )
    vectors.add(vectors.chunk(idx, np.asarray(finder.labels_), Z_sample))
    for r in run_pass(engine, table, job):
        if len(r["rows"]):
            vectors.add(r["chunk"])

    mask = np.ones(n, dtype=bool)
    if finder.eval_mask_ is not None:
        mask[idx] = finder.eval_mask_
    finder.labels_ = labels
    finder.eval_mask_ = mask
    if codes is not None:
        finder.codebook_theme_ = codes
        finder.theme_codebook_ = _majority_map(labels, codes)
    return vectors
