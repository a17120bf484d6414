"""Read transcripts into a :class:`~themekit.corpus.Corpus`.

``corpus.path`` may name a file, a folder, a glob (``interviews/*.vtt``) or a list of these;
relative paths resolve against the config file's folder and ``themekit://demo`` is the bundled
demo corpus. Every file is one session, named after the file (its stem) unless the file is a
table with a session column, or ``corpus.session`` names the single file's session.

Formats, chosen by file extension (or for every file by ``corpus.format``):

=====================  =====================================================================
``.txt`` (transcript)  speaker turns ``Name: text``; see "Plain transcripts" below
``.vtt`` / ``.srt``    subtitles (Zoom, Teams, transcription services): speakers from
                       ``<v Name>`` tags or a ``Name:`` prefix; cues merged back into turns
``.docx``              Word: each paragraph is a transcript line; table rows
                       ``speaker | text`` or ``time | speaker | text`` are turns too
``.csv`` ``.tsv``      tables of segments, one row each, columns mapped by ``corpus.columns``
``.jsonl`` ``.parquet``
=====================  =====================================================================

Which files of a folder (or glob) are read: regular files with one of the extensions above
(only those of ``corpus.format`` when it is set), not hidden (``.name``), not Word lock files
(``~$name``) and not hand-code tables (names starting with ``hand_codes``). Everything else —
``codebook.yaml``, ``README.md``, notes — is skipped, and the skipped names are logged.
Folders are not searched recursively; use a glob such as ``data/**/*.txt`` for that.

Plain transcripts, line by line:

* a turn starts with a speaker name and a colon: ``Mr. K: ...``, ``P1: ...``,
  ``MODERATOR: ...``, optionally after a timestamp ``[00:12:31]`` (kept as the turn's start
  time). A name is at most five words, each starting with a capital letter or a digit
  (``bin``/``binti``/``a/l`` and similar particles excepted), or one role word in any case
  (``interviewer:``);
* a line that is not a turn continues the previous turn (a turn may run over several
  lines; a leading timestamp is removed). Lines that follow the turn directly are logged at
  INFO; a non-turn line after a blank line is logged as a WARNING naming the file and line,
  because it may be a turn whose ``Name:`` is missing;
* lines starting with ``#`` are comments and are skipped, wherever they are;
* before the first turn, the file may have a header: the lines at the very top, up to the
  first blank line (a title, say), and ``Key: value`` lines whose key is a usual header
  field (``Title``, ``Date``, ``Tarikh``, ``Venue``, ``Participants`` ...). They are kept in
  ``Segment.meta["header"]``. Any other line before the first turn is an error naming it.

Segment ids: ``<session>-<turn number>`` with the turn number counted from 1 in the file and
written with 4 digits (``week1-0007``); tables use their id column, or
``<session>-<row number>`` (4 digits) without one. :mod:`themekit.segment` adds ``.k`` for
the pieces of a turn it cuts.

``char_start``/``char_end`` are offsets into :func:`source_text` of the file — the decoded
text with line ends normalised to ``\\n`` (for DOCX, the extracted paragraph and table-row
lines joined with ``\\n``); they are None for tables.

Encodings: UTF-8 (with or without BOM) and UTF-16/32 with a BOM are read as such. Other files
are decoded as Windows-1252 (cp1252, which covers the printable Latin-1 range, so Latin-1
files read the same), then by charset-normalizer's best guess; a warning names the encoding
used, and ``corpus.encoding`` sets it explicitly. Text that still contains control
characters (a binary file, a renamed ``.doc``) is refused.

Hand codes: ``corpus.hand_codes`` names a table, a folder (its ``hand_codes*`` tables) or a
glob of tables with a ``segment_id`` (or ``id``) column, a ``code`` column and optionally
``secondary_code`` and ``language``. They attach by segment id; a segment cut from a turn
takes the turn's codes. A language there (or in a table's language column) overrides
detection.

Every problem with the input raises :class:`~themekit.errors.InputError` naming the file,
and the line or row where it applies.
"""

from __future__ import annotations

import codecs
import glob as globlib
import html
import io
import json
import logging
import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from themekit.corpus import Corpus, Segment
from themekit.errors import ConfigError, InputError
from themekit.language import fill_languages, normalize_language_label
from themekit.segment import Turn, segment_turns

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from themekit.config import JobConfig
    from themekit.config.corpus import Columns
    from themekit.progress import ProgressCallback

