"""Sentences that say what a run inferred and decided, for both reports (report.md, report.html).

Plain text (no markup): which structure was inferred and how many segments it took out of the
analysis, which space discovery clustered in and why, how k was chosen and its runner-up; and the
coding confusion (codebook coding against the hand codes), as data.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any


def structure_sentences(manifest: Any) -> list[str]:
    """What was inferred about moderators (``manifest["structure"]``)."""
    st = manifest.get("structure") or {}
    if not st:
        return []
    n_inf = int(st.get("n_inferred_context", 0))
    if n_inf:
        who = "; ".join(st.get("inferred_moderators", []))
        return [
            f"No speaker label named the moderator in some sessions; the speaker who mostly asked "
            f"while the others answered was inferred to be the moderator ({who}) and their "
            f"{n_inf} turn(s) were taken out of the analysis and read as context "
            "(segmentation.moderator_detect: false turns this off)."
        ]
    if st.get("moderator") == "context" and not st.get("n_context"):
        detect = "" if st.get("moderator_detect", True) else " (inference is off)"
        return [
            "No moderator turns were found or inferred: every row was analysed as a text of its "
            f"own{detect}."
        ]
    return []


def space_sentences(manifest: Any) -> list[str]:
    """Which space discovery clustered in, and why (``manifest["clustering_space"]``)."""
    sp = manifest.get("clustering_space")
    if not sp:
        return []
    if sp.get("used") == "question":
        where = (
            f"in the {sp.get('n_components', 0)} directions along which the answers vary with "
            "the moderator's questions, beside their full vectors"
        )
    else:
        where = "in the segments' full vectors"
    return [
        f"Candidate themes were found {where}: {sp.get('reason', '')} "
        f"(themes.question_space: {sp.get('setting', 'auto')})."
    ]


def seeding_sentences(manifest: Any) -> list[str]:
    """Whether the codebook seeded discovery (``manifest["codebook_seeding"]``)."""
    sd = manifest.get("codebook_seeding")
    if not sd:
        return []
    key = f"themes.seed_with_codebook: {sd.get('setting', 'auto')}"
    if not sd.get("used"):
        return [f"Discovery was not seeded by the codebook: {sd.get('reason', '')} ({key})."]
    return [
        f"Discovery was seeded by the codebook, so it is not independent of it: "
        f"{sd.get('reason', '')}. The codebook's wording (not the hand codes) shaped the "
        f"clustering, which helps these themes be found by construction; themes not matched to "
        f"a codebook theme are what discovery found beyond it ({key}, "
        f"themes.seed_weight: {sd.get('weight')})."
    ]


def coding_sentences(manifest: Any) -> list[str]:
    """How discover's codebook coding scaled the themes (``manifest["codebook_coding"]``)."""
    cc = manifest.get("codebook_coding")
    if not cc:
        return []
    codes = ", ".join(f"{c} {n}" for c, n in (cc.get("codes") or {}).items())
    if cc.get("scale") == "none":
        how = "on each theme's raw mean cosine"
        if cc.get("setting") != "none":
            how += " (the language means were not removed, so the spread was not applied)"
    else:
        how = "on each theme's similarities divided by their spread over the segments"
    return [
        f"The codebook coding that discovery is checked and seeded with (no hand codes) coded "
        f"{how}, as guided mode does: {codes} (themes.guided_scale: {cc.get('setting')})."
    ]


def pooling_sentences(manifest: Any) -> list[str]:
    """How much the codebook coding pooled the answers to one question (``question_pooling``)."""
    pq = manifest.get("question_pooling")
    if not pq or (pq.get("setting") != "auto" and not pq.get("weight")):
        return []
    if pq.get("setting") != "auto":
        return [
            f"Codebook coding mixed each answer's theme probabilities with those of the other "
            f"answers to its question by {pq['weight']} (themes.question_weight)."
        ]
    what = (
        f"mixed each answer's theme probabilities with those of the other answers to its "
        f"question by {pq['weight']}"
        if pq.get("weight")
        else "coded each answer on its own, without the other answers to its question"
    )
    return [f"Codebook coding {what}: {pq.get('reason', '')} (themes.question_weight: auto)."]


def k_sentences(manifest: Any) -> list[str]:
    """How many themes and how that number was chosen (``manifest["k"]``)."""
    k = manifest.get("k")
    if not k:
        return []
    if k.get("by") == "hdbscan":
        cap = k.get("max_theme_size")
        limit = f", none allowed to hold more than {cap} of the segments it fitted" if cap else ""
        return [f"{k['chosen']} themes, as the density clustering (HDBSCAN) found them{limit}."]
    if k.get("forced"):
        return [f"k = {k['chosen']} themes, as set (themes.n_themes)."]
    lo, hi = (k.get("range") or [k["chosen"], k["chosen"]])[:2]
    out = [f"k = {k['chosen']} chosen by silhouette ({k.get('score')}) among {lo}–{hi}."]
    if k.get("codebook_floor"):
        out[0] = (
            f"{out[0][:-1]}: the smallest k tried is the codebook's size ({k['codebook_floor']}, "
            "its themes and any 'no theme' entry; themes.codebook_k: floor)."
        )
    if k.get("codebook_recovery") is not None:
        from themekit.themes.discover import codebook_k_sentence

        if k["chosen"] != k.get("silhouette_choice"):
            out = [f"k = {k['chosen']} chosen by silhouette and the codebook among {lo}–{hi}."]
        out.append(f"{codebook_k_sentence(k)}.")
    if k.get("codebook_k_skipped"):
        out.append(
            f"k was not checked against the codebook: {k['codebook_k_skipped']} "
            f"(themes.codebook_k: {k.get('codebook_k')})."
        )
    if k.get("runner_up") is not None:
        close = (
            k.get("score") is not None
            and k.get("runner_up_score") is not None
            and k["runner_up_score"] >= k["score"] - 0.1 * abs(k["score"])
        )
        out.append(
            f"Runner-up: k = {k['runner_up']} (silhouette {k['runner_up_score']}), agreeing with "
            f"the chosen clustering at ARI {k.get('runner_up_agreement')}"
            + (
                f"; it is close: look at it too (themes.n_themes: {k['runner_up']})."
                if close
                else "."
            )
        )
    if k.get("at_bound"):
        from themekit.themes.discover import bound_warning

        out.append(f"Warning: {bound_warning(k)}.")
    return out


