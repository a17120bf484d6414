"""Codebooks as REFI-QDA codes: :func:`write_qdc` writes a ``.qdc`` file (validated against
``Codebook.xsd``); :func:`themekit.codebook.read_qdc` reads one, or the code book of a ``.qdpx``
project, back into a :class:`~themekit.codebook.Codebook` (with
:func:`themekit.qda.read.codebook_entries`, which reads the descriptions written here)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree as ET

from themekit.qda.model import PALETTE, QdaCode
from themekit.qda.xml import (
    NS_CODEBOOK,
    SchemaError,
    _add_codes,
    _el,
    _guid,
    validate_xml,
)

if TYPE_CHECKING:  # pragma: no cover
    from themekit.codebook import Codebook


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
