"""Padding e5 batches to a multiple of N tokens: speed and the memory the embedding adds.

Usage:
    python benchmarks/e5_padding.py --data /work/shared/benchdata [--n 8000] [--multiples 1,8,16]

Each multiple (1 = exact padding, the behaviour before ``e5_batches.PAD_MULTIPLE``) runs in a fresh
child process on the same ``n`` distinct real texts (``ray_run_memory.corpus_rows``: SIB-200,
Tatoeba, StackOverflow, NHS, AnnoMI, in a fixed shuffled order) through ``embed_texts`` with no
cache, the vectors written to a ``.npy``. It prints one JSON line per multiple: wall and CPU
seconds, resident memory after the model loaded and after embedding, and the mean and lowest
cosine of its vectors to those of the first multiple given.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from ray_run_memory import corpus_rows


def _rss_mib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) // 1024
    return 0


def child(data: Path, n: int, multiple: int, out: Path) -> None:
    import themekit.embed.e5 as e5
    import themekit.embed.e5_batches as batches
    from themekit.embed.engine import embed_texts

    rows = corpus_rows(data, n)
    texts = [rows[i]["text"] for i in np.random.default_rng(0).permutation(len(rows))]
    batches.PAD_MULTIPLE = multiple
    batches.PAD_FRACTION = 0  # a fixed multiple, as the benchmark compares
    emb = e5.E5Embedder(prompt="passage: ", precision="auto", runtime="torch", device="auto")
    emb.encode(["warm-up"])  # loads (and on a cold cache rebuilds) the model
    loaded = _rss_mib()
    t, cpu = time.perf_counter(), time.process_time()
    embed_texts(texts, emb, cache_dir=None, out_path=out)
    wall, cpu = time.perf_counter() - t, time.process_time() - cpu
    print(
        json.dumps(
            {
                "multiple": multiple,
                "n": n,
                "seconds": round(wall, 1),
                "cpu_seconds": round(cpu, 1),
                "rss_loaded_mib": loaded,
                "rss_added_mib": _rss_mib() - loaded,
                "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
            }
        ),
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="the benchdata folder")
    ap.add_argument("--n", type=int, default=8000)
    ap.add_argument("--multiples", default="1,8,16")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--vectors", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child is not None:
        child(args.data, args.n, args.child, args.vectors)
        return 0
    multiples = [int(m) for m in args.multiples.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        paths = {m: Path(tmp) / f"v{m}.npy" for m in multiples}
        for m in multiples:
            cmd = [sys.executable, __file__, "--data", str(args.data), "--n", str(args.n)]
            res = subprocess.run(
                [*cmd, "--child", str(m), "--vectors", str(paths[m])],
                capture_output=True,
                text=True,
                check=True,
            )
            line = json.loads(res.stdout.strip().splitlines()[-1])
            ref, got = np.load(paths[multiples[0]]), np.load(paths[m])
            cos = (ref * got).sum(axis=1)
            line.update(
                cosine_mean=round(float(cos.mean()), 6), cosine_min=round(float(cos.min()), 6)
            )
            print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
