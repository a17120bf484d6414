"""Export of a run as a REFI-QDA ``.qdpx`` project (:func:`export_qdpx` for a run in memory;
:func:`themekit.qda.folder.export_run_qdpx` for a run folder):

* every transcript is a plain-text source (``sources/<GUID>.txt``, UTF-8) holding the exact
  decoded text of its file — the text that ``Segment.char_start``/``char_end`` point into
  (:func:`themekit.load.source_text`). Segments read from a table have no file text; they get
  one built source per session, ``Speaker: text`` per line, and their positions in it;
* the candidate themes (``T3: label``, and ``Outliers`` for segments left without a theme) are
  codes under a ``Candidate themes`` folder; the codebook themes (by id, with their definitions)
  under ``Codebook themes``;
* every segment is a ``PlainTextSelection`` whose ``startPosition``/``endPosition`` are its
  character span (first code point is 0, the end is exclusive, as in the standard's examples),
  named after the segment id and coded with its candidate theme and its codebook theme.

The project is validated against the REFI-QDA ``Project.xsd`` (shipped in
``themekit/data/refi_qda``) before it is written."""

from __future__ import annotations

import logging
import zipfile
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree as ET

from themekit.qda.model import (
    CANDIDATE_FOLDER,
    CODEBOOK_FOLDER,
    OUTLIER_CODE,
    QdaCode,
    QdaProject,
    QdaSelection,
    QdaSource,
    SegmentSpan,
    theme_color,
)
from themekit.qda.qdc import codebook_codes
from themekit.qda.spans import _segment_sources
from themekit.qda.xml import NS_PROJECT, SchemaError, _add_codes, _el, _guid, validate_xml

if TYPE_CHECKING:  # pragma: no cover
    from themekit.codebook import Codebook
    from themekit.corpus import Segment
    from themekit.result import RunResult

logger = logging.getLogger(__name__)


