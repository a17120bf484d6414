"""The codebook coding of segments outside the sample, as the ray engine does it at scale.

    python benchmarks/scale_coding.py ../shared/benchdata [--shares 0.33,0.5] [--seeds 0,1,2,3,4]

With ``execution.engine: ray`` and more segments than ``execution.sample_size``, the themes are
fitted on a stratified sample (session x language) and every other segment is coded on the
workers by :class:`themekit.distributed.scale.Assigner`. This script does the same without Ray,
on every development-suite corpus with a codebook (guided mode, defaults, the suite's embeddings
from themekit's cache): for each share and seed it draws the sample with the engine's own
:func:`themekit.distributed.stratified_sample`, fits a :class:`ThemeFinder` with the run's
parameters on it (the question context left out: the ray engine pools answers to a question on
the sample only) and codes the rest two ways:

- ``nearest``: the nearest codebook theme on the raw similarity scale (the rule before the
  thirteenth session);
- ``coder``: the logistic regression self-trained on the sample (``ThemeFinder.coding_model_``),
  the rule the sample itself is coded with.

Prints Cohen's κ against the hand codes on the segments outside the sample (hand-coded ones),
per corpus (mean over seeds) and over the corpora, with the local engine's coding of the whole
corpus on the same segments as the reference (``whole``), and the paired difference
coder - nearest with its standard error over the seeds.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from guided_choices import codebook_runs, kappa  # noqa: E402  (the guided runs; κ)


def capture(data: Path) -> dict[str, dict[str, Any]]:
    """Each codebook corpus's ThemeFinder inputs and parameters (one guided run each)."""
    from themekit.themes import finder

    seen: dict[str, Any] = {}
    original = finder.ThemeFinder.fit

    def recording(self: Any, embeddings: Any, texts: Any, **kw: Any) -> Any:
        seen.update(X=np.asarray(embeddings), texts=list(texts), kw=kw, params=self.get_params())
        return original(self, embeddings, texts, **kw)

    out: dict[str, dict[str, Any]] = {}
    finder.ThemeFinder.fit = recording  # type: ignore[method-assign]
    try:
        for name, result in codebook_runs(data, before=seen.clear):
            if result.codebook is None or "X" not in seen:
                continue
            out[name] = {
                **seen,
                "strata": [(s.session or "", s.language or "") for s in result.corpus],
                "hand": [c or None for c in result.corpus.codes],
                "whole": list(result.codebook_theme or []),
            }
    finally:
        finder.ThemeFinder.fit = original  # type: ignore[method-assign]
    return out


def at_scale(d: dict[str, Any], share: float, seed: int) -> tuple[np.ndarray, list[str], list[str]]:
    """(rows outside the sample, their codes by the nearest theme, by the sample's coder)."""
    from themekit.distributed import stratified_sample
    from themekit.distributed.scale import Assigner
    from themekit.themes import ThemeFinder

    n = len(d["texts"])
    idx = stratified_sample(d["strata"], max(2, round(share * n)), seed)
    rest = np.setdiff1d(np.arange(n), idx)
    kw = {k: v for k, v in d["kw"].items() if k not in ("context", "progress", "hand_codes")}
    langs = kw.pop("languages")
    sample_langs = [langs[i] for i in idx]
    params = {**d["params"], "seed": seed, "describe": False}
    f = ThemeFinder(**params).fit(
        d["X"][idx], [d["texts"][i] for i in idx], languages=sample_langs, **kw
    )
    assigner = Assigner.from_fitted(f, d["X"][idx], sample_langs, None)
    batch = {
        "row": rest,
        "language": np.asarray([langs[i] for i in rest], dtype=object),
        "x": d["X"][rest],
    }
    coder = [str(c) for c in assigner(batch)["code"]]
    assigner.coder = None
    nearest = [str(c) for c in assigner(batch)["code"]]
    return rest, nearest, coder


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path, help="the benchdata folder (as for benchmarks/suite.py)")
    ap.add_argument("--shares", default="0.33,0.5", help="sample shares of each corpus")
    ap.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated sample seeds")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    shares = [float(s) for s in args.shares.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    corpora = capture(args.data)
    print("| corpus | n | share | whole (local) | nearest | coder | coder − nearest (± SE) |")
    print("|---|---|---|---|---|---|---|")
    means: dict[float, dict[str, list[float]]] = {s: {} for s in shares}
    for name, d in corpora.items():
        for share in shares:
            rows: dict[str, list[float]] = {"whole": [], "nearest": [], "coder": []}
            for seed in seeds:
                rest, nearest, coder = at_scale(d, share, seed)
                hand = [d["hand"][i] for i in rest]
                coded = np.asarray([i for i, h in enumerate(hand) if h])
                rows["whole"].append(kappa(hand, [d["whole"][i] for i in rest], coded))
                rows["nearest"].append(kappa(hand, nearest, coded))
                rows["coder"].append(kappa(hand, coder, coded))
            diff = [c - m for c, m in zip(rows["coder"], rows["nearest"], strict=True)]
            se = statistics.stdev(diff) / len(diff) ** 0.5 if len(diff) > 1 else 0.0
            for k, v in rows.items():
                means[share].setdefault(k, []).append(statistics.mean(v))
            print(
                f"| {name} | {len(d['texts'])} | {share:g} | {statistics.mean(rows['whole']):.3f} "
                f"| {statistics.mean(rows['nearest']):.3f} | {statistics.mean(rows['coder']):.3f} "
                f"| {statistics.mean(diff):+.3f} ± {se:.3f} |"
            )
    for share, m in means.items():
        parts = ", ".join(
            f"{k} {statistics.mean(v):.3f} (worst {min(v):.3f})" for k, v in m.items()
        )
        better = sum(c > n + 0.005 for c, n in zip(m["coder"], m["nearest"], strict=True))
        worse = sum(c < n - 0.005 for c, n in zip(m["coder"], m["nearest"], strict=True))
        print(f"share {share:g}: mean over {len(m['coder'])} corpora: {parts}; "
              f"coder above nearest on {better}, below on {worse}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
