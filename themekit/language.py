"""The language of each segment: Malay (``ms``), English (``en``), code-switched (``mixed``) or
``unknown``.

How a segment is labelled (:class:`LanguageDetector`):

1. Its words are taken out (letters, with inner hyphens and apostrophes: ``member-member``,
   ``you're``); numbers and punctuation are ignored.
2. A segment with fewer than ``min_words`` words is ``unknown`` — too short to tell — and this
   is logged, never guessed.
3. Each word gets a language: first from two small lexicons of function words and everyday
   colloquial words that are unambiguous in this setting (:data:`MALAY_WORDS`: ``tak``,
   ``nak``, ``dah``, ``lah``, ``yang``, ``saya`` ...; :data:`ENGLISH_WORDS`: ``the``, ``is``,
   ``you``, ``I`` ...), otherwise from lingua (offline, n-gram models) restricted to English,
   Malay and Indonesian, Indonesian counting as Malay. A word lingua is unsure about (the two
   sides within ``WORD_MARGIN``) counts for neither side, and so do capitalised words inside a
   sentence (names of people and places: ``Temerloh``, ``Abang Man``).
4. The minority language's share of the counted words decides: above ``mixed_threshold`` the
   segment is ``mixed``; otherwise it is the majority language. When no word could be
   counted, lingua's verdict on the whole segment is used.

Lingua on a single word is weak, which is why the lexicons come first; the detector is built
once, on first use, and shared by every :class:`LanguageDetector`.

A language given in the input (a language column, or the hand-codes table) always wins over
detection; :func:`normalize_language_label` maps the usual spellings (``Malay``, ``BM``,
``Bahasa Melayu``, ``English``, ``BI``, ``code-switched`` ...) to themekit's labels.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from themekit.config.corpus import DEFAULT_MIN_WORDS, DEFAULT_MIXED_THRESHOLD
from themekit.corpus import LANGUAGES, Corpus

if TYPE_CHECKING:  # pragma: no cover
    from themekit.config.corpus import LanguageConfig

log = logging.getLogger(__name__)

#: lingua's two sides must differ by more than this for a word to count.
WORD_MARGIN = 0.25

#: Malay function words and everyday colloquial words (standard and Malaysian spoken forms).
MALAY_WORDS = frozenset(
    """
    yang dan di ke dari daripada kepada pada untuk dengan dalam oleh bagi tentang terhadap
    ini itu ni tu sini situ sana tak tidak nak hendak dah sudah lah kan je jer saja sahaja pun
    juga lagi pula pulak kot ke la ya tau tahu
    saya aku dia kita kami mereka awak kau engkau korang diorang dorang depa beliau
    kat dekat ada adalah ialah akan masih belum pernah telah sedang boleh mesti kena jangan
    mahu mau perlu harus patut dapat
    apa siapa mana bila bagaimana macam mana kenapa mengapa berapa
    kalau jika sebab kerana tapi tetapi atau lepas sebelum selepas sampai hingga walaupun
    supaya agar jadi memang sangat sikit sedikit banyak semua setiap satu dua tiga empat lima
    enam tujuh lapan sembilan sepuluh belas puluh ratus ribu
    orang hari tahun bulan minggu malam pagi petang rumah kerja kawan budak anak mak
    isteri suami abang adik kakak emak bapak bapa ayah
    cakap tengok buat datang balik pergi duduk tanya rasa fikir ingat tolong bagi ambil
    dulu sekarang nanti tadi baru lama betul baik okey terima kasih mula habis semua sama
    bukan tiada takde xde tiap hidup mati susah senang
    """.split()
)

#: English function words that do not double as Malay words.
ENGLISH_WORDS = frozenset(
    """
    the a an and or but of to in on at for with from by about into than then so as if
    is are was were be been being am do does did done have has had having will would can
    could should shall may might must not no yes
    i me my mine you your yours he him his she her hers it its we us our they them their
    this that these those there here what when where who whom which why how
    all some any every each one very just only also even still really because though
    like get got know think want need going gonna make made said say tell told see saw
    come came go went take took give gave back out up down over again never always
    people thing things time way day week year years guys everyone someone nobody
    good bad big small first last next new old more most much many
    i'm i've i'll i'd you're you've you'll he's she's it's we're they're that's there's
    don't doesn't didn't can't couldn't won't wouldn't isn't aren't wasn't weren't let's
    what's who's
    """.split()
)

_WORD = re.compile(r"[^\W\d_]+(?:[-'’][^\W\d_]+)*")
_SENTENCE_END = re.compile(r"[.!?…:;\"'“”‘’(]\s*$")

_LABELS = {
    "ms": "ms",
    "msa": "ms",
    "may": "ms",
    "zsm": "ms",
    "malay": "ms",
    "melayu": "ms",
    "bahasa melayu": "ms",
    "bahasa malaysia": "ms",
    "bm": "ms",
    "id": "ms",
    "ind": "ms",
    "indonesian": "ms",
    "bahasa indonesia": "ms",
    "en": "en",
    "eng": "en",
    "english": "en",
    "inggeris": "en",
    "bahasa inggeris": "en",
    "bi": "en",
    "mixed": "mixed",
    "mix": "mixed",
    "campur": "mixed",
    "bercampur": "mixed",
    "code-switched": "mixed",
    "code switched": "mixed",
    "codeswitched": "mixed",
    "code-switching": "mixed",
    "cs": "mixed",
    "ms-en": "mixed",
    "en-ms": "mixed",
    "ms+en": "mixed",
    "en+ms": "mixed",
    "rojak": "mixed",
    "unknown": "unknown",
    "und": "unknown",
    "?": "unknown",
}


def normalize_language_label(value: Any) -> str | None:
    """Map a recorded language to ``ms``/``en``/``mixed``/``unknown``; empty values give None.

    Raises ValueError for a value themekit does not know (the caller names file and row).
    """
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = str(value).strip().lower().replace("_", "-")
    if not text:
        return None
    if text in _LABELS:
        return _LABELS[text]
    base = text.split("-")[0]
    if base in ("ms", "en", "id") and len(text) <= 6:  # ms-MY, en-GB, id-ID
        return _LABELS[base]
    raise ValueError(
        f"unknown language {value!r}; use one of {', '.join(LANGUAGES)} "
        "(or Malay/English/BM/BI/code-switched)"
    )


@functools.lru_cache(maxsize=1)
def _lingua_detector() -> Any:
    from lingua import Language, LanguageDetectorBuilder

    log.debug("building the lingua language detector (English, Malay, Indonesian)")
    return LanguageDetectorBuilder.from_languages(
        Language.ENGLISH, Language.MALAY, Language.INDONESIAN
    ).build()


def words_of(text: str) -> list[str]:
    """The words a segment's language is decided on."""
    return _WORD.findall(text)


