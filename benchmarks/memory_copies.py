"""Which n x d arrays a whole ``themekit run`` holds at each stage's peak: the copies, one by one.

Usage:
    python benchmarks/memory_copies.py --data /work/shared/benchdata --cache DIR \
        [--sizes 20000,40000] [--keep DIR]

The job is ``end_to_end.py``'s (the same table of distinct real texts, themekit's defaults, no
codebook) with the embedding cache ``--cache``: fill it once with the largest size (the first
run then embeds cold, as end_to_end does) and the later runs read every vector from it, so the
stages after embedding are measured in a minute or two. Each size runs in a fresh child process.
A thread reads the process's resident memory every 0.1 s; whenever it reaches a new high within
a stage it lists the numpy arrays reachable from the main thread's frames (their locals and
four levels of attributes and containers) of at least an eighth of ``n x 384`` float32, each
counted once by the array that owns its buffer. Printed per stage: the peak (VmHWM), the frame
the highest sample was taken in, and those arrays with their bytes per segment. A temporary
made inside one C call (the squared matrix inside ``np.linalg.norm``) is not seen by the
sampler; ``tests/test_memory.py`` counts those with tracemalloc. ``--keep DIR`` leaves each
size's run folder in ``DIR/run-N`` (to compare two commits' outputs file by file).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from end_to_end import write_job
from ray_run_memory import _reset_peak, _rss_kib


def _owner(a: np.ndarray) -> np.ndarray:
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


def _walk(obj: Any, path: str, depth: int, seen: set[int], found: dict[int, tuple]) -> None:
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        o = _owner(obj)
        if o.nbytes >= _walk.min_bytes and id(o) not in found:  # type: ignore[attr-defined]
            found[id(o)] = (o.nbytes, str(o.dtype), o.shape, path)
        return
    if depth <= 0 or isinstance(obj, str | bytes | int | float | type):
        return
    try:
        if isinstance(obj, dict):
            items = list(obj.items())[:200]
        elif isinstance(obj, list | tuple):
            arrays = len(obj) and isinstance(obj[0], np.ndarray)
            items = list(enumerate(obj[:50])) if len(obj) <= 50 or arrays else []
        elif hasattr(obj, "__dict__") and not isinstance(obj, type(sys)):
            items = list(vars(obj).items())[:200]
        else:
            return
    except Exception:  # an object whose attributes cannot be read is skipped
        return
    for k, v in items:
        _walk(v, f"{path}.{k}", depth - 1, seen, found)


def inventory(main_id: int) -> tuple[list[tuple], list[str]]:
    """The large arrays reachable from the main thread's frames, and its innermost frames."""
    frame = sys._current_frames().get(main_id)
    stack = []
    while frame is not None:
        stack.append(frame)
        frame = frame.f_back
    found: dict[int, tuple] = {}
    seen: set[int] = set()
    for f in stack:
        name = f.f_code.co_filename
        if "/themekit/" not in name and "site-packages" not in name:
            continue
        where = f"{Path(name).name}:{f.f_code.co_name}"
        for k, v in list(f.f_locals.items()):
            _walk(v, f"{where}:{k}", 4, seen, found)
    top = [f"{f.f_code.co_filename.split('site-packages/')[-1]}:{f.f_lineno}" for f in stack[:4]]
    return list(found.values()), top


def child(n: int, data: Path, cache: Path, workdir: Path) -> None:
    from themekit.cli import app
    from themekit.manifest import StageTimer

    _walk.min_bytes = n * 384 * 4 // 8  # type: ignore[attr-defined]
    job_path = write_job(workdir, n, data)
    job = json.loads(job_path.read_text(encoding="utf-8"))
    job["embedding"]["cache_dir"] = str(cache)
    job_path.write_text(json.dumps(job), encoding="utf-8")
    main_id = threading.main_thread().ident or 0
    state: dict[str, Any] = {"best": 0, "inv": None, "done": False}
    results: dict[str, dict[str, Any]] = {}
    lock = threading.Lock()

    def sample() -> None:
        while not state["done"]:
            time.sleep(0.1)
            rss = _rss_kib("VmRSS")
            with lock:
                if rss > state["best"] + 2048:
                    state["best"], state["inv"] = rss, (rss, *inventory(main_id))

    def close(name: str) -> None:
        with lock:
            r = results.setdefault(name, {"hwm_mib": 0, "inv": None})
            r["hwm_mib"] = max(r["hwm_mib"], _rss_kib("VmHWM") // 1024)
            if state["inv"] and (r["inv"] is None or state["inv"][0] > r["inv"][0]):
                r["inv"] = state["inv"]
            state["best"], state["inv"] = 0, None

    stage = StageTimer.stage

    @contextmanager
    def watched(self: StageTimer, name: str):  # type: ignore[no-untyped-def]
        close("outside stages")
        _reset_peak()
        try:
            with stage(self, name):
                yield
        finally:
            close(name)
            _reset_peak()

    StageTimer.stage = watched  # type: ignore[method-assign,assignment]
    threading.Thread(target=sample, daemon=True).start()
    t = time.perf_counter()
    _reset_peak()
    app(["run", str(job_path), "--out", str(workdir / "out")], standalone_mode=False)
    close("outside stages")
    state["done"] = True
    run = next((workdir / "out").iterdir())
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    scores = json.loads((run / "scores.json").read_text(encoding="utf-8"))
    head = {"n": n, "seconds": round(time.perf_counter() - t, 1), "n_themes": manifest["n_themes"]}
    head |= {"cohen_kappa": scores.get("cohen_kappa"), "nmi": scores.get("nmi")}
    head["peak_mib"] = max(r["hwm_mib"] for r in results.values())
    print(json.dumps(head), flush=True)
    for name, r in results.items():
        print(f"== {name}: peak {r['hwm_mib']} MiB", flush=True)
        if r["inv"]:
            rss, arrays, top = r["inv"]
            print(f"   highest sample {rss >> 10} MiB at {' < '.join(top)}")
            for nbytes, dtype, shape, path in sorted(arrays, key=lambda a: -a[0]):
                print(
                    f"   {nbytes / 2**20:7.1f} MiB {nbytes / n:6.0f} B/segment {dtype:8s} {shape} {path}"
                )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="the benchdata folder")
    ap.add_argument("--cache", type=Path, required=True, help="embedding cache (kept)")
    ap.add_argument("--sizes", default="20000,40000")
    ap.add_argument("--keep", type=Path, default=None, help="keep the run folders here")
    ap.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--workdir", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.child is not None:
        child(args.child, args.data, args.cache, args.workdir)
        return 0
    import tempfile

    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep if args.keep is not None else Path(tmp)
        for n in [int(x) for x in args.sizes.split(",") if x]:
            sub = root / f"run-{n}"
            sub.mkdir(parents=True)
            cmd = [sys.executable, __file__, "--data", str(args.data), "--cache", str(args.cache)]
            cmd += ["--child", str(n), "--workdir", str(sub)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
            if out.returncode != 0:
                print(f"run {n}: failed\n{out.stderr[-4000:]}", flush=True)
            print(out.stdout, end="", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
