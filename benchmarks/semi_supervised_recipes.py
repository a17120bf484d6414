"""Semi-supervised ``finetune``: fine-tuning recipes against the frozen logistic regression (issue 20).

For each share given, seed and data set (shares outermost) the same split
(:func:`themekit.themes.finetune.choose_given`) is coded by ``prototype`` and ``frozen_lr`` (the
logistic-regression head on the frozen vectors) and by every recipe of ``--recipes``, each a
copy of the base encoder fine-tuned on that split; kappa on the segments not given only. A
recipe is ``NAME:key=value,...`` with the keys

- ``layers`` top layers trained (3), ``pairs`` pairs per epoch (640; ``auto``:
  :func:`themekit.themes.losses.auto_pairs` of the segments given), ``lr`` (2e-5),
  ``epochs`` (1), ``batch`` pairs a step (16);
- ``loss``: ``cosine`` | ``supcon`` | ``softmax`` (:mod:`themekit.themes.losses`);
- ``warmup``: share of the steps the learning rate rises over, then falls linearly to 0
  (0, the default: constant; SetFit's is 0.1);
- ``cb``: 1 (default) the codebook texts are labelled text for the fine-tuning, 0 not (the
  head is fitted on them either way);
- ``head``: ``logistic`` on the fine-tuned vectors (default) or ``concat``: on the frozen and
  the fine-tuned vectors side by side.

``--ensemble`` also scores each fit as ``NAME+ens``: the output-space ensemble of the frozen and
the fine-tuned heads (WiSE-FT's output-space mix, Wortsman et al. 2022): the class probabilities
of ``frozen_lr``'s logistic regression (frozen vectors) and of the recipe's head (fine-tuned
vectors), both fitted on the same given segments + codebook texts, averaged with the fixed
weight :data:`ENSEMBLE_WEIGHT` on the fine-tuned head, then pooled over the question as the run
pools; the given segments keep their codes. ``--ensemble-screen W ...`` adds ``NAME+ensW`` rows
for other weights (a screen, not a choice). No extra fine-tuning: the same fit's heads.

Verdicts against ``frozen_lr`` (and ``prototype``) per data set and share are
``semi_supervised_heads.verdicts``'s: the mean paired difference over the seeds beyond
``max(2 SE, 0.005)``.

    python benchmarks/semi_supervised_recipes.py --data /work/shared/benchdata --sib-size 200 \\
        --nhs-size 200 --only demo sib200 unbalanced excerpts --shares 0.2 0.3 --seeds 1 \\
        --recipes base:pairs=160 p640:pairs=640 supcon:loss=supcon --out /tmp/r.jsonl
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import logging
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from semi_supervised import datasets, default_model, emit, fit_finder, kappa, prepared
from semi_supervised_heads import verdict_counts

from themekit.embed.base import l2_normalize
from themekit.themes import ThemeFinder, guided, layercache
from themekit.themes import finetune as ft
from themekit.themes.losses import auto_pairs

log = logging.getLogger("benchmarks.semi_supervised_recipes")

#: ``--ensemble``: the fine-tuned head's weight in the mix (the frozen head has 1 - this); fixed
#: at 0.5 before any run, not tuned per corpus.
ENSEMBLE_WEIGHT = 0.5

DEFAULTS: dict[str, Any] = {
    "layers": 3,
    "pairs": 640,
    "lr": 2e-5,
    "epochs": 1,
    "batch": 16,
    "loss": "cosine",
    "cb": 1,
    "head": "logistic",
    "warmup": 0.0,
}


def parse_recipe(spec: str) -> tuple[str, dict[str, Any]]:
    name, _, body = spec.partition(":")
    recipe = dict(DEFAULTS)
    for item in filter(None, body.split(",")):
        key, _, value = item.partition("=")
        if key not in DEFAULTS:
            raise SystemExit(f"recipe {name}: unknown key {key!r} (known: {sorted(DEFAULTS)})")
        if key == "pairs" and value == "auto":
            recipe[key] = "auto"
            continue
        recipe[key] = type(DEFAULTS[key])(float(value) if key in ("lr", "warmup") else value)
    return name, recipe


def states_for(p: dict[str, Any], n_frozen: int) -> list[Any]:
    """The bottom states of the data set's texts below layer ``n_frozen`` (computed once)."""
    cache = p.setdefault("states_by_depth", {})
    if n_frozen not in cache:
        cache[n_frozen] = layercache.bottom_states(p["base"], p["texts"], n_frozen)
    return cache[n_frozen]


