"""Moderator turns as context: which question each answer follows, and how it is added."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import DEMO as REPO_DEMO
from themekit.config.corpus import SegmentationConfig
from themekit.context import (
    add_prompt_context,
    build_context,
    is_question,
    link_prompts,
    question_vectors,
)
from themekit.corpus import Corpus, Segment
from themekit.errors import NotFittedError
from themekit.segment import Turn, segment_turns
from themekit.themes.subspace import QuestionSubspace


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


def test_question_vectors_give_each_segment_its_question() -> None:
    P = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(
        question_vectors(P, [None, 1, 0, 1]), [[0, 0, 0], [3, 4, 5], [0, 1, 2], [3, 4, 5]]
    )
    assert question_vectors(P, [None]).tolist() == [[0.0, 0.0, 0.0]]
    # with one flag per prompt, answers to a prompt that asks nothing get zeros too
    np.testing.assert_array_equal(
        question_vectors(P, [None, 1, 0, 1], asks=[True, False]),
        [[0, 0, 0], [0, 0, 0], [0, 1, 2], [0, 0, 0]],
    )
    assert is_question("Bagaimana pula dengan keluarga? Ceritakan.")
    assert not is_question("Terima kasih. Kita rehat sepuluh minit.")


def _story_corpus(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """90 answers to 9 questions on 3 subjects. Each answer = its subject (weak, shared with its
    question) + how it is told (strong, one of 3 story styles that cut across the subjects)."""
    rng = np.random.default_rng(seed)
    d = 32
    subject_dirs = rng.normal(size=(3, d))
    style_dirs = rng.normal(size=(3, d)) * 1.5
    questions = np.repeat(np.arange(9), 10)  # questions 0-2 on subject 0, 3-5 on 1, 6-8 on 2
    subject = questions // 3
    style = rng.integers(0, 3, size=90)
    Y = subject_dirs[subject] + style_dirs[style] + rng.normal(scale=0.5, size=(90, d))
    Q = subject_dirs[subject] + rng.normal(scale=0.3, size=(9, d))[questions]
    return Y.astype(np.float32), Q.astype(np.float32), questions, subject


def test_question_directions_keep_what_answers_are_about_not_how_they_are_told() -> None:
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    Y, Q, questions, subject = _story_corpus()
    full = KMeans(3, n_init=10, random_state=0).fit_predict(Y / np.linalg.norm(Y, axis=1)[:, None])
    sub = QuestionSubspace(n_components=3)
    Z = sub.fit_transform(Y, Q, questions)
    found = KMeans(3, n_init=10, random_state=0).fit_predict(Z)
    assert adjusted_rand_score(subject, full) < 0.2  # the full vectors split by story style
    assert adjusted_rand_score(subject, found) > 0.9  # the question directions by subject
    assert sub.n_components_ == 3 and sub.n_questions_ == 9 and sub.n_answers_ == 90
    # the third pair of directions follows the questions hardly at all (3 subjects span 2): it
    # is weighted down instead of counting as much as the others, so asking for more is harmless
    assert sub.covariances_[2] < 0.1 * sub.covariances_[0]
    more = QuestionSubspace(n_components=6).fit_transform(Y, Q, questions)
    assert (
        adjusted_rand_score(subject, KMeans(3, n_init=10, random_state=0).fit_predict(more)) > 0.9
    )
    assert Z.shape == (90, 3 + Y.shape[1])
    np.testing.assert_allclose(np.linalg.norm(Z, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(QuestionSubspace(3).fit_transform(Y, Q, questions), Z)


def test_question_directions_fit_on_answers_only_and_need_three_questions() -> None:
    Y, Q, questions, _ = _story_corpus()
    unlinked = questions.copy()
    unlinked[:5] = -1  # five answers before the first question: their Q rows are ignored
    Q_noise = Q.copy()
    Q_noise[:5] = 1e3
    a = QuestionSubspace(3).fit(Y, Q, unlinked)
    b = QuestionSubspace(3).fit(Y, Q_noise, unlinked)
    np.testing.assert_allclose(a.transform(Y), b.transform(Y), atol=1e-5)
    Q_zero = Q.copy()
    Q_zero[:5] = 0  # zeros (a prompt that asks nothing): left out like an unlinked row
    c = QuestionSubspace(3).fit(Y, Q_zero, questions)
    assert a.n_answers_ == c.n_answers_ == 85
    np.testing.assert_allclose(a.transform(Y), c.transform(Y), atol=1e-5)
    # at most one direction fewer than the distinct questions; fewer than 2 directions: unchanged
    assert QuestionSubspace(8).fit(Y[:30], Q[:30], questions[:30]).n_components_ == 2
    two = QuestionSubspace(3).fit(Y[:20], Q[:20], questions[:20])
    assert two.n_components_ == 0
    unit = Y[:20] / np.linalg.norm(Y[:20], axis=1)[:, None]
    np.testing.assert_allclose(two.transform(Y[:20]), unit, rtol=1e-5)
    # three "questions" with the same words (and so the same vector): nothing to follow
    same = QuestionSubspace(3).fit(Y, np.tile(Q[:1], (len(Y), 1)), questions)
    assert same.n_components_ == 0
    with pytest.raises(ValueError, match="do not match"):
        QuestionSubspace().fit(Y, Q[:-1], questions)
    with pytest.raises(NotFittedError):
        QuestionSubspace().transform(Y)


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


def test_a_table_of_independent_texts_is_not_read_as_a_conversation() -> None:
    # question titles, one per row, "speakers" round-robin: P2 happens to end all 3 of its rows
    # with "?", but the others end 6 of 9 so: nobody leads a conversation
    titles = [
        "How do I merge two dicts?",
        "Why is my loop slow?",
        "Segfault when freeing a pointer",
        "What does yield do?",
        "How to sort a list of tuples?",
        "Git rebase vs merge?",
        "Can I use async in a constructor?",
        "CSS grid not centering",
        "Regex for an email address",
        "Is Python pass by reference?",
        "How to read a file line by line?",
        "What is a closure?",
    ]
    turns = [
        Turn(id=f"r{i}", text=t, session="s", source="x.csv", speaker=f"P{i % 4 + 1}")
        for i, t in enumerate(titles)
    ]
    assert not any(s.is_context for s in segment_turns(turns, SegmentationConfig()))
    # the same P1 in a real conversation, where the others answer, is read as the moderator
    answers = ["Use the update method.", "Because it copies.", "Ya, saya setuju.", "Boleh."]
    convo = [
        Turn(
            id=f"c{i}",
            text=titles[i // 2] if i % 2 == 0 else answers[(i // 2) % 4],
            session="s",
            source="x.txt",
            speaker="P1" if i % 2 == 0 else f"P{2 + (i // 2) % 3}",
        )
        for i in range(8)
    ]
    segs = segment_turns(convo, SegmentationConfig())
    inferred = [s for s in segs if s.meta.get("moderator_inferred")]
    assert {s.speaker for s in segs if s.is_context} == {"P1"} and len(inferred) == 4


def test_a_prompt_asks_with_or_without_a_question_mark() -> None:
    assert is_question("Apa yang membuatkan tuan-tuan terus datang?")
    assert is_question("Tell me about the first time you came.")
    assert is_question("Okay, now describe a normal week for you.")
    assert is_question("Cuba ceritakan sikit pasal keluarga awak.")
    assert is_question("Kongsikan pengalaman pertama.")
    assert not is_question("Terima kasih semua.")
    assert not is_question("Okay, let's move on.")


def test_the_context_stage_returns_one_object() -> None:
    full = Corpus(
        [
            _seg("a", "w1"),
            _seg("q1", "w1", context=True),
            _seg("b", "w1"),
            _seg("c", "w1"),
            _seg("t", "w1", context=True),
            _seg("d", "w1"),
        ]
    )
    full.segments[1] = Segment(id="q1", text="Why?", session="w1", source="a.txt", is_context=True)
    links, prompts = link_prompts(full)
    rng = np.random.default_rng(0)
    X, P = rng.normal(size=(4, 8)).astype(np.float32), rng.normal(size=(2, 8)).astype(np.float32)
    ctx = build_context(links, prompts, X, P, 0.3)
    assert ctx.links == [None, 0, 0, 1] and ctx.asks == [True, False]
    assert ctx.question_ids.tolist() == [-1, 0, 0, -1]
    assert ctx.evidence() == {
        "n_segments": 4,
        "n_following_prompt": 3,
        "n_answering_question": 2,
        "n_questions": 1,
        "answered_share": 0.5,
    }
    assert ctx.question_vectors is not None and not ctx.question_vectors[3].any()
    np.testing.assert_allclose(ctx.fitted_vectors, add_prompt_context(X, P, links, 0.3))
    none = build_context([None] * 4, [], X, None)
    assert none.question_vectors is None and none.n_linked == 0
