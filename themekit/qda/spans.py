"""Segments and text sources: where each segment of a run lies in the sources of a project
(:func:`spans_from_segments`, or :func:`transcript_spans` when no run is at hand), and which
codes of a project fall on each segment (:func:`coded_segments`)."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from themekit.errors import InputError
from themekit.qda.model import QdaProject, SegmentSpan

if TYPE_CHECKING:  # pragma: no cover
    from themekit.corpus import Segment

logger = logging.getLogger(__name__)


#: Share of a segment's characters a coded selection must cover to code the segment (a selection
#: that lies wholly inside one segment codes it too).
MIN_COVER = 0.5


# ======================================================================= segments -> sources
def _segment_sources(
    segments: Sequence[Segment], *, encoding: str = "auto", fmt: str = "auto"
) -> tuple[dict[str, str], dict[str, SegmentSpan]]:
    """The text of every source and each segment's span in it.

    Segments with a character span point into their file's text (re-read with
    :func:`themekit.load.source_text`); the others (tables, or files that cannot be read or no
    longer match) get one built source per session."""
    from themekit.readers import source_text

    texts: dict[str, str] = {}
    spans: dict[str, SegmentSpan] = {}
    file_names: dict[str, str] = {}  # file path -> source name
    built: dict[str, list[Segment]] = defaultdict(list)
    cache: dict[str, str | None] = {}
    for seg in segments:
        ok = seg.source and seg.char_start is not None and seg.char_end is not None
        if ok and seg.source not in cache:
            try:
                cache[seg.source] = source_text(seg.source, encoding, fmt)
            except (InputError, OSError) as exc:
                logger.warning(
                    "cannot re-read %s (%s); its segments get a built source", seg.source, exc
                )
                cache[seg.source] = None
        text = cache.get(seg.source) if ok else None
        if (
            text is None
            or seg.char_end is None
            or seg.char_start is None
            or not (0 <= seg.char_start <= seg.char_end <= len(text))
        ):
            if text is not None:
                logger.warning(
                    "segment %s lies outside %s; it gets a built source", seg.id, seg.source
                )
            built[seg.session or "session"].append(seg)
            continue
        if seg.source not in file_names:
            name = Path(seg.source).name
            while name in texts:
                name = f"{Path(name).stem}-{len(texts)}{Path(name).suffix}"
            file_names[seg.source] = name
            texts[name] = text
        spans[seg.id] = SegmentSpan(seg.id, file_names[seg.source], seg.char_start, seg.char_end)
    for session, segs in built.items():
        name = f"{session}.txt"
        while name in texts:
            name = f"{Path(name).stem}-table.txt"
        parts: list[str] = []
        pos = 0
        for seg in sorted(segs, key=lambda s: s.position):
            prefix = f"{seg.speaker}: " if seg.speaker else ""
            body = seg.text.replace("\r\n", "\n").replace("\r", "\n")
            start = pos + len(prefix)
            spans[seg.id] = SegmentSpan(seg.id, name, start, start + len(body))
            parts.append(prefix + body + "\n")
            pos = start + len(body) + 1
        texts[name] = "".join(parts)
    return texts, spans


def transcript_spans(project: QdaProject) -> list[SegmentSpan]:
    """Segments of the project's sources when no run is at hand: each source is read as a
    plain transcript (``Speaker: text`` turns, :func:`themekit.load.parse_transcript`) and its
    session is the source name without extension, so the ids are those ``segmentation.strategy:
    turn`` gives (``week1-0007``)."""
    from themekit.readers import parse_transcript

    spans: list[SegmentSpan] = []
    for src in project.sources:
        session = PurePosixPath(src.name).stem if "." in src.name else src.name
        try:
            turns, _ = parse_transcript(src.text, Path(src.name), session)
        except InputError as exc:
            raise InputError(
                f"source {src.name!r} cannot be split into speaker turns ({exc}); pass the run's segments "
                "to place its codings",
            ) from None
        for t in turns:
            if t.offsets:
                spans.append(SegmentSpan(t.id, src.name, t.offsets[0], t.offsets[-1] + 1))
    return spans


def spans_from_segments(segments: Iterable[Any]) -> list[SegmentSpan]:
    """Spans of a run's segments (:class:`~themekit.corpus.Segment` objects, or rows of a run's
    ``segments.csv`` as dicts) in the sources that :func:`export_qdpx` writes."""
    segs = [s for s in segments]
    if segs and isinstance(segs[0], dict):
        from themekit.corpus import Corpus

        segs = list(Corpus.from_records(segs))
    _, spans = _segment_sources(segs)
    return list(spans.values())


# ======================================================================== codes -> segments
def _match_source(name: str, names: Iterable[str]) -> str | None:
    lowered = {n.lower(): n for n in names}
    stems = {PurePosixPath(n).stem.lower(): n for n in names}
    key = name.lower()
    return lowered.get(key) or stems.get(key) or stems.get(PurePosixPath(key).stem)


def coded_segments(
    project: QdaProject, spans: Sequence[SegmentSpan], *, min_cover: float = MIN_COVER
) -> dict[str, list[str]]:
    """For every segment, the GUIDs of the codes on it, in text order. A selection codes a
    segment when it covers at least ``min_cover`` of the segment's characters, or lies wholly
    inside it."""
    by_source: dict[str, list[SegmentSpan]] = defaultdict(list)
    for sp in spans:
        by_source[sp.source].append(sp)
    src_map: dict[str, str | None] = {
        s.guid: _match_source(s.name, by_source) for s in project.sources
    }
    unmatched = sorted(
        {project.source(g).name for g, m in src_map.items() if m is None}
        & {project.source(sel.source).name for sel in project.selections}
    )
    if unmatched:
        logger.warning(
            "coded source(s) %s match no transcript of the run; their codings are ignored",
            unmatched,
        )
    out: dict[str, list[str]] = defaultdict(list)
    for sel in sorted(project.selections, key=lambda s: (s.source, s.start, s.end)):
        target = src_map.get(sel.source)
        if target is None:
            continue
        for sp in by_source[target]:
            overlap = min(sel.end, sp.end) - max(sel.start, sp.start)
            if overlap <= 0:
                continue
            length = max(sp.end - sp.start, 1)
            if overlap / length >= min_cover or (sel.start >= sp.start and sel.end <= sp.end):
                for code in sel.codes:
                    if code not in out[sp.segment_id]:
                        out[sp.segment_id].append(code)
    return dict(out)
