"""Stop words for keywords: Malay and English (stopwordsiso) plus colloquial Malaysian fillers."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

#: Words of two or more characters starting with a letter; keeps "kawan-kawan" and "don't" whole.
TOKEN_PATTERN = r"(?u)\b[^\W\d_][\w\-']+\b"

#: Colloquial Malay / Manglish particles and fillers that carry no theme ("lah", "kan", "tu" ...),
#: pronouns of everyday speech, transcription noise, and the Malay number words stopwordsiso lacks.
COLLOQUIAL: frozenset[str] = frozenset(
    """
    lah la kan tu ni je jer aje saje pun macam mcm dah da nak tak tk x takde tade tiada ada
    aku ko kau engkau hang depa diorang dorang korang kita kami awak dia dorg i you u me my
    ye ya yer yelah ialah pastu lepas tu camtu camni cmtu gitu gini sikit banyak sangat betul
    okay ok okey oh ah eh haa ha haha hehe hmm mm erm um uh ya-lah kot kut kat dekat dgn dengan
    ke kepada dari daripada pada utk untuk yg yang tapi tetapi sebab kerana bila kalau jika dan
    atau juga lagi lah-lah apa apa-apa mana siapa bagaimana camne macamana cakap kata tahu tau
    rasa jadi buat boleh akan sudah telah masih pernah selalu memang sebenarnya pon sama
    also just like really yeah yes no well actually know think mean said say thing things
    honestly basically literally bro stuff
    tujuh lapan sembilan sepuluh sebelas belas puluh ratus seratus ribu
    """.split()
)


@lru_cache(maxsize=1)
def _base() -> frozenset[str]:
    import stopwordsiso

    return frozenset(w.lower() for w in stopwordsiso.stopwords(["ms", "en"]))


def stop_words(extra: Iterable[str] = ()) -> list[str]:
    """Sorted Malay + English stop words, colloquial fillers and ``extra`` (lower-cased)."""
    words = set(_base()) | COLLOQUIAL | {w.strip().lower() for w in extra if w.strip()}
    # also the tokens the vectoriser makes of each stop word ("herself" -> "herse" + "lf"
    # would otherwise slip through; scikit-learn warns about exactly that)
    pattern = re.compile(TOKEN_PATTERN)
    words |= {tok for w in list(words) for tok in pattern.findall(w)}
    return sorted(words)
