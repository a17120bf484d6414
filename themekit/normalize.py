"""Text normalisation that is safe for Malay and English.

What it does to the text that gets embedded:

* Unicode NFC (so ``é`` typed as ``e`` + combining accent equals the precomposed ``é``);
* zero-width characters and byte-order marks removed, non-breaking and other Unicode spaces made
  plain spaces, every run of whitespace (line breaks included) collapsed to one space, the ends
  stripped;
* stray transcription marks removed from the text and returned separately, so that the caller
  keeps them in ``Segment.meta["marks"]``:

  - anything in square brackets that is short (at most :data:`MAX_BRACKET_WORDS` words) and
    is not a timestamp: ``[inaudible]``, ``[crosstalk]``, ``[tidak jelas]``, ``[ketawa]``;
  - parenthesised or angle-bracketed words only when they name a known non-verbal event
    (:data:`NONVERBAL`): ``(laughs)``, ``(ketawa)``, ``(pause)``, ``<inaudible>``. Other
    parentheses are kept, because speakers' words are often transcribed inside them.

Nothing else changes: no lower-casing, no spelling normalisation, no removal of punctuation,
so ``tak``/``x``, ``I``/``aku`` and emoji stay as the speaker (or transcriber) wrote them.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

#: Square-bracketed notes longer than this many words are kept in the text (an editorial
#: insertion such as ``[the rehabilitation centre in Jerantut]`` carries meaning).
MAX_BRACKET_WORDS = 4

#: Non-verbal events that are removed when they stand in parentheses or angle brackets.
NONVERBAL = frozenset(
    (
        # English
        "laugh, laughs, laughing, laughter, chuckle, chuckles, giggles, pause, pauses, "
        "long pause, silence, sigh, sighs, cough, coughs, coughing, cries, crying, sobbing, "
        "inaudible, unclear, crosstalk, cross talk, overlapping, background noise, noise, "
        "applause, clears throat, indistinct, unintelligible, interruption, interrupted, "
        "phone rings, "
        # Malay
        "ketawa, gelak, tergelak, senyum, diam, senyap, jeda, batuk, menangis, mengeluh, "
        "tidak jelas, tak jelas, kurang jelas, bising, bunyi bising, bertindih, tepuk tangan"
    ).split(", ")
)

_TIMESTAMP = re.compile(r"^\s*\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d{1,3})?\s*$")
_SQUARE = re.compile(r"\[([^\[\]\n]{0,80})\]")
_ROUND = re.compile(r"[(<]([^()<>\n]{1,40})[)>]")
_ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_SPACES = re.compile(r"\s+")
_HOLE = "\x00"
_HOLE_BEFORE_PUNCT = re.compile(r"\s*\x00\s*(?=[,.;:!?])")


@dataclass(frozen=True)
class Normalized:
    """Normalised text and the transcription marks that were taken out of it."""

    text: str
    marks: list[str] = field(default_factory=list)


def is_timestamp(value: str) -> bool:
    """True for ``00:12:31``, ``12:31``, ``1:02:03.500``."""
    return bool(_TIMESTAMP.match(value))


def _is_mark(inner: str, square: bool) -> bool:
    words = inner.strip().lower().rstrip(".").split()
    if not words or is_timestamp(inner):
        return False
    phrase = " ".join(words)
    if phrase in NONVERBAL:
        return True
    return square and len(words) <= MAX_BRACKET_WORDS


def strip_marks(text: str) -> tuple[str, list[str]]:
    """Remove transcription marks; return the remaining text and the marks (without brackets)."""
    marks: list[str] = []

    def take(match: re.Match[str], square: bool) -> str:
        inner = match.group(1)
        if _is_mark(inner, square):
            marks.append(" ".join(inner.split()))
            return _HOLE
        return match.group(0)

    text = _SQUARE.sub(lambda m: take(m, True), text)
    text = _ROUND.sub(lambda m: take(m, False), text)
    if marks:
        # "word [inaudible]." must not leave "word ." behind.
        text = _HOLE_BEFORE_PUNCT.sub("", text).replace(_HOLE, " ")
    return text, marks


def clean_whitespace(text: str) -> str:
    """NFC, zero-width characters removed, whitespace collapsed, ends stripped."""
    text = unicodedata.normalize("NFC", text)
    text = _ZERO_WIDTH.sub("", text)
    return _SPACES.sub(" ", text).strip()


def normalize_text(text: str) -> Normalized:
    """Normalise one segment's text; see the module docstring for exactly what changes."""
    text = unicodedata.normalize("NFC", text)
    stripped, marks = strip_marks(text)
    return Normalized(clean_whitespace(stripped), marks)
