"""Discovery in the directions along which the answers vary with the moderator's questions.

    python benchmarks/question_subspace.py [--components 0 2 3 4 5 6] [--seeds 42 0 1 2 3]

On a focus group the largest differences between answers are how people tell their stories (an
introduction, a life story, today's routine), not what the group gives them, so k-means on the
full embeddings splits the hand-coded themes along story lines. With ``themes.question_components``
c > 0, discover mode first fits partial least squares between the answers and the moderator's
questions they follow and clusters the answers in those c directions, beside their full vectors
(:class:`themekit.themes.subspace.QuestionSubspace`; no hand codes are used). This runs the real
pipeline (``themekit.run`` on configs/demo.yaml, nothing written) on the whole demo and on each
session alone (about the size of one focus group) for each c and seed, and prints the number of
hand-coded themes recovered (a candidate theme holds at least half of the theme's segments and is
at least half made of them), the number of candidate themes, the share of segments in themes that
hold both Malay and English, and NMI against the hand codes. c = 0 is the discovery of before.
About 2 minutes on 2 cores with cached embeddings.
"""

from __future__ import annotations

import argparse
import logging


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--components", type=int, nargs="*", default=[0, 2, 3, 4, 5, 6])
    ap.add_argument("--seeds", type=int, nargs="*", default=[42, 0, 1, 2, 3])
    ap.add_argument(
        "--context-weights",
        type=float,
        nargs="*",
        default=[0.3, 0.0],
        help="embedding.context_weight values (0.3 is the default)",
    )
    args = ap.parse_args(argv)
    logging.disable(logging.WARNING)
    from _common import SETS, run_demo  # the whole demo and each session

    print("context  components  themes recovered (of 3) per seed " + " ".join(map(str, args.seeds)))
    for context in args.context_weights:
        for c in args.components:
            per_set: dict[str, list[int]] = {name: [] for name in SETS}
            detail: dict[str, str] = {}
            for name in SETS:
                for seed in args.seeds:
                    r = run_demo(
                        name,
                        [
                            f"seed={seed}",
                            f"themes.question_components={c}",
                            "themes.question_space=on" if c else "themes.question_space=off",
                            f"embedding.context_weight={context}",
                        ],
                    )
                    s = r.scores.to_dict()
                    per_set[name].append(round(3 * s["theme_recall"]))
                    if seed == args.seeds[0]:
                        detail[name] = (
                            f"k {len(r.themes)} mix {s['language_mixing']:.2f} nmi {s['nmi']:.2f}"
                        )
            total = sum(sum(v) for v in per_set.values())
            n = sum(len(v) for v in per_set.values())
            print(
                f"{context:<8g} {c:<11d} "
                + "  ".join(f"{name} {''.join(map(str, per_set[name]))}" for name in SETS)
                + f"   mean {total / n:.2f} of 3",
                flush=True,
            )
            print(
                f"{'':20s}seed {args.seeds[0]}: "
                + "; ".join(f"{k}: {v}" for k, v in detail.items())
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