def fit_recipe(
    p: dict[str, Any], given: np.ndarray, labels: list[str], recipe: dict[str, Any], seed: int
) -> tuple[np.ndarray, dict[str, Any]]:
    """Fine-tune a copy of the base encoder with ``recipe``; vectors of every text."""
    model = copy.deepcopy(p["base"])
    n_seg, n_cb = len(given), p["n_cb"]
    n_frozen = layercache.n_frozen_layers(model, recipe["layers"])
    assert n_frozen is not None
    states = states_for(p, n_frozen)
    idx = [int(i) for i in np.flatnonzero(given)]
    labs = [labels[i] for i in idx]
    if recipe["cb"]:
        idx += list(range(n_seg, n_seg + n_cb))
        labs += list(p["owners"])
    info = ft.finetune_encoder(
        model,
        [p["texts"][i] for i in idx],
        labs,
        max_pairs=auto_pairs(int(given.sum())) if recipe["pairs"] == "auto" else recipe["pairs"],
        epochs=recipe["epochs"],
        batch_size=recipe["batch"],
        learning_rate=recipe["lr"],
        seed=seed,
        trained_layers=recipe["layers"],
        states=[states[i] for i in idx],
        loss=recipe["loss"],
        warmup=recipe["warmup"],
    )
    V = layercache.encode_states(model, states, n_frozen)
    del model
    gc.collect()
    if recipe["head"] == "concat":
        V = l2_normalize(np.hstack([p["V0"], V]).astype(np.float32))
    return V, info


def fits(
    p: dict[str, Any],
    given: np.ndarray,
    labels: list[str],
    todo: list[tuple[str, dict[str, Any] | None]],
    seed: int,
    args: argparse.Namespace,
) -> Any:
    """``(method, recipe, vectors, fine-tuning info, CPU s)`` for each of ``todo``; with
    ``--concat`` also ``NAME+concat``: the same fit's vectors beside the frozen ones."""
    for method, recipe in todo:
        c0 = time.process_time()
        if recipe is None:
            yield method, recipe, p["V0"], None, 0.0
            continue
        V, info = fit_recipe(p, given, labels, recipe, seed)
        cpu = time.process_time() - c0
        yield method, recipe, V, info, cpu
        if args.concat and recipe["head"] != "concat":
            both = l2_normalize(np.hstack([p["V0"], V]).astype(np.float32))
            yield f"{method}+concat", {**recipe, "head": "concat"}, both, info, cpu


def ensemble_codes(
    frozen: ThemeFinder,
    tuned: ThemeFinder,
    hand_codes: list[str | None],
    weight: float,
) -> list[str]:
    """Codes from ``(1 - weight) * frozen head + weight * fine-tuned head`` class probabilities
    (each head on its own finder's vectors), pooled over the question as ``tuned`` pooled; the
    given segments keep their own codes. ``weight`` 1 (0) gives ``tuned``'s (``frozen``'s)."""
    h0, h1 = frozen.head_, tuned.head_
    if h0 is None or h1 is None or h0.classes_ != h1.classes_:
        raise RuntimeError("the two heads must be fitted on the same codes")
    proba = (1.0 - weight) * h0.predict_proba(frozen.embeddings_) + weight * h1.predict_proba(
        tuned.embeddings_
    )
    proba, _ = guided.pool_as_set(proba, tuned._questions, tuned.question_weight)
    codes = [h1.classes_[int(j)] for j in proba.argmax(axis=1)]
    other = tuned._other_id()
    for i in np.flatnonzero(~np.asarray(tuned.eval_mask_, dtype=bool)):
        codes[int(i)] = hand_codes[int(i)] or other
    return codes


