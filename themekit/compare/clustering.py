"""Scores that need no matching: clustering agreement and cross-lingual consistency."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

#: Languages that count as Malay / as English when deciding whether a theme holds both.
_MALAY = {"ms", "mixed"}
_ENGLISH = {"en", "mixed"}


def clustering_scores(theme_ids: np.ndarray, hand_codes: Sequence[str]) -> dict[str, float]:
    """ARI, AMI, NMI and V-measure between the candidate themes and the hand codes.

    Outliers (theme -1) form one cluster of their own.
    """
    from sklearn.metrics import (
        adjusted_mutual_info_score,
        adjusted_rand_score,
        normalized_mutual_info_score,
        v_measure_score,
    )

    labels = list(hand_codes)
    return {
        "ari": float(adjusted_rand_score(labels, theme_ids)),
        "ami": float(adjusted_mutual_info_score(labels, theme_ids)),
        "nmi": float(normalized_mutual_info_score(labels, theme_ids)),
        "v_measure": float(v_measure_score(labels, theme_ids)),
    }


def language_mixing(
    theme_ids: np.ndarray, languages: Sequence[str]
) -> tuple[float | None, dict[str, dict[str, Any]]]:
    """Share of segments that sit in a theme holding both languages, and per-theme counts.

    A theme holds both languages when it has at least one Malay and at least one English
    segment, a ``mixed`` (code-switched) segment counting as both. Outliers and segments of
    unknown language are left out of the share (numerator and denominator); the share is None
    when no segment is left, or when the corpus itself does not hold both languages (then
    mixing is not a property of the themes).
    """
    per_theme: dict[str, dict[str, Any]] = {}
    counts: dict[int, dict[str, int]] = {}
    for t, lang in zip(theme_ids.tolist(), languages, strict=True):
        if t == -1:
            continue
        c = counts.setdefault(t, {"ms": 0, "en": 0, "mixed": 0, "unknown": 0})
        c[lang] += 1
    corpus_ms = any(c[lang] for c in counts.values() for lang in _MALAY)
    corpus_en = any(c[lang] for c in counts.values() for lang in _ENGLISH)
    numerator = denominator = 0
    for t in sorted(counts):
        c = counts[t]
        has_ms = any(c[lang] for lang in _MALAY)
        has_en = any(c[lang] for lang in _ENGLISH)
        both = has_ms and has_en
        known = c["ms"] + c["en"] + c["mixed"]
        denominator += known
        numerator += known if both else 0
        per_theme[str(t)] = {**c, "both_languages": both}
    bilingual = corpus_ms and corpus_en
    share = numerator / denominator if denominator and bilingual else None
    return share, per_theme


def pairs_together(theme_ids: np.ndarray, pairs: Sequence[tuple[int, int]]) -> dict[str, Any]:
    """How many translation pairs sit in the same candidate theme (two outliers do not)."""
    together = with_outlier = 0
    for i, j in pairs:
        a, b = int(theme_ids[i]), int(theme_ids[j])
        if a == -1 or b == -1:
            with_outlier += 1
        elif a == b:
            together += 1
    n = len(pairs)
    return {
        "n_pairs": n,
        "together": together,
        "with_outlier": with_outlier,
        "share": together / n if n else None,
    }
