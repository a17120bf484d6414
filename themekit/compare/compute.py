"""The comparison itself: candidate themes (or a guided coding) against the hand codes."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from themekit.compare import agreement, clustering, matching
from themekit.compare.scores import Scores, definitions
from themekit.corpus import LANGUAGES
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


def _check_length(name: str, values: Sequence[Any] | np.ndarray | None, n: int) -> None:
    if values is not None and len(values) != n:
        raise UserError(f"'{name}' must have one entry per segment ({n}); got {len(values)}")


def _theme_array(theme_ids: Sequence[int] | np.ndarray) -> np.ndarray:
    arr = np.asarray(theme_ids)
    if arr.ndim != 1:
        raise UserError(f"'theme_ids' must be a flat sequence of ints; got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise UserError(f"'theme_ids' must be ints (-1 = outlier); got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.size and arr.min() < -1:
        raise UserError(f"'theme_ids' must be >= -1 (-1 = outlier); got {int(arr.min())}")
    return arr


def _code_order(codebook_ids: Sequence[str] | None, used: set[str], other_id: str) -> list[str]:
    """Codebook order first, then other codes sorted, with ``other_id`` last among those."""
    order = list(dict.fromkeys(codebook_ids or []))
    extra = sorted(c for c in used if c not in order)
    if other_id in extra:
        extra.remove(other_id)
        extra.append(other_id)
    return order + extra


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
    recovery_threshold: float = 0.5,
    bootstrap: int = 1000,
    confidence: float = 0.95,
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
    themes_all = _theme_array(theme_ids)
    n_total = len(themes_all)
    for name, values in [
        ("hand_codes", hand_codes),
        ("secondary_codes", secondary_codes),
        ("codebook_theme", codebook_theme),
        ("languages", languages),
        ("eval_mask", eval_mask),
    ]:
        _check_length(name, values, n_total)
    if not 0.0 < recovery_threshold <= 1.0:
        raise UserError(f"'recovery_threshold' must be in (0, 1]; got {recovery_threshold}")
    if not 0.0 < confidence < 1.0:
        raise UserError(f"'confidence' must be in (0, 1); got {confidence}")
    if bootstrap < 0:
        raise UserError(f"'bootstrap' must be >= 0; got {bootstrap}")
    if languages is not None:
        bad = sorted({lang for lang in languages if lang not in LANGUAGES})
        if bad:
            raise UserError(f"'languages' must be among {list(LANGUAGES)}; got {bad}")

    coded = np.array([bool(c) for c in hand_codes], dtype=bool)
    mask = np.ones(n_total, dtype=bool) if eval_mask is None else np.asarray(eval_mask, dtype=bool)
    keep = np.flatnonzero(coded & mask)
    if keep.size == 0:
        raise UserError(
            f"no segment to score: of {n_total} segments, {int(coded.sum())} have a hand code "
            f"and {int(mask.sum())} are in the evaluation mask"
        )
    themes = themes_all[keep]
    rows: list[int] = keep.tolist()
    hand = [str(hand_codes[i]) for i in rows]
    n = len(hand)

    if codebook_theme is not None:
        machine = [str(codebook_theme[i] or other_id) for i in rows]
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

    # -- matching ------------------------------------------------------------------------
    pairs = matching.one_to_one(ct)
    majority = matching.many_to_one(ct)
    sizes = dict(zip(ct.themes, ct.theme_sizes.tolist(), strict=True))
    code_sizes = dict(zip(codes, ct.code_sizes.tolist(), strict=True))
    matched = {
        t: (c in theme_codes and matching.at_least(purity * size, size, recovery_threshold))
        for t, (c, purity, size) in majority.items()
    }
    unmatched = [t for t in ct.themes if not matched[t]]
    recovered_by = {c: matching.recovering_themes(ct, c, recovery_threshold) for c in theme_codes}
    recovered = [c for c in theme_codes if recovered_by[c]]
    missing = [c for c in theme_codes if not recovered_by[c]]

    theme_to_code: dict[str, str] | None = None
    theme_to_code_how: dict[str, str] | None = None
    if mapping_used == SEGMENT_MAPPING_DERIVED:
        mapped, how = matching.theme_to_code(ct)
        machine = [other_id if t == -1 else mapped[t] for t in themes.tolist()]
        theme_to_code = {str(t): mapped[t] for t in ct.themes} | {"-1": other_id}
        theme_to_code_how = {str(t): how[t] for t in ct.themes} | {"-1": "outlier"}

    # -- segment-level agreement ---------------------------------------------------------
    index = {c: i for i, c in enumerate(codes)}
    k = len(codes)
    m_idx = np.array([index[c] for c in machine], dtype=np.int64)
    h_idx = np.array([index[c] for c in hand], dtype=np.int64)
    cm = agreement.confusion(m_idx, h_idx, k)
    kappa = float(agreement.cohen_kappa(cm))
    alpha = agreement.krippendorff_alpha(m_idx, h_idx)
    pct = float(agreement.percent_agreement(cm))
    macro = float(agreement.macro_f1(cm))
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

    pair_of_code = {c: t for t, c, _ in pairs}
    per_theme: dict[str, dict[str, Any]] = {}
    for j, c in enumerate(codes):
        holders = [
            {
                "theme": t,
                "count": int(ct.table[i, j]),
                "share_of_code": float(ct.table[i, j] / code_sizes[c]),
                "share_of_theme": float(ct.table[i, j] / sizes[t]),
            }
            for i, t in enumerate(ct.themes)
            if ct.table[i, j] > 0
        ]
        holders.sort(key=lambda h: (-h["count"], h["theme"]))
        per_theme[c] = {
            "is_other": c == other_id,
            "in_codebook": c in theme_codes,
            "support": int(support[j]),
            "predicted": int(predicted[j]),
            "precision": _f(precision[j]),
            "recall": _f(recall[j]),
            "f1": _f(f1[j]),
            "recovered": (bool(recovered_by[c]) if c in recovered_by else None),
            "recovered_by": recovered_by.get(c, []),
            "one_to_one_theme": pair_of_code.get(c),
            "themes": holders,
            "outliers": int(ct.outliers[j]),
        }

    # -- clustering, languages, translation pairs, secondary codes -----------------------
    clus = clustering.clustering_scores(themes, hand)
    mixing: float | None = None
    per_theme_languages: dict[str, dict[str, Any]] | None = None
    if languages is not None:
        mixing, per_theme_languages = clustering.language_mixing(
            themes, [languages[i] for i in rows]
        )
    together: dict[str, Any] | None = None
    if translation_pairs is not None:
        position = {i: p for p, i in enumerate(rows)}
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
        together = clustering.pairs_together(themes, kept_pairs)
        together["n_pairs_not_scored"] = len(translation_pairs) - len(kept_pairs)

    secondary: dict[str, Any] | None = None
    if secondary_codes is not None:
        second = [secondary_codes[i] or None for i in rows]
        agree = np.array([a == b for a, b in zip(machine, hand, strict=True)])
        rescued = np.array(
            [
                (not ok) and s is not None and m == s
                for ok, m, s in zip(agree, machine, second, strict=True)
            ],
            dtype=bool,
        )
        lenient = [m if r else h for m, h, r in zip(machine, hand, rescued, strict=True)]
        l_idx = np.array([index[c] for c in lenient], dtype=np.int64)
        secondary = {
            "n_with_secondary": sum(s is not None for s in second),
            "rescued": int(rescued.sum()),
            "rescued_indices": [rows[p] for p in np.flatnonzero(rescued).tolist()],
            "percent_agreement": pct,
            "percent_agreement_with_secondary": float((agree | rescued).mean()),
            "cohen_kappa_with_secondary": float(
                agreement.cohen_kappa(agreement.confusion(m_idx, l_idx, k))
            ),
        }

    contingency: dict[str, dict[str, int]] = {
        str(t): {c: int(ct.table[i, j]) for j, c in enumerate(codes)}
        for i, t in enumerate(ct.themes)
    }
    if ct.outliers.sum():
        contingency["-1"] = {c: int(ct.outliers[j]) for j, c in enumerate(codes)}

    n_themes = len(ct.themes)
    n_outliers = int((themes == -1).sum())
    logger.info(
        "compared %d segments: kappa %.3f, %d of %d codebook themes recovered, %d unmatched themes",
        n,
        kappa,
        len(recovered),
        len(theme_codes),
        len(unmatched),
    )
    return Scores(
        n_segments=n,
        theme_recall=(len(recovered) / len(theme_codes)) if theme_codes else None,
        theme_precision=(sum(matched.values()) / n_themes) if n_themes else None,
        outlier_rate=n_outliers / n,
        cohen_kappa=kappa,
        krippendorff_alpha=alpha,
        percent_agreement=pct,
        macro_f1=macro,
        ari=_f(clus["ari"]),
        ami=_f(clus["ami"]),
        nmi=_f(clus["nmi"]),
        v_measure=_f(clus["v_measure"]),
        language_mixing=mixing,
        per_theme_languages=per_theme_languages,
        confidence_intervals=ci,
        per_theme=per_theme,
        matching={
            "segment_mapping": mapping_used,
            "one_to_one": [
                {
                    "theme": t,
                    "code": c,
                    "overlap": o,
                    "share_of_code": o / code_sizes[c],
                    "share_of_theme": o / sizes[t],
                }
                for t, c, o in pairs
            ],
            "many_to_one": {
                str(t): {"code": c, "purity": p, "size": s, "matched": matched[t]}
                for t, (c, p, s) in majority.items()
            },
            "theme_to_code": theme_to_code,
            "theme_to_code_how": theme_to_code_how,
        },
        segment_mapping=mapping_used,
        unmatched_themes=unmatched,
        recovered_themes=recovered,
        missing_themes=missing,
        codebook_themes=theme_codes,
        codes=codes,
        n_candidate_themes=n_themes,
        contingency=contingency,
        secondary=secondary,
        translation_pairs_together=together,
        counts={
            "n_total": n_total,
            "n_scored": n,
            "n_without_hand_code": int((~coded).sum()),
            "n_outside_eval_mask": int((~mask).sum()),
            "n_outliers": n_outliers,
        },
        settings={
            "recovery_threshold": recovery_threshold,
            "other_id": other_id,
            "bootstrap": bootstrap,
            "confidence": confidence,
            "seed": seed,
            "codebook_ids": list(codebook_ids) if codebook_ids is not None else None,
        },
        definitions=definitions(recovery_threshold, other_id),
    )
