"""Name candidate themes: keyphrases in both languages, a name and a one-line description.

Keyphrases are BERTopic's ``KeyBERTInspired`` + ``MaximalMarginalRelevance`` idea written on
themekit's own embedder, so that phrases and segments share one space:

1. **candidates**: the 1–3 word n-grams of the theme's segments, never across a clause boundary
   (``.``, ``,``, ``?`` ...), with no function word of either language at either edge
   (:func:`name_stop_words`), no Malay
   particle (*je, lah, kot, dah* ...) anywhere and no name of a person or place
   (:func:`proper_nouns`);
2. **prefilter**: per theme and language the :data:`N_CANDIDATES` n-grams with the highest
   class-based TF-IDF (BERTopic's :class:`~bertopic.vectorizers.ClassTfidfTransformer`, counted
   once per segment), among those used in at least two of the theme's segments where it has two;
3. **score**: cosine between the embedded phrase and the theme's centre (mean of its segments'
   vectors), minus :data:`CONTRAST` times its cosine with the nearest other theme's centre, so a
   phrase close to every theme ("the group") does not name any;
4. **diversity**: maximal marginal relevance (:data:`DIVERSITY`), so the second phrase is not a
   rewording of the first.

A phrase's language is where it is used by the larger share of segments (``ms`` vs ``en``;
code-switched segments do not vote), as for keywords. The **name** joins the best phrase of each
language ("sokongan kawan / support from peers"); a theme in one language gets its two best. The
**description** is the theme's most central quote, shortened to :data:`DESCRIPTION_WORDS` words.
Without a phrase embedder (a library call that passes none) phrases are ranked by c-TF-IDF alone.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

#: Embeds short texts into the space of the segments (the run's embedder, with its cache).
PhraseEmbedder = Callable[[list[str]], np.ndarray]

#: Languages names are given in.
NAME_LANGUAGES = ("ms", "en")
#: Longest keyphrase, in words.
MAX_NGRAM = 3
#: Candidate phrases per theme and language kept by c-TF-IDF before embedding.
N_CANDIDATES = 25
#: Keyphrases kept per theme and language.
N_KEYPHRASES = 5
#: Weight of the similarity to the nearest other theme, subtracted from a phrase's score.
CONTRAST = 0.5
#: Score phrases and themes in a centred space (phrase vectors minus their mean, segment
#: vectors minus theirs), so that what all short phrases or all segments share does not count.
CENTER = True
#: Maximal-marginal-relevance trade-off (0 = relevance only).
DIVERSITY = 0.3
#: A description is at most this many words of the most central quote.
DESCRIPTION_WORDS = 20
#: Candidate phrases are counted on a sample of at most this many segments.
MAX_SEGMENTS = 20000

#: Discourse particles and fillers that belong in no keyphrase, at its edge or inside.
PARTICLES: frozenset[str] = frozenset(
    """
    lah la je jer aje kot kut dah da kan tu ni pun eh ah oh haa ha hmm mm erm um uh yelah
    ya ye yer ok okay okey haha hehe macam mcm camtu camni gitu gini pastu
    """.split()
)

#: Malay function words (pronouns, prepositions, conjunctions, auxiliaries, quantifiers).
#: stopwordsiso's Malay list, which keywords use, is a news frequency list that also holds
#: content words a theme is named by ("sokongan", "kumpulan", "rakan", "pemimpin", "sukan"),
#: so names use this list instead.
MALAY_FUNCTION_WORDS: frozenset[str] = frozenset(
    """
    ada adalah agak agar akan akhirnya amat anda antara apa apabila apakah atas bagaimana bagi
    bahawa barangkali beberapa begini begitu belum beliau bersama betapa biasa biasanya bila
    boleh bukan cuma dalam daripada dapat dari demikian dengan di dia dialah dirinya dulu
    hampir hanya harus hendak hingga ia iaitu ialah ini itu jadi jangan jika juga justeru kalau
    kami kamu kata ke kepada kerana ketika kini kita lagi lain lalu lebih maka mana manakala
    masih mereka mesti mungkin namun nanti oleh pada paling para pernah perlu pula saja sahaja
    saling sambil sangat saya sebab sebagai sebelum sedang sedangkan sehingga sejak selalu
    selain selepas semua seorang seperti serta sesuatu setiap siapa sini situ sudah supaya
    tadi tanpa telah tentang terhadap tersebut tetapi tiada tidak untuk walaupun yang satu dua
    tiga empat lima enam tujuh lapan sembilan sepuluh ini-lah itulah inilah
    """.split()
)
#: Words of scikit-learn's English stop list that can end a keyphrase ("give back").
_ENGLISH_CONTENT = frozenset("give back show help work home group system find call move".split())
#: Words of everyday talk in either language that say nothing about a theme on their own.
FILLERS: frozenset[str] = frozenset(
    """
    exactly went go going goes gone got get gets getting come came comes coming guys guy man
    time times thing things stuff way lot lots bit kind sort good right sure okay maybe just
    day days year years people person told tell says said start started want wanted need
    orang benda masa kali hari sama-sama mula-mula semua macam tahun bulan minggu
    """.split()
)

#: Where a clause ends: n-grams never run across these.
_CLAUSE = re.compile(r"[.,;:!?()\[\]{}\"“”‘’…/|]+|\s[-–—]+\s|\n")


def name_stop_words(extra: Sequence[str] = ()) -> frozenset[str]:
    """Words that never stand at the edge of a keyphrase: English function words
    (scikit-learn's list), Malay function words, colloquial particles and fillers
    (:data:`themekit.stopwords.COLLOQUIAL`) and ``extra`` (``themes.stop_words``)."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    from themekit.stopwords import COLLOQUIAL

    return frozenset(
        (set(ENGLISH_STOP_WORDS) - _ENGLISH_CONTENT)
        | MALAY_FUNCTION_WORDS
        | COLLOQUIAL
        | PARTICLES
        | FILLERS
        | {w.strip().lower() for w in extra if w.strip()}
    )


def phrase_embedder(
    embedder: Any, cache_dir: Path | None, batch_size: int | None = None
) -> PhraseEmbedder:
    """Embed phrases with the run's embedder (and its cache). A corpus-fitted backend (TF-IDF)
    encodes them with the fit it already has, so that they land in the segments' space."""
    from themekit.embed import embed_texts

    if getattr(embedder, "requires_fit", False):
        return lambda texts: np.asarray(embedder.encode(texts))
    return lambda texts: np.asarray(
        embed_texts(texts, embedder, cache_dir=cache_dir, batch_size=batch_size)
    )


def phrase_analyzer(
    stop_words: frozenset[str], names: frozenset[str] = frozenset(), max_ngram: int = MAX_NGRAM
) -> Callable[[str], list[str]]:
    """A scikit-learn ``analyzer``: the candidate keyphrases of one text (lower-cased)."""
    from themekit.stopwords import TOKEN_PATTERN

    token = re.compile(TOKEN_PATTERN)
    edge_bad = stop_words | PARTICLES | names

    def analyse(text: str) -> list[str]:
        out: list[str] = []
        for chunk in _CLAUSE.split(text.lower()):
            toks = token.findall(chunk)
            for n in range(1, max_ngram + 1):
                for i in range(len(toks) - n + 1):
                    gram = toks[i : i + n]
                    if gram[0] in edge_bad or gram[-1] in edge_bad:
                        continue
                    if "'" in gram[0] or "'" in gram[-1]:  # contractions: didn't, he'd
                        continue
                    if any(w in PARTICLES or w in names for w in gram):
                        continue
                    if len(set(gram)) < n:  # "lama lama"
                        continue
                    out.append(" ".join(gram))
        return out

    return analyse


def word_languages(counts: Any, languages: Sequence[str]) -> list[str]:
    """The language of each column of a segment x term count matrix: where its share of
    segments is higher (``ms``, ``en``, or ``unknown`` on a tie)."""
    langs = np.asarray(languages, dtype=object)
    present = (counts > 0).astype(np.float64)
    rates = {}
    for lang in NAME_LANGUAGES:
        m = langs == lang
        rates[lang] = np.asarray(present[m].sum(axis=0)).ravel() / max(1, int(m.sum()))
    ms, en = rates["ms"], rates["en"]
    return ["ms" if a > b else "en" if b > a else "unknown" for a, b in zip(ms, en, strict=True)]


def proper_nouns(texts: Sequence[str]) -> frozenset[str]:
    """Lower-cased words written with a capital letter inside sentences and (almost) never in
    lower case: names of people and places ("Kuantan", "Budin"). A word that opens a sentence,
    and an acronym in capitals ("HIV"), count neither way."""
    from themekit.stopwords import TOKEN_PATTERN

    token = re.compile(TOKEN_PATTERN)
    capital: Counter[str] = Counter()
    lower: Counter[str] = Counter()
    for text in texts:
        for m in token.finditer(text):
            word = m.group()
            j = m.start() - 1
            while j >= 0 and text[j].isspace():
                j -= 1
            if j < 0 or text[j] in ".!?:;\"'“‘(":
                continue  # sentence-initial: capitalised anyway
            if word.isupper() and len(word) > 1:
                continue  # an acronym, not a name
            if word[0].isupper():
                capital[word.lower()] += 1
            elif word[0].islower():
                lower[word.lower()] += 1
    return frozenset(w for w, n in capital.items() if lower[w] <= 0.1 * (n + lower[w]))


def _unit(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    return X / np.maximum(np.linalg.norm(X, axis=-1, keepdims=True), 1e-12)


def _mmr(relevance: np.ndarray, E: np.ndarray | None, k: int, diversity: float) -> list[int]:
    """Maximal marginal relevance (as ``bertopic.representation.MaximalMarginalRelevance``, with
    the relevance given rather than recomputed, so that it can hold the contrast term)."""
    order = [int(np.argmax(relevance))] if len(relevance) else []
    rest = [i for i in range(len(relevance)) if i not in order]
    while rest and len(order) < k:
        if E is None:
            nxt = max(rest, key=lambda i: (relevance[i], -i))
        else:
            redundancy = (E[rest] @ E[order].T).max(axis=1)
            mmr = (1 - diversity) * relevance[rest] - diversity * redundancy
            nxt = rest[int(np.argmax(mmr))]
        order.append(nxt)
        rest.remove(nxt)
    return order


def keyphrases(
    texts: Sequence[str],
    languages: Sequence[str],
    labels: np.ndarray,
    embeddings: np.ndarray | None,
    *,
    centres: Mapping[int, np.ndarray] | None = None,
    embed_phrases: PhraseEmbedder | None = None,
    stop_words: Sequence[str] = (),
    names: frozenset[str] | None = None,
    n_phrases: int = N_KEYPHRASES,
    seed: int = 42,
) -> dict[int, dict[str, list[str]]]:
    """Per theme (outliers, label -1, excluded) and language, its best keyphrases.

    ``embeddings``: the segments' vectors in the space ``embed_phrases`` maps phrases into
    (both None: c-TF-IDF ranking only). ``centres``: instead of ``embeddings``, each theme's
    centre in that space, already taken away from the mean of all segments when
    :data:`CENTER` (what :mod:`themekit.theme_vectors` aggregates). ``stop_words`` are added to :func:`name_stop_words`.
    ``names`` (default: :func:`proper_nouns` of ``texts``) never appear in a phrase.
    """
    from bertopic.vectorizers import ClassTfidfTransformer
    from scipy.sparse import csr_matrix
    from sklearn.feature_extraction.text import CountVectorizer

    labels = np.asarray(labels, dtype=int)
    themes = sorted(t for t in set(labels.tolist()) if t != -1)
    out: dict[int, dict[str, list[str]]] = {t: {g: [] for g in NAME_LANGUAGES} for t in themes}
    if not themes:
        return out
    keep = np.arange(len(texts))
    if len(keep) > MAX_SEGMENTS:
        keep = np.sort(np.random.default_rng(seed).choice(len(texts), MAX_SEGMENTS, replace=False))
    sub_texts = [texts[i] for i in keep.tolist()]
    sub_langs = [languages[i] for i in keep.tolist()]
    sub_labels = labels[keep]
    if names is None:
        names = proper_nouns(sub_texts)
    stop = name_stop_words(stop_words)
    vec = CountVectorizer(analyzer=phrase_analyzer(stop, names), binary=True)
    try:
        counts = csr_matrix(vec.fit_transform(sub_texts))
    except ValueError:  # no candidate at all
        return out
    vocab = np.asarray(vec.get_feature_names_out())
    all_themes = sorted(set(sub_labels.tolist()))
    rows = np.vstack([np.asarray(counts[sub_labels == t].sum(axis=0)).ravel() for t in all_themes])
    weights = ClassTfidfTransformer(reduce_frequent_words=True).fit_transform(csr_matrix(rows))
    W = np.asarray(weights.todense())
    lang_of = np.asarray(word_languages(counts, sub_langs), dtype=object)

    cands: dict[tuple[int, str], np.ndarray] = {}
    for t in themes:
        if t not in all_themes:
            continue
        r = all_themes.index(t)
        size = int((sub_labels == t).sum())
        here = set(np.asarray(sub_langs, dtype=object)[sub_labels == t].tolist())
        for lang in NAME_LANGUAGES:
            if lang not in here and "mixed" not in here:
                continue
            ok = (lang_of == lang) & (W[r] > 0) & (rows[r] >= min(2, size))
            if not ok.any():
                ok = (lang_of == lang) & (W[r] > 0)
            idx = np.flatnonzero(ok)
            cands[(t, lang)] = idx[np.lexsort((idx, -W[r, idx]))][:N_CANDIDATES]

    uniq = sorted({int(j) for idx in cands.values() for j in idx.tolist()})
    E: np.ndarray | None = None
    at: dict[int, np.ndarray] = {}
    row_of: dict[int, int] = {}
    if embed_phrases is not None and (embeddings is not None or centres is not None) and uniq:
        if centres is None:
            assert embeddings is not None
            X = _unit(np.asarray(embeddings))
            if CENTER:  # compare directions away from the mean of segments
                X = X - X.mean(axis=0)
            centres = {t: _unit(X[labels == t].mean(axis=0)) for t in themes}
        at = {t: np.asarray(centres[t], dtype=np.float64) for t in themes}
        dim = len(at[themes[0]])
        vecs = _unit(np.asarray(embed_phrases([str(vocab[j]) for j in uniq])))
        if vecs.shape[1] != dim:
            raise ValueError(
                f"phrase vectors have {vecs.shape[1]} dimensions, segment vectors {dim}"
            )
        if CENTER:  # compare directions away from the mean of phrases
            vecs = _unit(vecs - vecs.mean(axis=0))
        # one row per candidate phrase (not per word of the vocabulary, which grows with the
        # corpus): vocabulary entry j is row row_of[j]
        E = vecs
        row_of = {j: r for r, j in enumerate(uniq)}
    for (t, lang), idx in cands.items():
        if len(idx) == 0:
            continue
        if E is not None:
            Ei = E[[row_of[int(j)] for j in idx]]
            sims = Ei @ np.vstack([at[u] for u in themes]).T
            own = sims[:, themes.index(t)]
            others = np.delete(sims, themes.index(t), axis=1)
            nearest = others.max(axis=1) if others.shape[1] else np.zeros(len(idx))
            relevance = own - CONTRAST * nearest
            order = _mmr(relevance, Ei, n_phrases, DIVERSITY)
        else:
            order = _mmr(W[all_themes.index(t), idx], None, n_phrases, 0.0)
        out[t][lang] = [str(vocab[idx[i]]) for i in order]
    return out


def describe_quote(text: str, max_words: int = DESCRIPTION_WORDS) -> str:
    """A quote shortened to at most ``max_words`` words: to its first sentence when that is
    long enough to say something, else cut at a word with an ellipsis."""
    words = text.split()
    if len(words) <= max_words:
        return " ".join(words)
    first = re.split(r"(?<=[.!?])\s+", text.strip(), maxsplit=1)[0].split()
    if 6 <= len(first) <= max_words:
        return " ".join(first)
    return " ".join(words[:max_words]).rstrip(",;:") + " …"


def name_themes(
    phrases: Mapping[int, Mapping[str, Sequence[str]]],
    order: Sequence[int],
) -> dict[int, tuple[str, dict[str, str]]]:
    """One name per theme from its keyphrases, and the phrase used per language: the best
    phrase of each language ("sokongan kawan / support from peers"), or the two best of its only
    language. Themes in ``order`` (largest first) get their first choice; a later theme whose
    phrase is taken uses its next one, so no two themes share a name."""
    used: set[str] = set()
    out: dict[int, tuple[str, dict[str, str]]] = {}
    for t in order:
        by_lang = phrases.get(t, {})
        free = {
            lang: [p for p in by_lang.get(lang, []) if p not in used] for lang in NAME_LANGUAGES
        }
        parts = {lang: ps for lang, ps in free.items() if ps}
        if len(parts) == 2:
            chosen = {lang: ps[0] for lang, ps in parts.items()}
            name = " / ".join(chosen[lang] for lang in NAME_LANGUAGES)
            used.update(chosen.values())
        elif parts:
            ((lang, ps),) = parts.items()
            chosen = {lang: ", ".join(ps[:2])}
            name = chosen[lang]
            used.update(ps[:2])
        else:
            chosen, name = {}, "(no keyphrases)"
        out[t] = (name, chosen)
    return out