def check_ensemble(frozen: ThemeFinder, tuned: ThemeFinder, hand_codes: list[str | None]) -> None:
    """Weights 0 and 1 must give the two finders' own codes (the mix rebuilds their coding)."""
    for w, finder in ((0.0, frozen), (1.0, tuned)):
        if ensemble_codes(frozen, tuned, hand_codes, w) != list(finder.codebook_theme_ or []):
            raise RuntimeError(f"ensemble weight {w} does not rebuild the head's own codes")


def completed(out: Path, recipes: list[str]) -> set[tuple[str, float, int]]:
    """The splits ``out`` already has a row of every recipe for (a stopped run resumes)."""
    if not out.is_file():
        return set()
    have: dict[tuple[str, float, int], set[str]] = {}
    for line in out.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        have.setdefault((r["data"], r["share"], r["seed"]), set()).add(r["method"])
    return {k for k, methods in have.items() if set(recipes) <= methods}


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    recipes = [parse_recipe(s) for s in args.recipes]
    ready = []
    for name, full, book in datasets(args):
        p = prepared(args, full, book)
        p["texts"] = args.texts
        p["states_by_depth"] = {layercache.n_frozen_layers(p["base"], 3): p["states"]}
        ready.append((name, book, p))
    rows: list[dict[str, Any]] = []
    done = completed(args.out, [n for n, _ in recipes]) if args.out else set()
    for share in args.shares:
        for seed in args.seeds:
            for name, book, p in ready:
                if (name, share, seed) in done:  # --out already holds this split's rows
                    continue
                corpus = p["corpus"]
                labels = [c or "other" for c in corpus.codes]
                given = ft.choose_given(corpus.codes, share, seed)
                todo: list[tuple[str, dict[str, Any] | None]] = [
                    ("prototype", None),
                    ("frozen_lr", None),
                    *recipes,
                ]
                frozen: ThemeFinder | None = None
                for method, recipe, V, info, cpu in fits(p, given, labels, todo, seed, args):
                    finder = fit_finder(
                        "prototype" if method == "prototype" else "finetune",
                        V,
                        p,
                        book,
                        share,
                        seed,
                    )
                    mask = np.asarray(finder.eval_mask_)
                    if not np.array_equal(mask, ~given):
                        raise RuntimeError("the finder's split differs from choose_given's")
                    scored = [(method, list(finder.codebook_theme_ or []), None)]
                    if method == "frozen_lr":
                        frozen = finder
                    elif recipe is not None and args.ensemble and frozen is not None:
                        check_ensemble(frozen, finder, corpus.codes)
                        for w in [ENSEMBLE_WEIGHT, *args.ensemble_screen]:
                            suffix = "" if w == ENSEMBLE_WEIGHT else f"{round(100 * w):02d}"
                            codes = ensemble_codes(frozen, finder, corpus.codes, w)
                            scored.append((f"{method}+ens{suffix}", codes, w))
                    for name_, codes, weight in scored:
                        row = {
                            "data": name,
                            "share": share,
                            "seed": seed,
                            "method": name_,
                            "n_given": int(given.sum()),
                            **kappa(codes, corpus, mask, seed),
                            "cpu_seconds": round(cpu, 1),
                            "peak_rss_mb": round(
                                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                            ),
                        }
                        if recipe is not None:
                            row["recipe"] = recipe
                            row["finetune"] = info
                        if weight is not None:
                            row["ensemble_weight"] = weight
                        emit(row, args)
                        rows.append(row)
    return rows