def coding_confusion(
    machine: list[str], human: Sequence[str | None], order: list[str]
) -> tuple[list[str], list[list[int]]]:
    """Codes (``order`` first, then any others) and the confusion counts: ``rows[i][j]`` =
    segments coded ``codes[i]`` by the machine and ``codes[j]`` by hand (hand-coded ones only)."""
    pairs = [(m, h) for m, h in zip(machine, human, strict=True) if h]
    seen = {c for p in pairs for c in p}
    codes = [c for c in order if c in seen] + sorted(seen - set(order))
    counts = Counter(pairs)
    return codes, [[counts.get((a, b), 0) for b in codes] for a in codes]


def confusion_markdown(
    machine: list[str], human: Sequence[str | None], order: list[str], *, level: str = "###"
) -> str:
    """:func:`coding_confusion` as a Markdown table with its heading, and each hand code's
    recall (the share of its segments the codebook coding gave it); "" without hand codes."""
    codes, rows = coding_confusion(machine, human, order)
    if not codes:
        return ""
    out = [
        f"{level} Codebook coding by hand code",
        "",
        "Rows: the codebook theme each segment was coded with; columns: its hand code.",
        "",
        "| coded \\ hand | " + " | ".join(codes) + " |",
        "|---|" + "---|" * len(codes),
    ]
    out += [f"| {c} | " + " | ".join(map(str, r)) + " |" for c, r in zip(codes, rows, strict=True)]
    recall = []
    for j in range(len(codes)):
        total = sum(r[j] for r in rows)
        recall.append(f"{rows[j][j] / total:.2f} of {total}" if total else "—")
    out.append("| coded as its hand code | " + " | ".join(recall) + " |")
    return "\n".join(out)


def subtheme_sentences(manifest: Any) -> list[str]:
    """How many themes were split into sub-themes (``manifest["subthemes"]``)."""
    from themekit.themes.subthemes import MIN_SILHOUETTE

    record = manifest.get("subthemes")
    if not record:
        return []
    split = [t for t, r in record.items() if r.get("k", 1) > 1]
    return [
        f"Sub-themes: {len(split)} of {len(record)} themes fall into clear parts (k-means within "
        f"the theme whose silhouette beats a featureless cloud of the theme's own shape by "
        f"{MIN_SILHOUETTE}; "
        "themes.subthemes)" + ("; the others are left whole." if len(split) < len(record) else ".")
    ]


def method_sentences(manifest: Any) -> list[str]:
    """Which semi-supervised method ran (and why, when ``method: auto`` chose it), and how many
    steps the encoder was fine-tuned for."""
    from themekit.themes.losses import AUTO_PAIRS_PER_SEGMENT, AUTO_PAIRS_RANGE

    record = manifest.get("semi_supervised") or {}
    choice = record.get("method_choice") or {}
    out = []
    if choice.get("requested") == "auto":
        out.append(
            f"Semi-supervised method: {choice['method']} (themes.semi_supervised.method: auto; "
            f"{choice['reason']})."
        )
    ft = record.get("finetune") or {}
    if ft.get("steps"):
        low, high = AUTO_PAIRS_RANGE
        how = (
            f" (max_pairs: auto, {AUTO_PAIRS_PER_SEGMENT} per segment given, {low} to {high})"
            if ft.get("max_pairs_setting") == "auto"
            else ""
        )
        out.append(
            f"The encoder was fine-tuned on {ft.get('n_labelled_texts')} labelled texts "
            f"({ft.get('n_given_segments')} segments given) with {ft['pairs_per_epoch']} pairs "
            f"an epoch{how}: {ft['steps']} steps, {ft.get('loss')} loss "
            f"{ft.get('loss_first')} -> {ft.get('loss_last')}."
        )
    return out


def head_sentences(manifest: Any) -> list[str]:
    """Which head coded the segments not given (semi-supervised ``finetune``), and why."""
    hc = (manifest.get("semi_supervised") or {}).get("head")
    if not hc:
        return []
    cv = hc.get("cv_kappa") or {}
    scores = ", ".join(f"{h} {k:.3f}" for h, k in cv.items() if k is not None)
    by = f"; cross-validated kappa on the codes given ({hc.get('folds')} folds): {scores}" * bool(
        scores
    )
    return [
        f"The segments not given were coded by the {hc['head']} head on the fine-tuned vectors: "
        f"{hc.get('reason', '')}{by} (themes.semi_supervised.head: {hc.get('setting')})."
    ]


def decision_sentences(manifest: Any) -> list[str]:
    """Every sentence on what the run inferred or chose from the data, in report order."""
    return (
        structure_sentences(manifest)
        + coding_sentences(manifest)
        + space_sentences(manifest)
        + seeding_sentences(manifest)
        + k_sentences(manifest)
        + pooling_sentences(manifest)
        + method_sentences(manifest)
        + head_sentences(manifest)
        + subtheme_sentences(manifest)
    )
