"""Moderator turns as context: which question each answer follows, and how it is added."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import DEMO as REPO_DEMO
from themekit.config.corpus import SegmentationConfig
from themekit.corpus import Corpus, Segment
from themekit.embed.context import add_prompt_context, link_prompts
from themekit.segment import Turn, segment_turns


def _seg(i: str, session: str, context: bool = False, source: str = "a.txt") -> Segment:
    return Segment(id=i, text=f"text {i}", session=session, source=source, is_context=context)


def test_each_answer_links_to_the_last_question_of_its_own_session() -> None:
    full = Corpus(
        [
            _seg("w1-1", "w1"),  # before any question
            _seg("w1-2", "w1", context=True),
            _seg("w1-3", "w1"),
            _seg("w1-4", "w1"),
            _seg("w1-5", "w1", context=True),
            _seg("w1-6", "w1", context=True),  # two questions in a row: the later one counts
            _seg("w1-7", "w1"),
            _seg("w2-1", "w2", source="b.txt"),  # a new session starts without a question
            _seg("w2-2", "w2", context=True, source="b.txt"),
            _seg("w2-3", "w2", source="b.txt"),
        ]
    )
    links, prompts = link_prompts(full)
    assert len(links) == len(full.analysed()) == 6
    assert [p.id for p in prompts] == ["w1-2", "w1-6", "w2-2"]  # w1-5 is followed by no answer
    named = [prompts[j].id if j is not None else None for j in links]
    assert named == [None, "w1-2", "w1-2", "w1-6", None, "w2-2"]


def test_no_moderator_no_links() -> None:
    links, prompts = link_prompts(Corpus([_seg("a", "s"), _seg("b", "s")]))
    assert links == [None, None] and prompts == []


def test_prompt_is_added_with_its_weight_and_rows_stay_unit_length() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4, 8)).astype(np.float32) * 3
    P = rng.normal(size=(2, 8)).astype(np.float32)
    links = [None, 0, 1, 0]
    unit = X / np.linalg.norm(X, axis=1, keepdims=True)
    Pu = P / np.linalg.norm(P, axis=1, keepdims=True)

    out = add_prompt_context(X, P, links, 0.3)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(out[0], unit[0], rtol=1e-5)  # no question: own vector only
    want = unit[2] + 0.3 * Pu[1]
    np.testing.assert_allclose(out[2], want / np.linalg.norm(want), rtol=1e-5)
    np.testing.assert_allclose(add_prompt_context(X, P, links, 0.0), unit, rtol=1e-5)


def test_the_same_question_pulls_its_answers_together() -> None:
    X = np.eye(4, dtype=np.float32)[:2]  # two unrelated answers
    P = np.eye(4, dtype=np.float32)[2:3]  # to the same question
    out = add_prompt_context(X, P, [0, 0], 0.3)
    assert float(out[0] @ out[1]) == pytest.approx(0.09 / 1.09, rel=1e-5)


def test_bad_arguments_are_refused() -> None:
    X = np.ones((2, 3), dtype=np.float32)
    with pytest.raises(ValueError, match="2 segment vectors"):
        add_prompt_context(X, X, [None], 0.3)
    with pytest.raises(ValueError, match=">= 0"):
        add_prompt_context(X, X, [None, 0], -0.1)


@pytest.mark.parametrize(
    ("speaker", "moderator"),
    [
        ("Moderator", True),
        ("MODERATOR", True),
        ("Fasilitator", True),
        ("Siti (Moderator)", True),
        ("Penemu ramah", True),
        ("Interviewer 2", True),
        ("INT", True),
        ("Penemu bual", True),
        ("Pengacara", True),
        ("Intan", False),
        ("Modi", False),
        ("Hafiz", False),
        ("Amir (peserta)", False),
    ],
)
def test_default_segmentation_reads_moderator_turns_as_context(
    speaker: str, moderator: bool
) -> None:
    turn = Turn(
        id="s-0001", text="Apa pendapat tuan-tuan?", session="s", source="s.txt", speaker=speaker
    )
    (seg,) = segment_turns([turn], SegmentationConfig())
    assert seg.is_context is moderator


def test_a_run_finds_or_warns_about_a_moderator_with_another_label(
    tmp_path, caplog: pytest.LogCaptureFixture
) -> None:
    import themekit
    from tests.conftest import DEMO_CONFIG, FAST_DEMO

    lines = (REPO_DEMO / "week1.txt").read_text(encoding="utf-8")
    (tmp_path / "week1.txt").write_text(lines.replace("Moderator:", "Siti:"), encoding="utf-8")

    def run(detect: bool) -> dict:
        caplog.clear()
        with caplog.at_level("WARNING", logger="themekit"):
            result = themekit.run(
                DEMO_CONFIG,
                overrides=[
                    *FAST_DEMO,
                    f"corpus.path={tmp_path / 'week1.txt'}",
                    "corpus.hand_codes=null",
                    f"segmentation.moderator_detect={str(detect).lower()}",
                ],
                write=False,
            )
        return result.manifest

    # Siti ends 17 of her 20 turns with "?": read as the moderator, with a warning saying so
    assert run(True)["n_context_segments"] == 20
    assert "'Siti' ends 17 of 20 turns with a question mark" in caplog.text
    # without detection every turn is analysed, and the run says so
    assert run(False)["n_context_segments"] == 0
    assert "no speaker matched segmentation.moderator_pattern" in caplog.text


def _session(moderator: str, session: str = "s") -> list[Turn]:
    lines = [
        (moderator, "Apa yang membuatkan tuan-tuan terus datang?"),
        ("Hafiz", "Sebab kawan-kawan kat sini faham."),
        ("Daud", "Same for me. Betul tak?"),
        (moderator, "How does the group help with your family?"),
        ("Hafiz", "They helped me talk to my father again."),
        (moderator, "Ada apa-apa lagi?"),
        ("Daud", "Tak ada, terima kasih."),
        (moderator, "Terima kasih semua."),
    ]
    return [
        Turn(id=f"{session}-{i:04d}", text=t, session=session, source="x.txt", speaker=spk)
        for i, (spk, t) in enumerate(lines, 1)
    ]


def test_a_moderator_with_an_unknown_label_is_found_by_their_questions(
    caplog: pytest.LogCaptureFixture,
) -> None:
    turns = _session("Dr Aisyah") + _session("Moderator", session="t")
    with caplog.at_level("WARNING", logger="themekit.segment"):
        segs = segment_turns(turns, SegmentationConfig())
    context = {(s.session, s.speaker) for s in segs if s.is_context}
    # 3 of her 4 turns end with "?"; Daud's 1 of 2 is below the 3-turn minimum
    assert context == {("s", "Dr Aisyah"), ("t", "Moderator")}
    assert "'Dr Aisyah' ends 3 of 4 turns with a question mark" in caplog.text
    assert "t: no speaker" not in caplog.text  # the named moderator needs no guess
    off = segment_turns(turns, SegmentationConfig(moderator_detect=False))
    assert {(s.session, s.speaker) for s in off if s.is_context} == {("t", "Moderator")}
    kept = segment_turns(turns, SegmentationConfig(moderator="keep"))
    assert not any(s.is_context for s in kept)


def test_no_speaker_is_guessed_when_nobody_mostly_asks() -> None:
    turns = [
        Turn(id=f"s-{i}", text=t, session="s", source="x.txt", speaker=spk)
        for i, (spk, t) in enumerate(
            [("Ali", "Saya setuju?"), ("Ali", "Ya."), ("Ali", "Betul."), ("Abu", "Okay?")], 1
        )
    ]
    assert not any(s.is_context for s in segment_turns(turns, SegmentationConfig()))
