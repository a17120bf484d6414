"""Which words of a corpus cannot end a theme name: verbs, adverbs, names of speakers.

A name a researcher writes is a noun phrase, or a phrase that ends in one ("sokongan kawan",
"support from peers", "jaga diri"); a phrase that ends in a verb ("tells", "hearing them
helped") or an adverb ("completely") does not say what a theme holds. There is no offline
part-of-speech tagger for Malay and English code-switched talk, so the word class is read
from the corpus itself, by closed-class neighbours:

- **verb-like**: a word used after an English subject pronoun, a modal or a negation ("he
  *tells*", "I *helped*"), or after a Malay aspect marker that takes verbs ("pernah *jaga*",
  "kena *tangkap*"; not after a Malay pronoun, modal or *dah*, which need no verb: "dia *kawan*
  saya", "nak *duit*", "dah *lama*") more
  often than after a determiner or a preposition ("the *school*", "kat *sekolah*"), at least
  :data:`MIN_CUES` times, with its *-s* and *-ed* forms where the corpus never uses them
  after a determiner or preposition ("tells" from "he *tell*"); and Malay words of the *meN-* verb prefix ("membantu", "mengajar")
  not ending in the noun suffix *-an*, never used in an English segment nor after a
  determiner or preposition;
- **adverb-like**: English words in *-ly* never used after a determiner or preposition
  ("completely", but not "family"), and a short closed list of Malay and English adverbs;
- **speaker names**: the words of the speakers' names ("Che Mat") that the texts never write
  in lower case, so a name said at the start of a sentence (which
  :func:`themekit.naming.proper_nouns` cannot tell from any other capitalised word) is caught.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Iterable, Sequence

#: A word is verb-like when it follows a verb cue at least this many times (and more often
#: than it follows a noun cue).
MIN_CUES = 1

#: Words after which the next word is (nearly always) a verb.
VERB_CUES: frozenset[str] = frozenset(
    """
    i he she we they nobody everybody everyone somebody someone i'm we're they're he's she's i've we've they've i'll we'll they'll
    he'll she'll you'll i'd we'd they'd will would can could should must might shall
    don't doesn't didn't can't couldn't won't wouldn't shouldn't never
    akan sedang tengah pernah jangan kena
    """.split()
)
#: Words after which the next word is (nearly always) a noun or a noun's modifier.
NOUN_CUES: frozenset[str] = frozenset(
    """
    the a an my your his her our their its this these those some any every each no of
    in for with about from at on
    di ke dari daripada kepada pada dengan untuk dalam tentang oleh bagi para setiap semua
    ramai sebuah seorang beberapa pasal kat dekat
    """.split()
)
#: Adverbs of either language that a name never starts or ends with.
ADVERBS: frozenset[str] = frozenset(
    """
    very really always never often sometimes usually already still even also quite just
    actually basically probably definitely totally exactly especially almost maybe perhaps
    sangat amat betul-betul memang terus selalu jarang kadang kadang-kadang sekarang sentiasa
    hanya cuma sikit sedikit sekali agak
    """.split()
)
#: The *meN-* prefix of Malay verbs (membantu, menolong, mengajar, menyokong).
_MEN = re.compile(r"^me(?:ng|ny|m|n)[a-z]{3,}$")
#: Endings of English verb forms: a verb-like word's "-s", "-es", "-ed", "-d" forms.
_ENDS = ("s", "es", "ed", "d")
_WORD = re.compile(r"[a-z][a-z'’-]*")


def _tokens(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("’", "'"))


def verb_like(texts: Sequence[str], languages: Sequence[str] | None = None) -> frozenset[str]:
    """The corpus's verb-like and adverb-like words (see the module's docstring).
    ``languages``: each text's language (``en`` texts keep their words out of the Malay prefix
    rule)."""
    after_verb: Counter[str] = Counter()
    after_noun: Counter[str] = Counter()
    cues = VERB_CUES
    seen: set[str] = set()
    english: set[str] = set()
    for k, text in enumerate(texts):
        toks = _tokens(text)
        seen.update(toks)
        if languages is not None and languages[k] == "en":
            english.update(toks)
        for prev, word in itertools.pairwise(toks):
            if prev in cues:
                after_verb[word] += 1
            elif prev in NOUN_CUES:
                after_noun[word] += 1
    out = {w for w, n in after_verb.items() if n >= MIN_CUES and n > after_noun[w]}
    out |= {
        w
        for w in seen
        if not after_noun[w]
        and any(w.endswith(e) and w[: -len(e)] in out for e in _ENDS if len(w) > len(e) + 2)
    }
    out |= {
        w
        for w in seen
        if not after_noun[w]
        and (
            (_MEN.match(w) and not w.endswith("an") and w not in english)
            or (w.endswith("ly") and len(w) >= 5)
        )
    }
    return frozenset(out | ADVERBS)


def speaker_name_words(speakers: Sequence[str | None], texts: Iterable[str]) -> frozenset[str]:
    """Lower-cased words of the speakers' names that no text writes in lower case."""
    words = {w.lower() for s in set(speakers) if s for w in re.findall(r"[^\W\d_]{2,}", s)}
    if not words:
        return frozenset()
    lower = {w for text in texts for w in re.findall(r"\b[^\W\d_]+\b", text) if w.islower()}
    return frozenset(words - lower)
