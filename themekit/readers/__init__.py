"""Format readers: one file in, its speaker turns (:class:`~themekit.segment.Turn`) out.

Formats, chosen by file extension (or for every file by ``corpus.format``):

=====================  =====================================================================
``.txt`` (transcript)  speaker turns ``Name: text``; see :mod:`themekit.readers.transcript`
``.vtt`` / ``.srt``    subtitles (Zoom, Teams, transcription services): speakers from
                       ``<v Name>`` tags or a ``Name:`` prefix; cues merged back into turns
``.docx``              Word: each paragraph is a transcript line; table rows
                       ``speaker | text`` or ``time | speaker | text`` are turns too
``.csv`` ``.tsv``      tables of segments, one row each, columns mapped by ``corpus.columns``
``.jsonl`` ``.parquet``
=====================  =====================================================================

One module per format family: :mod:`~themekit.readers.formats` (extension -> format),
:mod:`~themekit.readers.text` (decoding), :mod:`~themekit.readers.transcript`,
:mod:`~themekit.readers.subtitles`, :mod:`~themekit.readers.docx` and
:mod:`~themekit.readers.table`. :func:`read_file` picks the reader by format.

Segment ids: ``<session>-<turn number>`` with the turn number counted from 1 in the file and
written with 4 digits (``week1-0007``); tables use their id column, or
``<session>-<row number>`` (4 digits) without one.

``char_start``/``char_end`` are offsets into :func:`source_text` of the file — the decoded
text with line ends normalised to ``\\n`` (for DOCX, the extracted paragraph and table-row
lines joined with ``\\n``); they are None for tables.

Every problem with the input raises :class:`~themekit.errors.InputError` naming the file,
and the line or row where it applies.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from themekit.readers.docx import _docx_lines, read_docx
from themekit.readers.formats import EXTENSIONS, TABLE_FORMATS, file_format
from themekit.readers.subtitles import read_srt, read_vtt
from themekit.readers.table import read_table, read_table_frame
from themekit.readers.text import decode_bytes, read_text
from themekit.readers.transcript import (
    HEADER_KEYS,
    looks_like_speaker,
    parse_timestamp,
    parse_transcript,
    read_transcript,
)
from themekit.segment import Turn

if TYPE_CHECKING:  # pragma: no cover
    from themekit.config import JobConfig

__all__ = [
    "EXTENSIONS",
    "HEADER_KEYS",
    "TABLE_FORMATS",
    "decode_bytes",
    "file_format",
    "looks_like_speaker",
    "parse_timestamp",
    "parse_transcript",
    "read_docx",
    "read_file",
    "read_srt",
    "read_table",
    "read_table_frame",
    "read_text",
    "read_transcript",
    "read_vtt",
    "source_text",
]


def source_text(path: str | Path, encoding: str = "auto", fmt: str = "auto") -> str:
    """The text that segments' ``char_start``/``char_end`` point into (for REFI-QDA export)."""
    path = Path(path)
    if file_format(path, fmt) == "docx":
        return "\n".join(_docx_lines(path))
    return read_text(path, encoding)


def read_file(path: Path, session: str, cfg: JobConfig) -> list[Turn]:
    """The turns of one file, by its format."""
    fmt = file_format(path, cfg.corpus.format)
    enc = cfg.corpus.encoding
    if fmt == "transcript":
        return read_transcript(path, session, enc)
    if fmt == "vtt":
        return read_vtt(path, session, enc, lenient=cfg.corpus.lenient)
    if fmt == "srt":
        return read_srt(path, session, enc, lenient=cfg.corpus.lenient)
    if fmt == "docx":
        return read_docx(path, session)
    return read_table(path, fmt, session, cfg.corpus.columns, enc)
