"""Tables of segments (``.csv``, ``.tsv``, ``.jsonl``, ``.parquet``), one row each.

Columns are mapped by ``corpus.columns``; an unmapped field is looked up under its usual names
(``id``/``segment_id``/``seg_id``, ``language``/``lang`` ...). Segment ids come from the id
column, or are ``<session>-<row number>`` (4 digits) without one. A language in the table
overrides detection.
"""

from __future__ import annotations

import io
import json
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from themekit.errors import InputError
from themekit.language import normalize_language_label
from themekit.readers.formats import _fmt_list
from themekit.readers.text import read_text
from themekit.readers.transcript import parse_timestamp
from themekit.segment import Turn

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from themekit.config.corpus import Columns

log = logging.getLogger(__name__)


_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "segment_id", "seg_id", "segment"),
    "language": ("language", "lang"),
    "speaker": ("speaker",),
    "session": ("session",),
    "code": ("code",),
    "secondary_code": ("secondary_code",),
    "start": ("start",),
    "end": ("end",),
}


def read_table_frame(path: Path, fmt: str, encoding: str = "auto") -> pd.DataFrame:
    """A table file as a DataFrame of strings/values; InputError for unreadable tables."""
    import pandas as pd

    if fmt in ("csv", "tsv"):
        # the decoded text as UTF-8 bytes, which pandas' parser reads anyway: a StringIO held
        # it a second time, four bytes a character (issue 15)
        data = read_text(path, encoding).encode("utf-8")
        try:
            frame = pd.read_csv(
                io.BytesIO(data),
                sep="\t" if fmt == "tsv" else ",",
                encoding="utf-8",
                # Python strings, not pandas' Arrow-backed str: the Arrow pool (mimalloc) kept
                # what it had freed, ~0.45 KiB a row for the whole run (issue 15)
                dtype=object,
                keep_default_na=False,
                skipinitialspace=False,
            )
        except pd.errors.EmptyDataError:
            raise InputError("the table is empty", path=path) from None
        except pd.errors.ParserError as exc:
            m = re.search(r"line (\d+)", str(exc))
            raise InputError(
                f"is not a valid {fmt.upper()} table: {exc}".rstrip(),
                path=path,
                line=int(m.group(1)) if m else None,
            ) from None
    elif fmt == "jsonl":
        text = read_text(path, encoding)
        records = []
        for number, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(
                    f"not valid JSON ({exc.msg}); JSONL needs one JSON object per line",
                    path=path,
                    line=number,
                ) from None
            if not isinstance(record, dict):
                raise InputError(
                    f"expected a JSON object per line, got {type(record).__name__}",
                    path=path,
                    line=number,
                )
            records.append(record)
        frame = pd.DataFrame.from_records(records)
    elif fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not path.is_file():
            raise InputError("file not found", path=path)
        if path.stat().st_size == 0:
            raise InputError("the file is empty", path=path)
        try:
            frame = pq.read_table(path).to_pandas()
        except (pa.ArrowException, OSError) as exc:
            raise InputError(f"is not a readable Parquet file ({exc})", path=path) from None
    else:  # pragma: no cover - guarded by file_format
        raise InputError(f"{fmt} is not a table format", path=path)
    frame.columns = [str(c).strip() for c in frame.columns]
    if len(frame) == 0:
        raise InputError("the table has no rows", path=path)
    return frame


def _column(frame: pd.DataFrame, field: str, columns: Columns, path: Path) -> str | None:
    """The frame column that holds ``field``; InputError when an explicitly mapped one is missing."""
    mapped = getattr(columns, field)
    explicit = field in columns.model_fields_set
    if mapped is None:
        return None
    if mapped in frame.columns:
        return str(mapped)
    if explicit or field == "text":
        raise InputError(
            f"the table has no column {mapped!r} (corpus.columns.{field}); its columns are: "
            f"{_fmt_list(map(str, frame.columns))}. Map the right column with "
            f"corpus.columns.{field}.",
            path=path,
        )
    for alias in _ALIASES.get(field, ()):
        if alias in frame.columns:
            return alias
    return None


def _cell(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value != value:
        return None
    text = str(value).strip()
    return text or None


def _seconds(value: Any, path: Path, row: int, name: str) -> float | None:
    text = _cell(value)
    if text is None:
        return None
    try:
        return parse_timestamp(text) if ":" in text else float(text)
    except ValueError:
        raise InputError(
            f"column {name!r}: {text!r} is not a time in seconds or hh:mm:ss", path=path, row=row
        ) from None


def read_table(
    path: Path, fmt: str, session: str, columns: Columns, encoding: str = "auto"
) -> list[Turn]:
    """One turn per row of a table of segments."""
    frame = read_table_frame(path, fmt, encoding)
    cols = {f: _column(frame, f, columns, path) for f in ("text", *_ALIASES)}
    turns: list[Turn] = []
    seen: dict[str, int] = {}
    empty_rows: list[int] = []
    source = str(path)
    # one string object per distinct speaker, session and code, not one per row (issue 15)
    shared: dict[str, str] = {}

    def share(value: str | None) -> str | None:
        return None if value is None else shared.setdefault(value, value)

    # the columns read, each as one list (not one dict per row: issue 15); a name the table
    # holds twice is its last column, as a row's dict had it
    names = list(frame.columns)
    values = {
        c: frame.iloc[:, len(names) - 1 - names[::-1].index(c)].tolist()
        for c in {c for c in cols.values() if c is not None}
    }
    n_rows = len(frame)
    del frame
    for row in range(1, n_rows + 1):

        def get(field: str, i: int = row - 1) -> Any:
            col = cols[field]
            return values[col][i] if col is not None else None

        text = _cell(get("text"))
        if text is None:
            empty_rows.append(row)
            continue
        sess = share(_cell(get("session"))) or session
        seg_id = _cell(get("id")) if cols["id"] else f"{sess}-{row:04d}"
        if seg_id is None:
            raise InputError(f"empty segment id in column {cols['id']!r}", path=path, row=row)
        if seg_id in seen:
            raise InputError(
                f"duplicate segment id {seg_id!r} (already used in row {seen[seg_id]}); every "
                "segment needs a unique id",
                path=path,
                row=row,
            )
        seen[seg_id] = row
        try:
            language = normalize_language_label(get("language"))
        except ValueError as exc:
            raise InputError(f"column {cols['language']!r}: {exc}", path=path, row=row) from None
        meta: dict[str, Any] = {"row": row}
        if language:
            meta["language_source"] = "input"
        turns.append(
            Turn(
                id=seg_id,
                text=text,
                session=sess,
                source=source,
                speaker=share(_cell(get("speaker"))) or "",
                number=row,
                offsets=None,
                start=_seconds(get("start"), path, row, str(cols["start"])),
                end=_seconds(get("end"), path, row, str(cols["end"])),
                language=language,
                code=share(_cell(get("code"))),
                secondary_code=share(_cell(get("secondary_code"))),
                meta=meta,
            )
        )
    if empty_rows:
        log.warning(
            "%s: skipped %d rows with empty text (rows %s)",
            path,
            len(empty_rows),
            _fmt_list(map(str, empty_rows[:10])),
        )
    if not turns:
        raise InputError(f"contains no speech: every row's {cols['text']!r} is empty", path=path)
    return turns