# ============================================================================== writing
def project_xml(project: QdaProject, *, source_paths: dict[str, str]) -> bytes:
    """The ``project.qde`` XML of ``project``; ``source_paths`` maps a source GUID to its
    ``internal://`` file name."""
    ns = NS_PROJECT
    ET.register_namespace("", ns)
    user = _guid("user", project.origin)
    root = _el(None, "Project", ns, name=project.name, origin=project.origin, creatingUserGUID=user)
    users = _el(root, "Users", ns)
    _el(users, "User", ns, guid=user, name=project.origin)
    if project.codes:
        codes = _el(_el(root, "CodeBook", ns), "Codes", ns)
        _add_codes(codes, project.codes, ns, None)
    if project.sources:
        by_source: dict[str, list[QdaSelection]] = defaultdict(list)
        for sel in project.selections:
            by_source[sel.source].append(sel)
        sources = _el(root, "Sources", ns)
        for src in project.sources:
            el = _el(
                sources,
                "TextSource",
                ns,
                guid=src.guid,
                name=src.name,
                plainTextPath=source_paths[src.guid],
            )
            for sel in sorted(by_source[src.guid], key=lambda s: (s.start, s.end)):
                sel_el = _el(
                    el,
                    "PlainTextSelection",
                    ns,
                    guid=sel.guid,
                    name=sel.name or None,
                    startPosition=str(sel.start),
                    endPosition=str(sel.end),
                )
                for code in sel.codes:
                    coding = _el(sel_el, "Coding", ns, guid=_guid("coding", sel.guid, code))
                    _el(coding, "CodeRef", ns, targetGUID=code)
    if project.description:
        _el(root, "Description", ns).text = project.description
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def write_qdpx(project: QdaProject, path: str | Path) -> Path:
    """Write ``project`` as a ``.qdpx`` archive (``project.qde`` + ``sources/<GUID>.txt``),
    validated against the REFI-QDA schema first."""
    path = Path(path)
    names = {s.guid: f"{s.guid}.txt" for s in project.sources}
    xml = project_xml(project, source_paths={g: f"internal://{n}" for g, n in names.items()})
    problems = validate_xml(xml, "project")
    if problems:
        raise SchemaError(
            "the .qdpx project does not validate against REFI-QDA Project.xsd: "
            + "; ".join(problems[:5])
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("project.qde", xml)
            for src in project.sources:
                zf.writestr(f"sources/{names[src.guid]}", src.text.encode("utf-8"))
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    logger.info(
        "wrote %s: %d sources, %d codes, %d coded selections",
        path,
        len(project.sources),
        len(project.codes),
        len(project.selections),
    )
    return path


# ============================================================================ export a run
def build_project(
    segments: Sequence[Segment],
    theme_ids: Sequence[int],
    theme_labels: dict[int, str],
    *,
    codebook_theme: Sequence[str | None] | None = None,
    codebook: Codebook | None = None,
    theme_notes: dict[int, str] | None = None,
    name: str = "themekit run",
    description: str = "",
    encoding: str = "auto",
    fmt: str = "auto",
) -> tuple[QdaProject, dict[str, SegmentSpan]]:
    """A REFI-QDA project of a run: sources, theme codes and one coded selection per segment.

    ``segments`` may include context segments (the moderator's turns): they are part of the
    sources but not coded; ``theme_ids`` and ``codebook_theme`` follow the other segments."""
    texts, spans = _segment_sources(segments, encoding=encoding, fmt=fmt)
    coded = [s for s in segments if not s.is_context]
    run_key = name
    source_guid = {n: _guid("source", run_key, n) for n in texts}
    sources = [QdaSource(source_guid[n], n, t) for n, t in texts.items()]
    cand_root = QdaCode(
        _guid("folder", run_key, CANDIDATE_FOLDER),
        CANDIDATE_FOLDER,
        "Themes found by themekit in this run",
        codable=False,
    )
    codes = [cand_root]
    theme_guid: dict[int, str] = {}
    for tid in sorted({int(t) for t in theme_ids} | set(theme_labels)):
        label = OUTLIER_CODE if tid < 0 else f"T{tid}: {theme_labels.get(tid, f'theme {tid}')}"
        guid = _guid("theme", run_key, tid)
        theme_guid[tid] = guid
        note = (theme_notes or {}).get(tid, "segments no theme took in" if tid < 0 else "")
        codes.append(QdaCode(guid, label, note, parent=cand_root.guid, color=theme_color(tid)))
    cb_guid: dict[str, str] = {}
    if codebook_theme is not None:
        cb_root = QdaCode(
            _guid("folder", run_key, CODEBOOK_FOLDER),
            CODEBOOK_FOLDER,
            "The codebook's themes, as themekit coded the segments with them",
            codable=False,
        )
        codes.append(cb_root)
        if codebook is not None:
            for c in codebook_codes(codebook, parent=cb_root.guid):
                cb_guid[c.name] = c.guid
                codes.append(c)
        for cb in codebook_theme:
            if cb and cb not in cb_guid:
                cb_guid[cb] = _guid("codebook", run_key, cb)
                codes.append(QdaCode(cb_guid[cb], cb, parent=cb_root.guid))
    selections: list[QdaSelection] = []
    for i, seg in enumerate(coded):
        span = spans[seg.id]
        refs = [theme_guid[int(theme_ids[i])]]
        if codebook_theme is not None and codebook_theme[i]:
            refs.append(cb_guid[str(codebook_theme[i])])
        selections.append(
            QdaSelection(
                _guid("selection", run_key, seg.id),
                source_guid[span.source],
                span.start,
                span.end,
                tuple(refs),
                name=seg.id,
            )
        )
    project = QdaProject(
        name=name, codes=codes, sources=sources, selections=selections, description=description
    )
    return project, spans


def _theme_note(theme: Any) -> str:
    from themekit.describe import codebook_match

    lines = []
    if getattr(theme, "description", None):
        lines.append(str(theme.description))
    for lang, phrases in (getattr(theme, "keyphrases_by_language", None) or {}).items():
        if phrases:
            lines.append(f"Keyphrases ({lang}): {', '.join(phrases)}")
    kw = getattr(theme, "keywords_by_language", None) or {}
    for lang, words in kw.items():
        if words:
            lines.append(f"Keywords ({lang}): {', '.join(words)}")
    if getattr(theme, "codebook_theme", None):
        match = codebook_match(
            theme.codebook_theme,
            getattr(theme, "codebook_name", None),
            getattr(theme, "codebook_similarity", None),
        )
        lines.append(f"Matching codebook theme: {match}")
    return "\n".join(lines)


def export_qdpx(result: RunResult, path: str | Path) -> Path:
    """Export a run (its transcripts, candidate and codebook themes and every segment's coding)
    as a REFI-QDA ``.qdpx`` project."""
    cfg = result.config
    m = result.manifest
    project, _ = build_project(
        list(result.full_corpus or result.corpus),
        [int(x) for x in result.labels],
        {t.id: t.label for t in result.themes},
        codebook_theme=result.codebook_theme,
        codebook=result.codebook,
        theme_notes={t.id: _theme_note(t) for t in result.themes},
        name=f"themekit run {result.path.name if result.path else m.created}".strip(),
        description=f"Made by themekit {m.themekit_version} with {m.model_id}, seed {cfg.seed}.",
        encoding=cfg.corpus.encoding,
        fmt=cfg.corpus.format,
    )
    return write_qdpx(project, path)
