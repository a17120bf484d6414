"""Plain transcripts (``.txt``): ``Speaker: text`` turns, line by line.

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

Turn ids are ``<session>-<turn number>``, the turn number counted from 1 in the file and
written with 4 digits (``week1-0007``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from themekit.errors import InputError
from themekit.readers.text import read_text
from themekit.segment import Turn

log = logging.getLogger(__name__)

#: Keys of ``Key: value`` header lines allowed before the first turn of a transcript.
HEADER_KEYS = frozenset(
    """
    title tajuk subject topic topik date tarikh time masa day hari location lokasi venue tempat
    session sesi group kumpulan participants peserta attendees hadir duration tempoh
    transcriber transcribed transkripsi recording rakaman language bahasa note notes
    catatan nota source sumber project projek study kajian
    """.split()
)

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
