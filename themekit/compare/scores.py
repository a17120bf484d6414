"""The result of a comparison: :class:`Scores`, written to a run's ``scores.json``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from themekit.errors import UserError


def _share(threshold: float) -> str:
    return "half" if threshold == 0.5 else f"{threshold:.0%}"


def definitions(threshold: float, other_id: str) -> dict[str, str]:
    """One sentence per metric, with the threshold and the non-theme code filled in."""
    share = _share(threshold)
    return {
        "theme_recovered": (
            f"A codebook theme is recovered when a single candidate theme holds at least {share} "
            f"of the theme's hand-coded segments (outliers included in the theme's size) and is "
            f"at least {share} made of them."
        ),
        "theme_recall": (
            f"Recovered codebook themes divided by the number of codebook themes, leaving out "
            f"'{other_id}' (the non-theme)."
        ),
        "theme_precision": (
            f"Share of candidate themes (outliers excluded) that match a codebook theme other than "
            f"'{other_id}': the hand code a candidate theme is mostly made of (many-to-one "
            f"majority) is that theme and makes up at least {share} of it. None when there is no "
            f"candidate theme."
        ),
        "unmatched_themes": (
            f"Candidate themes that match no codebook theme: mostly '{other_id}', or less than "
            f"{share} made of any one code. Themes the coders may have missed."
        ),
        "segment_mapping": (
            "How each segment got a machine code for segment-level agreement: 'codebook_theme' "
            "when the theme stage coded segments with the codebook (guided mode or mapping); "
            "'one_to_one+majority' when candidate themes were paired with hand codes by the "
            "optimal one-to-one assignment on segment overlap (Hungarian algorithm), themes left "
            f"over took the code they are mostly made of, and outliers took '{other_id}'."
        ),
        "percent_agreement": "Share of segments whose machine code equals the hand code.",
        "cohen_kappa": (
            "Cohen's kappa, (p_o - p_e) / (1 - p_e): observed agreement corrected for the agreement "
            "expected from each coder's code frequencies. Defined as 0 when either coder uses a "
            "single code (for example everything in one theme): no agreement beyond chance can "
            "be shown."
        ),
        "krippendorff_alpha": (
            "Krippendorff's alpha for nominal data with two coders (machine and human), from "
            "the krippendorff package. None (undefined) when both codings together use a single "
            "code."
        ),
        "macro_f1": (
            "Mean over the codes the humans used (including "
            f"'{other_id}') of each code's F1 = 2·TP / (machine count + human count), the "
            "harmonic mean of its precision and recall; 0 for a code the machine never uses."
        ),
        "per_theme": (
            "Per code: segment-level precision (share of the machine's segments with the code "
            "that the humans gave it; None when the machine never uses it), recall (share of the "
            "humans' segments with the code that the machine gave it), F1, support (human "
            "count), whether it was recovered and which candidate themes hold its segments."
        ),
        "confidence_intervals": (
            "Percentile bootstrap intervals: segments are resampled with replacement and each "
            "statistic is recomputed on every resample."
        ),
        "ari": (
            "Adjusted Rand index between candidate themes and hand codes (no matching needed; "
            "outliers form one cluster); 0 = chance, 1 = identical partitions."
        ),
        "ami": "Adjusted mutual information between candidate themes and hand codes (chance-corrected).",
        "nmi": "Normalised mutual information (arithmetic mean) between candidate themes and hand codes.",
        "v_measure": "Harmonic mean of homogeneity and completeness of the themes against the hand codes.",
        "outlier_rate": "Share of segments left out of every candidate theme (theme -1).",
        "language_mixing": (
            "Share of segments (outliers and unknown language left out) that sit in a candidate "
            "theme holding at least one Malay and at least one English segment, a code-switched "
            "('mixed') segment counting as both. None when languages are not given."
        ),
        "translation_pairs_together": (
            "Share of translation pairs whose two segments sit in the same candidate theme (two "
            "outliers are not together)."
        ),
        "secondary": (
            "Agreement when a machine code equal to the segment's secondary hand code also "
            "counts. 'rescued' counts the segments that disagree with the primary code but "
            "equal the secondary one; the kappa recomputes Cohen's kappa with those segments' "
            "hand code replaced by the secondary code (it favours the machine; report it next "
            "to, not instead of, the primary kappa)."
        ),
    }


@dataclass(frozen=True)
class Scores:
    """Everything :func:`themekit.compare.compare` measures. ``to_dict()`` is ``scores.json``.

    Undefined values are ``None`` (never NaN); ``definitions`` explains each metric.
    """

    n_segments: int
    theme_recall: float | None
    theme_precision: float | None
    outlier_rate: float
    cohen_kappa: float
    krippendorff_alpha: float | None
    percent_agreement: float
    macro_f1: float
    ari: float | None
    ami: float | None
    nmi: float | None
    v_measure: float | None
    language_mixing: float | None
    per_theme_languages: dict[str, dict[str, Any]] | None
    confidence_intervals: dict[str, Any]
    per_theme: dict[str, dict[str, Any]]
    matching: dict[str, Any]
    segment_mapping: str
    unmatched_themes: list[int]
    recovered_themes: list[str]
    missing_themes: list[str]
    codebook_themes: list[str]
    codes: list[str]
    n_candidate_themes: int
    contingency: dict[str, dict[str, int]]
    secondary: dict[str, Any] | None
    translation_pairs_together: dict[str, Any] | None
    counts: dict[str, int]
    settings: dict[str, Any]
    definitions: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (plain Python types; ``json.dumps(..., allow_nan=False)`` works)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scores:
        """Rebuild from :meth:`to_dict` output (for example a loaded ``scores.json``)."""
        names = [f.name for f in fields(cls)]
        missing = [n for n in names if n not in data]
        if missing:
            raise UserError(f"scores are missing the keys {missing}; got {sorted(data)}")
        return cls(**{n: data[n] for n in names})
