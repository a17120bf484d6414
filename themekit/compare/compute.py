"""The comparison itself: candidate themes (or a guided coding) against the hand codes.

:func:`compare` runs six small steps: :func:`~themekit.compare.inputs.validate` (the inputs,
and which segments are scored), :func:`_match` (the contingency table, matching and recovery,
and each scored segment's machine code), :func:`_agree` (segment-level agreement with intervals
and per code), :func:`_secondary` (agreement when a segment's second hand code counts),
:func:`_pairs` (translation pairs kept together) and :func:`_assemble` (the :class:`Scores`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from themekit.compare import agreement, clustering, matching
from themekit.compare.inputs import Scored, validate
from themekit.compare.scores import Scores, definitions
from themekit.config.evaluation import (
    DEFAULT_BOOTSTRAP,
    DEFAULT_CONFIDENCE,
    DEFAULT_RECOVERY_THRESHOLD,
)
from themekit.errors import UserError

logger = logging.getLogger(__name__)

SEGMENT_MAPPING_GUIDED = "codebook_theme"
SEGMENT_MAPPING_DERIVED = "one_to_one+majority"


def _f(x: Any) -> float | None:
    """A plain Python float, or None for NaN / None."""
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else x


def _code_order(codebook_ids: Sequence[str] | None, used: set[str], other_id: str) -> list[str]:
    """Codebook order first, then other codes sorted, with ``other_id`` last among those."""
    order = list(dict.fromkeys(codebook_ids or []))
    extra = sorted(c for c in used if c not in order)
    if other_id in extra:
        extra.remove(other_id)
        extra.append(other_id)
    return order + extra


@dataclass(frozen=True)
class _Matching:
    """The theme-by-code table and what matching made of it; ``machine`` is every scored
    segment's machine code."""

    mapping_used: str
    codes: list[str]
    theme_codes: list[str]
    ct: matching.Contingency
    pairs: list[tuple[int, str, int]]
    majority: dict[int, tuple[str, float, int]]
    sizes: dict[int, int]
    code_sizes: dict[str, int]
    matched: dict[int, bool]
    recovered_by: dict[str, list[int]]
    machine: list[str]
    theme_to_code: dict[str, str] | None
    theme_to_code_how: dict[str, str] | None

    @property
    def recovered(self) -> list[str]:
        return [c for c in self.theme_codes if self.recovered_by[c]]

    @property
    def missing(self) -> list[str]:
        return [c for c in self.theme_codes if not self.recovered_by[c]]

    @property
    def unmatched(self) -> list[int]:
        return [t for t in self.ct.themes if not self.matched[t]]


@dataclass(frozen=True)
class _Agreement:
    """Segment-level agreement of the machine codes with the hand codes (codes as indices into
    ``_Matching.codes``)."""

    index: dict[str, int]
    m_idx: np.ndarray
    h_idx: np.ndarray
    kappa: float
    alpha: float | None
    pct: float
    macro: float
    ci: dict[str, Any]
    per_theme: dict[str, dict[str, Any]]


