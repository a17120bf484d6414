"""Codebook descriptions embedded as e5 queries or as passages: what it does to guided coding.

    python benchmarks/guided_codebook.py --data ../shared/benchdata [--only demo sib200 nhs]

The e5 model card advises "query: " / "passage: " for asymmetric matching (a query against
documents). Guided mode matches segments against the codebook's descriptions, so the
descriptions could be embedded as queries (``embedding.query_prompt: "query: "``) while the
segments stay passages; by default both are passages. This script measures the two in the same
run and prints one line per data set and setting with Cohen's kappa of the segment-level codebook
coding:

- demo: the real pipeline (``themekit.run`` on configs/demo.yaml, nothing written) in guided and
  semi-supervised mode, on the whole demo and on each session alone (~95 segments, the size of
  one focus group), with the moderator's turns as context (the default) and analysed (``keep``);
- sib200 (Malay + English, 7 topics): a codebook of the topic names in English and Malay, one
  short definition each (written here, not taken from the data set);
- nhs (NHS comments coded by staff, a stratified sample as in quality.py): a codebook of the 9
  major themes, with the framework's subcategory names as inclusion notes.

The segment vectors are the same in both settings; only the description vectors change. Reads
the data sets from --data, never copies them. About 1 minute on 2 cores with a warm cache.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import cohen_kappa_score

from themekit.codebook import Codebook
from themekit.config import EmbeddingConfig
from themekit.corpus import Corpus
from themekit.embed import build_embedder, build_query_embedder, default_cache_dir, embed_texts
from themekit.themes import ThemeFinder

SETTINGS = {"passage": None, "query": "query: "}  # None: the default (the segments' prompt)
SIB_MALAY = {
    "science/technology": "sains/teknologi",
    "travel": "pelancongan",
    "politics": "politik",
    "health": "kesihatan",
    "sports": "sukan",
    "entertainment": "hiburan",
    "geography": "geografi",
}


def demo(seed: int) -> None:
    from _common import SETS, run_demo  # the whole demo and each session

    for moderator in ("context", "keep"):
        for mode in ("guided", "semi-supervised"):
            for setting, prompt in SETTINGS.items():
                row = []
                for name in SETS:
                    overrides = [
                        f"seed={seed}",
                        f"themes.mode={mode}",
                        f"segmentation.moderator={moderator}",
                    ]
                    if prompt is not None:
                        overrides.append(f"embedding.query_prompt='{prompt}'")
                    r = run_demo(name, overrides)
                    row.append(f"{name} {r.scores.to_dict()['cohen_kappa']:.3f}")
                print(
                    f"demo   {mode:15s} moderator {moderator:7s} descriptions as {setting:8s} "
                    "kappa: " + "  ".join(row),
                    flush=True,
                )


def sib_codebook() -> tuple[Codebook, dict[str, str]]:
    themes = [
        {
            "id": en.replace("/", "_"),
            "name": en,
            "definition": {"en": f"This sentence is about {en}.", "ms": f"Ayat ini tentang {ms}."},
        }
        for en, ms in SIB_MALAY.items()
    ]
    return Codebook(themes=themes), {en: en.replace("/", "_") for en in SIB_MALAY}


def nhs_codebook(root: Path) -> tuple[Codebook, dict[str, str]]:
    df = pd.read_csv(root / "text_data.csv").dropna(subset=["feedback", "label"])
    themes, ids = [], {}
    for i, (label, group) in enumerate(df.groupby("label")):
        ids[str(label)] = f"t{i}"
        subs = sorted({str(s) for s in group["subcategory"].dropna()})
        themes.append({"id": f"t{i}", "name": str(label), "include": subs})
    return Codebook(themes=themes), ids


def external(name: str, corpus: Corpus, codebook: Codebook, ids: dict[str, str]) -> None:
    truth = [ids[c or ""] for c in corpus.codes]
    texts = codebook.descriptions()[0]
    cache = default_cache_dir()
    X = None
    for setting, prompt in SETTINGS.items():
        cfg = EmbeddingConfig(query_prompt=prompt)
        embedder = build_embedder(cfg)
        if X is None:
            X = embed_texts(corpus.texts, embedder, cache_dir=cache)
        C = embed_texts(texts, build_query_embedder(cfg, embedder), cache_dir=cache)
        t0 = time.perf_counter()
        finder = ThemeFinder(mode="guided", seed=42).fit(
            X, corpus.texts, languages=corpus.languages, codebook=codebook, codebook_embeddings=C
        )
        kappa = cohen_kappa_score(truth, np.asarray(finder.codebook_theme_))
        print(
            f"{name:6s} guided          descriptions as {setting:8s} kappa: {kappa:.3f}"
            f"  ({len(corpus)} segments, {len(codebook.themes)} themes, "
            f"{time.perf_counter() - t0:.0f} s)"
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, help="folder holding sib200/ and nhs_pxtextmining/")
    ap.add_argument("--only", nargs="*", help="data sets to run (demo sib200 nhs)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--nhs-size", type=int, default=1500)
    args = ap.parse_args(argv)
    logging.disable(logging.WARNING)
    from _common import nhs, sib200  # the same samples as the quality benchmark

    want = set(args.only or ["demo", "sib200", "nhs"])
    if want - {"demo"} and args.data is None:
        ap.error("--data is needed for sib200 and nhs")
    if "demo" in want:
        demo(args.seed)
    if "sib200" in want:
        corpus, _ = sib200(args.data / "sib200")
        external("sib200", corpus, *sib_codebook())
    if "nhs" in want:
        root = args.data / "nhs_pxtextmining"
        corpus, _ = nhs(root, args.nhs_size, args.seed)
        external("nhs", corpus, *nhs_codebook(root))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
