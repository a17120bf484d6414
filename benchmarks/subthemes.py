"""Sub-themes on the development suite: does the finer level recover what the themes missed?

    python benchmarks/subthemes.py ../shared/benchdata [--seeds 42,0,1]

For every coded corpus of ``benchmarks/suite.py`` (``--quick`` sizes) and seed, runs the real
pipeline with the defaults (sub-themes off), then splits the themes with
:func:`themekit.themes.subthemes.split_themes` at no threshold and applies each threshold of the
null-corrected silhouette (0.03, 0.05 = the default, 0.08) to the splits. Prints one JSON line per
corpus and seed: hand themes, those recovered by the themes (``coarse``), and per threshold
[hand themes recovered by a theme or a sub-theme, number of parts, NMI of the parts against the
hand codes]; ``excess`` is each theme's best silhouette above the Gaussian cloud's.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import suite  # noqa: E402  (the development suite's corpora)
from sklearn.metrics import normalized_mutual_info_score as nmi  # noqa: E402

import themekit  # noqa: E402
from themekit.compare import matching  # noqa: E402
from themekit.config.evaluation import DEFAULT_RECOVERY_THRESHOLD  # noqa: E402
from themekit.themes.subthemes import Split, split_themes  # noqa: E402


def recovered(labels: np.ndarray, codes: list[str]) -> set[str]:
    cs = sorted(set(codes))
    ct = matching.contingency(np.asarray(labels), list(codes), cs)
    return {
        c
        for c in cs
        if c != "other" and matching.recovering_themes(ct, c, DEFAULT_RECOVERY_THRESHOLD)
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", type=Path, help="the shared benchdata folder")
    ap.add_argument("--seeds", default="42,0,1")
    args = ap.parse_args(argv)
    logging.disable(logging.WARNING)
    seeds = [int(x) for x in args.seeds.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        for e in suite.entries(args.data, quick=True):
            job = e.job(Path(tmp))
            for seed in seeds:
                r = themekit.run(
                    job,
                    overrides=[*e.overrides, f"seed={seed}", "themes.subthemes=false"],
                    write=False,
                )
                codes = [c or "other" for c in r.corpus.codes]
                if not any(c != "other" for c in codes):
                    break
                Z = np.asarray(r.cluster_embeddings)
                labels = np.asarray(r.labels)
                sp = split_themes(Z, labels, seed=seed, min_silhouette=-9)
                coarse = recovered(labels, codes)
                out = {
                    "corpus": e.name,
                    "seed": seed,
                    "hand": len(set(codes) - {"other"}),
                    "coarse": len(coarse),
                    "nmi": round(nmi(codes, labels), 3),
                    "excess": {
                        t: r_["silhouette"] for t, r_ in sp.themes.items() if "silhouette" in r_
                    },
                }
                for thr in (0.03, 0.05, 0.08):
                    sub = sp.sub.copy()
                    for t, r_ in sp.themes.items():
                        if r_.get("silhouette", -9) < thr:
                            sub[labels == t] = -1
                    fine = Split(sub=sub).fine_labels(labels)
                    union = coarse | recovered(fine, codes)
                    out[f"t{thr}"] = [
                        len(union),
                        len(set(fine.tolist())),
                        round(nmi(codes, fine), 3),
                    ]
                print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
