"""Cut speaker turns into segments that carry (ideally) one idea each.

The readers in :mod:`themekit.load` produce :class:`Turn` objects (one speaker turn, or one
row of a table); :func:`segment_turns` turns them into :class:`~themekit.corpus.Segment`
objects according to ``segmentation.strategy``:

``turn``
    one segment per turn.
``sentences``
    the turn is split into sentences (pysbd's rule-based splitter, which handles
    abbreviations such as ``Mr.`` and ``Dr.``; its English rules are used for Malay too,
    since both write sentences the same way) and consecutive sentences are grouped
    greedily while the group stays within ``max_tokens`` tokens. A single sentence longer
    than the budget stays whole.
``window``
    a turn longer than ``window_tokens`` tokens (a long monologue) is cut into overlapping
    windows of ``window_tokens`` tokens, one every ``window_stride`` tokens; the last window
    ends at the turn's last token, so nothing is lost. Shorter turns stay whole.

"Tokens" are whitespace-separated words everywhere here (not a model tokenizer's sub-words;
a multilingual tokenizer gives roughly 1.3–2 sub-words per Malay or English word).

Ids: a turn that stays whole keeps the turn's id (``week1-0007``); a turn cut into several
pieces gives ``<turn id>.<k>`` with ``k`` counted from 1 (``week1-0007.2``). Hand codes that
name the turn reach every piece through ``meta["turn_id"]``.

Moderator turns (speaker matching ``moderator_pattern``) are kept, dropped, or kept as
context only (``Segment.is_context``: shown next to the talk they prompt, never clustered),
as ``segmentation.moderator`` says. In a session where no speaker matches the pattern and the
turns read as a conversation led by one questioner, ``moderator_detect`` reads as the moderator
the speaker who ends most of their turns with a question mark while the others mostly answer
(:func:`detect_moderators`; logged as a warning; their segments carry
``meta["moderator_inferred"]``).

Every segment's text is normalised by :func:`themekit.normalize.normalize_text`; the
transcription marks taken out of it are kept in ``meta["marks"]``. ``char_start`` /
``char_end`` give the span of the segment in the source text (see
:func:`themekit.load.source_text`) when the reader knows it.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from themekit.corpus import Segment
from themekit.errors import ConfigError
from themekit.normalize import normalize_text

if TYPE_CHECKING:  # pragma: no cover
    from themekit.config.corpus import SegmentationConfig

log = logging.getLogger(__name__)

_TOKEN = re.compile(r"\S+")


@dataclass(slots=True)
class Turn:
    """One speaker turn (or one table row) before segmentation.

    ``text`` is the raw text of the turn (lines joined with ``\\n``; marks not yet removed).
    ``offsets``, where known, gives for each character of ``text`` its offset in the source
    text, so that every piece cut from the turn can be traced back to the file.
    """

    id: str
    text: str
    session: str
    source: str
    speaker: str = ""
    number: int = 0
    offsets: list[int] | None = None
    start: float | None = None
    end: float | None = None
    language: str | None = None
    code: str | None = None
    secondary_code: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


# -- span finders: each returns (start, end) character spans of ``text`` ----------------------
def turn_spans(text: str) -> list[tuple[int, int]]:
    return [(0, len(text))]


@functools.lru_cache(maxsize=1)
def _sentence_splitter() -> Any:
    import pysbd

    return pysbd.Segmenter(language="en", clean=False)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of ``text``, in order, covering all of it."""
    if not text.strip():
        return [(0, len(text))]
    pieces = _sentence_splitter().segment(text)
    spans: list[tuple[int, int]] = []
    cursor = 0
    for piece in pieces:
        body = piece.strip()
        if not body:
            continue
        at = text.find(body, cursor)
        if at < 0:  # the splitter changed the text; keep the rest as one piece
            break
        spans.append((cursor, at + len(body)))
        cursor = at + len(body)
    if cursor < len(text):
        if text[cursor:].strip() or not spans:
            spans.append((cursor, len(text)))
        else:
            spans[-1] = (spans[-1][0], len(text))
    return spans


def _n_tokens(text: str) -> int:
    return len(_TOKEN.findall(text))


