"""REFI-QDA interchange: the ``.qdpx`` project and ``.qdc`` codebook files that NVivo, ATLAS.ti,
MAXQDA, QDA Miner and QualCoder import and export.

Export (:func:`export_qdpx` for a run in memory, :func:`export_run_qdpx` for a run folder):

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
``themekit/data/refi_qda``) before it is written; :func:`write_qdc` does the same for a codebook
with ``Codebook.xsd``.

Import (:func:`read_qdpx`, :func:`read_qdpx_codes`, :func:`read_qdc`): sources, codes and coded
text selections of a project, mapped to segments by source and character position. A ``.qdpx``
that is not a zip, has no ``project.qde``, points at a source it does not contain, or has a
coding outside its source raises :class:`~themekit.errors.InputError` naming the item; nothing
is returned in part.

pyrefiqda (0.3) was looked at first: its pydantic models follow the schema, but its loader
unpacks the archive into a folder on disk, its writer names archive members after local file
names instead of GUIDs, and neither checks a file against the XSD. The XML here is small, so it
is written and read with :mod:`xml.etree` and checked with lxml's XML Schema validator.
"""

from __future__ import annotations

import logging
import re
import uuid
import zipfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree as ET

from themekit.errors import InputError, ThemekitError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from themekit.codebook import Codebook
    from themekit.corpus import Segment
    from themekit.pipeline import RunResult

logger = logging.getLogger(__name__)

NS_PROJECT = "urn:QDA-XML:project:1.0"
NS_CODEBOOK = "urn:QDA-XML:codebook:1.0"
SCHEMA_DIR = Path(__file__).resolve().parent / "data" / "refi_qda"
_GUID_NS = uuid.UUID("6f1d1f8e-2f43-4a52-9a0c-7d3b1f0a9e11")  # themekit's namespace for uuid5 GUIDs
CANDIDATE_FOLDER = "Candidate themes"
CODEBOOK_FOLDER = "Codebook themes"
OUTLIER_CODE = "Outliers"
#: Share of a segment's characters a coded selection must cover to code the segment (a selection
#: that lies wholly inside one segment codes it too).
MIN_COVER = 0.5

# plotly's qualitative "Plotly" palette followed by "D3": the HTML report uses the same order
PALETTE = (
    "#636EFA",
    "#EF553B",
    "#00CC96",
    "#AB63FA",
    "#FFA15A",
    "#19D3F3",
    "#FF6692",
    "#B6E880",
    "#FF97FF",
    "#FECB52",
    "#1F77B4",
    "#FF7F0E",
    "#2CA02C",
    "#D62728",
    "#9467BD",
    "#8C564B",
    "#E377C2",
    "#7F7F7F",
    "#BCBD22",
    "#17BECF",
)
OUTLIER_COLOR = "#B0B0B0"


class SchemaError(ThemekitError):
    """A file themekit wrote does not validate against the REFI-QDA schema (a bug in themekit)."""


def theme_color(theme_id: int) -> str:
    """The colour of a candidate theme, the same in the HTML report and the ``.qdpx`` export."""
    return OUTLIER_COLOR if theme_id < 0 else PALETTE[theme_id % len(PALETTE)]


def _guid(*parts: object) -> str:
    return str(uuid.uuid5(_GUID_NS, "\x1f".join(str(p) for p in parts))).upper()


# ================================================================================ plain data
@dataclass(frozen=True)
class QdaCode:
    guid: str
    name: str
    description: str = ""
    parent: str | None = None  # guid of the parent code
    codable: bool = True
    color: str | None = None


@dataclass(frozen=True)
class QdaSource:
    guid: str
    name: str
    text: str


@dataclass(frozen=True)
class QdaSelection:
    """A coded stretch of a text source: ``text[start:end]`` carries ``codes`` (code GUIDs)."""

    guid: str
    source: str  # source guid
    start: int
    end: int
    codes: tuple[str, ...]
    name: str = ""


@dataclass
class QdaProject:
    """What themekit reads from, and writes to, a REFI-QDA project."""

    name: str
    codes: list[QdaCode] = field(default_factory=list)
    sources: list[QdaSource] = field(default_factory=list)
    selections: list[QdaSelection] = field(default_factory=list)
    origin: str = "themekit"
    description: str = ""

    def code(self, guid: str) -> QdaCode:
        for c in self.codes:
            if c.guid == guid:
                return c
        raise KeyError(guid)

    def code_path(self, guid: str) -> list[str]:
        """Names from the top-level folder down to the code."""
        by_guid = {c.guid: c for c in self.codes}
        path: list[str] = []
        seen: set[str] = set()
        cur: str | None = guid
        while cur is not None and cur in by_guid and cur not in seen:
            seen.add(cur)
            path.append(by_guid[cur].name)
            cur = by_guid[cur].parent
        return path[::-1]

    def source(self, guid: str) -> QdaSource:
        for s in self.sources:
            if s.guid == guid:
                return s
        raise KeyError(guid)


