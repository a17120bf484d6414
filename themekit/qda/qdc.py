"""Codebooks as REFI-QDA codes: :func:`write_qdc` writes a ``.qdc`` file (validated against
``Codebook.xsd``), :func:`read_qdc` reads one, or the code book of a ``.qdpx`` project, back
into a :class:`~themekit.codebook.Codebook`."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree as ET

from themekit.errors import InputError
from themekit.qda.model import PALETTE, QdaCode
from themekit.qda.read import _read_codes, read_qdpx
from themekit.qda.xml import (
    NS_CODEBOOK,
    SchemaError,
    _add_codes,
    _child,
    _el,
    _guid,
    _local,
    _parse_xml,
    validate_xml,
)

if TYPE_CHECKING:  # pragma: no cover
    from themekit.codebook import Codebook


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


# ============================================================================== reading
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
