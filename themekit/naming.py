"""Name candidate themes: keyphrases in both languages, a name and a one-line description.

Keyphrases are BERTopic's ``KeyBERTInspired`` + ``MaximalMarginalRelevance`` idea written on
themekit's own embedder, so that phrases and segments share one space:

1. **candidates**: the 1–3 word n-grams of the theme's segments, never across a clause boundary
   (``.``, ``,``, ``?`` ...), with no function word of either language at either edge
   (:func:`name_stop_words`), no Malay
   particle (*je, lah, kot, dah* ...) anywhere and no name of a person or place
   (:func:`proper_nouns`);
2. **prefilter**: per theme, language and phrase length (1, 2, 3 words) the
   :data:`N_CANDIDATES` n-grams with the highest class-based TF-IDF (BERTopic's
   :class:`~bertopic.vectorizers.ClassTfidfTransformer`, counted once per segment), among those
   used in :data:`MIN_SUPPORT` of the theme's segments and by :data:`MIN_SPEAKERS` of its
   speakers, where it has as many (a name is something several people said);
3. **score**: in a language-neutral space (each language's segments minus their mean vector,
   each language's phrases minus theirs), cosine between the phrase and the theme's centre,
   minus :data:`CONTRAST` times its cosine with the nearest other theme's centre, so a phrase
   close to every theme ("the group") does not name any, plus :data:`LENGTH_BONUS` per word
   after the first, so a phrase that scores near the best single word is preferred to it;
4. **diversity**: maximal marginal relevance (:data:`DIVERSITY`), so the second phrase is not a
   rewording of the first.

A phrase's language is where it is used by the larger share of segments (``ms`` vs ``en``;
code-switched segments do not vote), as for keywords. :mod:`themekit.theme_names` makes the
**name** from these ("sokongan kawan / support from peers"). The **description** is the theme's
most central quote, shortened to :data:`DESCRIPTION_WORDS` words.
Without a phrase embedder (a library call that passes none) phrases are ranked by c-TF-IDF alone.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
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
#: Candidate phrases per theme, language and phrase length kept by c-TF-IDF before embedding.
N_CANDIDATES = 15
#: Keyphrases kept per theme and language.
N_KEYPHRASES = 5
#: Weight of the similarity to the nearest other theme, subtracted from a phrase's score.
CONTRAST = 0.5
#: Score phrases and themes in a language-neutral space: each language's segments minus
#: their mean vector, and each language's phrases minus theirs (else the mean of all), so
#: that what all short phrases, all segments or one language share does not count.
LANGUAGE_NEUTRAL = True
#: A language with fewer segments (or phrases) than this is centred with the mean of all.
MIN_GROUP = 5
#: Added to a phrase's relevance per word after the first (a prior for phrases over words).
LENGTH_BONUS = 0.06
#: ... or multiplied by 1 + this per word after the first (a prior that lifts only phrases
#: that already score well; 0 = off).
LENGTH_SCALE = 0.0
#: A candidate is used in at least this many of the theme's segments (where it has as many) ...
MIN_SUPPORT = 2
#: ... and by at least this many of its speakers (where it has as many).
MIN_SPEAKERS = 2
#: Maximal-marginal-relevance trade-off (0 = relevance only).
DIVERSITY = 0.3
#: A description is at most this many words of the most central quote.
DESCRIPTION_WORDS = 20
#: Candidate phrases are counted on a sample of at most this many segments.
MAX_SEGMENTS = 20000
#: A phrase never ends in a word the corpus uses as a verb or adverb, nor starts with an
#: adverb (:mod:`themekit.word_classes`): "tells", "hearing them helped" name no theme.
NOUN_HEADS = True

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
#: Number and time words of either language: a name never starts or ends with one
#: ("eighteen months", "kali ketiga", "second ring" say when or how many, not what about).
NUMBERS_AND_TIMES: frozenset[str] = frozenset(
    """
    zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen
    fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty
    ninety hundred hundreds thousand thousands million first second third fourth fifth sixth
    seventh eighth ninth tenth once twice half
    pertama kedua ketiga keempat kelima keenam ketujuh kelapan kesembilan kesepuluh sebelas
    belas puluh ratus ribu juta sekali separuh
    month months week weeks night nights morning mornings evening evenings afternoon today
    tonight yesterday tomorrow weekend hour hours minute minutes
    pagi petang malam semalam esok jam minit
    """.split()
)

#: A curly apostrophe inside a word ("couldn’t"), read as a straight one.
_APOSTROPHE = re.compile(r"(?<=\w)[’‘](?=\w)")
#: A word of one letter repeated ("xxxx", "XXX"): a name hidden by anonymisation.
_MASK = re.compile(r"(\w)\1{2,}")
#: Where a clause ends: n-grams never run across these.
_CLAUSE = re.compile(r"[.,;:!?()\[\]{}\"“”‘’…/|]+|\s[-–—]+\s|\n")


def name_stop_words(extra: Sequence[str] = ()) -> frozenset[str]:
    """Words that never stand at the edge of a keyphrase: English function words
    (scikit-learn's list), Malay function words, colloquial particles and fillers
    (:data:`themekit.stopwords.COLLOQUIAL`), number and time words (:data:`NUMBERS_AND_TIMES`)
    and ``extra`` (``themes.stop_words``)."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    from themekit.stopwords import COLLOQUIAL

    return frozenset(
        (set(ENGLISH_STOP_WORDS) - _ENGLISH_CONTENT)
        | MALAY_FUNCTION_WORDS
        | COLLOQUIAL
        | PARTICLES
        | FILLERS
        | NUMBERS_AND_TIMES
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
    stop_words: frozenset[str],
    names: frozenset[str] = frozenset(),
    max_ngram: int = MAX_NGRAM,
    not_last: frozenset[str] = frozenset(),
) -> Callable[[str], list[str]]:
    """A scikit-learn ``analyzer``: the candidate keyphrases of one text (lower-cased).
    ``not_last``: words no phrase ends with (verbs, :func:`themekit.word_classes.verb_like`)."""
    from themekit.stopwords import TOKEN_PATTERN

    token = re.compile(TOKEN_PATTERN)
    edge_bad = stop_words | PARTICLES | names

    def analyse(text: str) -> list[str]:
        out: list[str] = []
        for chunk in _CLAUSE.split(_APOSTROPHE.sub("'", text.lower())):
            toks = ["" if _MASK.fullmatch(w) else w for w in token.findall(chunk)]  # "XXXX"
            for n in range(1, max_ngram + 1):
                for i in range(len(toks) - n + 1):
                    gram = toks[i : i + n]
                    if "" in gram or gram[0] in edge_bad or gram[-1] in edge_bad:
                        continue
                    if gram[-1] in not_last:
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


@dataclass
class Scored:
    """The keyphrases of every theme, best first, with what naming them needs:
    ``phrases[theme][lang]``; ``relevance[phrase]`` per theme (higher is better) and
    ``vectors[phrase]`` (unit, language-neutral; empty without an embedder)."""

    phrases: dict[int, dict[str, list[str]]]
    relevance: dict[int, dict[str, float]] = field(default_factory=dict)
    vectors: dict[str, np.ndarray] = field(default_factory=dict)


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
    speakers: Sequence[str | None] | None = None,
) -> dict[int, dict[str, list[str]]]:
    """Per theme (outliers, label -1, excluded) and language, its best keyphrases.

    ``embeddings``: the segments' vectors in the space ``embed_phrases`` maps phrases into
    (both None: c-TF-IDF ranking only). ``centres``: instead of ``embeddings``, each theme's
    centre in that space, already taken away from the mean of all segments (what
    :mod:`themekit.theme_vectors` aggregates; phrases are then taken away from theirs). ``stop_words`` are added to :func:`name_stop_words`.
    ``names`` (default: :func:`proper_nouns` of ``texts``) never appear in a phrase.
    ``speakers``: each segment's speaker; a phrase said by two speakers of the theme is
    preferred to one said by one (where the theme has two).
    """
    return score_keyphrases(
        texts,
        languages,
        labels,
        embeddings,
        centres=centres,
        embed_phrases=embed_phrases,
        stop_words=stop_words,
        names=names,
        n_phrases=n_phrases,
        seed=seed,
        speakers=speakers,
    ).phrases