@dataclass(frozen=True)
class SegmentSpan:
    """Where a segment lies in a text source."""

    segment_id: str
    source: str  # source name as written in the project (e.g. ``week1.txt``)
    start: int
    end: int


# ============================================================================ schema checks
def _schema(name: str) -> Any:
    from lxml import etree

    return etree.XMLSchema(etree.parse(str(SCHEMA_DIR / name)))


def validate_xml(xml: bytes, kind: str = "project") -> list[str]:
    """Problems found by validating ``xml`` against the REFI-QDA ``Project.xsd`` (``kind=
    "project"``) or ``Codebook.xsd`` (``kind="codebook"``); empty when it is valid."""
    from lxml import etree

    schema = _schema("Project.xsd" if kind == "project" else "Codebook.xsd")
    try:
        doc = etree.fromstring(xml)
    except etree.XMLSyntaxError as exc:
        return [f"not well-formed XML: {exc}"]
    if schema.validate(doc):
        return []
    return [f"line {e.line}: {e.message}" for e in schema.error_log]


def validate_qdpx(path: str | Path) -> list[str]:
    """Schema problems of the ``project.qde`` inside a ``.qdpx`` (empty when valid)."""
    path = Path(path)
    with _open_zip(path) as zf:
        return validate_xml(zf.read(_find_qde(zf, path)), "project")


# ============================================================================== writing XML
def _el(parent: ET.Element | None, tag: str, ns: str, **attrs: str | None) -> ET.Element:
    clean = {k: v for k, v in attrs.items() if v is not None}
    qname = f"{{{ns}}}{tag}"
    return ET.Element(qname, clean) if parent is None else ET.SubElement(parent, qname, clean)


def _add_codes(
    parent: ET.Element, codes: Sequence[QdaCode], ns: str, parent_guid: str | None
) -> None:
    for c in codes:
        if c.parent != parent_guid:
            continue
        el = _el(
            parent,
            "Code",
            ns,
            guid=c.guid,
            name=c.name,
            isCodable="true" if c.codable else "false",
            color=c.color,
        )
        if c.description:
            _el(el, "Description", ns).text = c.description
        _add_codes(el, codes, ns, c.guid)


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


# ============================================================================ the codebook
_FIELD_RE = re.compile(r"^(Definition|Keywords|Example|Include|Exclude)(?: \(([\w-]+)\))?: (.*)$")


def codebook_theme_description(theme: Any) -> str:
    """A codebook theme written as a code description: its name on the first line, then one
    ``Field (language): value`` line each (read back by :func:`read_qdc`)."""
    lines = [theme.name]
    lines += [
        f"Definition ({lang}): {text}" for lang, text in theme.definition.items() if text.strip()
    ]
    lines += [f"Include: {n}" for n in theme.include]
    lines += [f"Exclude: {n}" for n in theme.exclude]
    lines += [
        f"Keywords ({lang}): {', '.join(words)}" for lang, words in theme.keywords.items() if words
    ]
    lines += [f"Example ({e.language}): {e.text}" for e in theme.examples]
    return "\n".join(lines)


def codebook_codes(codebook: Codebook, parent: str | None = None) -> list[QdaCode]:
    return [
        QdaCode(
            guid=_guid("codebook", codebook.name, t.id),
            name=t.id,
            description=codebook_theme_description(t),
            parent=parent,
            color=PALETTE[(i + 10) % len(PALETTE)],
        )
        for i, t in enumerate(codebook.themes)
    ]


