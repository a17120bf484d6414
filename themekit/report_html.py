"""The HTML report (``report.html``): one self-contained file that opens offline in a browser.

Sections, each an element with a stable id: ``overview``, ``themes`` (labels, keywords per
language, quotes with speaker, session and language), ``sizes`` (theme sizes by language,
speaker and session), ``map`` (a PCA map of the segments coloured by theme, its coordinates
written beside the report as ``embeddings_2d.csv``), ``agreement`` (with hand codes: the
theme-by-code heat map, agreement figures with confidence intervals, the learning curve of a
semi-supervised run, recovered, missing and new themes; a note otherwise) and ``provenance``
(config, model, seed, versions). Charts are Plotly figures; plotly.js is inlined once, so
nothing is fetched from a CDN. Every piece of transcript text is HTML-escaped.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from themekit.facts import num, pct, run_facts
from themekit.html_parts import (
    CSS,
    LANG_NAMES,
    Figures,
    ci_pair,
    esc,
    learning_curve_html,
    short,
    subthemes_html,
    theme_name,
)
from themekit.manifest import machine_summary
from themekit.qda.model import theme_color
from themekit.report_map import map_frame, map_html, project_2d

if TYPE_CHECKING:  # pragma: no cover
    from themekit.result import RunResult

logger = logging.getLogger(__name__)

#: The ids of the report's sections, in order.
SECTION_IDS = ("overview", "themes", "sizes", "map", "agreement", "provenance")


# ================================================================================= sections
def _overview(result: RunResult) -> str:
    f = run_facts(result)
    cards: list[tuple[object, str]] = [
        (f.n_segments, "segments"),
        (f.n_sessions, "sessions"),
        (f.n_speakers, "speakers"),
    ]
    if f.n_context_segments:
        cards.append((f.n_context_segments, "moderator turns read as context"))
    cards += [
        (f.n_themes, "candidate themes"),
        (f.n_outliers, f"outliers ({pct(f.outlier_share)})"),
    ]
    if result.scores is not None:
        cards.append((num(f.cohen_kappa), "Cohen's κ with hand codes"))
    parts = ['<div class="cards">']
    parts += [
        f'<div class="card"><div class="n">{esc(n)}</div><div class="l">{esc(lbl)}</div></div>'
        for n, lbl in cards
    ]
    parts.append("</div>")
    lang_txt = ", ".join(f"{LANG_NAMES.get(k, k)} {v}" for k, v in f.languages.items())
    parts.append(
        f"<p>Languages of the segments: {esc(lang_txt)}. Mode <code>{esc(f.mode)}</code>, "
        f"embedding model <code>{esc(f.model_id)}</code>, seed {esc(f.seed)}.</p>"
    )
    from themekit.explain import decision_sentences

    for sentence in decision_sentences(result.manifest):
        parts.append(f'<p class="decision">{esc(sentence)}</p>')
    if f.codebook_name is not None:
        parts.append(f"<p>Codebook: {esc(f.codebook_name)} ({f.n_codebook_themes} themes).</p>")
    if f.flagged_themes:
        parts.append(
            '<p class="flag">⚠ '
            + esc(f"{len(f.flagged_themes)} theme(s) are unstable across reruns: ")
            + ", ".join(esc(f"T{t}") for t in f.flagged_themes)
            + ".</p>"
        )
    return "\n".join(parts)


def _themes(result: RunResult) -> str:
    parts: list[str] = []
    if not result.themes:
        return '<p class="note">No candidate themes were found.</p>'
    for t in result.themes:
        color = theme_color(t.id)
        meta = [f"{t.size} segments", f"{len(t.speakers)} speakers", f"{len(t.sessions)} sessions"]
        lc = ", ".join(f"{LANG_NAMES.get(k, k)} {v}" for k, v in sorted(t.languages.items()))
        if lc:
            meta.append(lc)
        if t.codebook_theme:
            meta.append(f"matching codebook theme: {t.codebook_match()}")
        if t.llm:
            meta.append(
                f"named by {t.llm.get('model')} (keyphrases: {t.llm.get('keyphrase_name')})"
            )
        if t.stability is not None:
            meta.append(f"stability {pct(t.stability)}")
        flag = (
            ' <span class="flag" title="unstable across reruns">⚠ unstable</span>'
            if t.flagged
            else ""
        )
        parts.append(
            f'<article class="theme" id="theme-{t.id}" style="--c:{color}">'
            f"<h3>T{t.id}: {esc(t.label)}{flag}</h3>"
            f'<div class="meta">{esc(" · ".join(meta))}</div>'
            + (f'<p class="description">{esc(t.description)}</p>' if t.description else "")
        )
        for lang, phrases in (t.keyphrases_by_language or {}).items():
            if phrases:
                chips = "".join(f'<span class="kw">{esc(p)}</span>' for p in phrases)
                parts.append(
                    f'<div class="keywords keyphrases"><span class="lang">'
                    f"{esc(LANG_NAMES.get(lang, lang))} phrases</span>{chips}</div>"
                )
        kw = t.keywords_by_language or {}
        rows = [(lang, words) for lang, words in kw.items() if words]
        if not rows and t.keywords:
            rows = [("all", list(t.keywords))]
        for lang, words in rows:
            chips = "".join(f'<span class="kw">{esc(w)}</span>' for w in words)
            parts.append(
                f'<div class="keywords"><span class="lang">{esc(LANG_NAMES.get(lang, lang))}</span>{chips}</div>'
            )
        if t.prompts:
            asked = "".join(
                f'<li>“{esc(q)}” <span class="n">{k}</span></li>' for q, k in t.prompts.items()
            )
            parts.append(
                f'<details class="prompts"><summary>Answers to the moderator\'s questions</summary>'
                f"<ul>{asked}</ul></details>"
            )
        for q in t.quotes:
            who = " · ".join(
                x
                for x in (
                    q.speaker or "?",
                    q.session or "?",
                    LANG_NAMES.get(q.language, q.language),
                )
                if x
            )
            parts.append(
                f'<blockquote data-segment="{esc(q.segment_id)}">“{esc(q.text)}”'
                f"<footer>{esc(who)} · {esc(q.segment_id)}</footer></blockquote>"
            )
        parts.append(subthemes_html(t) + "</article>")
    return "\n".join(parts)


def _sizes(result: RunResult, figs: Figures) -> str:
    import plotly.graph_objects as go

    labels = [int(x) for x in result.labels]
    names = {t.id: t.label for t in result.themes}
    theme_ids = sorted(set(labels), key=lambda x: (x < 0, x))
    ticks = [esc(short(theme_name(t, names), 40)) for t in theme_ids]
    out: list[str] = []
    for field, title in (("language", "language"), ("speaker", "speaker"), ("session", "session")):
        values = [getattr(s, field) or "?" for s in result.corpus]
        counts = Counter(zip(labels, values, strict=True))
        cats = sorted(set(values), key=lambda v: (-values.count(v), v))
        fig = go.Figure()
        for c in cats:
            name = LANG_NAMES.get(c, c) if field == "language" else c
            fig.add_bar(
                name=esc(name),
                y=ticks,
                x=[counts.get((t, c), 0) for t in theme_ids],
                orientation="h",
            )
        fig.update_layout(
            barmode="stack",
            title=f"Segments per theme by {title}",
            height=max(260, 34 * len(theme_ids) + 120),
            margin={"l": 10, "r": 10, "t": 40, "b": 30},
            legend_title_text=title,
            yaxis={"autorange": "reversed"},
            template="plotly_white",
        )
        out.append(f'<div id="sizes-{field}">{figs.div(fig, f"fig-sizes-{field}")}</div>')
    return "\n".join(out)


def _agreement(result: RunResult, figs: Figures) -> str:
    import plotly.graph_objects as go

    if result.scores is None:
        return (
            '<p class="note" id="agreement-none">No hand codes were given for this run, so there is '
            "nothing to compare the candidate themes with. Add a <code>code</code> column or "
            "<code>corpus.hand_codes</code> to score the run, or use <code>themekit evaluate</code>.</p>"
        )
    from themekit.compare import MEASURES, methods_paragraph

    s = result.scores.to_dict()
    names = {t.id: t.label for t in result.themes}
    parts = [f"<p>{esc(methods_paragraph(result.scores))}</p>", _coding_confusion(result)]
    parts.append(learning_curve_html(result.manifest, figs))
    # -- heat map
    cont: dict[str, dict[str, int]] = s.get("contingency") or {}
    codes: list[str] = list(s.get("codes") or sorted({c for row in cont.values() for c in row}))
    rows = sorted(
        cont, key=lambda k: (int(k) < 0, int(k)) if k.lstrip("-").isdigit() else (False, 0)
    )
    if rows and codes:
        z = [[int(cont[r].get(c, 0)) for c in codes] for r in rows]
        ylabels = [
            esc(short(theme_name(int(r), names), 40)) if r.lstrip("-").isdigit() else esc(r)
            for r in rows
        ]
        fig = go.Figure(
            go.Heatmap(
                z=z,
                x=[esc(c) for c in codes],
                y=ylabels,
                colorscale="Blues",
                text=z,
                texttemplate="%{text}",
                hovertemplate="theme %{y}<br>hand code %{x}<br>%{z} segments<extra></extra>",
            )
        )
        fig.update_layout(
            title="Candidate themes (rows) by hand code (columns)",
            template="plotly_white",
            height=max(300, 32 * len(rows) + 140),
            margin={"l": 10, "r": 10, "t": 40, "b": 40},
            yaxis={"autorange": "reversed"},
            xaxis={"side": "bottom", "title": "hand code"},
        )
        parts.append(f'<div id="agreement-heatmap">{figs.div(fig, "fig-agreement-heatmap")}</div>')
    # -- figures with intervals
    ci = s.get("confidence_intervals") or {}
    level = (s.get("settings") or {}).get("confidence", 0.95)
    rows_html = []
    for key, label in MEASURES:
        if key not in s:
            continue
        iv = ci_pair(ci.get(key))
        iv_txt = f"{num(iv[0])} – {num(iv[1])}" if iv else "—"
        rows_html.append(
            f'<tr><td>{esc(label)}</td><td class="num">{num(s.get(key))}</td><td class="num">{iv_txt}</td></tr>'
        )
    parts.append(
        f'<table id="agreement-figures"><thead><tr><th>measure</th><th>value</th><th>{100 * level:.0f}% CI</th>'
        f"</tr></thead><tbody>{''.join(rows_html)}</tbody></table>"
    )
    # -- per code
    per = s.get("per_theme") or {}
    if per:
        prow = []
        for code, p in per.items():
            prow.append(
                f'<tr><td>{esc(code)}</td><td class="num">{num(p.get("precision"))}</td>'
                f'<td class="num">{num(p.get("recall"))}</td><td class="num">{num(p.get("f1"))}</td>'
                f'<td class="num">{esc(p.get("support", ""))}</td>'
                f"<td>{'yes' if p.get('recovered') else 'no'}</td></tr>"
            )
        parts.append(
            '<table id="agreement-per-code"><thead><tr><th>hand code</th><th>precision</th><th>recall</th>'
            f"<th>F1</th><th>segments</th><th>recovered</th></tr></thead><tbody>{''.join(prow)}</tbody></table>"
        )
    # -- recovered / missing / new
    recovered = s.get("recovered_themes") or []
    missing = s.get("missing_themes") or []
    new = s.get("unmatched_themes") or []

    def items(values: Sequence[Any], themes: bool = False) -> str:
        if not values:
            return "<li><em>none</em></li>"
        return "".join(
            f'<li><a href="#theme-{int(v)}">{esc(theme_name(int(v), names))}</a></li>'
            if themes
            else f"<li>{esc(v)}</li>"
            for v in values
        )

    parts.append(
        '<div class="cards" id="agreement-themes">'
        f'<div class="card"><div class="l">Codebook themes recovered</div><ul>{items(recovered)}</ul></div>'
        f'<div class="card"><div class="l">Codebook themes missing</div><ul>{items(missing)}</ul></div>'
        f'<div class="card"><div class="l">New candidate themes (match no codebook theme)</div>'
        f"<ul>{items(new, themes=True)}</ul></div></div>"
    )
    return "\n".join(parts)


def _coding_confusion(result: RunResult) -> str:
    """The codebook coding (rows) against the hand codes (columns), as a table."""
    from themekit.explain import coding_confusion

    if result.codebook_theme is None or result.codebook is None:
        return ""
    codes, rows = coding_confusion(
        result.codebook_theme, list(result.corpus.codes), list(result.codebook.ids)
    )
    if not codes:
        return ""
    head = "".join(f"<th>{esc(c)}</th>" for c in codes)
    body = "".join(
        f"<tr><th>{esc(c)}</th>" + "".join(f'<td class="num">{v}</td>' for v in r) + "</tr>"
        for c, r in zip(codes, rows, strict=True)
    )
    totals = [sum(r[j] for r in rows) for j in range(len(codes))]
    body += (
        "<tr><th>coded as its hand code</th>"
        + "".join(
            f'<td class="num">{rows[j][j] / t:.2f} of {t}</td>' if t else "<td>—</td>"
            for j, t in enumerate(totals)
        )
        + "</tr>"
    )
    return (
        '<table id="coding-confusion"><caption>Codebook coding (rows) by hand code (columns)'
        f"</caption><thead><tr><th></th>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def _provenance(result: RunResult) -> str:
    from themekit.config import dump_config

    m = result.manifest
    rows = [
        ("themekit", m.themekit_version),
        ("created", m.created),
        ("seed", m.seed),
        ("embedding model", m.model_id),
        ("embedder cache key", m.embedder_id),
        ("machine", machine_summary(m)),
        ("mode", m.mode or result.config.themes.mode),
        ("config file", m.config_file),
        ("codebook", m.codebook),
        ("Python", m.python),
        ("platform", m.platform),
    ]
    parts = ['<table id="provenance-run"><tbody>']
    parts += [f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows if v is not None]
    parts.append("</tbody></table>")
    inputs = m.inputs
    if inputs:
        parts.append(
            "<h3>Inputs</h3><table><thead><tr><th>file</th><th>sha256</th></tr></thead><tbody>"
        )
        parts += [
            f"<tr><td>{esc(i.path)}</td><td><code>{esc(i.sha256[:16])}…</code></td></tr>"
            for i in inputs
        ]
        parts.append("</tbody></table>")
    timings = m.stage_seconds
    if timings:
        parts.append(
            "<p>Time per stage: "
            + esc(", ".join(f"{k} {float(v):.1f} s" for k, v in timings.items()))
            + "</p>"
        )
    versions = m.package_versions
    if versions:
        parts.append("<h3>Package versions</h3><table><tbody>")
        parts += [f"<tr><td>{esc(k)}</td><td>{esc(v)}</td></tr>" for k, v in versions.items() if v]
        parts.append("</tbody></table>")
    parts.append("<h3>Resolved configuration</h3>")
    parts.append(f'<pre id="provenance-config">{esc(dump_config(result.config))}</pre>')
    parts.append(
        '<p class="meta">Rerun with <code>themekit run config.yaml</code> from the run folder; '
        "<code>manifest.json</code> holds these details in machine-readable form.</p>"
    )
    return "\n".join(parts)


# ====================================================================================== API
def render_html(result: RunResult, *, map_data: Any | None = None) -> str:
    """The whole report as one HTML document (plotly.js inlined)."""
    figs = Figures()
    frame = map_data if map_data is not None else map_frame(result)
    titles = {
        "overview": "Overview",
        "themes": "Candidate themes",
        "sizes": "Theme sizes by language, speaker and session",
        "map": "Map of the segments",
        "agreement": "Agreement with the hand coding",
        "provenance": "Provenance",
    }
    bodies = {
        "overview": _overview(result),
        "themes": _themes(result),
        "sizes": _sizes(result, figs),
        "map": map_html(result, figs, frame),
        "agreement": _agreement(result, figs),
        "provenance": _provenance(result),
    }
    short = {
        "overview": "Overview",
        "themes": "Themes",
        "sizes": "Sizes",
        "map": "Map",
        "agreement": "Agreement",
        "provenance": "Provenance",
    }
    nav = "".join(f'<a href="#{sid}">{short[sid]}</a>' for sid in SECTION_IDS)
    sections = "\n".join(
        f'<section id="{sid}"><h2>{esc(titles[sid])}</h2>\n{bodies[sid]}\n</section>'
        for sid in SECTION_IDS
    )
    meta = json.dumps(
        {
            "sections": list(SECTION_IDS),
            "n_segments": len(result.corpus),
            "n_themes": len(result.themes),
        }
    ).replace("</", "<\\/")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        "<title>themekit run report</title>\n"
        f"<style>{CSS}</style>\n</head>\n<body>\n"
        f'<header class="top"><h1>themekit run report</h1><nav>{nav}</nav></header>\n'
        f"<main>\n{sections}\n</main>\n"
        f'<script type="application/json" id="report-meta">{meta}</script>\n'
        "</body>\n</html>\n"
    )


def write_html_report(result: RunResult, path: str | Path) -> Path:
    """Write ``report.html`` (and the map's coordinates as ``embeddings_2d.csv`` beside it)."""
    path = Path(path)
    frame = map_frame(result)
    path.write_text(render_html(result, map_data=frame), encoding="utf-8")
    frame.to_csv(path.with_name("embeddings_2d.csv"), index=False)
    logger.info("wrote %s", path)
    return path


__all__ = ["SECTION_IDS", "map_frame", "project_2d", "render_html", "write_html_report"]
