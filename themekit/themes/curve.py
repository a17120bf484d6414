"""The learning curve of a semi-supervised run: Cohen's kappa on the segments NOT given against
the share of the hand codes given (``themes.semi_supervised.learning_curve``, by default 5, 10,
20, 30 and 50 %).

Every point refits the run's theme finder with another share (the same seed, so the same
stratified split rule, :func:`themekit.themes.finetune.choose_given`) on the run's **frozen**
vectors: with ``method: prototype`` that is the run's own method; with ``method: finetune`` it
is the fine-tuned method's head (``themes.semi_supervised.head``) on the vectors before
fine-tuning, since fine-tuning the encoder once per point would multiply the run's time. The curve tells the
researcher whether coding more segments is likely to pay off (a curve still rising at the share
given) or not (a flat one).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from themekit.codebook import Codebook
    from themekit.context import QuestionContext
    from themekit.themes.finder import ThemeFinder

logger = logging.getLogger(__name__)

#: The shares of the hand codes given at the curve's points.
DEFAULT_SHARES = (0.05, 0.1, 0.2, 0.3, 0.5)


def learning_curve(
    finder: ThemeFinder,
    embeddings: np.ndarray,
    texts: Sequence[str],
    hand_codes: Sequence[str | None],
    *,
    shares: Sequence[float] = DEFAULT_SHARES,
    languages: Sequence[str] | None = None,
    codebook: Codebook | None = None,
    codebook_embeddings: np.ndarray | None = None,
    context: QuestionContext | None = None,
    other_id: str = "other",
) -> dict[str, Any]:
    """Kappa on the segments not given at each share in ``shares``, refitting a copy of the
    (semi-supervised) ``finder`` on ``embeddings`` with ``semi_supervised_share`` set to it.

    Returns ``{"method", "vectors": "frozen", "points": [{"share", "n_given", "n_scored",
    "kappa"}]}``; a point whose split leaves fewer than two segments to score has kappa None."""
    from sklearn.base import clone

    from themekit.compare import compare

    codes = [c or "" for c in hand_codes]
    points: list[dict[str, Any]] = []
    for share in sorted(set(float(s) for s in shares)):
        model = clone(finder).set_params(
            semi_supervised_share=share, stability_runs=0, describe=False
        )
        model.fit(
            embeddings,
            texts,
            languages=languages,
            codebook=codebook,
            codebook_embeddings=codebook_embeddings,
            hand_codes=hand_codes,
            context=context,
        )
        mask = np.asarray(model.eval_mask_, dtype=bool)
        scored = mask & (np.asarray(codes, dtype=object) != "")
        kappa = None
        if scored.sum() >= 2:
            s = compare(
                np.asarray(model.labels_, dtype=int),
                codes,
                codebook_theme=model.codebook_theme_,
                codebook_ids=codebook.ids if codebook is not None else None,
                other_id=other_id,
                bootstrap=0,
                seed=int(finder.seed),
                eval_mask=mask,
            )
            kappa = round(float(s.cohen_kappa), 4)
        points.append(
            {
                "share": share,
                "n_given": int((~mask).sum()),
                "n_scored": int(scored.sum()),
                "kappa": kappa,
            }
        )
    head = getattr(finder, "semi_supervised_head", "logistic")
    method = f"the finetune method's head (themes.semi_supervised.head: {head})"
    if finder.semi_supervised_method != "finetune":  # prototype (auto codes as prototype)
        method = "prototype"
    logger.info(
        "learning curve (%s): %s",
        method,
        ", ".join(f"{p['share']:.0%} -> {p['kappa']}" for p in points),
    )
    return {"method": method, "vectors": "frozen", "points": points}


def curve_of(manifest: Any) -> tuple[list[dict[str, Any]], str, float] | None:
    """``(points with a kappa, method, the run's own share)`` a run's manifest records, or None."""
    record = getattr(manifest, "semi_supervised", None) or {}
    curve = record.get("learning_curve") or {}
    points = [p for p in curve.get("points") or [] if p.get("kappa") is not None]
    if not points:
        return None
    return points, str(curve.get("method", "")), float(record.get("share") or 0.0)


def curve_note(method: str, share: float) -> str:
    """What the curve shows, for the report."""
    return (
        f"Cohen's kappa on the hand-coded segments not given, against the share of the hand "
        f"codes given (the same stratified split rule and seed as the run, which was given "
        f"{share:.0%}). Each point refits the coding on the frozen vectors with {method}"
        + (
            "; the run itself fine-tuned the encoder, which the curve does not repeat."
            if "finetune" in method
            else "."
        )
        + " A curve still rising at the run's share says coding more segments is likely to pay off."
    )


def curve_markdown(manifest: Any) -> list[str]:
    """The learning curve as a Markdown subsection (empty when the run has none)."""
    got = curve_of(manifest)
    if got is None:
        return []
    points, method, share = got
    lines = ["### Learning curve", "", curve_note(method, share), ""]
    lines += ["| share given | segments given | segments scored | kappa |", "|---|---|---|---|"]
    lines += [
        f"| {p['share']:.0%} | {p['n_given']} | {p['n_scored']} | {p['kappa']:.3f} |"
        for p in points
    ]
    return [*lines, ""]
