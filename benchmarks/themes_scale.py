"""ThemeFinder on 100,000 segments (timing; the issue's budget is 10 minutes on 2 cores once embedded).

    python benchmarks/themes_scale.py [--n 100000] [--sib200 ../shared/benchdata/sib200]

Embedding 100,000 segments with multilingual-e5-small would take ~20 minutes here, and the fit is
what is timed, so the corpus is built from real vectors: the 2,008 SIB-200 Malay + English
sentences and the 283 demo participant segments (e5, themekit's cache), each
repeated with small Gaussian noise (sigma 0.01 per dimension, re-normalised) and its text, until
``--n`` rows. Prints wall time per mode.
"""

from __future__ import annotations

import argparse
import csv
import time
import warnings
from pathlib import Path

import numpy as np
from _common import ROOT, demo_set, embed


def base_corpus(sib: Path) -> tuple[list[str], list[str], np.ndarray]:
    texts, langs = [], []
    for lang, code in (("zsm_Latn", "ms"), ("eng_Latn", "en")):
        for split in ("train", "dev", "test"):
            with open(sib / lang / f"{split}.tsv", encoding="utf-8") as fh:
                for r in list(csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]:
                    texts.append(r[2])
                    langs.append(code)
    X = embed(texts)
    demo = demo_set()
    return texts + demo.texts, langs + list(demo.langs), np.vstack([X, demo.X])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--sib200", default=str(ROOT.parent / "shared" / "benchdata" / "sib200"))
    ap.add_argument(
        "--modes",
        default="discover,guided,hdbscan,kmeans",
        help="discover (clustering: auto), guided, hdbscan, kmeans (discover with that clustering)",
    )
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    from themekit.context import build_context
    from themekit.corpus import Segment
    from themekit.themes import ThemeFinder

    texts0, langs0, X0 = base_corpus(Path(args.sib200))
    rng = np.random.default_rng(0)
    idx = np.resize(np.arange(len(texts0)), args.n)
    X = X0[idx] + rng.normal(0, 0.01, size=(args.n, X0.shape[1])).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    texts = [texts0[i] for i in idx]
    langs = [langs0[i] for i in idx]
    demo = demo_set()
    cb, C = demo.codebook, demo.C
    print(f"{args.n} segments x {X.shape[1]} dims (from {len(texts0)} real e5 vectors + noise)")
    # one moderator question per 8 answers (a real e5 vector each), so that the codebook coding
    # pools and discovery uses the question directions as in a run
    links: list[int | None] = [i // 8 for i in range(args.n)]
    n_q = args.n // 8 + 1
    prompts = [Segment(id=f"q{j}", text=f"Question {j}?", is_context=True) for j in range(n_q)]
    ctx = build_context(links, prompts, X, X0[rng.integers(len(X0), size=n_q)], 0.0)
    for mode in args.modes.split(","):
        kw: dict[str, object] = (
            {"mode": "discover", "clustering": mode}
            if mode in ("hdbscan", "kmeans")
            else {"mode": mode}
        )
        t0 = time.time()
        f = ThemeFinder(**kw).fit(  # type: ignore[arg-type]
            X,
            texts,
            languages=langs,
            codebook=cb,
            codebook_embeddings=C,
            context=ctx,
        )
        k = len(set(f.labels_.tolist()) - {-1})
        print(
            f"  {mode:9s} {time.time() - t0:7.1f}s  themes={k} outliers_initial={f.n_outliers_initial_} "
            f"left_as_outliers={(f.labels_ == -1).sum()}",
            flush=True,
        )


if __name__ == "__main__":
    main()