def summary(rows: list[dict[str, Any]]) -> str:
    """Kappa per data set and share, the mean and worst per share, and verdicts vs frozen_lr."""
    import pandas as pd

    df = pd.DataFrame(rows)
    cols = list(dict.fromkeys(df["method"]))
    table = df.pivot_table(index=["data", "share"], columns="method", values="kappa")[cols]
    seeds = df[df["method"] == "frozen_lr"].groupby(["data", "share"])["seed"].nunique()
    out = ["| data | share | seeds | " + " | ".join(cols) + " |", "|---" * (len(cols) + 3) + "|"]
    for (data, share), r in table.iterrows():
        vals = " | ".join(f"{v:.3f}" for v in r.to_numpy())
        out.append(f"| {data} | {share:.0%} | {seeds.get((data, share), 0)} | {vals} |")
    out += ["", "| share | " + " | ".join(f"{c} mean (worst)" for c in cols) + " |"]
    out.append("|---" * (len(cols) + 1) + "|")
    for share, g in table.groupby(level="share"):
        cells = []
        for c in cols:
            col = g[c].dropna()
            worst = f"{col.min():.3f} {col.idxmin()[0]}" if len(col) else "-"
            cells.append(f"{col.mean():.3f} ({worst}, {len(col)} data)")
        out.append(f"| {share:.0%} | " + " | ".join(cells) + " |")
    cpu = df[df["method"].isin(cols[2:])].groupby("method")["cpu_seconds"].median()
    out += ["", "| recipe | vs | share | mean diff | better | tie | below | below: data |"]
    out.append("|---|---|---|---|---|---|---|---|")
    pairs = [(m, b) for b in ("frozen_lr", "prototype") for m in cols if m not in ("frozen_lr", b)]
    # NAME+ens / NAME+concat against NAME: what the other head adds to the same fit
    pairs += [(m, m.split("+")[0]) for m in cols if "+" in m and m.split("+")[0] in cols]
    for method, base in pairs:
        for c in verdict_counts(df, method, base):
            out.append(
                f"| {method} | {base} | {c['share']:.0%} | {c['mean']:+.3f} | "
                f"{c['better']} | {c['tie']} | {c['below']} | {c['below_data']} |"
            )
    out += [
        "",
        "median CPU s per fit (fine-tune + vectors): "
        + ", ".join(f"{m} {s:.1f}" for m, s in cpu.items()),
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, help="the benchdata folder (SIB-200, NHS)")
    ap.add_argument("--model", default=None, help="sentence-transformers folder to fine-tune")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--shares", type=float, nargs="*", default=[0.2, 0.3])
    ap.add_argument("--seeds", type=int, nargs="*", default=[1, 2, 3])
    ap.add_argument("--recipes", nargs="+", default=["default:"])
    ap.add_argument("--sib-size", type=int, default=200)
    ap.add_argument("--nhs-size", type=int, default=200)
    ap.add_argument("--only", nargs="*", help="data sets: demo sib200 nhs corpora, or names")
    ap.add_argument(
        "--concat", action="store_true", help="also score each fit with the concatenated head"
    )
    ap.add_argument(
        "--ensemble",
        action="store_true",
        help=f"also score each fit as NAME+ens: frozen and fine-tuned heads' probabilities "
        f"mixed, {ENSEMBLE_WEIGHT} on the fine-tuned",
    )
    ap.add_argument(
        "--ensemble-screen",
        type=float,
        nargs="*",
        default=[],
        help="with --ensemble: other fine-tuned weights, scored as NAME+ensW (a screen)",
    )
    ap.add_argument("--out", type=Path)
    ap.add_argument("--rows", type=Path, help="an earlier --out: print its table only")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    if args.rows:
        rows = [json.loads(line) for line in args.rows.read_text().splitlines() if line]
    else:
        args.model = args.model or default_model()
        args.trained_layers = 3  # prepared()'s frozen vectors; recipes cache their own depth
        rows = run(args)
    print(summary(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
