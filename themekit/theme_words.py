"""How many of each theme's segments use each word, and the language each word is more used in:
what :func:`themekit.describe.describe_themes` ranks keywords from (BERTopic's c-TF-IDF over
one row per theme).

The numbers are those of ``CountVectorizer(binary=True).fit_transform(texts)`` summed over each
theme's rows, and of :func:`themekit.naming.word_languages` on that matrix, but the segments are
counted in blocks of :data:`BLOCK` against the vocabulary read first, so that no segment x word
matrix of the whole corpus is held, nor the lists sklearn builds it from (issue 15). The counts
are integers, so adding them up block by block gives the same numbers.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from themekit.naming import NAME_LANGUAGES

logger = logging.getLogger(__name__)

#: Segments counted at a time.
BLOCK = 8192


@dataclass(frozen=True)
class ThemeWords:
    """``vocab``: every word, sorted (the vectorizer's feature names); ``rows``: per theme (in
    the order asked for) how many of its segments use each word (int64); ``word_language``: per
    word ``ms``, ``en`` or ``unknown``, where its share of segments is higher."""

    vocab: np.ndarray
    rows: np.ndarray
    word_language: list[str]


def theme_words(
    texts: Sequence[str],
    labels: np.ndarray,
    themes: Sequence[int],
    languages: Sequence[str],
    vectorizer: Any,
    block: int = BLOCK,
) -> ThemeWords | None:
    """The counts for ``themes`` (labels, ``-1`` included where asked) with ``vectorizer`` (a
    binary ``CountVectorizer``, not fitted: only its settings are used); None when the texts
    hold no word at all (``fit_transform`` would raise)."""
    from sklearn.base import clone

    analyze = vectorizer.build_analyzer()
    words: set[str] = set()
    for text in texts:
        words.update(analyze(text))
    if not words:
        return None
    vocab = sorted(words)
    fixed = clone(vectorizer).set_params(vocabulary={w: j for j, w in enumerate(vocab)})
    labels = np.asarray(labels, dtype=int)
    langs = np.asarray(languages, dtype=object)
    rows = np.zeros((len(themes), len(vocab)), dtype=np.int64)
    used = {lang: np.zeros(len(vocab), dtype=np.int64) for lang in NAME_LANGUAGES}
    for a in range(0, len(texts), block):
        counts = fixed.transform(list(texts[a : a + block])).tocsr()
        here = labels[a : a + block]
        for r, t in enumerate(themes):
            rows[r] += np.asarray(counts[here == t].sum(axis=0)).ravel()
        present = counts > 0
        for lang in NAME_LANGUAGES:
            used[lang] += np.asarray(present[langs[a : a + block] == lang].sum(axis=0)).ravel()
    # the rates of naming.word_languages: its float sums of ones are these integers exactly
    rates = {lang: used[lang] / max(1, int((langs == lang).sum())) for lang in NAME_LANGUAGES}
    ms, en = rates["ms"], rates["en"]
    word_language = [
        "ms" if a > b else "en" if b > a else "unknown" for a, b in zip(ms, en, strict=True)
    ]
    return ThemeWords(np.asarray(vocab, dtype=object), rows, word_language)
