"""Decoding text files: charset detection, line ends, :func:`read_text`.

Encodings: UTF-8 (with or without BOM) and UTF-16/32 with a BOM are read as such. A UTF-8 file
with a few invalid bytes (no more than its valid non-ASCII characters) stays UTF-8: each bad
byte becomes U+FFFD and a warning names the lines. Only a file with no valid UTF-8 character
beyond ASCII is decoded as Windows-1252 (cp1252, which covers the printable Latin-1 range, so
Latin-1 files read the same), then by charset-normalizer's best guess; a warning names the
encoding used and shows which bytes became which characters, and ``corpus.encoding`` sets it
explicitly. Text that still contains control characters (a binary file, a renamed ``.doc``)
is refused.
"""

from __future__ import annotations

import codecs
import logging
import re
from pathlib import Path

from themekit.errors import ConfigError, InputError

log = logging.getLogger(__name__)

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")

#: The longest line themekit reads from a text file (transcript, subtitles, CSV/TSV, JSONL): a
#: turn of about 15,000 words. A longer line is refused with its number before any work (one
#: segment that size could not be embedded anyway: models read its first few hundred words).
MAX_LINE_CHARS = 100_000


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
        mostly = _mostly_utf8(data, path)
        if mostly is not None:
            return mostly
        good, _ = _utf8_chars(data)
        if good:  # neither UTF-8 nor clearly something else: no guess
            raise InputError(
                f"mixes {good} valid UTF-8 character(s) beyond ASCII with more bytes that are "
                "not UTF-8 (the first at this line); themekit does not guess an encoding for "
                "such a file. Save it as UTF-8, or set corpus.encoding.",
                path=path,
                line=_line_of(data, first_bad),
            )
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            text = ""
        if text and not _CONTROL.search(text):
            log.warning(
                "%s is not UTF-8 (no valid UTF-8 character beyond ASCII); read it as "
                "Windows-1252 (cp1252): %s. Set corpus.encoding if that is wrong.",
                path,
                _sample(data, text),
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
                "%s is not UTF-8; read it as %s (a guess): %s. Set corpus.encoding if that is "
                "wrong.",
                path,
                best.encoding,
                _sample(data, text),
            )
            return _newlines(text)
    raise InputError(
        "is not a text file themekit can decode: it is not UTF-8 (first bad byte at offset "
        f"{first_bad}) and no other text encoding fits (it may be a binary or a renamed Word "
        ".doc file). Save it as UTF-8 text, or set corpus.encoding.",
        path=path,
        line=_line_of(data, first_bad),
    )


def _utf8_chars(data: bytes) -> tuple[int, str]:
    """How many valid non-ASCII UTF-8 characters ``data`` holds, and its text with each
    invalid byte replaced by U+FFFD."""
    text = data.decode("utf-8", errors="replace")
    n_non_ascii = sum(1 for ch in text if ord(ch) > 0x7F and ch != "\ufffd")
    return n_non_ascii, text


def _mostly_utf8(data: bytes, path: Path) -> str | None:
    """A UTF-8 file with a few invalid bytes: its text with each bad byte replaced by U+FFFD
    and a warning naming the lines (None when the file is not mostly UTF-8: it holds fewer
    valid UTF-8 characters beyond ASCII than bad bytes)."""
    good, text = _utf8_chars(data)
    n_bad = text.count("\ufffd") - data.count("\ufffd".encode())
    if good == 0 or n_bad > good:
        return None
    text = _newlines(text)
    lines = sorted({text.count("\n", 0, m.start()) + 1 for m in re.finditer("\ufffd", text)})
    shown = ", ".join(map(str, lines[:10])) + (
        f" and {len(lines) - 10} more" if len(lines) > 10 else ""
    )
    log.warning(
        "%s is UTF-8 but %d byte(s) are not valid UTF-8; each was replaced by U+FFFD (\ufffd) "
        "on line(s) %s. The rest of the file is read unchanged; correct those lines, or set "
        "corpus.encoding if the file is in another encoding.",
        path,
        n_bad,
        shown,
    )
    return text


def _sample(data: bytes, text: str, n: int = 8) -> str:
    """The first ``n`` different non-ASCII characters of ``text`` with the bytes they came from
    (for a single-byte decode, where one byte is one character)."""
    seen: dict[str, str] = {}
    for ch in text:
        if ord(ch) > 0x7F and ch not in seen:
            try:
                seen[ch] = ch.encode("cp1252").hex(" ").upper()
            except UnicodeEncodeError:
                seen[ch] = "?"
            if len(seen) >= n:
                break
    return "bytes read as " + ", ".join(f"{ch!r} (0x{b})" for ch, b in seen.items())


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
    check_line_length(text, path)
    return text


def check_line_length(text: str, path: Path) -> None:
    """Refuse a text with a line longer than :data:`MAX_LINE_CHARS`, naming the line."""
    if len(text) <= MAX_LINE_CHARS:
        return
    start, number = 0, 1
    while True:  # line by line without a list of every line (issue 15)
        end = text.find("\n", start)
        stop = len(text) if end < 0 else end
        if stop - start > MAX_LINE_CHARS:
            raise InputError(
                f"the line is {stop - start:,} characters long; themekit reads lines (turns) of "
                f"at most {MAX_LINE_CHARS:,}. Break it into turns or paragraphs (one per line).",
                path=path,
                line=number,
            )
        if end < 0:
            return
        start, number = end + 1, number + 1
