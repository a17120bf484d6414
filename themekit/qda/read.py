"""Import of a REFI-QDA ``.qdpx`` project (:func:`read_qdpx`) and of its codings as hand codes
per segment (:func:`read_qdpx_codes`).

Sources, codes and coded text selections of a project are mapped to segments by source and
character position. A ``.qdpx`` that is not a zip, has no ``project.qde``, points at a source it
does not contain, or has a coding outside its source raises :class:`~themekit.errors.InputError`
naming the item; nothing is returned in part."""

from __future__ import annotations

import logging
import os
import re
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Protocol
from xml.etree import ElementTree as ET

from themekit.errors import InputError
from themekit.qda.model import QdaCode, QdaProject, QdaSelection, QdaSource
from themekit.qda.spans import MIN_COVER, coded_segments, spans_from_segments, transcript_spans
from themekit.qda.xml import (
    NS_PROJECT,
    _child,
    _children,
    _find_qde,
    _guid,
    _local,
    _norm_guid,
    _open_zip,
    _parse_xml,
)

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

logger = logging.getLogger(__name__)

#: Default limit on the uncompressed size of a ``.qdpx`` (each member and all together), in
#: MB; the environment variable ``THEMEKIT_QDPX_MAX_MB`` or ``read_qdpx(max_mb=...)`` sets it.
QDPX_MAX_MB = 200
QDPX_MAX_ENV = "THEMEKIT_QDPX_MAX_MB"


def _limit_bytes(max_mb: float | None) -> int:
    if max_mb is None:
        raw = os.environ.get(QDPX_MAX_ENV, "")
        try:
            max_mb = float(raw) if raw else QDPX_MAX_MB
        except ValueError:
            raise InputError(f"${QDPX_MAX_ENV} must be a number of MB; got {raw!r}") from None
    return int(max_mb * 1_000_000)


def _check_sizes(zf: zipfile.ZipFile, path: Path, limit: int) -> None:
    """Refuse (before reading anything) an archive whose members would unpack to more than
    ``limit`` bytes, one by one or together (a "zip bomb")."""
    infos = zf.infolist()
    total = sum(i.file_size for i in infos)
    big = max(infos, key=lambda i: i.file_size, default=None)
    if total > limit and big is not None:
        raise InputError(
            f"the .qdpx would unpack to {total / 1e6:,.0f} MB (largest member {big.filename!r}, "
            f"{big.file_size / 1e6:,.0f} MB); themekit reads at most {limit / 1e6:,.0f} MB "
            f"(set ${QDPX_MAX_ENV} to allow more)",
            path=path,
        )


def _read_member(zf: zipfile.ZipFile, name: str, path: Path) -> bytes:
    """An archive member's bytes; a damaged or encrypted member is an :class:`InputError`.
    ``zipfile`` never reads past a member's declared size (checked by :func:`_check_sizes`)."""
    try:
        return zf.read(name)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
        raise InputError(f"member {name!r} of the .qdpx cannot be read: {exc}", path=path) from None


class _NamedTheme(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...


class CodebookNames(Protocol):
    """What reading codings needs of a codebook (a :class:`themekit.codebook.Codebook`): its
    theme ids and names. Codebooks are built from what this module reads, so it does not import
    them."""

    @property
    def ids(self) -> list[str]: ...

    @property
    def themes(self) -> Sequence[_NamedTheme]: ...


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


def read_qdpx(path: str | Path, *, max_mb: float | None = None) -> QdaProject:
    """Read the codes, text sources and coded text selections of a REFI-QDA ``.qdpx`` project.

    Text is returned with line ends normalised to ``\\n`` and selections moved accordingly (as
    themekit counts positions). Codings on picture, PDF, audio and video sources are skipped
    with a warning. Raises :class:`InputError` for anything that would make the import partial,
    and for an archive that would unpack to more than ``max_mb`` MB (default ``QDPX_MAX_MB``,
    or ``$THEMEKIT_QDPX_MAX_MB``)."""
    path = Path(path)
    with _open_zip(path) as zf:
        _check_sizes(zf, path, _limit_bytes(max_mb))
        qde = _find_qde(zf, path)
        root = _parse_xml(_read_member(zf, qde, path), path, qde)
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
            raw = _source_text(zf, src_el, name, path)
            text, mapping = _normalise_newlines(raw)
            sources.append(QdaSource(_norm_guid(guid), name, text))
            selections += _source_selections(src_el, guid, name, raw, mapping, codes, path)
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


def _source_text(zf: zipfile.ZipFile, src_el: ET.Element, name: str, path: Path) -> str:
    """A text source's text as stored: inline ``PlainTextContent`` or an ``internal://`` member
    of the archive."""
    content = _child(src_el, "PlainTextContent")
    ref = src_el.get("plainTextPath")
    if content is not None and content.text is not None:
        return content.text
    if not ref:
        raise InputError(
            f"text source {name!r} has neither plain text content nor a plainTextPath; "
            "its codings cannot be placed",
            path=path,
        )
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
        return _read_member(zf, member, path).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"text source {name!r} ({member}) is not UTF-8: {exc.reason}", path=path
        ) from None


def _source_selections(
    src_el: ET.Element,
    guid: str,
    name: str,
    raw: str,
    mapping: list[int] | None,
    codes: list[QdaCode],
    path: Path,
) -> list[QdaSelection]:
    """The coded ``PlainTextSelection``s of one text source, positions moved to the text with
    normalised line ends (``mapping``)."""
    code_guids = {c.guid for c in codes}
    out: list[QdaSelection] = []
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
        out.append(
            QdaSelection(
                _norm_guid(sel_el.get("guid") or _guid("sel", name, start, end)),
                _norm_guid(guid),
                start,
                end,
                refs,
                sel_el.get("name") or "",
            )
        )
    return out


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


# ============================================================================ hand codes
def _code_name(project: QdaProject, guid: str, codebook: CodebookNames | None) -> str:
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
    codebook: CodebookNames | None = None,
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


# ============================================================================== codebooks
_FIELD_RE = re.compile(r"^(Definition|Keywords|Example|Include|Exclude)(?: \(([\w-]+)\))?: (.*)$")


def read_codebook_codes(path: str | Path) -> tuple[str, list[QdaCode]]:
    """The name and the codes of a REFI-QDA ``.qdc`` codebook, or of a ``.qdpx`` project's code
    book (:func:`themekit.codebook.read_qdc` makes them a codebook)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("codebook file not found", path=path)
    if zipfile.is_zipfile(path):
        project = read_qdpx(path)
        return project.name or path.stem, list(project.codes)
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
    return path.stem, codes


def _slug(name: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_\-.]+", "_", name.strip()).strip("_")
    return s or "code"


def codebook_entries(codes: Sequence[QdaCode], *, path: Path) -> list[dict[str, Any]]:
    """Codebook themes (as the dicts a codebook file holds) from REFI-QDA codes: every codable
    code is a theme (folders are left out). A description written by themekit
    (:func:`themekit.qda.qdc.codebook_theme_description`) is read field by field; any other
    description becomes the theme's definition."""
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
        themes.append(_theme_entry(theme_id, c))
    if not themes:
        raise InputError("the codebook has no codable codes", path=path)
    return themes


def _theme_entry(theme_id: str, c: QdaCode) -> dict[str, Any]:
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
    return theme
