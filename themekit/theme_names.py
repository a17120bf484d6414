"""Choose each theme's name from its keyphrases (:mod:`themekit.naming`).

A theme in both languages is named by one phrase of each ("sokongan kawan / support from
peers"), a theme in one language by its two best phrases. Themes choose in order, largest
first, and a later theme never takes a phrase an earlier one took, nor one mostly made of the
words of an earlier name, so that no two names read alike.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

from themekit.naming import NAME_LANGUAGES, Scored

#: A two-language name is chosen among each language's this many best phrases ...
PAIR_TOP = 3
#: ... by their relevance plus this weight times their similarity to each other. Measured on
#: the development suite (benchmarks/RESULTS.md, issue 19): 0.3 and 1.0 lowered name fidelity
#: on the focus groups and SIB-200, so the best phrase of each language is taken.
PAIR_WEIGHT = 0.0


def name_themes(
    phrases: Mapping[int, Mapping[str, Sequence[str]]],
    order: Sequence[int],
    scored: Scored | None = None,
) -> dict[int, tuple[str, dict[str, str]]]:
    """One name per theme from its keyphrases, and the phrase used per language: a phrase of
    each language ("sokongan kawan / support from peers"), or the two best of its only
    language. With ``scored`` (:func:`score_keyphrases`) the two phrases are the pair among
    each language's :data:`PAIR_TOP` best with the highest summed relevance plus
    :data:`PAIR_WEIGHT` times their similarity (translations of each other score high);
    without it, each language's best. Themes in ``order`` (largest first) choose first; a later
    theme skips phrases taken, and phrases mostly made of words an earlier name holds
    ("sekolah menengah" after "sekolah"), so no two names read alike."""
    used: set[str] = set()
    used_words: set[str] = set()
    out: dict[int, tuple[str, dict[str, str]]] = {}
    for t in order:
        by_lang = phrases.get(t, {})
        free = {
            lang: [p for p in by_lang.get(lang, []) if p not in used] for lang in NAME_LANGUAGES
        }
        fresh = {lang: [p for p in ps if not _taken(p, used_words)] for lang, ps in free.items()}
        parts = {
            lang: fresh[lang] or ps for lang, ps in free.items() if ps
        }  # a repeated word rather than no name
        if len(parts) == 2:
            chosen = _pair(parts, scored.relevance.get(t, {}) if scored else {}, scored)
            name = " / ".join(chosen[lang] for lang in NAME_LANGUAGES)
            picked = list(chosen.values())
        elif parts:
            ((lang, ps),) = parts.items()
            chosen = {lang: ", ".join(ps[:2])}
            name, picked = chosen[lang], ps[:2]
        else:
            chosen, name, picked = {}, "(no keyphrases)", []
        used.update(picked)
        used_words.update(w for p in picked for w in _words(p))
        out[t] = (name, chosen)
    return out


def _words(phrase: str) -> set[str]:
    """A phrase's words, an English plural's ``s`` dropped ("schools" is "school")."""
    return {w[:-1] if len(w) > 3 and w.endswith("s") else w for w in phrase.lower().split()}


def _taken(phrase: str, used_words: set[str]) -> bool:
    """At least half of the phrase's words are already in an earlier theme's name."""
    words = _words(phrase)
    return bool(words) and len(words & used_words) >= 0.5 * len(words)


def _pair(
    parts: Mapping[str, Sequence[str]], relevance: Mapping[str, float], scored: Scored | None
) -> dict[str, str]:
    """The phrase per language of a two-language name (see :func:`name_themes`)."""
    ms, en = (list(parts[lang][:PAIR_TOP]) for lang in NAME_LANGUAGES)
    vec = scored.vectors if scored is not None else {}
    if not relevance or not all(p in vec and p in relevance for p in ms + en):
        return {"ms": ms[0], "en": en[0]}

    def value(pair: tuple[str, str]) -> float:
        a, b = pair
        return relevance[a] + relevance[b] + PAIR_WEIGHT * float(vec[a] @ vec[b])

    best = max(itertools.product(ms, en), key=value)  # ties: the earlier (better) phrases
    return dict(zip(NAME_LANGUAGES, best, strict=True))
