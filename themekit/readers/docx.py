"""Word (``.docx``) transcripts.

Each paragraph is a transcript line, read as in :mod:`themekit.readers.transcript`; table rows
``speaker | text`` or ``time | speaker | text`` are turns too.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from themekit.errors import InputError
from themekit.readers.transcript import _LEADING_TS, parse_transcript
from themekit.segment import Turn

_DOCX_HEADER_WORDS = frozenset(
    {
        "speaker",
        "name",
        "nama",
        "penutur",
        "text",
        "teks",
        "transcript",
        "transkrip",
        "time",
        "masa",
        "timestamp",
        "utterance",
        "ucapan",
        "pembicara",
        "who",
        "siapa",
        "dialogue",
    }
)


def _docx_lines(path: Path) -> list[str]:
    """Paragraphs and table rows of a Word file, in document order, as transcript lines."""
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    if not path.is_file():
        raise InputError("file not found", path=path)
    if path.stat().st_size == 0:
        raise InputError("the file is empty", path=path)
    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise InputError(
            f"is not a Word .docx file ({type(exc).__name__}). Old .doc files must be saved "
            "as .docx (File > Save As) first.",
            path=path,
        ) from None
    lines: list[str] = []
    for block in document.iter_inner_content():
        if isinstance(block, Paragraph):
            lines.extend(block.text.split("\n"))
        elif isinstance(block, Table):
            for i, row in enumerate(block.rows):
                cells = [" ".join(c.text.split()) for c in row.cells]
                cells = [
                    c for j, c in enumerate(cells) if j == 0 or c != cells[j - 1]
                ]  # merged cells
                if (
                    i == 0
                    and cells
                    and all(c.lower() in _DOCX_HEADER_WORDS or not c for c in cells)
                ):
                    continue
                lines.append(_row_as_line(cells))
    return lines


def _row_as_line(cells: list[str]) -> str:
    cells = [c for c in cells]
    ts = ""
    if len(cells) >= 3 and _LEADING_TS.match(cells[0] + " "):
        ts, cells = f"[{cells[0].strip('[]() ')}] ", cells[1:]
    if len(cells) >= 2:
        speaker, text = cells[0].rstrip(":"), " ".join(cells[1:])
        return f"{ts}{speaker}: {text}" if speaker else f"{ts}{text}"
    return ts + (cells[0] if cells else "")


def read_docx(path: Path, session: str) -> list[Turn]:
    text = "\n".join(_docx_lines(path))
    if not text.strip():
        raise InputError("the Word file has no text", path=path)
    turns, header = parse_transcript(text, path, session, unit="paragraph")
    for t in turns:
        t.meta.update(header)
    return turns