def compare(
    theme_ids: Sequence[int] | np.ndarray,
    hand_codes: Sequence[str | None],
    *,
    secondary_codes: Sequence[str | None] | None = None,
    codebook_theme: Sequence[str | None] | np.ndarray | None = None,
    languages: Sequence[str] | None = None,
    translation_pairs: Sequence[tuple[int, int]] | None = None,
    codebook_ids: Sequence[str] | None = None,
    other_id: str = "other",
    recovery_threshold: float = DEFAULT_RECOVERY_THRESHOLD,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
    eval_mask: Sequence[bool] | np.ndarray | None = None,
) -> Scores:
    """Compare the machine's themes with the hand coding of the same segments.

    ``theme_ids`` holds each segment's candidate theme (-1 = outlier) and ``hand_codes`` its
    primary hand code. Segments without a hand code (None or "") and segments outside
    ``eval_mask`` are not scored. ``codebook_theme`` is the machine's own codebook coding when
    the theme stage has one (None entries count as ``other_id``); without it each candidate
    theme is mapped to a hand code (optimal one-to-one assignment, then majority code) and
    outliers to ``other_id``. ``translation_pairs`` are index pairs into the full sequences.
    See :func:`themekit.compare.scores.definitions` for every metric.
    """
    scored = validate(
        theme_ids,
        hand_codes,
        {
            "secondary_codes": secondary_codes,
            "codebook_theme": codebook_theme,
            "languages": languages,
            "eval_mask": eval_mask,
        },
        recovery_threshold=recovery_threshold,
        confidence=confidence,
        bootstrap=bootstrap,
    )
    m = _match(scored, codebook_theme, codebook_ids, other_id, recovery_threshold)
    agree = _agree(scored, m, other_id, bootstrap=bootstrap, confidence=confidence, seed=seed)
    secondary = _secondary(scored, m, agree, secondary_codes)
    together = _pairs(scored, translation_pairs)
    mixing, per_theme_languages = (
        clustering.language_mixing(scored.themes, [languages[i] for i in scored.rows])
        if languages is not None
        else (None, None)
    )
    logger.info(
        "compared %d segments: kappa %.3f, %d of %d codebook themes recovered, %d unmatched themes",
        len(scored.rows),
        agree.kappa,
        len(m.recovered),
        len(m.theme_codes),
        len(m.unmatched),
    )
    return _assemble(
        scored,
        m,
        agree,
        secondary=secondary,
        together=together,
        mixing=mixing,
        per_theme_languages=per_theme_languages,
        settings={
            "recovery_threshold": recovery_threshold,
            "other_id": other_id,
            "bootstrap": bootstrap,
            "confidence": confidence,
            "seed": seed,
            "codebook_ids": list(codebook_ids) if codebook_ids is not None else None,
        },
    )


def _match(
    scored: Scored,
    codebook_theme: Sequence[str | None] | np.ndarray | None,
    codebook_ids: Sequence[str] | None,
    other_id: str,
    recovery_threshold: float,
) -> _Matching:
    """The contingency table, the one-to-one and majority matching, which codebook themes are
    recovered, and each segment's machine code (the guided coding, or its theme's code)."""
    themes, hand = scored.themes, scored.hand
    if codebook_theme is not None:
        machine = [str(codebook_theme[i] or other_id) for i in scored.rows]
        mapping_used = SEGMENT_MAPPING_GUIDED
    else:
        machine = []
        mapping_used = SEGMENT_MAPPING_DERIVED

    used = set(hand) | set(machine)
    if mapping_used == SEGMENT_MAPPING_DERIVED and (themes == -1).any():
        used.add(other_id)  # outliers are coded as the non-theme
    codes = _code_order(codebook_ids, used, other_id)
    ct = matching.contingency(themes, hand, codes)
    theme_codes = [c for c in (codebook_ids or sorted(set(hand))) if c != other_id]
    theme_codes = [c for c in codes if c in set(theme_codes)]

    majority = matching.many_to_one(ct)
    theme_to_code: dict[str, str] | None = None
    theme_to_code_how: dict[str, str] | None = None
    if mapping_used == SEGMENT_MAPPING_DERIVED:
        mapped, how = matching.theme_to_code(ct)
        machine = [other_id if t == -1 else mapped[t] for t in themes.tolist()]
        theme_to_code = {str(t): mapped[t] for t in ct.themes} | {"-1": other_id}
        theme_to_code_how = {str(t): how[t] for t in ct.themes} | {"-1": "outlier"}
    return _Matching(
        mapping_used=mapping_used,
        codes=codes,
        theme_codes=theme_codes,
        ct=ct,
        pairs=matching.one_to_one(ct),
        majority=majority,
        sizes=dict(zip(ct.themes, ct.theme_sizes.tolist(), strict=True)),
        code_sizes=dict(zip(codes, ct.code_sizes.tolist(), strict=True)),
        matched={
            t: (c in theme_codes and matching.at_least(purity * size, size, recovery_threshold))
            for t, (c, purity, size) in majority.items()
        },
        recovered_by={
            c: matching.recovering_themes(ct, c, recovery_threshold) for c in theme_codes
        },
        machine=machine,
        theme_to_code=theme_to_code,
        theme_to_code_how=theme_to_code_how,
    )


