"""The Markdown report (``report.md``): what a researcher reads and pastes into a paper."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from themekit.facts import num, pct, run_facts
from themekit.manifest import machine_summary

if TYPE_CHECKING:  # pragma: no cover
    from themekit.result import RunResult

logger = logging.getLogger(__name__)


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(result: RunResult) -> str:
    """The whole Markdown report: overview, candidate themes, the codebook coding, agreement
    with the hand coding (when scored) and provenance."""
    lines = ["# themekit run report", ""]
    for section in (_overview, _themes, _codebook_coding, _agreement, _provenance):
        lines += section(result)
    return "\n".join(lines)


def _overview(result: RunResult) -> list[str]:
    f = run_facts(result)
    lines: list[str] = []
    add = lines.append
    add(
        f"{f.n_segments} segments from {f.n_sessions} session(s) and "
        f"{f.n_speakers} speaker(s); languages: "
        + ", ".join(f"{k} {v}" for k, v in f.languages.items())
        + "."
    )
    if f.n_context_segments:
        add(
            f"{f.n_context_segments} moderator turn(s) were read as context, not analysed"
            + (
                f"; {f.n_with_prompt_context} segment(s) were embedded with the question they "
                f"follow (weight {f.context_weight})."
                if f.n_with_prompt_context
                else "."
            )
        )
    from themekit.explain import decision_sentences

    m = result.manifest
    for sentence in decision_sentences(m):
        add(_md_escape(sentence))
    add(
        f"Mode `{f.mode}`, embedding model `{f.model_id}`, seed {f.seed}. "
        f"{f.n_themes} candidate themes; {f.n_outliers} segment(s) left as outliers "
        f"({f.n_outliers_initial} before reassignment)."
    )
    add("")
    return lines


def _themes(result: RunResult) -> list[str]:
    lines: list[str] = []
    add = lines.append
    add("## Candidate themes")
    add("")
    add(
        "| id | name | segments | ms / en / mixed | matching codebook theme (similarity) "
        "| stability |"
    )
    add("|---|---|---|---|---|---|")
    for t in result.themes:
        lc = t.languages
        stab = pct(t.stability) if t.stability is not None else "—"
        flag = " ⚠" if t.flagged else ""
        add(
            f"| {t.id} | {_md_escape(t.label)} | {t.size} | {lc.get('ms', 0)} / {lc.get('en', 0)} / "
            f"{lc.get('mixed', 0)} | {_md_escape(t.codebook_match()) or '—'} | {stab}{flag} |"
        )
    add("")
    add("### Sizes by session and speaker")
    add("")
    add(_size_table(result, "session"))
    add("")
    add(_size_table(result, "speaker"))
    add("")
    for t in result.themes:
        add(f"### Theme {t.id}: {t.label}")
        add("")
        if t.description:
            add(f"*{_md_escape(t.description)}*")
            add("")
        add(f"- Segments: {t.size}; speakers: {len(t.speakers)}; sessions: {len(t.sessions)}")
        if t.codebook_theme:
            add(
                f"- Matching codebook theme (beside the name above): {_md_escape(t.codebook_match())}"
            )
        if t.llm:
            add(f"- Named by `{t.llm.get('model')}`; keyphrase name: {t.llm.get('keyphrase_name')}")
        for lang, phrases in t.keyphrases_by_language.items():
            if phrases:
                add(f"- Keyphrases ({lang}): {', '.join(phrases)}")
        for lang, words in t.keywords_by_language.items():
            if words:
                add(f"- Keywords ({lang}): {', '.join(words)}")
        if t.prompts:
            asked = "; ".join(f"“{_md_escape(q)}” ({k})" for q, k in t.prompts.items())
            add(f"- Answers to the moderator's questions: {asked}")
        if t.quotes:
            add("- Representative quotes:")
            for q in t.quotes:
                add(
                    f"  - “{_md_escape(q.text)}” — {q.speaker or '?'}, {q.session or '?'}, {q.language}"
                )
        if t.subthemes:
            add(f"- Sub-themes ({len(t.subthemes)}; a finer level, `themes.subthemes`):")
            for s in t.subthemes:
                quote = f" “{_md_escape(s.quotes[0].text)}”" if s.quotes else ""
                add(f"  - **{s.id}** {_md_escape(s.label)} ({s.size} segments):{quote}")
        add("")
    return lines


def _codebook_coding(result: RunResult) -> list[str]:
    lines: list[str] = []
    add = lines.append
    if result.codebook_theme is not None and result.codebook is not None:
        add("## Coding with the codebook")
        add("")
        counts = Counter(result.codebook_theme)
        add("| codebook theme | name | segments coded |")
        add("|---|---|---|")
        for th in result.codebook.themes:
            add(f"| {th.id} | {_md_escape(th.name)} | {counts.get(th.id, 0)} |")
        add("")
        if result.corpus.has_codes:
            add(_confusion_markdown(result))
            add("")
    return lines


def _agreement(result: RunResult) -> list[str]:
    lines: list[str] = []
    add = lines.append
    if result.scores is not None:
        from themekit.compare import MEASURES, contingency_markdown, methods_paragraph
        from themekit.themes.curve import curve_markdown

        s = result.scores.to_dict()
        add("## Agreement with the hand coding")
        add("")
        add(methods_paragraph(result.scores))
        add("")
        add("| measure | value |")
        add("|---|---|")
        ci = s.get("confidence_intervals", {})
        for key, label in MEASURES:
            val = s.get(key)
            rng = ci.get(key)
            extra = f" (95% CI {num(rng.get('low'))}–{num(rng.get('high'))})" if rng else ""
            add(f"| {label} | {num(val)}{extra} |")
        add("")
        lines += curve_markdown(result.manifest)
        add("### Candidate themes by hand code")
        add("")
        add(contingency_markdown(result.scores))
        add("")
        per = s.get("per_theme") or {}
        if per:
            add("### Per codebook theme")
            add("")
            add("| hand code | precision | recall | F1 | segments | recovered |")
            add("|---|---|---|---|---|---|")
            for code, d in per.items():
                add(
                    f"| {code} | {num(d.get('precision'))} | {num(d.get('recall'))} | "
                    f"{num(d.get('f1'))} | {d.get('support', '')} | "
                    f"{'yes' if d.get('recovered') else ('—' if d.get('recovered') is None else 'no')} |"
                )
            add("")
        recovered = s.get("recovered_themes") or []
        if recovered:
            add(f"Codebook themes recovered: {', '.join(map(str, recovered))}.")
        missing = s.get("missing_themes") or []
        unmatched = s.get("unmatched_themes") or []
        if missing:
            add(f"Codebook themes not recovered: {', '.join(map(str, missing))}.")
        if unmatched:
            add(
                "Candidate themes that match no codebook theme (worth a second look): "
                + ", ".join(map(str, unmatched))
                + "."
            )
        add("")
    return lines


def _provenance(result: RunResult) -> list[str]:
    m = result.manifest
    lines: list[str] = []
    add = lines.append
    add("## Provenance")
    add("")
    add(f"- themekit {m.themekit_version}, Python {m.python}, {m.platform}")
    add(f"- Created {m.created}; seed {m.seed}")
    add(f"- Embedding model: `{m.model_id}` (cache key `{m.embedder_id}`)")
    machine = machine_summary(m)
    if machine is not None:
        caveat = (
            ". The vectors depend on the precision used, so a run on a machine that chooses "
            "another precision can differ slightly"
            if m.embedding_run
            else ""
        )
        add(f"- Machine: {machine}{caveat}")
    for inp in m.inputs:
        add(f"- Input `{inp.path}` sha256 `{inp.sha256[:16]}…`")
    add("- Time per stage (s): " + ", ".join(f"{k} {v:.1f}" for k, v in m.stage_seconds.items()))
    versions = ", ".join(f"{k} {v}" for k, v in m.package_versions.items() if v)
    add(f"- Package versions: {versions}")
    add("- The resolved job config is in `config.yaml`; rerun with `themekit run config.yaml`.")
    add("")
    return lines


def _confusion_markdown(result: RunResult) -> str:
    """The codebook coding (rows) against the hand codes (columns), hand-coded segments only."""
    from themekit.explain import confusion_markdown

    assert result.codebook_theme is not None and result.codebook is not None
    return confusion_markdown(
        result.codebook_theme, list(result.corpus.codes), list(result.codebook.ids)
    )


def _size_table(result: RunResult, field: str) -> str:
    """Segments per candidate theme and session (or speaker), as a Markdown table."""
    values = sorted({getattr(seg, field) or "?" for seg in result.corpus})
    counts: Counter[tuple[int, str]] = Counter(
        (int(lab), getattr(seg, field) or "?")
        for lab, seg in zip(result.labels, result.corpus, strict=True)
    )
    theme_ids = sorted({int(x) for x in result.labels})
    head = f"| theme | {' | '.join(_md_escape(v) for v in values)} |"
    rule = "|---" * (len(values) + 1) + "|"
    body = [
        f"| {tid if tid >= 0 else 'outliers'} | "
        + " | ".join(str(counts.get((tid, v), 0)) for v in values)
        + " |"
        for tid in theme_ids
    ]
    return "\n".join([f"Segments per theme and {field}:", "", head, rule, *body])


def write_reports(result: RunResult, folder: Path) -> None:
    (folder / "report.md").write_text(render_markdown(result), encoding="utf-8")
    if result.config.output.html:
        from themekit.report_html import write_html_report

        write_html_report(result, folder / "report.html")
