"""Which format a file is: its extension, or ``corpus.format`` for every file.

=====================  =====================================================================
``.txt`` (transcript)  speaker turns ``Name: text`` (:mod:`themekit.readers.transcript`)
``.vtt`` / ``.srt``    subtitles (:mod:`themekit.readers.subtitles`)
``.docx``              Word (:mod:`themekit.readers.docx`)
``.csv`` ``.tsv``      tables of segments (:mod:`themekit.readers.table`)
``.jsonl`` ``.parquet``
=====================  =====================================================================
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from themekit.errors import InputError

#: File extension -> format.
EXTENSIONS: dict[str, str] = {
    ".txt": "transcript",
    ".text": "transcript",
    ".vtt": "vtt",
    ".srt": "srt",
    ".docx": "docx",
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
TABLE_FORMATS = ("csv", "tsv", "jsonl", "parquet")


def _fmt_list(items: Iterable[str]) -> str:
    return ", ".join(items)


def file_format(path: Path, fmt: str = "auto") -> str:
    if fmt != "auto":
        return fmt
    found = EXTENSIONS.get(path.suffix.lower())
    if found is None:
        raise InputError(
            f"unknown file format {path.suffix or '(no extension)'!r}; themekit reads "
            f"{_fmt_list(sorted(EXTENSIONS))}. Rename the file or set corpus.format.",
            path=path,
        )
    return found
