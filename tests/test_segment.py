"""Segmentation strategies, moderator handling and text normalisation."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from themekit.config import config_from_dict
from themekit.config.corpus import SegmentationConfig
from themekit.corpus import Corpus
from themekit.errors import ConfigError
from themekit.normalize import normalize_text
from themekit.segment import (
    Turn,
    grouped_sentence_spans,
    segment_turns,
    sentence_spans,
    window_spans,
)

MONOLOGUE = (
    "Saya datang setiap Sabtu. Mr. K yang ajak saya dulu. "
    "When the urge comes, I call Bang Man first. He always picks up, even at two in the morning. "
    "Lepas tu kami borak sampai subuh. That is why I am still here today."
)


def turn(text: str, speaker: str = "P1", tid: str = "s-0001", **kw: object) -> Turn:
    offsets = list(range(100, 100 + len(text)))  # as if the turn started at offset 100
    return Turn(
        id=tid, text=text, session="s", source="s.txt", speaker=speaker, offsets=offsets, **kw
    )  # type: ignore[arg-type]


def test_sentence_spans_cover_the_text_and_respect_abbreviations() -> None:
    spans = sentence_spans(MONOLOGUE)
    assert spans[0][0] == 0 and spans[-1][1] == len(MONOLOGUE)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))  # contiguous
    sentences = [MONOLOGUE[a:b].strip() for a, b in spans]
    assert sentences[1] == "Mr. K yang ajak saya dulu."  # "Mr." does not end a sentence
    assert len(sentences) == 6


def test_sentences_grouped_within_the_token_budget() -> None:
    groups = grouped_sentence_spans(MONOLOGUE, max_tokens=12)
    sizes = [len(MONOLOGUE[a:b].split()) for a, b in groups]
    assert len(groups) >= 3 and all(n <= 12 for n in sizes)
    assert grouped_sentence_spans(MONOLOGUE, max_tokens=500) == [(0, len(MONOLOGUE))]


def test_window_spans_overlap_and_reach_the_end() -> None:
    text = " ".join(f"w{i}" for i in range(25))
    spans = window_spans(text, window=10, stride=4)
    windows = [text[a:b].split() for a, b in spans]
    assert all(len(w) == 10 for w in windows)
    assert windows[0][0] == "w0" and windows[1][0] == "w4" and windows[-1][-1] == "w24"
    assert window_spans("a b c", window=10, stride=4) == [(0, 5)]


def test_turn_strategy_keeps_ids_offsets_and_marks() -> None:
    segs = segment_turns([turn("  Saya [inaudible] okay lah (ketawa).  ")], SegmentationConfig())
    (seg,) = segs
    assert (
        seg.id == "s-0001"
        and seg.text == "Saya okay lah."
        and seg.meta["marks"] == ["inaudible", "ketawa"]
    )
    assert (seg.char_start, seg.char_end) == (102, 102 + len("Saya [inaudible] okay lah (ketawa)."))


def test_split_turn_gets_numbered_ids_and_inherits_everything() -> None:
    cfg = SegmentationConfig(strategy="sentences", max_tokens=12)
    segs = segment_turns([turn(MONOLOGUE, code="support", language="mixed", start=3.0)], cfg)
    assert [s.id for s in segs] == [f"s-0001.{k}" for k in range(1, len(segs) + 1)]
    assert all(s.code == "support" and s.language == "mixed" and s.start == 3.0 for s in segs)
    assert all(s.meta["turn_id"] == "s-0001" for s in segs)
    assert [s.position for s in segs] == list(range(len(segs)))
    for s in segs:  # offsets point back into the turn (which starts at 100 here)
        assert s.char_start is not None and s.char_end is not None
        assert MONOLOGUE[s.char_start - 100 : s.char_end - 100] == s.text


def test_window_strategy_on_a_long_monologue() -> None:
    long = " ".join([MONOLOGUE] * 4)
    cfg = SegmentationConfig(strategy="window", window_tokens=20, window_stride=10)
    segs = segment_turns([turn(long), turn("Short one here.", tid="s-0002")], cfg)
    long_segs = [s for s in segs if s.meta["turn_id"] == "s-0001"]
    assert len(long_segs) > 3 and all(len(s.text.split()) == 20 for s in long_segs)
    assert segs[-1].id == "s-0002" and segs[-1].text == "Short one here."


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("keep", [False, False, False]), ("context", [True, False, True]), ("drop", [False])],
)
def test_moderator_turns_kept_dropped_or_context(mode: str, expected: list[bool]) -> None:
    turns = [
        turn("Apa pendapat tuan-tuan?", speaker="MODERATOR", tid="s-0001"),
        turn("Saya setuju dengan dia.", speaker="P1", tid="s-0002"),
        turn("Boleh terangkan lagi?", speaker="Fasilitator", tid="s-0003"),
    ]
    segs = segment_turns(turns, SegmentationConfig(moderator=mode))  # type: ignore[arg-type]
    assert [s.is_context for s in segs] == expected
    assert len(Corpus(segs).analysed()) == (3 if mode == "keep" else 1)


def test_custom_moderator_pattern_and_min_chars() -> None:
    cfg = SegmentationConfig(moderator="drop", moderator_pattern=r"^Dr\. Aida$", min_chars=5)
    segs = segment_turns(
        [
            turn("Hello all.", speaker="Dr. Aida"),
            turn("Ya.", tid="s-0002"),
            turn("(laughs)", tid="s-0003"),
            turn("Okay then.", tid="s-0004"),
        ],
        cfg,
    )
    assert [s.id for s in segs] == ["s-0004"]


def test_bad_segmentation_config_names_the_key() -> None:
    with pytest.raises(
        ConfigError,
        match=r"segmentation.*window_stride \(50\) must not exceed window_tokens \(20\)",
    ):
        config_from_dict(
            {"corpus": {"path": "x"}, "segmentation": {"window_tokens": 20, "window_stride": 50}}
        )
    with pytest.raises(
        ConfigError, match=r"\[segmentation\.moderator_pattern\] .*not a valid regular expression"
    ):
        config_from_dict(
            {"corpus": {"path": "x"}, "segmentation": {"moderator_pattern": "(unclosed"}}
        )


def test_normalize_text_is_safe_for_both_languages() -> None:
    n = normalize_text(
        "Cafe\u0301  [crosstalk]  itu\u200b   best (Abang Man) [tidak jelas]. [00:12:31]\n\tOkay"
    )
    assert n.text == "Café itu best (Abang Man). [00:12:31] Okay"
    assert n.marks == ["crosstalk", "tidak jelas"]
    long_note = "[the rehabilitation centre in Jerantut town]"
    assert normalize_text(f"Dia pergi {long_note}.").text == f"Dia pergi {long_note}."


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=200), strategy=st.sampled_from(["turn", "sentences", "window"]))
def test_any_text_segments_into_traceable_pieces(text: str, strategy: str) -> None:
    cfg = SegmentationConfig(strategy=strategy, max_tokens=8, window_tokens=8, window_stride=3)  # type: ignore[arg-type]
    segs = segment_turns([turn(text)], cfg)
    for s in segs:
        assert s.text and s.char_start is not None and s.char_end is not None
        assert 100 <= s.char_start < s.char_end <= 100 + len(text)
        assert normalize_text(text[s.char_start - 100 : s.char_end - 100]).text == s.text


def test_positions_count_within_each_session_and_segments_are_slotted() -> None:
    import pickle
    from dataclasses import replace

    cfg = SegmentationConfig(strategy="sentences", max_tokens=12, moderator="keep")
    turns = [
        turn(MONOLOGUE, tid="a-1"),
        Turn(id="b-1", text="Another session.", session="t", source="t.txt", speaker="P2"),
        turn("Second turn here, short.", tid="a-2"),
    ]
    segs = segment_turns(turns, cfg)
    by_session: dict[str, list[int]] = {}
    for s in segs:
        by_session.setdefault(s.session, []).append(s.position)
    assert by_session == {"s": list(range(len(by_session["s"]))), "t": [0]}
    assert len(by_session["s"]) > 2  # the monologue was cut into several pieces
    seg = segs[1]
    assert not hasattr(seg, "__dict__") and not hasattr(turns[0], "__dict__")
    back = pickle.loads(pickle.dumps(segs))
    assert back == segs and [s.meta for s in back] == [s.meta for s in segs]
    assert replace(seg, position=7).position == 7 and Corpus(back).to_records()[1]["meta"]