def _agree(
    scored: Scored,
    m: _Matching,
    other_id: str,
    *,
    bootstrap: int,
    confidence: float,
    seed: int,
) -> _Agreement:
    """Segment-level agreement (kappa, alpha, percent, macro F1) with bootstrap intervals, and
    per code: precision, recall, F1, recovery and the candidate themes that hold it."""
    index = {c: i for i, c in enumerate(m.codes)}
    k = len(m.codes)
    m_idx = np.array([index[c] for c in m.machine], dtype=np.int64)
    h_idx = np.array([index[c] for c in scored.hand], dtype=np.int64)
    cm = agreement.confusion(m_idx, h_idx, k)
    precision, recall, f1, support = agreement.f1_parts(cm)
    predicted = cm.sum(axis=1)
    intervals = agreement.bootstrap(
        m_idx, h_idx, k, resamples=bootstrap, confidence=confidence, seed=seed
    )
    ci: dict[str, Any] = {
        name: (None if iv is None else {"low": iv[0], "high": iv[1]})
        for name, iv in intervals.items()
    }
    ci.update(method="percentile bootstrap", resamples=bootstrap, confidence=confidence, seed=seed)

    ct = m.ct
    pair_of_code = {c: t for t, c, _ in m.pairs}
    per_theme: dict[str, dict[str, Any]] = {}
    for j, c in enumerate(m.codes):
        holders = [
            {
                "theme": t,
                "count": int(ct.table[i, j]),
                "share_of_code": float(ct.table[i, j] / m.code_sizes[c]),
                "share_of_theme": float(ct.table[i, j] / m.sizes[t]),
            }
            for i, t in enumerate(ct.themes)
            if ct.table[i, j] > 0
        ]
        holders.sort(key=lambda h: (-h["count"], h["theme"]))
        per_theme[c] = {
            "is_other": c == other_id,
            "in_codebook": c in m.theme_codes,
            "support": int(support[j]),
            "predicted": int(predicted[j]),
            "precision": _f(precision[j]),
            "recall": _f(recall[j]),
            "f1": _f(f1[j]),
            "recovered": (bool(m.recovered_by[c]) if c in m.recovered_by else None),
            "recovered_by": m.recovered_by.get(c, []),
            "one_to_one_theme": pair_of_code.get(c),
            "themes": holders,
            "outliers": int(ct.outliers[j]),
        }
    return _Agreement(
        index=index,
        m_idx=m_idx,
        h_idx=h_idx,
        kappa=float(agreement.cohen_kappa(cm)),
        alpha=agreement.krippendorff_alpha(m_idx, h_idx),
        pct=float(agreement.percent_agreement(cm)),
        macro=float(agreement.macro_f1(cm)),
        ci=ci,
        per_theme=per_theme,
    )


def _secondary(
    scored: Scored,
    m: _Matching,
    agree: _Agreement,
    secondary_codes: Sequence[str | None] | None,
) -> dict[str, Any] | None:
    """Agreement when a machine code that equals a segment's second hand code counts too."""
    if secondary_codes is None:
        return None
    machine, hand = m.machine, scored.hand
    second = [secondary_codes[i] or None for i in scored.rows]
    same = np.array([a == b for a, b in zip(machine, hand, strict=True)])
    rescued = np.array(
        [
            (not ok) and s is not None and mc == s
            for ok, mc, s in zip(same, machine, second, strict=True)
        ],
        dtype=bool,
    )
    lenient = [mc if r else h for mc, h, r in zip(machine, hand, rescued, strict=True)]
    l_idx = np.array([agree.index[c] for c in lenient], dtype=np.int64)
    k = len(m.codes)
    return {
        "n_with_secondary": sum(s is not None for s in second),
        "rescued": int(rescued.sum()),
        "rescued_indices": [scored.rows[p] for p in np.flatnonzero(rescued).tolist()],
        "percent_agreement": agree.pct,
        "percent_agreement_with_secondary": float((same | rescued).mean()),
        "cohen_kappa_with_secondary": float(
            agreement.cohen_kappa(agreement.confusion(agree.m_idx, l_idx, k))
        ),
    }


