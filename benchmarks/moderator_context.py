"""Moderator turns as context, and how much of the question to add to each answer.

    python benchmarks/moderator_context.py [--weights 0 0.2 0.3 0.5] [--modes discover guided]

Runs the real pipeline (``themekit.run`` on configs/demo.yaml, nothing written) on the whole demo
and on each session alone (a session is the size of one focus group, like the held-out transcript
in ../shared/FACTS.md), with the moderator's turns analysed (``keep``, the old default) or read
as context with ``embedding.context_weight`` w. Prints one line per run: segments analysed,
candidate themes, hand-coded themes recovered (of 3), language mixing, NMI and Cohen's kappa of
the segment-level codebook coding (from scores.json's fields). With ``keep`` the moderator's
turns (all hand-coded ``other``) are scored too; with ``context`` they are not analysed.
About 4 minutes on 2 cores once the embeddings are cached.
"""

from __future__ import annotations

import argparse
import logging
import time

from _common import SETS, run_demo


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", type=float, nargs="*", default=[0.0, 0.2, 0.3, 0.5])
    ap.add_argument("--modes", nargs="*", default=["discover", "guided", "semi-supervised"])
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args(argv)
    logging.disable(logging.WARNING)
    settings = [("keep", 0.0)] + [("context", w) for w in args.weights]
    print("mode            moderator weight set    n   k recovered mix   NMI   kappa")
    for mode in args.modes:
        for moderator, weight in settings:
            for name in SETS:
                t0 = time.perf_counter()
                r = run_demo(
                    name,
                    [
                        f"seed={args.seed}",
                        f"themes.mode={mode}",
                        f"segmentation.moderator={moderator}",
                        f"embedding.context_weight={weight}",
                    ],
                )
                s = r.scores.to_dict()
                print(
                    f"{mode:15s} {moderator:9s} {weight:<6.2f} {name:6s} {len(r.corpus):3d} "
                    f"{len(r.themes):3d} {round(3 * s['theme_recall'])}/3       "
                    f"{s['language_mixing']:.2f}  {s['nmi']:.2f}  {s['cohen_kappa']:.3f}"
                    f"   ({time.perf_counter() - t0:.0f} s)",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