def grouped_sentence_spans(text: str, max_tokens: int) -> list[tuple[int, int]]:
    """Sentences grouped greedily while a group stays within ``max_tokens`` tokens."""
    groups: list[tuple[int, int]] = []
    size = 0
    for start, end in sentence_spans(text):
        n = _n_tokens(text[start:end])
        if groups and size + n <= max_tokens:
            groups[-1] = (groups[-1][0], end)
            size += n
        else:
            groups.append((start, end))
            size = n
    return groups


def window_spans(text: str, window: int, stride: int) -> list[tuple[int, int]]:
    """Overlapping windows of ``window`` tokens every ``stride`` tokens (last one at the end)."""
    tokens = [(m.start(), m.end()) for m in _TOKEN.finditer(text)]
    if len(tokens) <= window:
        return [(0, len(text))]
    starts = list(range(0, len(tokens) - window, stride))
    starts.append(len(tokens) - window)
    return [(tokens[i][0], tokens[i + window - 1][1]) for i in sorted(set(starts))]


# -- segmentation --------------------------------------------------------------------------------
def _moderator_regex(cfg: SegmentationConfig) -> re.Pattern[str]:
    try:
        return re.compile(cfg.moderator_pattern)
    except re.error as exc:
        raise ConfigError(
            f"not a valid regular expression ({exc}). Got {cfg.moderator_pattern!r}.",
            key="segmentation.moderator_pattern",
        ) from None


def spans_for(text: str, cfg: SegmentationConfig) -> list[tuple[int, int]]:
    if cfg.strategy == "turn":
        return turn_spans(text)
    if cfg.strategy == "sentences":
        return grouped_sentence_spans(text, cfg.max_tokens)
    return window_spans(text, cfg.window_tokens, cfg.window_stride)


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def segment_turn(
    turn: Turn, cfg: SegmentationConfig, *, is_context: bool = False, position: int = 0
) -> list[Segment]:
    """The segments of one turn, at positions ``position``, ``position + 1``, ... within their
    session (:func:`segment_turns` passes how many segments the session has so far)."""
    spans = spans_for(turn.text, cfg)
    out: list[Segment] = []
    for k, (s0, e0) in enumerate(spans, start=1):
        start, end = _trim(turn.text, s0, e0)
        norm = normalize_text(turn.text[start:end])
        if not norm.text or len(norm.text) < cfg.min_chars:
            log.debug(
                "%s: piece %d of turn %s is empty or too short; dropped", turn.source, k, turn.id
            )
            continue
        meta: dict[str, Any] = dict(turn.meta)
        meta["turn_id"] = turn.id
        if turn.number:
            meta["turn_number"] = turn.number
        if norm.marks:
            meta["marks"] = norm.marks
        char_start = char_end = None
        if turn.offsets is not None and end > start:
            char_start = turn.offsets[start]
            char_end = turn.offsets[end - 1] + 1
        out.append(
            Segment(
                id=turn.id if len(spans) == 1 else f"{turn.id}.{k}",
                text=norm.text,
                session=turn.session,
                speaker=turn.speaker,
                language=turn.language or "unknown",
                source=turn.source,
                start=turn.start,
                end=turn.end,
                char_start=char_start,
                char_end=char_end,
                code=turn.code,
                secondary_code=turn.secondary_code,
                is_context=is_context,
                meta=meta,
                position=position + len(out),
            )
        )
    return out


#: :func:`detect_moderators`: the share of a speaker's turns that must end with "?" ...
QUESTION_SHARE = 0.5
#: ... and how many turns they must have in the session ...
MIN_MODERATOR_TURNS = 3
#: ... and by how much their share must exceed the other speakers' (pooled): in a conversation led
#: by one questioner the others mostly answer (demo: moderators 85-88 %, participants at most
#: 5 %); in a table of independent texts (question titles, survey answers) everyone "asks" alike.
QUESTION_CONTRAST = 0.4
#: ... and the share of their questions that the next turn, by someone else, answers (does not
#: end with "?" itself).
ANSWERED_SHARE = 0.5


def _is_asked(text: str) -> bool:
    return text.rstrip().endswith("?")


