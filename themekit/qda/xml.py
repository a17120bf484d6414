"""REFI-QDA XML plumbing shared by export and import: the namespaces, themekit's GUIDs, schema
validation against the XSDs shipped in ``themekit/data/refi_qda``, and the small element helpers
(writing an element, finding a child by local name, opening a ``.qdpx`` archive)."""

from __future__ import annotations

import uuid
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from themekit.errors import InputError, ThemekitError
from themekit.qda.model import QdaCode

NS_PROJECT = "urn:QDA-XML:project:1.0"
NS_CODEBOOK = "urn:QDA-XML:codebook:1.0"
SCHEMA_DIR = Path(__file__).resolve().parent.parent / "data" / "refi_qda"
_GUID_NS = uuid.UUID("6f1d1f8e-2f43-4a52-9a0c-7d3b1f0a9e11")  # themekit's namespace for uuid5 GUIDs


class SchemaError(ThemekitError):
    """A file themekit wrote does not validate against the REFI-QDA schema (a bug in themekit)."""


def _guid(*parts: object) -> str:
    return str(uuid.uuid5(_GUID_NS, "\x1f".join(str(p) for p in parts))).upper()


def _norm_guid(guid: str) -> str:
    return guid.strip().strip("{}").upper()


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


# ============================================================================== reading XML
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
