"""Pooling the codebook coding over the answers to one moderator question.

    python benchmarks/question_pooling.py [--weights 0 0.2 0.3 0.5 0.7] [--modes guided semi-supervised]
    python benchmarks/question_pooling.py --suite ../shared/benchdata [--modes guided semi-supervised]

In a focus group the answers to one question mostly share a theme. With ``themes.question_weight``
w, each segment's theme probabilities (after self-training) become ``(1 - w) * own + w * mean over
the answers to the same question`` before the codebook theme is picked. This runs the real
pipeline (``themekit.run`` on configs/demo.yaml, nothing written, seed 42) on the whole demo and on
each session alone (about the size of one focus group) for each weight, and once more with the
question pooled but not added to the embeddings (``embedding.context_weight: 0``), and prints
Cohen's kappa of the segment-level codebook coding (semi-supervised: on the segments not given).
About 2 minutes on 2 cores with cached embeddings.

``--suite DATA_DIR`` runs instead every corpus of the development suite that has a codebook
(``benchmarks/suite.py``: the demo whole and by session, and ``benchmarks/corpora/``) with
``themes.question_weight`` auto, 0.5 and 0, and prints per corpus the κ of each, the weight that
``auto`` chose and the agreement it measured (:func:`themekit.themes.guided.question_agreement`),
then the mean and the worst corpus of each setting.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", type=float, nargs="*", default=[0.0, 0.2, 0.3, 0.5, 0.7])
    ap.add_argument("--modes", nargs="*", default=["guided", "semi-supervised"])
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument(
        "--suite", type=Path, help="the shared benchdata folder: run the suite's corpora"
    )
    args = ap.parse_args(argv)
    logging.disable(logging.WARNING)
    if args.suite is not None:
        return run_suite(args.suite, args.modes, args.seed)
    from _common import SETS, run_demo  # the whole demo and each session

    settings = [(w, None) for w in args.weights] + [(0.0, 0.0), (0.3, 0.0)]
    print("mode            question_weight context_weight  kappa: " + "  ".join(SETS))
    for mode in args.modes:
        for weight, context in settings:
            kappas = []
            for name in SETS:
                overrides = [
                    f"seed={args.seed}",
                    f"themes.mode={mode}",
                    f"themes.question_weight={weight}",
                ]
                if context is not None:
                    overrides.append(f"embedding.context_weight={context}")
                kappas.append(run_demo(name, overrides).scores.to_dict()["cohen_kappa"])
            shown = "default" if context is None else f"{context:g}"
            print(
                f"{mode:15s} {weight:<15g} {shown:15s} "
                + "  ".join(f"{k:.3f}" for k in kappas)
                + f"   (sessions: mean {sum(kappas[1:]) / 3:.3f}, lowest {min(kappas[1:]):.3f})",
                flush=True,
            )
    return 0


def run_suite(data: Path, modes: list[str], seed: int) -> int:
    import suite  # benchmarks/suite.py: the development suite's corpora

    import themekit
    from themekit.config import load_config

    settings = ["auto", "0.5", "0"]
    print("mode            corpus              n    κ auto  κ 0.5   κ 0     auto chose  agreement")
    with tempfile.TemporaryDirectory() as tmp:
        jobs = [(e, e.job(Path(tmp))) for e in suite.entries(data, quick=True)]
        for mode in modes:
            kappas: dict[str, list[float]] = {s: [] for s in settings}
            for entry, job in jobs:
                if load_config(job, entry.overrides).codebook.path is None:
                    continue  # the public sets: no codebook to code with
                row, choice = [], None
                for setting in settings:
                    over = [
                        f"seed={seed}",
                        f"themes.mode={mode}",
                        f"themes.question_weight={setting}",
                    ]
                    result = themekit.run(job, overrides=[*entry.overrides, *over], write=False)
                    row.append(float(result.scores.to_dict()["cohen_kappa"]))
                    if setting == "auto":
                        choice = result.manifest.get("question_pooling") or {}
                        n = result.manifest.get("n_segments")
                for setting, k in zip(settings, row, strict=True):
                    kappas[setting].append(k)
                choice = choice or {}
                agreement = choice.get("agreement")
                print(
                    f"{mode:15s} {entry.name:18s} {n!s:4s} "
                    + "  ".join(f"{k:.3f} " for k in row)
                    + f"  {choice.get('weight', '—')!s:10s}  "
                    + ("—" if agreement is None else f"{agreement:.3f}"),
                    flush=True,
                )
            print(
                f"{mode:15s} {'mean / worst':18s}      "
                + "  ".join(
                    f"{statistics.fmean(v):.3f}/{min(v):.3f}" for v in (kappas[s] for s in settings)
                )
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