class LanguageDetector:
    """Word-level Malay/English detector; see the module docstring for the rules."""

    def __init__(
        self,
        min_words: int = DEFAULT_MIN_WORDS,
        mixed_threshold: float = DEFAULT_MIXED_THRESHOLD,
    ) -> None:
        self.min_words = min_words
        self.mixed_threshold = mixed_threshold

    @classmethod
    def from_config(cls, cfg: LanguageConfig) -> LanguageDetector:
        return cls(min_words=cfg.min_words, mixed_threshold=cfg.mixed_threshold)

    # -- word level ------------------------------------------------------------------------
    def word_languages(self, text: str) -> list[tuple[str, str | None]]:
        """Each word with ``ms``, ``en`` or None (not counted: a name, or lingua unsure)."""
        out: list[tuple[str, str | None]] = []
        pending: list[int] = []
        for match in _WORD.finditer(text):
            word = match.group(0)
            low = word.lower().replace("’", "'")
            lang: str | None = None
            if _is_name(word, low) and not _sentence_start(text, match.start()):
                lang = None  # a name of a person or a place
            elif low in MALAY_WORDS:
                lang = "ms"
            elif low in ENGLISH_WORDS:
                lang = "en"
            else:
                pending.append(len(out))
            out.append((word, lang))
        if pending:
            detector = _lingua_detector()
            results = detector.compute_language_confidence_values_in_parallel(
                [out[i][0] for i in pending]
            )
            for i, values in zip(pending, results, strict=True):
                out[i] = (out[i][0], _side(values))
        return out

    # -- segment level ---------------------------------------------------------------------
    def detect(self, text: str) -> str:
        """``ms``, ``en``, ``mixed`` or ``unknown`` for one segment."""
        words = self.word_languages(text)
        if len(words) < self.min_words:
            return "unknown"
        ms = sum(1 for _, lang in words if lang == "ms")
        en = sum(1 for _, lang in words if lang == "en")
        if ms + en == 0:
            return self._whole(text)
        minority = min(ms, en) / (ms + en)
        if minority > self.mixed_threshold:
            return "mixed"
        return "ms" if ms >= en else "en"

    def detect_many(self, texts: Sequence[str]) -> list[str]:
        return [self.detect(t) for t in texts]

    def _whole(self, text: str) -> str:
        found = _lingua_detector().detect_language_of(text)
        if found is None:
            return "unknown"
        return "en" if found.name == "ENGLISH" else "ms"


def _side(values: Sequence[Any]) -> str | None:
    ms = sum(v.value for v in values if v.language.name in ("MALAY", "INDONESIAN"))
    en = sum(v.value for v in values if v.language.name == "ENGLISH")
    if abs(ms - en) <= WORD_MARGIN:
        return None
    return "ms" if ms > en else "en"


def _is_name(word: str, low: str) -> bool:
    return word[0].isupper() and low != "i" and not low.startswith("i'")


def _sentence_start(text: str, index: int) -> bool:
    before = text[:index].rstrip()
    return not before or bool(_SENTENCE_END.search(before[-1:]))


def fill_languages(corpus: Corpus, cfg: LanguageConfig) -> Corpus:
    """Detect the language of every segment whose language is not given (``unknown``).

    Segments whose language came from the input keep it. Segments with fewer than
    ``cfg.min_words`` words stay ``unknown``; how many is logged.
    """
    todo = [
        i
        for i, s in enumerate(corpus)
        if s.language == "unknown" and not s.meta.get("language_source") and s.text.strip()
    ]
    if not todo or not cfg.detect:
        if todo:
            log.info(
                "language detection is off: %d segments without a language stay 'unknown'",
                len(todo),
            )
        return corpus
    detector = LanguageDetector.from_config(cfg)
    segments = list(corpus.segments)
    short: list[str] = []
    for i in todo:
        seg = segments[i]
        if len(words_of(seg.text)) < cfg.min_words:
            short.append(seg.id)
            segments[i] = replace(seg, meta={**seg.meta, "language_source": "too_short"})
            continue
        meta = {**seg.meta, "language_source": "detected"}
        segments[i] = replace(seg, language=detector.detect(seg.text), meta=meta)
    if short:
        log.info(
            "%d segments have fewer than %d words, too short to tell their language; "
            "they are 'unknown' (e.g. %s)",
            len(short),
            cfg.min_words,
            ", ".join(short[:5]),
        )
    return Corpus(segments)
