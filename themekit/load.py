"""Read transcripts into a :class:`~themekit.corpus.Corpus`.

``corpus.path`` may name a file, a folder, a glob (``interviews/*.vtt``) or a list of these;
relative paths resolve against the config file's folder and ``themekit://demo`` is the bundled
demo corpus. Every file is one session, named after the file (its stem) unless the file is a
table with a session column, or ``corpus.session`` names the single file's session.

Each file is read by the reader of its format (transcript, WebVTT/SRT subtitles, Word,
CSV/TSV/JSONL/Parquet tables), chosen by file extension or for every file by ``corpus.format``;
the formats, segment ids, offsets and encodings are described in :mod:`themekit.readers`,
whose public names this module re-exports.

Which files of a folder (or glob) are read: regular files with one of the format extensions
(only those of ``corpus.format`` when it is set), not hidden (``.name``), not Word lock files
(``~$name``) and not hand-code tables (names starting with ``hand_codes``). Everything else —
``codebook.yaml``, ``README.md``, notes — is skipped, and the skipped names are logged.
Folders are not searched recursively; use a glob such as ``data/**/*.txt`` for that.

Hand codes: ``corpus.hand_codes`` names a table, a folder (its ``hand_codes*`` tables) or a
glob of tables with a ``segment_id`` (or ``id``) column, a ``code`` column and optionally
``secondary_code`` and ``language``. They attach by segment id; a segment cut from a turn
takes the turn's codes. A language there (or in a table's language column) overrides
detection.

Every problem with the input raises :class:`~themekit.errors.InputError` naming the file,
and the line or row where it applies.
"""

from __future__ import annotations

import glob as globlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from themekit.corpus import Corpus, Segment
from themekit.errors import ConfigError, InputError
from themekit.language import fill_languages, normalize_language_label
from themekit.readers import EXTENSIONS, TABLE_FORMATS, file_format, read_file, read_table_frame
from themekit.readers.formats import _fmt_list
from themekit.readers.table import _cell
from themekit.readers.text import MAX_LINE_CHARS, _check_codec
from themekit.segment import Turn, segment_turns

if TYPE_CHECKING:  # pragma: no cover
    from themekit.config import JobConfig
    from themekit.progress import ProgressCallback

__all__ = [
    "HAND_CODES_PREFIX",
    "HandCode",
    "attach_hand_codes",
    "check_analysable",
    "check_codes",
    "corpus_files",
    "hand_code_files",
    "input_files",
    "load_corpus",
    "read_hand_codes",
]

log = logging.getLogger(__name__)

HAND_CODES_PREFIX = "hand_codes"

_GLOB_CHARS = re.compile(r"[*?\[]")


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
        meta["code_source"] = f"{hc.path}, row {hc.row}"
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


def check_codes(
    segments: Sequence[Segment], known: Sequence[str], other_id: str, policy: str = "error"
) -> list[Segment]:
    """Check every hand code (primary and secondary) against the codebook ids ``known``.

    ``other_id`` is always allowed. Codes that are not known raise an :class:`InputError` that
    lists each with its count and where it was first seen (``policy="error"``, the default of
    ``evaluation.unknown_codes``), or are dropped with a warning naming them (``"ignore"``): the
    segment then has no hand code and is not scored.
    """
    allowed = set(known) | {other_id}
    where: dict[str, list[str]] = {}
    for seg in segments:
        for code in (seg.code, seg.secondary_code):
            if code and code not in allowed:
                src = seg.meta.get("code_source") or seg.source or "?"
                where.setdefault(code, []).append(f"segment {seg.id!r} ({src})")
    if not where:
        return list(segments)
    items = sorted(where.items())
    listing = "; ".join(
        f"{code!r} x{len(places)}, first at {places[0]}" for code, places in items[:20]
    )
    if len(items) > 20:
        listing += f"; and {len(items) - 20} more"
    known_txt = _fmt_list(sorted(allowed))
    if policy != "ignore":
        raise InputError(
            f"{len(where)} hand code(s) are not ids of the codebook: {listing}. The codebook's "
            f"ids are: {known_txt}. Correct the hand codes (or the codebook), or set "
            "evaluation.unknown_codes: ignore (themekit evaluate: --unknown-codes ignore) to "
            "leave those segments unscored."
        )
    log.warning(
        "evaluation.unknown_codes is 'ignore': dropped %d hand code(s) that are not codebook "
        "ids (those segments are not scored): %s",
        sum(len(v) for v in where.values()),
        listing,
    )
    out = []
    for seg in segments:
        changes: dict[str, Any] = {}
        if seg.code and seg.code not in allowed:
            changes["code"] = None
        if seg.secondary_code and seg.secondary_code not in allowed:
            changes["secondary_code"] = None
        out.append(replace(seg, **changes) if changes else seg)
    return out


def check_analysable(
    corpus: Corpus,
    files: Sequence[Path],
    *,
    n_themes: int | str = "auto",
    extra_stop_words: Sequence[str] = (),
) -> None:
    """Fail before any embedding when the analysed segments cannot give themes: fewer than 3
    (different) segments, no word left once stop words are removed, or ``themes.n_themes``
    more than the segments (a warning when it leaves under 2 segments a theme)."""
    import re as _re

    from themekit.stopwords import TOKEN_PATTERN, stop_words

    where = ", ".join(map(str, files[:5])) + (
        f" and {len(files) - 5} more" if len(files) > 5 else ""
    )
    n = len(corpus)
    if n < 3:
        raise InputError(f"need at least 3 segments to find themes, got {n}", path=where)
    distinct: set[str] = set()  # three are enough: not a normalised copy of every text
    for t in corpus.texts:
        distinct.add(" ".join(t.lower().split()))
        if len(distinct) >= 3:
            break
    if len(distinct) < 3:
        raise InputError(
            f"the {n} segments to analyse hold only {len(distinct)} different text(s) "
            f"({_fmt_list(repr(t[:40]) for t in sorted(distinct))}); themes need at least 3",
            path=where,
        )
    stop = set(stop_words(extra_stop_words))
    token = _re.compile(TOKEN_PATTERN)
    words: set[str] = set()
    for t in corpus.texts:
        words.update(w for w in token.findall(t.lower()) if w not in stop)
        if len(words) >= 2:
            break
    if len(words) < 2:  # themes are described by their words: BERTopic needs two at least
        found = f"only {sorted(words)[0]!r}" if words else "none"
        raise InputError(
            f"the {n} segments hold {found} of the words that are not stop words or fillers "
            f"(e.g. {corpus.texts[0][:40]!r}): there is nothing to find themes in",
            path=where,
        )
    if isinstance(n_themes, int):
        if n_themes > n:
            raise ConfigError(
                f"asks for {n_themes} themes but there are only {n} segments to analyse; "
                f"use at most {max(2, n // 2)} or 'auto'",
                key="themes.n_themes",
            )
        if n_themes > n // 2:
            log.warning(
                "themes.n_themes is %d for %d segments: most themes will hold one or two "
                "segments; consider %d or 'auto'",
                n_themes,
                n,
                max(2, n // 5),
            )


# ================================================================================ loading
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
        for turn in file_turns:  # Word paragraphs and table cells (text files: per line)
            if len(turn.text) > MAX_LINE_CHARS:
                raise InputError(
                    f"turn {turn.id!r} is {len(turn.text):,} characters long; themekit reads "
                    f"turns of at most {MAX_LINE_CHARS:,}. Break it into several turns.",
                    path=path,
                )
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