def write_qdc(codebook: Codebook, path: str | Path) -> Path:
    """Write a codebook as a REFI-QDA ``.qdc`` file (validated against ``Codebook.xsd``). Each
    theme is a code named by its id; its description holds the name, definitions, inclusion and
    exclusion notes, keywords and examples."""
    path = Path(path)
    ns = NS_CODEBOOK
    ET.register_namespace("", ns)
    root = _el(None, "CodeBook", ns, origin="themekit")
    _add_codes(_el(root, "Codes", ns), codebook_codes(codebook), ns, None)
    xml = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    problems = validate_xml(xml, "codebook")
    if problems:
        raise SchemaError(
            "the .qdc codebook does not validate against REFI-QDA Codebook.xsd: "
            + "; ".join(problems[:5])
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(xml)
    return path


def _slug(name: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_\-.]+", "_", name.strip()).strip("_")
    return s or "code"


def codebook_from_codes(
    codes: Sequence[QdaCode], *, path: Path, name: str, other_id: str = "other"
) -> Codebook:
    """A :class:`~themekit.codebook.Codebook` from REFI-QDA codes: every codable code is a
    theme (folders are left out). A description written by themekit is read field by field;
    any other description becomes the theme's definition."""
    from pydantic import ValidationError

    from themekit.codebook import Codebook

    themes: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    for c in codes:
        if not c.codable:
            continue
        theme_id = _slug(c.name)
        if theme_id in seen:
            raise InputError(
                f"two codes give the codebook theme id {theme_id!r} ({seen[theme_id]!r} and {c.name!r}); rename one",
                path=path,
            )
        seen[theme_id] = c.name
        theme: dict[str, Any] = {"id": theme_id, "name": c.name}
        lines = [ln.strip() for ln in c.description.splitlines() if ln.strip()]
        fields = [_FIELD_RE.match(ln) for ln in lines]
        if lines and all(fields[1:]) and len(lines) > 1:
            theme["name"] = lines[0]
            definition: dict[str, str] = {}
            keywords: dict[str, list[str]] = {}
            for m in (f for f in fields[1:] if f is not None):
                key, lang, value = m.group(1), m.group(2) or "any", m.group(3)
                if key == "Definition":
                    definition[lang] = value
                elif key == "Keywords":
                    keywords[lang] = [w.strip() for w in value.split(",") if w.strip()]
                elif key == "Example":
                    theme.setdefault("examples", []).append({"text": value, "language": lang})
                else:
                    theme.setdefault(key.lower(), []).append(value)
            theme["definition"], theme["keywords"] = definition, keywords
        elif lines:
            if len(lines) == 1 and c.name != lines[0] and _slug(c.name) == c.name:
                theme["name"] = lines[0]
            else:
                theme["definition"] = {"any": " ".join(lines)}
        themes.append(theme)
    if not themes:
        raise InputError("the codebook has no codable codes", path=path)
    try:
        return Codebook.model_validate({"name": name, "themes": themes, "other_id": other_id})
    except ValidationError as err:
        problems = "; ".join(f"[{'.'.join(map(str, e['loc']))}] {e['msg']}" for e in err.errors())
        raise InputError(f"invalid codebook: {problems}", path=path) from None


def read_qdc(path: str | Path, *, other_id: str = "other") -> Codebook:
    """Read a codebook from a REFI-QDA ``.qdc`` file, or from the code book of a ``.qdpx``
    project."""
    path = Path(path)
    if not path.is_file():
        raise InputError("codebook file not found", path=path)
    if zipfile.is_zipfile(path):
        project = read_qdpx(path)
        return codebook_from_codes(
            project.codes, path=path, name=project.name or path.stem, other_id=other_id
        )
    root = _parse_xml(path.read_bytes(), path, "the codebook")
    if _local(root.tag) != "CodeBook":
        raise InputError(
            f"not a REFI-QDA codebook: the root element is <{_local(root.tag)}>, not <CodeBook>",
            path=path,
        )
    codes_el = _child(root, "Codes")
    codes: list[QdaCode] = []
    if codes_el is not None:
        _read_codes(codes_el, None, codes, path)
    return codebook_from_codes(codes, path=path, name=path.stem, other_id=other_id)


# ============================================================================ export a run
def _segment_sources(
    segments: Sequence[Segment], *, encoding: str = "auto", fmt: str = "auto"
) -> tuple[dict[str, str], dict[str, SegmentSpan]]:
    """The text of every source and each segment's span in it.

    Segments with a character span point into their file's text (re-read with
    :func:`themekit.load.source_text`); the others (tables, or files that cannot be read or no
    longer match) get one built source per session."""
    from themekit.load import source_text

    texts: dict[str, str] = {}
    spans: dict[str, SegmentSpan] = {}
    file_names: dict[str, str] = {}  # file path -> source name
    built: dict[str, list[Segment]] = defaultdict(list)
    cache: dict[str, str | None] = {}
    for seg in segments:
        ok = seg.source and seg.char_start is not None and seg.char_end is not None
        if ok and seg.source not in cache:
            try:
                cache[seg.source] = source_text(seg.source, encoding, fmt)
            except (InputError, OSError) as exc:
                logger.warning(
                    "cannot re-read %s (%s); its segments get a built source", seg.source, exc
                )
                cache[seg.source] = None
        text = cache.get(seg.source) if ok else None
        if (
            text is None
            or seg.char_end is None
            or seg.char_start is None
            or not (0 <= seg.char_start <= seg.char_end <= len(text))
        ):
            if text is not None:
                logger.warning(
                    "segment %s lies outside %s; it gets a built source", seg.id, seg.source
                )
            built[seg.session or "session"].append(seg)
            continue
        if seg.source not in file_names:
            name = Path(seg.source).name
            while name in texts:
                name = f"{Path(name).stem}-{len(texts)}{Path(name).suffix}"
            file_names[seg.source] = name
            texts[name] = text
        spans[seg.id] = SegmentSpan(seg.id, file_names[seg.source], seg.char_start, seg.char_end)
    for session, segs in built.items():
        name = f"{session}.txt"
        while name in texts:
            name = f"{Path(name).stem}-table.txt"
        parts: list[str] = []
        pos = 0
        for seg in sorted(segs, key=lambda s: s.position):
            prefix = f"{seg.speaker}: " if seg.speaker else ""
            body = seg.text.replace("\r\n", "\n").replace("\r", "\n")
            start = pos + len(prefix)
            spans[seg.id] = SegmentSpan(seg.id, name, start, start + len(body))
            parts.append(prefix + body + "\n")
            pos = start + len(body) + 1
        texts[name] = "".join(parts)
    return texts, spans


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
    """A REFI-QDA project of a run: sources, theme codes and one coded selection per segment."""
    texts, spans = _segment_sources(segments, encoding=encoding, fmt=fmt)
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
    for i, seg in enumerate(segments):
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
    lines = []
    kw = getattr(theme, "keywords_by_language", None) or {}
    for lang, words in kw.items():
        if words:
            lines.append(f"Keywords ({lang}): {', '.join(words)}")
    if getattr(theme, "codebook_theme", None):
        lines.append(f"Closest codebook theme: {theme.codebook_theme}")
    return "\n".join(lines)


def export_qdpx(result: RunResult, path: str | Path) -> Path:
    """Export a run (its transcripts, candidate and codebook themes and every segment's coding)
    as a REFI-QDA ``.qdpx`` project."""
    cfg = result.config
    m = result.manifest
    project, _ = build_project(
        list(result.corpus),
        [int(x) for x in result.labels],
        {t.id: t.label for t in result.themes},
        codebook_theme=result.codebook_theme,
        codebook=result.codebook,
        theme_notes={t.id: _theme_note(t) for t in result.themes},
        name=f"themekit run {result.path.name if result.path else m.get('created', '')}".strip(),
        description=f"Made by themekit {m.get('themekit_version', '')} with {m.get('model_id', '')}, seed {cfg.seed}.",
        encoding=cfg.corpus.encoding,
        fmt=cfg.corpus.format,
    )
    return write_qdpx(project, path)


def export_run_qdpx(run_dir: str | Path, out: str | Path) -> Path:
    """Export a run folder (``segments.csv``, ``assignments.csv``, ``themes.json``,
    ``config.yaml``) as a ``.qdpx`` project; returns ``out``."""
    import json

    import pandas as pd
    import yaml

    from themekit.corpus import Corpus

    run_dir = Path(run_dir)
    for name in ("segments.csv", "assignments.csv"):
        if not (run_dir / name).is_file():
            raise InputError(f"not a themekit run folder (no {name})", path=run_dir)
    seg_df = pd.read_csv(
        run_dir / "segments.csv",
        dtype={"id": str, "session": str, "speaker": str},
        keep_default_na=False,
        na_values={"char_start": [""], "char_end": [""], "start": [""], "end": [""]},
    )
    for col in ("char_start", "char_end"):
        if col in seg_df.columns:
            seg_df[col] = (
                seg_df[col].astype("Int64").astype(object).where(seg_df[col].notna(), None)
            )
    for col in ("code", "secondary_code"):
        if col in seg_df.columns:
            seg_df[col] = seg_df[col].replace("", None)
    corpus = Corpus.from_frame(seg_df)
    assign = pd.read_csv(
        run_dir / "assignments.csv", dtype={"segment_id": str}, keep_default_na=False
    )
    by_id = {str(r["segment_id"]): r for r in assign.to_dict(orient="records")}
    missing = [s.id for s in corpus if s.id not in by_id]
    if missing:
        raise InputError(
            f"{len(missing)} segment(s) have no row in assignments.csv, e.g. {missing[0]!r}",
            path=run_dir,
        )
    segments = [s for s in corpus if not s.is_context]
    labels = [int(by_id[s.id]["theme_id"]) for s in segments]
    cb_theme = None
    if "codebook_theme" in assign.columns:
        cb_theme = [str(by_id[s.id]["codebook_theme"]) or None for s in segments]
    theme_labels = {
        int(r["theme_id"]): str(r["theme_label"]) for r in by_id.values() if int(r["theme_id"]) >= 0
    }
    notes: dict[int, str] = {}
    if (run_dir / "themes.json").is_file():
        for t in json.loads((run_dir / "themes.json").read_text(encoding="utf-8")).get(
            "themes", []
        ):
            theme_labels[int(t["id"])] = str(t["label"])
            notes[int(t["id"])] = _theme_note(_Obj(t))
    encoding, fmt, codebook = "auto", "auto", None
    if (run_dir / "config.yaml").is_file():
        cfg = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8")) or {}
        corpus_cfg = cfg.get("corpus") or {}
        encoding, fmt = corpus_cfg.get("encoding", "auto"), corpus_cfg.get("format", "auto")
        cb_path = (cfg.get("codebook") or {}).get("path")
        if cb_path and cb_theme is not None:
            codebook = _try_codebook(cfg, cb_path)
    project, _ = build_project(
        segments,
        labels,
        theme_labels,
        codebook_theme=cb_theme,
        codebook=codebook,
        theme_notes=notes,
        name=f"themekit run {run_dir.name}",
        encoding=encoding,
        fmt=fmt,
    )
    return write_qdpx(project, out)


class _Obj:
    def __init__(self, d: dict[str, Any]) -> None:
        self.keywords_by_language = d.get("keywords_by_language") or {}
        self.codebook_theme = d.get("codebook_theme")


def _try_codebook(cfg: dict[str, Any], cb_path: str) -> Codebook | None:
    from themekit.codebook import load_codebook
    from themekit.config import config_from_dict
    from themekit.errors import UserError

    try:
        data = dict(cfg)
        base_dir = data.pop("base_dir", ".")
        job = config_from_dict(data, base_dir=base_dir)
        return load_codebook(job.resolve_path(cb_path), other_id=job.codebook.other_id)
    except UserError as exc:
        logger.warning(
            "codebook %s not read (%s); codebook codes carry no descriptions", cb_path, exc
        )
        return None


# ============================================================================== reading
def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(el: ET.Element, name: str) -> ET.Element | None:
    for c in el:
        if _local(c.tag) == name:
            return c
    return None


def _children(el: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in el if _local(c.tag) == name]


def _parse_xml(data: bytes, path: Path, what: str) -> ET.Element:
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        line = exc.position[0] if getattr(exc, "position", None) else None
        raise InputError(f"{what} is not well-formed XML: {exc}", path=path, line=line) from None


def _open_zip(path: Path) -> zipfile.ZipFile:
    if not path.is_file():
        raise InputError("file not found", path=path)
    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise InputError(
            "not a REFI-QDA project: the file is not a zip archive (a .qdpx must be one)",
            path=path,
        ) from None


def _find_qde(zf: zipfile.ZipFile, path: Path) -> str:
    names = [n for n in zf.namelist() if not n.endswith("/")]
    top = [n for n in names if "/" not in n.strip("/") and n.lower().endswith(".qde")]
    exact = [n for n in top if n.lower() == "project.qde"]
    if exact:
        return exact[0]
    if len(top) == 1:
        return top[0]
    raise InputError(
        "not a REFI-QDA project: the archive has no project.qde"
        + (
            f" (it holds {', '.join(names[:5])}{' ...' if len(names) > 5 else ''})"
            if names
            else " (it is empty)"
        ),
        path=path,
    )


def _read_codes(
    parent: ET.Element, parent_guid: str | None, out: list[QdaCode], path: Path
) -> None:
    for el in _children(parent, "Code"):
        guid, name = el.get("guid"), el.get("name")
        if not guid or name is None:
            raise InputError(
                f"a <Code> lacks its guid or name (name={name!r}, guid={guid!r})", path=path
            )
        desc_el = _child(el, "Description")
        codable = (el.get("isCodable") or "true").strip().lower() in ("true", "1")
        out.append(
            QdaCode(
                _norm_guid(guid),
                name,
                (desc_el.text or "") if desc_el is not None else "",
                parent_guid,
                codable,
                el.get("color"),
            )
        )
        _read_codes(el, _norm_guid(guid), out, path)


def _norm_guid(guid: str) -> str:
    return guid.strip().strip("{}").upper()


def _member(zf: zipfile.ZipFile, ref: str) -> str | None:
    """The archive member an ``internal://`` path names (folder and case as tools write them)."""
    wanted = ref[len("internal://") :].lstrip("/").lower()
    for n in zf.namelist():
        p = PurePosixPath(n)
        if p.name.lower() == wanted and (len(p.parts) == 1 or p.parts[-2].lower() == "sources"):
            return n
    return None


def _normalise_newlines(raw: str) -> tuple[str, list[int] | None]:
    """``raw`` with CRLF/CR turned into LF, and the new position of each old position (None when
    nothing changed)."""
    if "\r" not in raw:
        return raw, None
    out: list[str] = []
    mapping: list[int] = []
    i = 0
    while i < len(raw):
        ch = raw[i]
        mapping.append(len(out))
        if ch == "\r":
            if i + 1 < len(raw) and raw[i + 1] == "\n":
                mapping.append(len(out))
                i += 1
            out.append("\n")
        else:
            out.append(ch)
        i += 1
    mapping.append(len(out))
    return "".join(out), mapping


def read_qdpx(path: str | Path) -> QdaProject:
    """Read the codes, text sources and coded text selections of a REFI-QDA ``.qdpx`` project.

    Text is returned with line ends normalised to ``\\n`` and selections moved accordingly (as
    themekit counts positions). Codings on picture, PDF, audio and video sources are skipped
    with a warning. Raises :class:`InputError` for anything that would make the import partial."""
    path = Path(path)
    with _open_zip(path) as zf:
        qde = _find_qde(zf, path)
        root = _parse_xml(zf.read(qde), path, qde)
        if _local(root.tag) != "Project":
            raise InputError(
                f"{qde}: the root element is <{_local(root.tag)}>, not <Project>", path=path
            )
        codes: list[QdaCode] = []
        cb = _child(root, "CodeBook")
        codes_el = _child(cb, "Codes") if cb is not None else None
        if codes_el is not None:
            _read_codes(codes_el, None, codes, path)
        code_guids = {c.guid for c in codes}
        sources: list[QdaSource] = []
        selections: list[QdaSelection] = []
        sources_el = _child(root, "Sources")
        skipped = 0
        for src_el in list(sources_el) if sources_el is not None else []:
            kind = _local(src_el.tag)
            name = src_el.get("name") or src_el.get("guid") or "?"
            if kind != "TextSource":
                skipped += len(list(src_el.iter(f"{{{NS_PROJECT}}}Coding"))) + len(
                    list(src_el.iter("Coding"))
                )
                continue
            guid = src_el.get("guid")
            if not guid:
                raise InputError(f"text source {name!r} has no guid", path=path)
            content = _child(src_el, "PlainTextContent")
            ref = src_el.get("plainTextPath")
            if content is not None and content.text is not None:
                raw = content.text
            elif ref:
                if not ref.startswith("internal://"):
                    raise InputError(
                        f"text source {name!r} points at {ref!r}, outside the .qdpx; export the project "
                        "with its sources embedded",
                        path=path,
                    )
                member = _member(zf, ref)
                if member is None:
                    raise InputError(
                        f"text source {name!r} points at {ref!r}, which the .qdpx does not contain",
                        path=path,
                    )
                try:
                    raw = zf.read(member).decode("utf-8-sig")
                except UnicodeDecodeError as exc:
                    raise InputError(
                        f"text source {name!r} ({member}) is not UTF-8: {exc.reason}", path=path
                    ) from None
            else:
                raise InputError(
                    f"text source {name!r} has neither plain text content nor a plainTextPath; "
                    "its codings cannot be placed",
                    path=path,
                )
            text, mapping = _normalise_newlines(raw)
            sources.append(QdaSource(_norm_guid(guid), name, text))
            for sel_el in _children(src_el, "PlainTextSelection"):
                sel_name = sel_el.get("name") or sel_el.get("guid") or "?"
                try:
                    start, end = (
                        int(sel_el.get("startPosition", "")),
                        int(sel_el.get("endPosition", "")),
                    )
                except ValueError:
                    raise InputError(
                        f"selection {sel_name!r} in source {name!r} has no valid startPosition/endPosition",
                        path=path,
                    ) from None
                codings = _children(sel_el, "Coding")
                if not codings:
                    continue
                if not (0 <= start <= end <= len(raw)):
                    names = ", ".join(_coded_names(codings, codes))
                    raise InputError(
                        f"coding of {names or '?'} in source {name!r} at {start}–{end} falls outside "
                        f"the source ({len(raw)} characters)",
                        path=path,
                    )
                refs = _code_refs(codings, code_guids, name, path)
                if mapping is not None:
                    start, end = mapping[start], mapping[end]
                selections.append(
                    QdaSelection(
                        _norm_guid(sel_el.get("guid") or _guid("sel", name, start, end)),
                        _norm_guid(guid),
                        start,
                        end,
                        refs,
                        sel_el.get("name") or "",
                    )
                )
            direct = _children(src_el, "Coding")  # codings of the whole source
            if direct:
                refs = _code_refs(direct, code_guids, name, path)
                selections.append(
                    QdaSelection(_guid("whole", guid), _norm_guid(guid), 0, len(text), refs)
                )
        if skipped:
            logger.warning(
                "%s: %d coding(s) on picture, PDF, audio or video sources were skipped",
                path,
                skipped,
            )
        desc = _child(root, "Description")
    return QdaProject(
        name=root.get("name") or path.stem,
        codes=codes,
        sources=sources,
        selections=selections,
        origin=root.get("origin") or "",
        description=(desc.text or "") if desc is not None else "",
    )


def _code_refs(
    codings: Iterable[ET.Element], code_guids: set[str], source: str, path: Path
) -> tuple[str, ...]:
    refs: list[str] = []
    for c in codings:
        ref = _child(c, "CodeRef")
        target = _norm_guid(ref.get("targetGUID") or "") if ref is not None else ""
        if target not in code_guids:
            raise InputError(
                f"a coding in source {source!r} refers to code {target or '(none)'!r}, which the project's code book lacks",
                path=path,
            )
        if target not in refs:
            refs.append(target)
    return tuple(refs)


def _coded_names(codings: Iterable[ET.Element], codes: Sequence[QdaCode]) -> list[str]:
    by_guid = {c.guid: c.name for c in codes}
    out = []
    for c in codings:
        ref = _child(c, "CodeRef")
        if ref is not None:
            out.append(
                repr(by_guid.get(_norm_guid(ref.get("targetGUID") or ""), ref.get("targetGUID")))
            )
    return out


# ======================================================================== codes -> segments
def transcript_spans(project: QdaProject) -> list[SegmentSpan]:
    """Segments of the project's sources when no run is at hand: each source is read as a
    plain transcript (``Speaker: text`` turns, :func:`themekit.load.parse_transcript`) and its
    session is the source name without extension, so the ids are those ``segmentation.strategy:
    turn`` gives (``week1-0007``)."""
    from themekit.load import parse_transcript

    spans: list[SegmentSpan] = []
    for src in project.sources:
        session = PurePosixPath(src.name).stem if "." in src.name else src.name
        try:
            turns, _ = parse_transcript(src.text, Path(src.name), session)
        except InputError as exc:
            raise InputError(
                f"source {src.name!r} cannot be split into speaker turns ({exc}); pass the run's segments "
                "to place its codings",
            ) from None
        for t in turns:
            if t.offsets:
                spans.append(SegmentSpan(t.id, src.name, t.offsets[0], t.offsets[-1] + 1))
    return spans


def spans_from_segments(segments: Iterable[Any]) -> list[SegmentSpan]:
    """Spans of a run's segments (:class:`~themekit.corpus.Segment` objects, or rows of a run's
    ``segments.csv`` as dicts) in the sources that :func:`export_qdpx` writes."""
    segs = [s for s in segments]
    if segs and isinstance(segs[0], dict):
        from themekit.corpus import Corpus

        segs = list(Corpus.from_records(segs))
    _, spans = _segment_sources(segs)
    return list(spans.values())


def _match_source(name: str, names: Iterable[str]) -> str | None:
    lowered = {n.lower(): n for n in names}
    stems = {PurePosixPath(n).stem.lower(): n for n in names}
    key = name.lower()
    return lowered.get(key) or stems.get(key) or stems.get(PurePosixPath(key).stem)


def coded_segments(
    project: QdaProject, spans: Sequence[SegmentSpan], *, min_cover: float = MIN_COVER
) -> dict[str, list[str]]:
    """For every segment, the GUIDs of the codes on it, in text order. A selection codes a
    segment when it covers at least ``min_cover`` of the segment's characters, or lies wholly
    inside it."""
    by_source: dict[str, list[SegmentSpan]] = defaultdict(list)
    for sp in spans:
        by_source[sp.source].append(sp)
    src_map: dict[str, str | None] = {
        s.guid: _match_source(s.name, by_source) for s in project.sources
    }
    unmatched = sorted(
        {project.source(g).name for g, m in src_map.items() if m is None}
        & {project.source(sel.source).name for sel in project.selections}
    )
    if unmatched:
        logger.warning(
            "coded source(s) %s match no transcript of the run; their codings are ignored",
            unmatched,
        )
    out: dict[str, list[str]] = defaultdict(list)
    for sel in sorted(project.selections, key=lambda s: (s.source, s.start, s.end)):
        target = src_map.get(sel.source)
        if target is None:
            continue
        for sp in by_source[target]:
            overlap = min(sel.end, sp.end) - max(sel.start, sp.start)
            if overlap <= 0:
                continue
            length = max(sp.end - sp.start, 1)
            if overlap / length >= min_cover or (sel.start >= sp.start and sel.end <= sp.end):
                for code in sel.codes:
                    if code not in out[sp.segment_id]:
                        out[sp.segment_id].append(code)
    return dict(out)


def _code_name(project: QdaProject, guid: str, codebook: Codebook | None) -> str:
    name = project.code(guid).name.strip()
    if codebook is None:
        return name
    ids = {i.lower(): i for i in codebook.ids}
    names = {t.name.strip().lower(): t.id for t in codebook.themes}
    key = name.lower()
    if key in ids:
        return ids[key]
    if key in names:
        return names[key]
    head = re.split(r"[:\s]", key, maxsplit=1)[0]
    return ids.get(head, name)


def read_qdpx_codes(
    path: str | Path,
    segments: Iterable[Any] | None = None,
    *,
    codebook: Codebook | None = None,
    folder: str | None = None,
    min_cover: float = MIN_COVER,
) -> pd.DataFrame:
    """Hand codes from a REFI-QDA project: one row per coded segment with ``segment_id``,
    ``code`` and ``secondary_code`` (the second code on the segment, or "").

    ``segments`` are the run's segments (``Segment`` objects or ``segments.csv`` rows) whose
    spans the codings are matched to; without them each source is read as a transcript of
    speaker turns (:func:`transcript_spans`). Code names are used as codes, or mapped to the
    ids of ``codebook`` (by id, by name, or an ``id: ...`` prefix). ``folder`` keeps only the
    codes under the top-level code of that name (e.g. a themekit export's ``Candidate themes``).
    A segment with more than two codes keeps the first two (a warning lists them)."""
    import pandas as pd

    path = Path(path)
    project = read_qdpx(path)
    if not project.selections:
        raise InputError("the project has no coded text selections", path=path)
    spans = spans_from_segments(segments) if segments is not None else transcript_spans(project)
    coded = coded_segments(project, spans, min_cover=min_cover)
    rows = []
    crowded: list[str] = []
    order = {sp.segment_id: i for i, sp in enumerate(spans)}
    for seg_id in sorted(coded, key=lambda s: order.get(s, len(order))):
        guids = coded[seg_id]
        if folder is not None:
            guids = [g for g in guids if project.code_path(g)[:1] == [folder]]
        names: list[str] = []
        for g in guids:
            n = _code_name(project, g, codebook)
            if n not in names:
                names.append(n)
        if not names:
            continue
        if len(names) > 2:
            crowded.append(seg_id)
        rows.append(
            {
                "segment_id": seg_id,
                "code": names[0],
                "secondary_code": names[1] if len(names) > 1 else "",
            }
        )
    if crowded:
        logger.warning(
            "%d segment(s) carry more than two codes; the first two are kept: %s",
            len(crowded),
            crowded[:10],
        )
    if not rows:
        raise InputError(
            "no coding of the project falls on a segment of the transcripts", path=path
        )
    logger.info("%s: hand codes for %d segment(s)", path, len(rows))
    return pd.DataFrame(rows, columns=["segment_id", "code", "secondary_code"])


__all__ = [
    "QdaCode",
    "QdaProject",
    "QdaSelection",
    "QdaSource",
    "SchemaError",
    "SegmentSpan",
    "build_project",
    "coded_segments",
    "export_qdpx",
    "export_run_qdpx",
    "read_qdc",
    "read_qdpx",
    "read_qdpx_codes",
    "spans_from_segments",
    "theme_color",
    "transcript_spans",
    "validate_qdpx",
    "validate_xml",
    "write_qdc",
    "write_qdpx",
]