def _counts(
    texts: Sequence[str], languages: Sequence[str], stop: frozenset[str], names: frozenset[str]
) -> tuple[Any, np.ndarray] | None:
    from scipy.sparse import csr_matrix
    from sklearn.feature_extraction.text import CountVectorizer

    from themekit.word_classes import ADVERBS, verb_like

    verbs = verb_like(texts, languages) if NOUN_HEADS else frozenset()
    stop = stop | ADVERBS if NOUN_HEADS else stop
    vec = CountVectorizer(analyzer=phrase_analyzer(stop, names, not_last=verbs), binary=True)
    try:
        counts = csr_matrix(vec.fit_transform(texts))
    except ValueError:  # no candidate at all
        return None
    return counts, np.asarray(vec.get_feature_names_out())


def _candidates(
    W: np.ndarray,
    support: np.ndarray,
    lang_of: np.ndarray,
    n_words: np.ndarray,
    lang: str,
    need: int,
) -> np.ndarray:
    """One theme's candidates in ``lang``: per phrase length the :data:`N_CANDIDATES` with the
    highest c-TF-IDF (``W``) among those with ``support >= need``, where any has."""
    ok = (lang_of == lang) & (W > 0)
    if (ok & (support >= need)).any():
        ok &= support >= need
    out: list[int] = []
    for n in range(1, MAX_NGRAM + 1):
        idx = np.flatnonzero(ok & (n_words == n))
        out.extend(idx[np.lexsort((idx, -W[idx]))][:N_CANDIDATES].tolist())
    return np.asarray(sorted(out), dtype=int)