def _conversation_stats(turns: Sequence[Turn], speaker: str) -> tuple[int, int, float, float]:
    """In one session's turns (reading order): the speaker's turns, those ending with "?", the
    other speakers' share of turns ending with "?", and the share of the speaker's questions
    that the next turn, by another speaker, answers without a question of its own."""
    mine = [i for i, t in enumerate(turns) if t.speaker == speaker]
    asked = [i for i in mine if _is_asked(turns[i].text)]
    others = [t for t in turns if t.speaker and t.speaker != speaker]
    others_share = sum(_is_asked(t.text) for t in others) / len(others) if others else 1.0
    answered = sum(
        1
        for i in asked
        if i + 1 < len(turns)
        and turns[i + 1].speaker not in ("", speaker)
        and not _is_asked(turns[i + 1].text)
    )
    return len(mine), len(asked), others_share, answered / len(asked) if asked else 0.0


def detect_moderators(turns: Sequence[Turn], cfg: SegmentationConfig) -> set[tuple[str, str]]:
    """(session, speaker) pairs read as the moderator in sessions where no speaker matches
    ``moderator_pattern`` and the turns read as a conversation led by one questioner: the
    speaker who ends the largest share of their turns with a question mark, if that share is at
    least :data:`QUESTION_SHARE` over at least :data:`MIN_MODERATOR_TURNS` turns, exceeds the
    other speakers' share by :data:`QUESTION_CONTRAST`, and at least :data:`ANSWERED_SHARE` of
    their questions are followed by another speaker's answer. A table of independent texts,
    where every "speaker" ends rows with "?" alike, is not a conversation: nobody is inferred."""
    regex = _moderator_regex(cfg)
    named = {t.session for t in turns if t.speaker and regex.search(t.speaker)}
    by_session: dict[str, list[Turn]] = {}
    for t in turns:
        if t.session not in named:
            by_session.setdefault(t.session, []).append(t)
    found: set[tuple[str, str]] = set()
    for session, sturns in sorted(by_session.items()):
        speakers = {t.speaker for t in sturns if t.speaker}
        if len(speakers) < 2:
            continue
        stats = {spk: _conversation_stats(sturns, spk) for spk in sorted(speakers)}
        eligible = {
            spk: st
            for spk, st in stats.items()
            if st[0] >= MIN_MODERATOR_TURNS and st[1] / st[0] >= QUESTION_SHARE
        }
        if not eligible:
            continue
        spk, (n, q, others, answered) = max(eligible.items(), key=lambda kv: kv[1][1] / kv[1][0])
        if q / n - others < QUESTION_CONTRAST or answered < ANSWERED_SHARE:
            log.info(
                "%s: %r ends %d of %d turns with a question mark, but the others end %.0f %% of "
                "theirs so and %.0f %% of the questions are answered by another speaker: not "
                "read as a conversation led by a moderator; every turn is analysed",
                session,
                spk,
                q,
                n,
                100 * others,
                100 * answered,
            )
            continue
        log.warning(
            "%s: no speaker matched segmentation.moderator_pattern; %r ends %d of %d turns with "
            "a question mark (the others %.0f %%) and is read as the moderator: their turns are "
            "context, not analysed (set moderator_pattern, or moderator_detect: false, to "
            "change this)",
            session,
            spk,
            q,
            n,
            100 * others,
        )
        found.add((session, spk))
    return found


def segment_turns(turns: Sequence[Turn], cfg: SegmentationConfig) -> list[Segment]:
    """Segment every turn; ``position`` is the 0-based order of a segment within its session."""
    regex = _moderator_regex(cfg)
    detected = (
        detect_moderators(turns, cfg) if cfg.moderator_detect and cfg.moderator != "keep" else set()
    )
    segments: list[Segment] = []
    dropped = 0
    # each segment is made at its position: no second copy of every segment (issue 15)
    counters: dict[str, int] = {}
    for turn in turns:
        inferred = (turn.session, turn.speaker) in detected
        moderator = bool(turn.speaker) and (bool(regex.search(turn.speaker)) or inferred)
        if moderator and cfg.moderator == "drop":
            dropped += 1
            continue
        if inferred:
            turn = replace(turn, meta={**turn.meta, "moderator_inferred": True})
        pieces = segment_turn(
            turn,
            cfg,
            is_context=moderator and cfg.moderator == "context",
            position=counters.get(turn.session, 0),
        )
        counters[turn.session] = counters.get(turn.session, 0) + len(pieces)
        segments.extend(pieces)
    if dropped:
        log.info("dropped %d moderator turns (segmentation.moderator = 'drop')", dropped)
    return segments