log = logging.getLogger(__name__)

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
HAND_CODES_PREFIX = "hand_codes"

#: Keys of ``Key: value`` header lines allowed before the first turn of a transcript.
HEADER_KEYS = frozenset(
    """
    title tajuk subject topic topik date tarikh time masa day hari location lokasi venue tempat
    session sesi group kumpulan participants peserta attendees hadir duration tempoh
    transcriber transcribed transkripsi recording rakaman language bahasa note notes
    catatan nota source sumber project projek study kajian
    """.split()
)

_GLOB_CHARS = re.compile(r"[*?\[]")
_TS = r"\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d{1,3})?"
_LEADING_TS = re.compile(rf"^\s*(?:\[({_TS})\]|\(({_TS})\)|({_TS})(?=\s))\s*(?:-\s+)?")
_TURN = re.compile(r"^(?P<name>[^\W\d_][^:\n]{0,48}?)\s*:(?:\s+|$)(?P<text>.*)$")
_NAME_CHARS = re.compile(r"^[\w .'’\-/()&]+$")
_PARTICLES = frozenset("bin binti bt bte bn a/l a/p al van de von da dos del la le di".split())
_ROLE_WORDS = re.compile(
    r"(?i)^(moderator|mod|facilitator|fasilitator|interviewer|interviewee|iv|int|ie|"
    r"respondent|responden|participant|peserta|informant|informan|penemuramah|pewawancara|"
    r"speaker|r|p|q|a)\d*$"
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")


def _fmt_list(items: Iterable[str]) -> str:
    return ", ".join(items)


# ===================================================================================== paths
def _split_items(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _wanted(path: Path, fmt: str) -> bool:
    name = path.name
    if name.startswith((".", "~$")) or name.lower().startswith(HAND_CODES_PREFIX):
        return False
    ext_fmt = EXTENSIONS.get(path.suffix.lower())
    if fmt == "auto":
        return ext_fmt is not None
    return ext_fmt == fmt


def _expand(item: str, cfg: JobConfig, fmt: str, key: str) -> list[Path]:
    resolved = cfg.resolve_path(item)
    if _GLOB_CHARS.search(item):
        matches = [Path(p) for p in sorted(globlib.glob(str(resolved), recursive=True))]
        files = [p for p in matches if p.is_file() and _wanted(p, fmt)]
        if not files:
            raise InputError(
                f"the pattern in {key} matched no transcript files "
                f"({len(matches)} paths matched, none of a supported format: "
                f"{_fmt_list(sorted(EXTENSIONS))})",
                path=resolved,
            )
        return files
    if resolved.is_dir():
        entries = sorted(p for p in resolved.iterdir() if p.is_file())
        files = [p for p in entries if _wanted(p, fmt)]
        skipped = [p.name for p in entries if p not in files]
        if skipped:
            log.info(
                "%s: skipped %d files that are not transcripts: %s",
                resolved,
                len(skipped),
                _fmt_list(skipped),
            )
        if not files:
            raise InputError(
                "the folder holds no transcript files (looked for "
                f"{_fmt_list(sorted(EXTENSIONS))}; hand_codes* tables are not transcripts)",
                path=resolved,
            )
        return files
    if resolved.is_file():
        return [resolved]
    raise InputError(f"file or folder not found (from {key} = {item!r})", path=resolved)


def corpus_files(cfg: JobConfig) -> list[Path]:
    """The transcript files ``corpus.path`` names, in order, each once."""
    out: list[Path] = []
    seen: set[Path] = set()
    for item in _split_items(cfg.corpus.path):
        for p in _expand(item, cfg, cfg.corpus.format, "corpus.path"):
            key = p.resolve()
            if key not in seen:
                seen.add(key)
                out.append(p)
    if not out:
        raise ConfigError("names no files", key="corpus.path")
    return out


def hand_code_files(cfg: JobConfig) -> list[Path]:
    """The hand-code tables ``corpus.hand_codes`` names (empty when it is not set)."""
    value = cfg.corpus.hand_codes
    if not value:
        return []
    resolved = cfg.resolve_path(value)
    if _GLOB_CHARS.search(value):
        files = [Path(p) for p in sorted(globlib.glob(str(resolved), recursive=True))]
        files = [
            p for p in files if p.is_file() and EXTENSIONS.get(p.suffix.lower()) in TABLE_FORMATS
        ]
    elif resolved.is_dir():
        files = sorted(
            p
            for p in resolved.iterdir()
            if p.is_file()
            and p.name.lower().startswith(HAND_CODES_PREFIX)
            and EXTENSIONS.get(p.suffix.lower()) in TABLE_FORMATS
        )
    elif resolved.is_file():
        files = [resolved]
    else:
        raise InputError(
            f"hand-codes file or folder not found (from corpus.hand_codes = {value!r})",
            path=resolved,
        )
    if not files:
        raise InputError(
            "no hand-code tables found (in a folder, themekit reads the tables whose names "
            "start with 'hand_codes', e.g. hand_codes.csv)",
            path=resolved,
        )
    return files


def input_files(cfg: JobConfig) -> list[Path]:
    """Every file the corpus and its hand codes read (for hashing in the run manifest)."""
    files = corpus_files(cfg)
    return files + [p for p in hand_code_files(cfg) if p not in files]


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


# ================================================================================ decoding
def _check_codec(encoding: str) -> str:
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise ConfigError(f"unknown text encoding {encoding!r}", key="corpus.encoding") from None


def _line_of(data: bytes, index: int) -> int:
    return data[:index].count(b"\n") + 1


def decode_bytes(data: bytes, path: Path, encoding: str = "auto") -> str:
    """Decode a file's bytes (see the module docstring for the rules) and normalise line ends."""
    if encoding != "auto":
        codec = _check_codec(encoding)
        try:
            text = data.decode(codec)
        except UnicodeDecodeError as exc:
            raise InputError(
                f"cannot be decoded as {encoding} (corpus.encoding): byte {exc.start} is not "
                f"valid ({exc.reason}). Set corpus.encoding to the file's encoding, or 'auto'.",
                path=path,
                line=_line_of(data, exc.start),
            ) from None
        return _newlines(text.removeprefix("\ufeff"))
    for bom, codec in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            try:
                return _newlines(data.decode(codec))
            except UnicodeDecodeError as exc:
                raise InputError(
                    f"starts with a {codec} byte-order mark but is not valid {codec} "
                    f"({exc.reason} at byte {exc.start})",
                    path=path,
                ) from None
    if b"\x00" not in data:
        try:
            return _newlines(data.decode("utf-8"))
        except UnicodeDecodeError as exc:
            first_bad = exc.start
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            text = ""
        if text and not _CONTROL.search(text):
            log.warning(
                "%s is not UTF-8; read it as Windows-1252 (cp1252). Set corpus.encoding if that is wrong.",
                path,
            )
            return _newlines(text)
    else:
        first_bad = data.index(b"\x00")
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is not None:
        text = str(best)
        if not _CONTROL.search(text):
            log.warning(
                "%s is not UTF-8; read it as %s (a guess). Set corpus.encoding if that is wrong.",
                path,
                best.encoding,
            )
            return _newlines(text)
    raise InputError(
        "is not a text file themekit can decode: it is not UTF-8 (first bad byte at offset "
        f"{first_bad}) and no other text encoding fits (it may be a binary or a renamed Word "
        ".doc file). Save it as UTF-8 text, or set corpus.encoding.",
        path=path,
        line=_line_of(data, first_bad),
    )


def _newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_text(path: Path, encoding: str = "auto") -> str:
    """A text file's decoded content; InputError when it is missing, empty or undecodable."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError("file not found", path=path) from None
    except OSError as exc:
        raise InputError(f"cannot be read ({exc.strerror})", path=path) from None
    if not data.strip():
        raise InputError("the file is empty", path=path)
    text = decode_bytes(data, path, encoding)
    if not text.strip():
        raise InputError("the file is empty (only white space)", path=path)
    return text


def source_text(path: str | Path, encoding: str = "auto", fmt: str = "auto") -> str:
    """The text that segments' ``char_start``/``char_end`` point into (for REFI-QDA export)."""
    path = Path(path)
    if file_format(path, fmt) == "docx":
        return "\n".join(_docx_lines(path))
    return read_text(path, encoding)


# ====================================================================== plain transcripts
@dataclass
class _Line:
    number: int
    text: str
    offset: int


class _TurnBuilder:
    """Accumulates a turn's text together with each character's source offset."""

    def __init__(self, speaker: str, line: int, start: float | None) -> None:
        self.speaker = speaker
        self.line = line
        self.start = start
        self.text: list[str] = []
        self.offsets: list[int] = []
        self.continuations: list[int] = []

    def add(self, text: str, offsets: Sequence[int] | int) -> None:
        if not text:
            return
        offs = (
            list(range(offsets, offsets + len(text))) if isinstance(offsets, int) else list(offsets)
        )
        if self.text:
            self.text.append("\n")
            self.offsets.append(self.offsets[-1] + 1)
        self.text.append(text)
        self.offsets.extend(offs)

    @property
    def body(self) -> str:
        return "".join(self.text)


def parse_timestamp(value: str) -> float:
    """``01:02:03.5`` / ``02:03`` / ``01:02:03,500`` -> seconds."""
    parts = value.replace(",", ".").split(":")
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + float(part)
    return seconds


def _split_timestamp(text: str) -> tuple[float | None, int]:
    m = _LEADING_TS.match(text)
    if not m:
        return None, 0
    ts = next(g for g in m.groups() if g)
    return parse_timestamp(ts), m.end()


def looks_like_speaker(name: str) -> bool:
    """True for names such as ``Mr. K``, ``P1``, ``MODERATOR``, ``Che Mat``, ``Ahmad bin Ali``."""
    name = name.strip()
    if not name or not _NAME_CHARS.match(name) or not name[0].isalpha():
        return False
    words = name.split()
    if len(words) > 5:
        return False
    if len(words) == 1 and _ROLE_WORDS.match(name):
        return True
    return all(
        w[0].isupper() or w[0].isdigit() or w[0] == "(" or w.lower() in _PARTICLES for w in words
    )


def _parse_turn_line(text: str) -> tuple[str, str, int, float | None] | None:
    """(speaker, text, column where the text starts, timestamp) or None for a non-turn line."""
    ts, col = _split_timestamp(text)
    m = _TURN.match(text[col:])
    if not m or not looks_like_speaker(m.group("name")):
        return None
    return m.group("name").strip(), m.group("text"), col + m.start("text"), ts


def _lines(text: str) -> list[_Line]:
    out = []
    offset = 0
    for number, line in enumerate(text.split("\n"), start=1):
        out.append(_Line(number, line, offset))
        offset += len(line) + 1
    return out


def parse_transcript(
    text: str, path: Path, session: str, *, unit: str = "line"
) -> tuple[list[Turn], dict[str, str]]:
    """Turns of a plain-text transcript, and its header lines (see the module docstring)."""
    builders: list[_TurnBuilder] = []
    header: list[str] = []
    in_top_block = True
    previous_blank = False
    for line in _lines(text):
        raw = line.text
        stripped = raw.strip()
        if not stripped:
            previous_blank = True
            if builders or header:
                in_top_block = False
            continue
        if stripped.startswith("#"):
            continue
        parsed = _parse_turn_line(raw)
        if not builders:
            key = raw.split(":", 1)[0].strip().lower() if ":" in raw else ""
            if key in HEADER_KEYS or (parsed is None and in_top_block):
                header.append(stripped)
                previous_blank = False
                continue
        if parsed is not None:
            speaker, body, col, ts = parsed
            builder = _TurnBuilder(speaker, line.number, ts)
            body_stripped = body.rstrip()
            builder.add(body_stripped, line.offset + col)
            builders.append(builder)
        elif not builders:
            raise InputError(
                f"{stripped[:60]!r} is not a speaker turn and comes before the first turn. "
                "Each turn starts with the speaker's name and a colon, e.g. 'P1: I joined in "
                "2015.' Put a title at the very top followed by a blank line, or start notes "
                "with '#'.",
                path=path,
                line=line.number,
            )
        else:
            _ts, col = _split_timestamp(raw)
            while col < len(raw) and raw[col].isspace():
                col += 1
            current = builders[-1]
            current.add(raw[col:].rstrip(), line.offset + col)
            current.continuations.append(line.number)
            level = logging.WARNING if previous_blank else logging.INFO
            log.log(
                level,
                "%s, %s %d: not a 'Speaker: text' turn; joined to the previous turn (%s, %s %d)%s",
                path,
                unit,
                line.number,
                current.speaker,
                unit,
                current.line,
                "; if it is a new turn, start it with the speaker's name and a colon"
                if previous_blank
                else "",
            )
        previous_blank = False
        in_top_block = False
    turns: list[Turn] = []
    for number, b in enumerate(builders, start=1):
        body = b.body
        if not body.strip():
            log.warning(
                "%s, %s %d: the turn of %s has no text; skipped", path, unit, b.line, b.speaker
            )
            continue
        meta: dict[str, Any] = {"line": b.line}
        if b.continuations:
            meta["continuation_lines"] = b.continuations
        turns.append(
            Turn(
                id=f"{session}-{number:04d}",
                text=body,
                session=session,
                source=str(path),
                speaker=b.speaker,
                number=number,
                offsets=b.offsets,
                start=b.start,
                meta=meta,
            )
        )
    if not turns:
        raise InputError(
            "contains no speech: no line of the form 'Speaker: text' was found "
            "(e.g. 'P1: I joined in 2015.')",
            path=path,
        )
    return turns, {"header": " | ".join(header)} if header else {}


def read_transcript(path: Path, session: str, encoding: str = "auto") -> list[Turn]:
    turns, header = parse_transcript(read_text(path, encoding), path, session)
    if header:
        for t in turns:
            t.meta.update(header)
    return turns


# ============================================================================= subtitles
@dataclass
class _Cue:
    start: float | None
    end: float | None
    speaker: str
    text: str
    offsets: list[int] | None


_VOICE = re.compile(r"<v(?:\.[\w.-]+)?\s+([^>]*)>")
_TAG = re.compile(r"</?[a-zA-Z][^>]*>|<\d{1,2}:\d{2}[^>]*>")
_ENTITY = re.compile(r"&(?:#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);")
_PREFIX_SPEAKER = re.compile(r"^\s*(?:-\s*)?(?P<name>[^\W\d_][^:\n]{0,48}?)\s*:\s+")


def _clean_with_offsets(raw: str, base: int) -> tuple[str, list[int]]:
    """Remove tags and unescape entities, keeping each output character's source offset."""
    out: list[str] = []
    offs: list[int] = []
    i = 0
    while i < len(raw):
        m = _TAG.match(raw, i)
        if m:
            i = m.end()
            continue
        m = _ENTITY.match(raw, i) if raw[i] == "&" else None
        if m:
            for ch in html.unescape(m.group(0)):
                out.append(ch)
                offs.append(base + i)
            i = m.end()
            continue
        out.append(raw[i])
        offs.append(base + i)
        i += 1
    return "".join(out), offs


def _cue_from_block(
    block: str, block_offset: int, start: float | None, end: float | None, voice: str | None
) -> _Cue:
    text, offs = _clean_with_offsets(block, block_offset)
    speaker = (voice or "").strip()
    if not speaker:
        m = _PREFIX_SPEAKER.match(text)
        if m and looks_like_speaker(m.group("name")):
            speaker = m.group("name").strip()
            text, offs = text[m.end() :], offs[m.end() :]
    lead = len(text) - len(text.lstrip())
    text, offs = text[lead:], offs[lead:]
    trail = len(text.rstrip())
    return _Cue(start, end, speaker, text[:trail], offs[:trail])


def _locate(source: str, block: str, cursor: int) -> int:
    return source.find(block, cursor) if block else -1


def _cues_to_turns(cues: list[_Cue], path: Path, session: str) -> list[Turn]:
    has_speakers = any(c.speaker for c in cues)
    groups: list[list[_Cue]] = []
    for cue in cues:
        if not cue.text.strip():
            continue
        if not groups:
            groups.append([cue])
            continue
        last = groups[-1][-1]
        if has_speakers:
            same = not cue.speaker or cue.speaker == groups[-1][0].speaker
        else:
            same = not re.search(r"[.!?…。]['\"”’)]*\s*$", last.text)
        if same:
            groups[-1].append(cue)
        else:
            groups.append([cue])
    turns: list[Turn] = []
    for number, group in enumerate(groups, start=1):
        b = _TurnBuilder(group[0].speaker, number, group[0].start)
        offsets_known = all(c.offsets is not None for c in group)
        for c in group:
            b.add(c.text, c.offsets if c.offsets is not None else 0)
        turns.append(
            Turn(
                id=f"{session}-{number:04d}",
                text=b.body,
                session=session,
                source=str(path),
                speaker=group[0].speaker,
                number=number,
                offsets=b.offsets if offsets_known else None,
                start=group[0].start,
                end=group[-1].end,
                meta={"cues": len(group)},
            )
        )
    if not turns:
        raise InputError("contains no speech: the subtitle file has no cue with text", path=path)
    return turns


def read_vtt(path: Path, session: str, encoding: str = "auto") -> list[Turn]:
    import webvtt
    from webvtt.errors import MalformedCaptionError, MalformedFileError

    text = read_text(path, encoding)
    try:
        captions = list(webvtt.from_string(text).captions)
    except (MalformedFileError, MalformedCaptionError) as exc:
        raise InputError(
            f"is not a valid WebVTT file ({exc}); it must start with 'WEBVTT' and hold cues like "
            "'00:00:01.000 --> 00:00:04.000' followed by their text",
            path=path,
        ) from None
    cues: list[_Cue] = []
    cursor = 0
    for cap in captions:
        raw = cap.raw_text
        at = _locate(text, raw, cursor)
        cue = _cue_from_block(
            raw, max(at, 0), parse_timestamp(cap.start), parse_timestamp(cap.end), cap.voice
        )
        if at < 0:
            cue.offsets = None
        else:
            cursor = at + len(raw)
        cues.append(cue)
    return _cues_to_turns(cues, path, session)


def read_srt(path: Path, session: str, encoding: str = "auto") -> list[Turn]:
    import srt

    text = read_text(path, encoding)
    try:
        subs = list(srt.parse(text))
    except (srt.SRTParseError, ValueError) as exc:
        line = text[: getattr(exc, "actual_start", 0)].count("\n") + 1
        raise InputError(
            "is not a valid SRT file: expected numbered blocks of a time line "
            "'00:00:01,000 --> 00:00:04,000' followed by the text",
            path=path,
            line=line,
        ) from None
    cues: list[_Cue] = []
    cursor = 0
    for sub in subs:
        raw = sub.content
        voice_m = _VOICE.search(raw)
        at = _locate(text, raw, cursor)
        cue = _cue_from_block(
            raw,
            max(at, 0),
            sub.start.total_seconds(),
            sub.end.total_seconds(),
            voice_m.group(1) if voice_m else None,
        )
        if at < 0:
            cue.offsets = None
        else:
            cursor = at + len(raw)
        cues.append(cue)
    return _cues_to_turns(cues, path, session)


# ================================================================================== docx
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


# ================================================================================ tables
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
        text = read_text(path, encoding)
        try:
            frame = pd.read_csv(
                io.StringIO(text),
                sep="\t" if fmt == "tsv" else ",",
                dtype=str,
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
    for row, rec in enumerate(frame.to_dict(orient="records"), start=1):

        def get(field: str, rec: dict[Any, Any] = rec) -> Any:
            col = cols[field]
            return rec.get(col) if col is not None else None

        text = _cell(get("text"))
        if text is None:
            empty_rows.append(row)
            continue
        sess = _cell(get("session")) or session
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
                source=str(path),
                speaker=_cell(get("speaker")) or "",
                number=row,
                offsets=None,
                start=_seconds(get("start"), path, row, str(cols["start"])),
                end=_seconds(get("end"), path, row, str(cols["end"])),
                language=language,
                code=_cell(get("code")),
                secondary_code=_cell(get("secondary_code")),
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


# ============================================================================ hand codes
@dataclass(frozen=True)
class HandCode:
    code: str | None
    secondary_code: str | None
    language: str | None
    has_secondary: bool
    path: str
    row: int


def read_hand_codes(paths: Sequence[Path], encoding: str = "auto") -> dict[str, HandCode]:
    """``{segment_id: HandCode}`` from hand-code tables (see the module docstring)."""
    out: dict[str, HandCode] = {}
    for path in paths:
        fmt = file_format(path)
        if fmt not in TABLE_FORMATS:
            raise InputError(
                f"hand codes must be a table ({_fmt_list(TABLE_FORMATS)}), got {fmt}", path=path
            )
        frame = read_table_frame(path, fmt, encoding)
        id_col = next((c for c in ("segment_id", "id", "seg_id") if c in frame.columns), None)
        if id_col is None or "code" not in frame.columns:
            missing = "a 'segment_id' column" if id_col is None else "a 'code' column"
            raise InputError(
                f"a hand-codes table needs {missing} (columns: segment_id, code, and optionally "
                f"secondary_code, language); its columns are: {_fmt_list(map(str, frame.columns))}",
                path=path,
            )
        has_secondary = "secondary_code" in frame.columns
        for row, rec in enumerate(frame.to_dict(orient="records"), start=1):
            seg_id = _cell(rec.get(id_col))
            if seg_id is None:
                raise InputError(f"empty {id_col!r}", path=path, row=row)
            if seg_id in out:
                prev = out[seg_id]
                raise InputError(
                    f"segment {seg_id!r} is hand-coded twice (also in {prev.path}, row {prev.row})",
                    path=path,
                    row=row,
                )
            try:
                language = normalize_language_label(rec.get("language"))
            except ValueError as exc:
                raise InputError(f"column 'language': {exc}", path=path, row=row) from None
            out[seg_id] = HandCode(
                _cell(rec.get("code")),
                _cell(rec.get("secondary_code")),
                language,
                has_secondary,
                str(path),
                row,
            )
    return out


def attach_hand_codes(segments: list[Segment], codes: dict[str, HandCode]) -> list[Segment]:
    """Give each segment the hand code of its id, or of the turn it was cut from."""
    used: set[str] = set()
    out: list[Segment] = []
    for seg in segments:
        key = seg.id if seg.id in codes else str(seg.meta.get("turn_id", ""))
        hc = codes.get(key)
        if hc is None:
            out.append(seg)
            continue
        used.add(key)
        meta = dict(seg.meta)
        changes: dict[str, Any] = {"code": hc.code}
        if hc.has_secondary:
            changes["secondary_code"] = hc.secondary_code
        if hc.language:
            changes["language"] = hc.language
            meta["language_source"] = "hand_codes"
        out.append(replace(seg, meta=meta, **changes))
    if codes and not used:
        sample_codes = _fmt_list(list(codes)[:3])
        sample_ids = _fmt_list(s.id for s in segments[:3])
        first = next(iter(codes.values()))
        raise InputError(
            f"none of the {len(codes)} segment ids in the hand codes matches a segment of the "
            f"corpus (hand codes: {sample_codes} ...; corpus: {sample_ids} ...)",
            path=first.path,
        )
    unused = [k for k in codes if k not in used]
    if unused:
        log.warning(
            "%d hand-coded segment ids are not in the corpus (e.g. %s)",
            len(unused),
            _fmt_list(unused[:5]),
        )
    uncoded = [s.id for s in out if not s.code and not s.is_context]
    if uncoded:
        log.warning("%d segments have no hand code (e.g. %s)", len(uncoded), _fmt_list(uncoded[:5]))
    return out


# ================================================================================ loading
def read_file(path: Path, session: str, cfg: JobConfig) -> list[Turn]:
    """The turns of one file, by its format."""
    fmt = file_format(path, cfg.corpus.format)
    enc = cfg.corpus.encoding
    if fmt == "transcript":
        return read_transcript(path, session, enc)
    if fmt == "vtt":
        return read_vtt(path, session, enc)
    if fmt == "srt":
        return read_srt(path, session, enc)
    if fmt == "docx":
        return read_docx(path, session)
    return read_table(path, fmt, session, cfg.corpus.columns, enc)


def load_corpus(cfg: JobConfig, progress: ProgressCallback | None = None) -> Corpus:
    """Read, segment, attach hand codes and fill languages; see the module docstring."""
    if cfg.corpus.encoding != "auto":
        _check_codec(cfg.corpus.encoding)
    files = corpus_files(cfg)
    if cfg.corpus.session and len(files) > 1:
        raise ConfigError(
            f"names the session of a single file, but corpus.path names {len(files)} files "
            "(each file is its own session, named after the file)",
            key="corpus.session",
        )
    turns: list[Turn] = []
    for i, path in enumerate(files, start=1):
        session = cfg.corpus.session or path.stem
        file_turns = read_file(path, session, cfg)
        log.info("%s: %d turns", path, len(file_turns))
        turns.extend(file_turns)
        if progress is not None:
            progress("load", i, len(files))
    segments = segment_turns(turns, cfg.segmentation)
    if not segments:
        raise InputError(
            "no segments left after segmentation (check segmentation.moderator and "
            "segmentation.min_chars)",
            path=files[0],
        )
    codes_files = hand_code_files(cfg)
    if codes_files:
        segments = attach_hand_codes(segments, read_hand_codes(codes_files, cfg.corpus.encoding))
    corpus = Corpus(segments)
    corpus = fill_languages(corpus, cfg.language)
    if progress is not None:
        progress("language", len(corpus), len(corpus))
    return corpus