def _pairs(
    scored: Scored, translation_pairs: Sequence[tuple[int, int]] | None
) -> dict[str, Any] | None:
    """How often the two halves of a translation pair (indices into the full input) share a
    candidate theme; pairs with a half that is not scored are counted, not used."""
    if translation_pairs is None:
        return None
    n_total = scored.n_total
    position = {i: p for p, i in enumerate(scored.rows)}
    kept_pairs: list[tuple[int, int]] = []
    for pair in translation_pairs:
        i, j = (int(x) for x in pair)
        if not (0 <= i < n_total and 0 <= j < n_total) or i == j:
            raise UserError(
                f"translation pair {tuple(pair)} must hold two different segment indices in "
                f"[0, {n_total})"
            )
        if i in position and j in position:
            kept_pairs.append((position[i], position[j]))
    together = clustering.pairs_together(scored.themes, kept_pairs)
    together["n_pairs_not_scored"] = len(translation_pairs) - len(kept_pairs)
    return together


def _assemble(
    scored: Scored,
    m: _Matching,
    agree: _Agreement,
    *,
    secondary: dict[str, Any] | None,
    together: dict[str, Any] | None,
    mixing: float | None,
    per_theme_languages: dict[str, dict[str, Any]] | None,
    settings: dict[str, Any],
) -> Scores:
    """The :class:`Scores` of the steps' results (theme recall and precision, clustering scores,
    the contingency table as a mapping, counts and the metric definitions)."""
    ct, themes = m.ct, scored.themes
    n = len(scored.rows)
    clus = clustering.clustering_scores(themes, scored.hand)
    contingency: dict[str, dict[str, int]] = {
        str(t): {c: int(ct.table[i, j]) for j, c in enumerate(m.codes)}
        for i, t in enumerate(ct.themes)
    }
    if ct.outliers.sum():
        contingency["-1"] = {c: int(ct.outliers[j]) for j, c in enumerate(m.codes)}
    n_themes = len(ct.themes)
    n_outliers = int((themes == -1).sum())
    return Scores(
        n_segments=n,
        theme_recall=(len(m.recovered) / len(m.theme_codes)) if m.theme_codes else None,
        theme_precision=(sum(m.matched.values()) / n_themes) if n_themes else None,
        outlier_rate=n_outliers / n,
        cohen_kappa=agree.kappa,
        krippendorff_alpha=agree.alpha,
        percent_agreement=agree.pct,
        macro_f1=agree.macro,
        ari=_f(clus["ari"]),
        ami=_f(clus["ami"]),
        nmi=_f(clus["nmi"]),
        v_measure=_f(clus["v_measure"]),
        language_mixing=mixing,
        per_theme_languages=per_theme_languages,
        confidence_intervals=agree.ci,
        per_theme=agree.per_theme,
        matching={
            "segment_mapping": m.mapping_used,
            "one_to_one": [
                {
                    "theme": t,
                    "code": c,
                    "overlap": o,
                    "share_of_code": o / m.code_sizes[c],
                    "share_of_theme": o / m.sizes[t],
                }
                for t, c, o in m.pairs
            ],
            "many_to_one": {
                str(t): {"code": c, "purity": p, "size": s, "matched": m.matched[t]}
                for t, (c, p, s) in m.majority.items()
            },
            "theme_to_code": m.theme_to_code,
            "theme_to_code_how": m.theme_to_code_how,
        },
        segment_mapping=m.mapping_used,
        unmatched_themes=m.unmatched,
        recovered_themes=m.recovered,
        missing_themes=m.missing,
        codebook_themes=m.theme_codes,
        codes=m.codes,
        n_candidate_themes=n_themes,
        contingency=contingency,
        secondary=secondary,
        translation_pairs_together=together,
        counts={
            "n_total": scored.n_total,
            "n_scored": n,
            "n_without_hand_code": scored.n_without_hand_code,
            "n_outside_eval_mask": scored.n_outside_eval_mask,
            "n_outliers": n_outliers,
        },
        settings=settings,
        definitions=definitions(settings["recovery_threshold"], settings["other_id"]),
    )
