"""Language of segments: Malay, English, code-switched, too short to tell."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import pytest

from themekit.config import config_from_dict
from themekit.config.corpus import LanguageConfig
from themekit.corpus import Corpus, Segment
from themekit.language import (
    LanguageDetector,
    _lingua_detector,
    fill_languages,
    normalize_language_label,
)
from themekit.load import load_corpus

DEMO = Path(__file__).resolve().parent.parent / "themekit" / "data" / "demo"


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    return LanguageDetector.from_config(LanguageConfig())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Saya dah lima tahun bersih, dan kumpulan ni tolong saya banyak.", "ms"),
        ("Mak saya tak nak jumpa saya tujuh tahun, tapi sekarang dah okey.", "ms"),
        ("For me it's the people here. They understand what I went through.", "en"),
        (
            "Betul. Kat luar, orang tengok you macam bekas penagih forever. That makes a big difference, bro.",
            "mixed",
        ),
        (
            "Kadang-kadang dia text I random pukul sebelas malam. It's like he can sense bila I tengah struggle.",
            "mixed",
        ),
        ("Betul tu.", "unknown"),
        ("Alhamdulillah.", "unknown"),
    ],
)
def test_detects_malay_english_and_code_switching(
    detector: LanguageDetector, text: str, expected: str
) -> None:
    assert detector.detect(text) == expected


def test_names_do_not_count_as_words_of_a_language(detector: LanguageDetector) -> None:
    words = dict(detector.word_languages("Saya jumpa Abang Man di Temerloh semalam."))
    assert words["Man"] is None and words["Temerloh"] is None and words["Saya"] == "ms"


def test_mixed_threshold_moves_the_boundary() -> None:
    text = "Saya datang setiap minggu sebab kawan-kawan di sini faham saya, you know."
    assert LanguageDetector(mixed_threshold=0.05).detect(text) == "mixed"
    assert LanguageDetector(mixed_threshold=0.3).detect(text) == "ms"


def test_detector_is_built_once(detector: LanguageDetector) -> None:
    detector.detect("Saya rasa okay je hari ini.")
    first = _lingua_detector()
    LanguageDetector().detect("Another sentence in English here.")
    assert _lingua_detector() is first and _lingua_detector.cache_info().currsize == 1


def test_fill_languages_keeps_given_and_logs_short(caplog: pytest.LogCaptureFixture) -> None:
    corpus = Corpus(
        [
            Segment(id="a", text="Saya tak tahu apa nak cakap lagi."),
            Segment(id="b", text="Ya."),
            Segment(
                id="c",
                text="This is clearly English text.",
                language="ms",
                meta={"language_source": "input"},
            ),
        ]
    )
    with caplog.at_level(logging.INFO, logger="themekit.language"):
        out = fill_languages(corpus, LanguageConfig())
    assert out.languages == ["ms", "unknown", "ms"]
    assert (
        out[1].meta["language_source"] == "too_short"
        and out[0].meta["language_source"] == "detected"
    )
    assert any(
        "fewer than 3 words" in r.getMessage() and "b" in r.getMessage() for r in caplog.records
    )
    off = fill_languages(corpus, LanguageConfig(detect=False))
    assert off.languages == ["unknown", "unknown", "ms"]


def test_language_labels_are_normalised() -> None:
    assert [
        normalize_language_label(v)
        for v in ("Malay", "BM", "id", "en-GB", "English", "code-switched", "", None)
    ] == [
        "ms",
        "ms",
        "ms",
        "en",
        "en",
        "mixed",
        None,
        None,
    ]
    with pytest.raises(ValueError, match="unknown language 'zh'"):
        normalize_language_label("zh")


@pytest.mark.skipif(
    not (DEMO / "week1.txt").is_file() or not any(DEMO.glob("hand_codes*.csv")),
    reason="the demo corpus with its hand codes is not in themekit/data/demo yet",
)
def test_detection_agrees_with_the_demo_corpus_recorded_languages(
    detector: LanguageDetector,
) -> None:
    corpus = load_corpus(
        config_from_dict({"corpus": {"path": "themekit://demo", "hand_codes": "themekit://demo"}})
    )
    recorded = corpus.languages
    detected = detector.detect_many(corpus.texts)
    confusion = Counter(zip(recorded, detected, strict=True))
    agreement = sum(n for (r, d), n in confusion.items() if r == d) / len(corpus)
    logging.getLogger(__name__).info(
        "demo language confusion (recorded, detected): %s", dict(confusion)
    )
    assert agreement >= 0.9, dict(confusion)
    # every recorded class is mostly recognised, not just the majority one
    for lang in ("ms", "en", "mixed"):
        total = sum(n for (r, _), n in confusion.items() if r == lang)
        assert confusion[(lang, lang)] / total >= 0.8, (lang, dict(confusion))
