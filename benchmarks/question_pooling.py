"""Pooling the codebook coding over the answers to one moderator question.

    python benchmarks/question_pooling.py [--weights 0 0.2 0.3 0.5 0.7] [--modes guided semi-supervised]

In a focus group the answers to one question mostly share a theme. With ``themes.question_weight``
w, each segment's theme probabilities (after self-training) become ``(1 - w) * own + w * mean over
the answers to the same question`` before the codebook theme is picked. This runs the real
pipeline (``themekit.run`` on configs/demo.yaml, nothing written, seed 42) on the whole demo and on
each session alone (about the size of one focus group) for each weight, and once more with the
question pooled but not added to the embeddings (``embedding.context_weight: 0``), and prints
Cohen's kappa of the segment-level codebook coding (semi-supervised: on the segments not given).
About 2 minutes on 2 cores with cached embeddings.
"""

from __future__ import annotations

import argparse
import logging


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", type=float, nargs="*", default=[0.0, 0.2, 0.3, 0.5, 0.7])
    ap.add_argument("--modes", nargs="*", default=["guided", "semi-supervised"])
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args(argv)
    logging.disable(logging.WARNING)
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


if __name__ == "__main__":
    raise SystemExit(main())
