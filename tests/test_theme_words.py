"""Describe's keyword counts, made in blocks, equal the whole-corpus matrix's (issue 15)."""

from __future__ import annotations

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer

from themekit.naming import word_languages
from themekit.stopwords import TOKEN_PATTERN, stop_words
from themekit.theme_words import theme_words

WORDS = "kumpulan sokong faham group support listen school sekolah abang clinic dan the".split()


def _corpus(n: int = 203, seed: int = 0) -> tuple[list[str], np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    texts = [" ".join(rng.choice(WORDS, rng.integers(1, 9))).capitalize() for _ in range(n)]
    texts[7] = "dan the"  # stop words only
    labels = rng.integers(-1, 4, n)
    langs = rng.choice(["ms", "en", "mixed", "unknown"], n).tolist()
    return texts, labels, langs


def _vectorizer() -> CountVectorizer:
    return CountVectorizer(
        stop_words=stop_words(()), token_pattern=TOKEN_PATTERN, lowercase=True, binary=True
    )


def test_counts_in_blocks_equal_the_whole_matrix() -> None:
    texts, labels, langs = _corpus()
    themes = sorted(set(labels.tolist()), key=lambda t: (t == -1, t))
    vec = _vectorizer()
    counts = vec.fit_transform(texts)  # as describe counted before
    rows = np.vstack([np.asarray(counts[labels == t].sum(axis=0)).ravel() for t in themes])
    for block in (7, 64, 10_000):
        got = theme_words(texts, labels, themes, langs, _vectorizer(), block=block)
        assert got is not None
        assert got.vocab.tolist() == vec.get_feature_names_out().tolist()
        assert got.rows.dtype == rows.dtype and np.array_equal(got.rows, rows)
        assert got.word_language == word_languages(counts, langs)


def test_no_word_at_all_is_none() -> None:
    assert (
        theme_words(["dan the", "yang"], np.zeros(2, int), [0], ["ms", "en"], _vectorizer()) is None
    )
