"""Subtitles (``.vtt`` WebVTT, ``.srt`` SubRip) from Zoom, Teams or transcription services.

Speakers come from ``<v Name>`` tags or a ``Name:`` prefix; consecutive cues of one speaker
(or, without speakers, up to the end of a sentence) are merged back into turns.

A cue whose timing line is malformed or missing, or ends before it starts, is an
:class:`~themekit.errors.InputError` naming its line; with ``corpus.lenient: true`` such cues are
dropped instead, with a warning that names every one (never silently dropped, or merged into
the previous cue as the SubRip format's parsers do).
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from themekit.errors import InputError
from themekit.readers.text import read_text
from themekit.readers.transcript import _TurnBuilder, looks_like_speaker, parse_timestamp
from themekit.segment import Turn

log = logging.getLogger(__name__)


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
_TS = r"(?:(\d+):)?(\d{1,2}):(\d{1,2})[.,](\d{1,3})"
_TIMING = re.compile(rf"^\s*{_TS}\s*-->\s*{_TS}(?:\s.*)?$")
_VTT_SKIP = ("WEBVTT", "NOTE", "STYLE", "REGION", "\ufeffWEBVTT")
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


def _seconds(groups: Sequence[str | None]) -> float:
    h, m, sec, frac = groups
    return (
        int(h or 0) * 3600
        + int(m or 0) * 60
        + int(sec or 0)
        + int(frac or 0) / 10 ** len(frac or "0")
    )


def _bad_cues(text: str, fmt: str) -> list[tuple[int, int, int, str]]:
    """``(line, start, end, reason)`` of each cue block whose timing is malformed, missing or
    reversed (``start``/``end``: the block's character span in ``text``)."""
    bad = []
    for m in re.finditer(r"[^\n]+(?:\n[^\n]*\S[^\n]*)*", text):
        block = m.group(0)
        lines = block.split("\n")
        if not block.strip():
            continue
        line_no = text.count("\n", 0, m.start()) + 1
        if fmt == "vtt" and lines[0].lstrip().startswith(_VTT_SKIP):
            continue
        # the timing line: the first (VTT, or SRT without a number) or the second
        candidates = lines[:2] if fmt == "vtt" or lines[0].strip().isdigit() else lines[:1]
        timing = next((c for c in candidates if "-->" in c), None)
        if timing is None:  # a timing line without its arrow: '00:00:03.000 -> 00:00:04.000'
            timing = next((c for c in candidates if re.search(r"\d:\d\d", c)), None)
        if timing is None and fmt == "srt" and lines[0].strip().isdigit() and len(lines) > 1:
            timing = lines[1]
        where = line_no + (lines.index(timing) if timing in lines else 0)
        if timing is None:
            reason = "has no timing line ('00:00:01.000 --> 00:00:04.000')"
        else:
            t = _TIMING.match(timing)
            if t is None:
                reason = f"has a malformed timing line {timing.strip()[:60]!r}"
            elif _seconds(t.groups()[4:8]) < _seconds(t.groups()[:4]):
                reason = f"ends before it starts ({timing.strip()[:60]!r})"
            else:
                continue
        bad.append((where, m.start(), m.end(), reason))
    return bad


def _check_cues(text: str, path: Path, fmt: str, lenient: bool) -> str:
    """``text`` if every cue's timing is sound; otherwise an :class:`InputError` naming the
    first bad cue, or (``lenient``) the text with the bad cues blanked out (offsets kept) and a
    warning naming each one."""
    bad = _bad_cues(text, fmt)
    if not bad:
        return text
    if not lenient:
        line, _, _, reason = bad[0]
        more = f" ({len(bad) - 1} more cue(s) like it)" if len(bad) > 1 else ""
        raise InputError(
            f"the cue {reason}{more}. Correct it, or set corpus.lenient: true to drop such cues "
            "with a warning",
            path=path,
            line=line,
        )
    log.warning(
        "%s: corpus.lenient is true: dropped %d cue(s) with bad timing: %s",
        path,
        len(bad),
        "; ".join(f"line {line}: {reason}" for line, _, _, reason in bad),
    )
    chars = list(text)
    for _, start, end, _ in bad:
        chars[start:end] = "\n" * (end - start)
    return "".join(chars)


def _located_cues(
    text: str, blocks: Sequence[tuple[str, float | None, float | None, str | None]]
) -> list[_Cue]:
    """Cues from (raw text, start, end, voice) blocks, each located in ``text`` after the
    previous one; a block that cannot be found keeps no character offsets."""
    cues: list[_Cue] = []
    cursor = 0
    for raw, start, end, voice in blocks:
        at = _locate(text, raw, cursor)
        cue = _cue_from_block(raw, max(at, 0), start, end, voice)
        if at < 0:
            cue.offsets = None
        else:
            cursor = at + len(raw)
        cues.append(cue)
    return cues


def read_vtt(
    path: Path, session: str, encoding: str = "auto", *, lenient: bool = False
) -> list[Turn]:
    import webvtt
    from webvtt.errors import MalformedCaptionError, MalformedFileError

    text = read_text(path, encoding)
    checked = (
        _check_cues(text, path, "vtt", lenient)
        if text.lstrip("\ufeff").startswith("WEBVTT")
        else text
    )
    try:
        captions = list(webvtt.from_string(checked).captions)
    except (MalformedFileError, MalformedCaptionError) as exc:
        raise InputError(
            f"is not a valid WebVTT file ({exc}); it must start with 'WEBVTT' and hold cues like "
            "'00:00:01.000 --> 00:00:04.000' followed by their text",
            path=path,
        ) from None
    blocks = [
        (cap.raw_text, parse_timestamp(cap.start), parse_timestamp(cap.end), cap.voice)
        for cap in captions
    ]
    return _cues_to_turns(_located_cues(text, blocks), path, session)


def read_srt(
    path: Path, session: str, encoding: str = "auto", *, lenient: bool = False
) -> list[Turn]:
    import srt

    text = read_text(path, encoding)
    checked = _check_cues(text, path, "srt", lenient)
    try:
        subs = list(srt.parse(checked))
    except (srt.SRTParseError, ValueError) as exc:
        line = text[: getattr(exc, "actual_start", 0)].count("\n") + 1
        raise InputError(
            "is not a valid SRT file: expected numbered blocks of a time line "
            "'00:00:01,000 --> 00:00:04,000' followed by the text",
            path=path,
            line=line,
        ) from None
    blocks = []
    for sub in subs:
        voice_m = _VOICE.search(sub.content)
        blocks.append(
            (
                sub.content.rstrip("\n"),
                sub.start.total_seconds(),
                sub.end.total_seconds(),
                voice_m.group(1) if voice_m else None,
            )
        )
    return _cues_to_turns(_located_cues(text, blocks), path, session)
