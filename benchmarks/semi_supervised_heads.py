"""Semi-supervised ``finetune``: which head codes the segments not given (issue 20).

Scores the heads of :mod:`themekit.themes.heads` on the vectors a grid of
``benchmarks/semi_supervised.py --save-vectors DIR`` saved (the frozen vectors of each data set
and the fine-tuned vectors of each fit), with the same splits, and prints one table with the
grid's own methods:

- ``finetune``: fine-tuned vectors, logistic-regression head (the grid's; re-scored here as
  ``finetune_logistic`` to check that the vectors give the same kappa);
- ``finetune_auto``: fine-tuned vectors, the head chosen by cross-validation on the given codes
  (``themes.semi_supervised.head: auto``);
- ``finetune_prototype``: fine-tuned vectors, the prototype head;
- ``frozen_auto``: the frozen vectors, the head chosen as ``finetune_auto``'s.

Against ``frozen_lr`` (frozen vectors, logistic head) each variant is counted per data set and
share as better / tied / below: the mean over seeds of the paired difference beyond
``max(2 x its standard error over the seeds, 0.005)`` is better or below, anything closer a tie.

    python benchmarks/semi_supervised_heads.py --data /work/shared/benchdata --sib-size 200 \\
        --nhs-size 200 --vectors /tmp/ss2/vec --grid /tmp/ss2/grid.jsonl --out /tmp/ss2/heads.jsonl
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from semi_supervised import datasets, fit_finder, kappa

from themekit.embed.context import link_prompts

log = logging.getLogger("benchmarks.semi_supervised_heads")

#: variant -> (vectors, head)
VARIANTS = {
    "finetune_logistic": ("finetuned", "logistic"),
    "finetune_auto": ("finetuned", "auto"),
    "finetune_prototype": ("finetuned", "prototype"),
    "frozen_auto": ("frozen", "auto"),
}
#: A difference to frozen_lr within this (or 2 standard errors over the seeds) is a tie.
MIN_DIFF = 0.005


def rescore(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    args.base = None
    for name, full, book in datasets(args):
        corpus = full.analysed()
        links, prompts = link_prompts(full)
        n_cb = len(book.descriptions()[0]) if book is not None else 0
        p = {"corpus": corpus, "links": links, "prompts": prompts, "n_cb": n_cb}
        frozen_path = args.vectors / f"{name}_frozen.npy"
        if not frozen_path.is_file():
            continue
        V0 = np.load(frozen_path)
        if len(V0) != len(corpus) + n_cb + len(prompts):
            raise RuntimeError(f"{name}: {len(V0)} saved vectors for a different corpus")
        pattern = re.compile(rf"^{re.escape(name)}_([0-9.]+)_([0-9]+)\.npy$")
        fits = sorted(
            (float(m.group(1)), int(m.group(2)), f)
            for f in args.vectors.iterdir()
            if (m := pattern.match(f.name))
        )
        for share, seed, path in fits:
            V = np.load(path)
            for variant, (vectors, head) in VARIANTS.items():
                finder = fit_finder(
                    "finetune", V if vectors == "finetuned" else V0, p, book, share, seed, head
                )
                codes = list(finder.codebook_theme_ or [])
                choice = finder.head_choice_
                row = {
                    "data": name,
                    "share": share,
                    "seed": seed,
                    "method": variant,
                    **kappa(codes, corpus, np.asarray(finder.eval_mask_), seed),
                    "head": choice.to_dict() if choice is not None else None,
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
                if args.out:
                    with open(args.out, "a", encoding="utf-8") as fh:
                        fh.write(json.dumps(row) + "\n")
    return rows


def verdicts(df: Any, variant: str, base: str = "frozen_lr") -> Any:
    """Per data set and share: mean paired difference to ``base`` over the seeds, its standard
    error, and better / tie / below."""
    import pandas as pd

    wide = df.pivot_table(index=["data", "share", "seed"], columns="method", values="kappa")
    d = (wide[variant] - wide[base]).dropna().groupby(level=["data", "share"])
    out = pd.DataFrame({"mean": d.mean(), "se": d.std(ddof=1) / np.sqrt(d.count())})
    out["se"] = out["se"].fillna(0.0)
    margin = np.maximum(2 * out["se"], MIN_DIFF)
    out["verdict"] = np.where(
        out["mean"] > margin, "better", np.where(out["mean"] < -margin, "below", "tie")
    )
    return out


def verdict_counts(df: Any, variant: str, base: str = "frozen_lr") -> list[dict[str, Any]]:
    """:func:`verdicts` counted per share: the share, the mean difference over the data sets,
    how many are better / tie / below, and the ones below with their difference."""
    out = []
    for share, g in verdicts(df, variant, base).groupby(level="share"):
        n = g["verdict"].value_counts()
        below = ", ".join(
            f"{d} ({m:+.3f})" for (d, _), m in g.loc[g["verdict"] == "below", "mean"].items()
        )
        out.append(
            {
                "share": share,
                "mean": g["mean"].mean(),
                **{k: int(n.get(k, 0)) for k in ("better", "tie", "below")},
                "below_data": below or "-",
            }
        )
    return out


def summary(rows: list[dict[str, Any]]) -> str:
    import pandas as pd

    df = pd.DataFrame(rows)
    order = [
        "prototype",
        "frozen_lr",
        "finetune",
        "finetune_auto",
        "finetune_prototype",
        "frozen_auto",
    ]
    cols = [c for c in order if c in set(df["method"])]
    table = df.pivot_table(index=["data", "share"], columns="method", values="kappa")[cols]
    seeds = df[df["method"] == "frozen_lr"].groupby(["data", "share"])["seed"].nunique()
    auto = df[df["method"] == "finetune_auto"].copy()
    auto["picked"] = [h["head"][0].upper() if h else "?" for h in auto.get("head", [])]
    picks = auto.groupby(["data", "share"])["picked"].apply(lambda s: "".join(sorted(s)))
    out = ["| data | share | seeds | " + " | ".join(cols) + " | auto's heads |"]
    out.append("|---" * (len(cols) + 4) + "|")
    for (data, share), r in table.iterrows():
        vals = " | ".join(f"{v:.3f}" for v in r.to_numpy())
        out.append(
            f"| {data} | {share:.0%} | {seeds.get((data, share), 0)} | {vals} | "
            f"{picks.get((data, share), '')} |"
        )
    out.append("")
    out.append("| share | " + " | ".join(f"{c} mean (worst)" for c in cols) + " |")
    out.append("|---" * (len(cols) + 1) + "|")
    for share, g in table.groupby(level="share"):
        cells = []
        for c in cols:
            col = g[c].dropna()
            worst = col.idxmin()[0] if len(col) else "-"
            cells.append(f"{col.mean():.3f} ({col.min():.3f} {worst})")
        out.append(f"| {share:.0%} | " + " | ".join(cells) + " |")
    out.append("")
    out.append("| variant vs frozen_lr | share | better | tie | below | below: data (diff) |")
    out.append("|---|---|---|---|---|---|")
    for variant in [c for c in cols if c not in ("frozen_lr",)]:
        for c in verdict_counts(df, variant):
            out.append(
                f"| {variant} | {c['share']:.0%} | {c['better']} | {c['tie']} | "
                f"{c['below']} | {c['below_data']} |"
            )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, help="the benchdata folder (SIB-200, NHS)")
    ap.add_argument("--vectors", type=Path, required=True, help="semi_supervised.py --save-vectors")
    ap.add_argument("--grid", type=Path, help="the grid's JSON lines, joined to the table")
    ap.add_argument("--rows", type=Path, help="this script's earlier --out: table only")
    ap.add_argument("--sib-size", type=int, default=400)
    ap.add_argument("--nhs-size", type=int, default=400)
    ap.add_argument("--only", nargs="*", help="data sets: demo sib200 nhs corpora, or names")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    if args.rows:
        rows = [json.loads(line) for line in args.rows.read_text().splitlines() if line]
    else:
        rows = rescore(args)
    grid = [json.loads(line) for line in args.grid.read_text().splitlines()] if args.grid else []
    print(summary(grid + rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
