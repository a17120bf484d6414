"""Peak memory of single steps that grow with the corpus, the old way against the new, alone.

Usage:
    python benchmarks/memory_steps.py --data /work/shared/benchdata [--sizes 30000,100000]

For each size a fresh child process measures, each step after ``gc.collect()`` with the peak
(VmHWM) reset to the current RSS:

- ``load``: ``load_inputs`` + ``check_inputs`` on ``end_to_end.py``'s table of that size: what
  is held afterwards and the peak (run it from a ``git archive`` copy of an older commit, with
  ``PYTHONPATH`` there, to get that commit's numbers);
- ``outliers-old`` / ``-new``: BERTopic's ``reduce_outliers(strategy="embeddings")`` in one call against
  :func:`themekit.themes.discover.reduce_outliers` (blocks), and ``nearest_centre`` with copied
  rows (as it was written) against the masked means (``centre-old`` / ``-new``), on synthetic unit vectors (384-d, 12
  themes, 40 % outliers);
- ``keywords-old`` / ``-new``: the keyword counts of describe from the whole segment x word matrix (as they were
  made) against :func:`themekit.theme_words.theme_words`, on the table's texts with random labels.

Each step runs in a fresh process (no step reuses memory another freed) and prints its peak in
MiB above the state before it, its data already made; ``check`` runs every pair once more and
says whether old and new give equal results.
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from end_to_end import write_job


def _status(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1]) / 1024
    return 0.0


def measure(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """``fn()``, the MiB it left held and its peak above the start."""
    gc.collect()
    start = _status("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")
    out = fn()
    gc.collect()
    return out, _status("VmRSS") - start, _status("VmHWM") - start


def load_step(job: Path) -> dict[str, Any]:
    from themekit.config import load_config
    from themekit.inputs import check_inputs, load_inputs

    cfg = load_config(job, [])

    def run() -> Any:
        inputs = load_inputs(cfg, None, None)
        check_inputs(cfg, inputs)
        return inputs

    inputs, held, peak = measure(run)
    return {"segments": len(inputs.corpus), "held_mib": round(held), "peak_mib": round(peak)}


def _outlier_data(n: int) -> tuple[Any, list[str], np.ndarray, np.ndarray]:
    from bertopic import BERTopic

    from themekit.embed.base import l2_normalize

    rng = np.random.default_rng(0)
    k = 12
    centres = rng.standard_normal((k, 384)).astype(np.float32)
    labels = rng.integers(0, k, n)
    Y = l2_normalize(centres[labels] + 2.0 * rng.standard_normal((n, 384)).astype(np.float32))
    labels[rng.random(n) < 0.4] = -1
    tm = BERTopic(embedding_model=None)  # what reduce_outliers reads of a fitted model
    tm.topic_sizes_ = {t: int((labels == t).sum()) for t in range(-1, k)}
    tm.topic_embeddings_ = np.vstack([Y[labels == t].mean(axis=0) for t in range(-1, k)])
    return tm, [f"t{i}" for i in range(n)], labels, Y


def _keyword_data(table: Path) -> tuple[list[str], np.ndarray, list[int], list[str]]:
    with table.open(encoding="utf-8", newline="") as fh:
        texts = [r["text"] for r in csv.DictReader(fh)]
    rng = np.random.default_rng(0)
    langs = rng.choice(["ms", "en", "mixed"], len(texts)).tolist()
    labels = rng.integers(-1, 12, len(texts))
    themes = sorted(set(labels.tolist()), key=lambda t: (t == -1, t))
    return texts, labels, themes, langs


def step(name: str, n: int, table: Path) -> Callable[[], Any]:
    """The step ``name`` (``<what>-old`` / ``<what>-new``), its data made beforehand."""
    from sklearn.feature_extraction.text import CountVectorizer

    from themekit.embed.base import l2_normalize
    from themekit.naming import word_languages
    from themekit.stopwords import TOKEN_PATTERN, stop_words
    from themekit.theme_words import theme_words
    from themekit.themes.discover import nearest_centre, reduce_outliers

    if name.startswith(("outliers", "centre")):
        tm, texts, labels, Y = _outlier_data(n)
        rows = np.flatnonzero(labels == -1)

        def copied() -> np.ndarray:  # nearest_centre as it was written
            keys = sorted(set(labels.tolist()) - {-1})
            cents = np.stack(
                [l2_normalize(Y[labels == c].mean(axis=0, keepdims=True))[0] for c in keys]
            )
            return np.asarray(keys)[np.argmax(Y[rows] @ cents.T, axis=1)]

        return {
            "outliers-old": lambda: np.asarray(
                tm.reduce_outliers(
                    list(texts),
                    labels.tolist(),
                    strategy="embeddings",
                    embeddings=Y,
                    threshold=-1.0,
                )
            ),
            "outliers-new": lambda: reduce_outliers(tm, texts, labels, Y),
            "centre-old": copied,
            "centre-new": lambda: nearest_centre(Y, labels, rows),
        }[name]
    texts, labels, themes, langs = _keyword_data(table)

    def vectorizer() -> CountVectorizer:
        return CountVectorizer(
            stop_words=stop_words(()), token_pattern=TOKEN_PATTERN, lowercase=True, binary=True
        )

    def whole() -> tuple[list[str], np.ndarray, list[str]]:  # describe's counts as they were made
        vec = vectorizer()
        counts = vec.fit_transform(texts)
        rows = np.vstack([np.asarray(counts[labels == t].sum(axis=0)).ravel() for t in themes])
        return vec.get_feature_names_out().tolist(), rows, word_languages(counts, langs)

    def blocks() -> tuple[list[str], np.ndarray, list[str]]:
        got = theme_words(texts, labels, themes, langs, vectorizer())
        assert got is not None
        return got.vocab.tolist(), got.rows, got.word_language

    return {"keywords-old": whole, "keywords-new": blocks}[name]


STEPS = ("outliers", "centre", "keywords")


def child(n: int, data: Path, workdir: Path, name: str) -> None:
    table = workdir / "corpus.csv"
    if name == "load":
        print(json.dumps({"n": n, "load": load_step(write_job(workdir, n, data))}), flush=True)
        return
    if name == "check":  # the old and the new give the same results
        same = {}
        for what in STEPS:
            a, b = step(f"{what}-old", n, table)(), step(f"{what}-new", n, table)()
            if what == "keywords":  # (vocabulary, rows per theme, word languages)
                same[what] = a[0] == b[0] and np.array_equal(a[1], b[1]) and a[2] == b[2]
            else:
                same[what] = bool(np.array_equal(a, b))
        print(json.dumps({"n": n, "same": same}), flush=True)
        return
    fn = step(name, n, table)
    _, _, peak = measure(fn)
    print(json.dumps({"n": n, name: round(peak)}), flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="the benchdata folder")
    ap.add_argument("--sizes", default="30000,100000")
    ap.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--step", default="load", help=argparse.SUPPRESS)
    ap.add_argument("--workdir", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child is not None:
        child(args.child, args.data, args.workdir, args.step)
        return 0
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        for n in [int(x) for x in args.sizes.split(",") if x]:
            sub = Path(tmp) / f"run-{n}"
            sub.mkdir()
            cmd = [sys.executable, __file__, "--data", str(args.data), "--child", str(n)]
            names = ["load"] + [f"{w}-{v}" for w in STEPS for v in ("old", "new")] + ["check"]
            for name in names:  # each in a fresh process: no step reuses what another freed
                out = subprocess.run(
                    [*cmd, "--workdir", str(sub), "--step", name],
                    capture_output=True,
                    text=True,
                    env=env,
                    check=False,
                )
                lines = [x for x in out.stdout.splitlines() if x.startswith("{")]
                print(
                    lines[-1] if lines else f"{name} {n}: failed\n{out.stderr[-2000:]}", flush=True
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
