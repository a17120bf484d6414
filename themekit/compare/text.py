"""Scores in words: a methods/results paragraph and a theme-by-code table in Markdown."""

from __future__ import annotations

from typing import Any

from themekit.compare.scores import Scores, _share

#: The headline measures of ``scores.json`` and how reports label them, in reporting order.
MEASURES: tuple[tuple[str, str], ...] = (
    ("cohen_kappa", "Cohen's κ"),
    ("krippendorff_alpha", "Krippendorff's α (nominal)"),
    ("percent_agreement", "percent agreement"),
    ("macro_f1", "macro-F1"),
    ("theme_recall", "theme recall"),
    ("theme_precision", "theme precision"),
    ("ari", "ARI"),
    ("ami", "AMI"),
    ("nmi", "NMI"),
    ("v_measure", "V-measure"),
    ("outlier_rate", "outlier rate"),
    ("language_mixing", "segments in bilingual themes"),
)


def _as_dict(scores: Scores | dict[str, Any]) -> dict[str, Any]:
    return scores.to_dict() if isinstance(scores, Scores) else scores


def _num(x: float | None, digits: int = 2) -> str:
    return "undefined" if x is None else f"{x:.{digits}f}"


def _pct(x: float | None) -> str:
    return "undefined" if x is None else f"{100 * x:.0f}%"


def _names(items: list[str]) -> str:
    return ", ".join(items)


def methods_paragraph(scores: Scores | dict[str, Any]) -> str:
    """A paragraph a researcher can paste into a methods or results section."""
    d = _as_dict(scores)
    settings = d["settings"]
    threshold = settings["recovery_threshold"]
    other = settings["other_id"]
    share = _share(threshold)
    level = f"{100 * settings['confidence']:.0f}%"
    n = d["n_segments"]
    sentences: list[str] = []

    def with_ci(text: str, name: str, percent: bool = False) -> str:
        iv = (d.get("confidence_intervals") or {}).get(name)
        if not iv:
            return text
        fmt = _pct if percent else _num
        return f"{text} ({level} CI {fmt(iv['low'])}–{fmt(iv['high'])})"

    n_codes = sum(1 for p in d["per_theme"].values() if p["support"] > 0)
    kappa = with_ci(f"Cohen's κ = {_num(d['cohen_kappa'])}", "cohen_kappa")
    alpha = with_ci(f"Krippendorff's α = {_num(d['krippendorff_alpha'])}", "krippendorff_alpha")
    pct = with_ci(f"{_pct(d['percent_agreement'])} agreement", "percent_agreement", percent=True)
    f1 = with_ci(f"a macro-averaged F1 of {_num(d['macro_f1'])}", "macro_f1")
    sentences.append(
        "Segment-level agreement between the machine coding and the hand coding was "
        f"{kappa} and {alpha} over {n} segments, with {pct} and {f1} across the {n_codes} "
        f"hand codes (including '{other}')."
    )
    if d["segment_mapping"] == "codebook_theme":
        sentences.append("The machine coded each segment with a codebook theme directly.")
    else:
        sentences.append(
            "To compare codes, each candidate theme was paired with a hand code by the optimal "
            "one-to-one assignment on shared segments (Hungarian algorithm); candidate themes "
            "left over took the hand code they mostly contain, and outlier segments were coded "
            f"'{other}'."
        )
    if d["confidence_intervals"].get("resamples"):
        sentences.append(
            f"Confidence intervals are percentile bootstrap intervals over "
            f"{d['confidence_intervals']['resamples']} resamples of segments."
        )

    n_cb = len(d["codebook_themes"])
    recovered = d["recovered_themes"]
    rec = f"The machine recovered {len(recovered)} of {n_cb} codebook themes"
    if recovered:
        rec += f" ({_names(recovered)})"
    rec += (
        f"; a theme counts as recovered when a single candidate theme holds at least {share} of "
        f"its segments and is at least {share} made of them."
    )
    sentences.append(rec)
    if d["missing_themes"]:
        sentences.append(f"Not recovered: {_names(d['missing_themes'])}.")
    n_themes = d["n_candidate_themes"]
    if n_themes:
        n_matched = n_themes - len(d["unmatched_themes"])
        sentences.append(
            f"Of the {n_themes} candidate themes, {n_matched} ({_pct(d['theme_precision'])}) "
            f"matched a codebook theme (at least {share} made of it), and "
            f"{len(d['unmatched_themes'])} matched none: these are themes the coders may have "
            "missed, or noise."
        )
    sentences.append(
        "Without any matching, agreement between the candidate themes and the hand codes was "
        f"ARI = {_num(d['ari'])}, AMI = {_num(d['ami'])}, NMI = {_num(d['nmi'])} and "
        f"V-measure = {_num(d['v_measure'])}; {_pct(d['outlier_rate'])} of segments were left "
        "as outliers."
    )
    if d.get("language_mixing") is not None:
        sentences.append(
            f"{_pct(d['language_mixing'])} of the segments in candidate themes sat in themes "
            "holding both Malay and English segments (code-switched segments counting as both)."
        )
    pairs = d.get("translation_pairs_together")
    if pairs and pairs["n_pairs"]:
        sentences.append(
            f"{pairs['together']} of {pairs['n_pairs']} translation pairs "
            f"({_pct(pairs['share'])}) were placed in the same theme."
        )
    sec = d.get("secondary")
    if sec and sec["n_with_secondary"]:
        sentences.append(
            "Counting a machine code that equals a segment's secondary hand code as agreement "
            f"raised agreement from {_pct(sec['percent_agreement'])} to "
            f"{_pct(sec['percent_agreement_with_secondary'])} ({sec['rescued']} segments); "
            "this is reported separately from the primary figures above."
        )
    return " ".join(sentences)


def contingency_markdown(scores: Scores | dict[str, Any]) -> str:
    """The theme-by-code table in Markdown, with each theme's majority code and purity."""
    d = _as_dict(scores)
    codes: list[str] = d["codes"]
    many = d["matching"]["many_to_one"]
    head = ["Candidate theme", *codes, "Total", "Mostly (purity)"]
    lines = [
        "| " + " | ".join(head) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(codes) + 1) + ["---"]) + "|",
    ]
    totals = dict.fromkeys(codes, 0)
    for theme, row in d["contingency"].items():
        for c in codes:
            totals[c] += row.get(c, 0)
        label = "outliers" if theme == "-1" else theme
        if theme in many:
            m = many[theme]
            mostly = f"{m['code']} ({_pct(m['purity'])})" + ("" if m["matched"] else ", unmatched")
        else:
            mostly = ""
        cells = [label, *(str(row.get(c, 0)) for c in codes), str(sum(row.values())), mostly]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append(
        "| "
        + " | ".join(["Total", *(str(totals[c]) for c in codes), str(sum(totals.values())), ""])
        + " |"
    )
    return "\n".join(lines)