def _language_neutral(X: np.ndarray, groups: Sequence[str]) -> np.ndarray:
    """``X`` with each group's (language's) mean vector subtracted, then unit length; a group
    of fewer than :data:`MIN_GROUP` rows has the mean of all rows subtracted instead."""
    X = np.asarray(X, dtype=np.float64)
    g = np.asarray(groups, dtype=object)
    out = X - X.mean(axis=0)
    if LANGUAGE_NEUTRAL:
        for lang in set(g.tolist()):
            m = g == lang
            if m.sum() >= MIN_GROUP:
                out[m] = X[m] - X[m].mean(axis=0)
    return _unit(out)


def score_keyphrases(
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
    speakers: Sequence[str | None] | None = None,
) -> Scored:
    """:func:`keyphrases`, with each phrase's relevance and vector kept for :func:`themekit.theme_names.name_themes`."""
    from bertopic.vectorizers import ClassTfidfTransformer
    from scipy.sparse import csr_matrix

    labels = np.asarray(labels, dtype=int)
    themes = sorted(t for t in set(labels.tolist()) if t != -1)
    out = Scored({t: {g: [] for g in NAME_LANGUAGES} for t in themes})
    if not themes:
        return out
    keep = np.arange(len(texts))
    if len(keep) > MAX_SEGMENTS:
        keep = np.sort(np.random.default_rng(seed).choice(len(texts), MAX_SEGMENTS, replace=False))
    sub_texts = [texts[i] for i in keep.tolist()]
    sub_langs = np.asarray([languages[i] for i in keep.tolist()], dtype=object)
    sub_labels = labels[keep]
    if names is None:
        names = proper_nouns(sub_texts)
    got = _counts(sub_texts, sub_langs.tolist(), name_stop_words(stop_words), names)
    if got is None:
        return out
    counts, vocab = got
    n_words = np.asarray([len(v.split()) for v in vocab])
    all_themes = sorted(set(sub_labels.tolist()))
    rows = np.vstack([np.asarray(counts[sub_labels == t].sum(axis=0)).ravel() for t in all_themes])
    W = np.asarray(
        ClassTfidfTransformer(reduce_frequent_words=True).fit_transform(csr_matrix(rows)).todense()
    )
    lang_of = np.asarray(word_languages(counts, sub_langs.tolist()), dtype=object)
    spk = None
    if speakers is not None:
        spk = np.asarray([speakers[i] or "" for i in keep.tolist()], dtype=object)

    cands: dict[tuple[int, str], np.ndarray] = {}
    for t in themes:
        r = all_themes.index(t)
        m = sub_labels == t
        support, need = rows[r], min(MIN_SUPPORT, int(m.sum()))
        if spk is not None and MIN_SPEAKERS > 1 and len(set(spk[m].tolist())) >= MIN_SPEAKERS:
            support = np.minimum(support, _speaker_counts(counts[m], spk[m]))
            need = min(need, MIN_SPEAKERS)
        here = set(sub_langs[m].tolist())
        for lang in NAME_LANGUAGES:
            if lang in here or "mixed" in here:
                cands[(t, lang)] = _candidates(W[r], support, lang_of, n_words, lang, need)

    uniq = sorted({int(j) for idx in cands.values() for j in idx.tolist()})
    E: np.ndarray | None = None
    C = np.zeros((0, 0))
    row_of: dict[int, int] = {}
    if embed_phrases is not None and (embeddings is not None or centres is not None) and uniq:
        vecs = _unit(np.asarray(embed_phrases([str(vocab[j]) for j in uniq]), dtype=np.float64))
        dim = np.asarray(embeddings).shape[1] if centres is None else len(centres[themes[0]])
        if vecs.shape[1] != dim:
            raise ValueError(
                f"phrase vectors have {vecs.shape[1]} dimensions, segment vectors {dim}"
            )
        if centres is None:  # the segments' vectors at hand: each language's mean taken away
            X = _language_neutral(np.asarray(embeddings), languages)
            C = np.vstack([_unit(X[labels == u].mean(axis=0)) for u in themes])
            E = _language_neutral(vecs, lang_of[uniq].tolist())
        else:  # centres aggregated over shards (themekit.theme_vectors): away from the mean
            C = np.vstack([_unit(np.asarray(centres[u], dtype=np.float64)) for u in themes])
            E = _unit(vecs - vecs.mean(axis=0))
        # one row per candidate phrase (not per word of the vocabulary, which grows with the
        # corpus): vocabulary entry j is row row_of[j]
        row_of = {j: r for r, j in enumerate(uniq)}
        out.vectors = {str(vocab[j]): E[r] for j, r in row_of.items()}
    for (t, lang), idx in cands.items():
        if len(idx) == 0:
            continue
        if E is not None:
            Ei = E[[row_of[int(j)] for j in idx]]
            sims = Ei @ C.T
            own = sims[:, themes.index(t)]
            others = np.delete(sims, themes.index(t), axis=1)
            nearest = others.max(axis=1) if others.shape[1] else np.zeros(len(idx))
            extra = n_words[idx] - 1
            relevance = (own - CONTRAST * nearest) * (1 + LENGTH_SCALE * extra)
            relevance = relevance + LENGTH_BONUS * extra
            order = _mmr(relevance, Ei, n_phrases, DIVERSITY)
        else:
            relevance = W[all_themes.index(t), idx]
            order = _mmr(relevance, None, n_phrases, 0.0)
        out.phrases[t][lang] = [str(vocab[idx[i]]) for i in order]
        rel = out.relevance.setdefault(t, {})
        rel.update({str(vocab[idx[i]]): float(relevance[i]) for i in order})
    return out


def _speaker_counts(counts: Any, speakers: np.ndarray) -> np.ndarray:
    """Per phrase, how many distinct ``speakers`` used it (rows of ``counts``)."""
    per = [np.asarray(counts[speakers == s].sum(axis=0)).ravel() > 0 for s in set(speakers)]
    return np.sum(per, axis=0)


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
