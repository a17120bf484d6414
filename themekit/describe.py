"""Describe candidate themes: a name, keyphrases and keywords per language, and quotes.

Each theme is named by :mod:`themekit.naming`: keyphrases of 1-3 words per language scored
against the theme's centre in the embedding space, the name joining the best phrase of each
language, and a one-line description from its most central quote. Where the codebook coding
gives a theme a codebook theme, that theme's name and its cosine similarity to the candidate's
centre are shown beside the candidate's name (never instead of it).

Keywords are BERTopic's class-based TF-IDF (:class:`bertopic.vectorizers.ClassTfidfTransformer`)
over words counted once per segment (how many of a theme's segments use a word, not how often one
speaker repeats it), with Malay + English stop words removed (:mod:`themekit.stopwords`). Each word
is given the language in which it is more frequent (share of ``ms`` vs ``en`` segments using it;
code-switched segments do not vote), so a theme's keywords can be shown per language.

Quotes are chosen greedily from the segments closest to the theme's centre, preferring a speaker,
session and language not yet quoted and penalising near-duplicates of quotes already chosen.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from themekit import theme_vectors
from themekit.corpus import Corpus
from themekit.errors import InputError
from themekit.naming import (
    PhraseEmbedder,
    describe_quote,
    proper_nouns,
    score_keyphrases,
)
from themekit.theme_names import name_themes
from themekit.theme_vectors import ThemeVectors
from themekit.theme_words import theme_words
from themekit.word_classes import speaker_name_words

logger = logging.getLogger(__name__)

#: A theme that reappears in fewer refits than this share is flagged.
UNSTABLE_BELOW = 0.5
#: Languages keywords are shown in.
KEYWORD_LANGUAGES = ("ms", "en")
#: Quotes shorter than this many words are only used when nothing longer is left.
MIN_QUOTE_WORDS = 5
#: Up to this many segments, keyphrases are ranked in the segments' own vectors (each
#: language's mean taken away); above it, from the themes' centres, as the ray engine does, so
#: that describing holds no float64 copies of every vector (benchmarks/RESULTS.md, issue 15).
PHRASE_ROWS_MAX = 20000


@dataclass(frozen=True)
class Quote:
    segment_id: str
    text: str
    speaker: str
    session: str
    language: str


@dataclass
class SubTheme:
    """A part of a candidate theme (:mod:`themekit.themes.subthemes`), named against its
    sibling parts: ``id`` is ``"<theme>.<n>"``."""

    id: str
    label: str
    size: int
    name_by_language: dict[str, str]
    description: str
    quotes: list[Quote]


@dataclass
class CandidateTheme:
    id: int
    label: str
    size: int
    keywords: list[str]
    keywords_by_language: dict[str, list[str]]
    quotes: list[Quote]
    languages: dict[str, int] = field(default_factory=dict)
    speakers: dict[str, int] = field(default_factory=dict)
    sessions: dict[str, int] = field(default_factory=dict)
    codebook_theme: str | None = None
    stability: float | None = None
    flagged: bool = False
    #: the moderator's questions this theme's segments answer, most frequent first (at most
    #: :data:`N_PROMPTS`), with how many of its segments follow each; empty without a moderator
    prompts: dict[str, int] = field(default_factory=dict)
    #: the name's phrase in each language (``label`` joins them)
    name_by_language: dict[str, str] = field(default_factory=dict)
    #: keyphrases of 1-3 words per language, best first (:mod:`themekit.naming`)
    keyphrases_by_language: dict[str, list[str]] = field(default_factory=dict)
    #: one line: the theme's most central quote, shortened
    description: str = ""
    #: the name of ``codebook_theme`` and the cosine between its descriptions' mean vector and
    #: the theme's centre (shown beside the candidate's name, never instead of it)
    codebook_name: str | None = None
    codebook_similarity: float | None = None
    #: the two-keyword label of earlier versions ("kumpulan, faham / group, listen")
    keyword_label: str = ""
    #: with ``themes.namer: llm``: the endpoint, model, prompt sent and reply received
    llm: dict[str, Any] | None = None
    #: the finer level: the theme's parts where it falls into clear ones (``themes.subthemes``)
    subthemes: list[SubTheme] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (for ``themes.json``)."""
        return asdict(self)

    def codebook_match(self) -> str:
        """The matching codebook theme, for showing beside the name: ``support — The group
        gives me support … (similarity 0.81)``; empty when none matches."""
        return codebook_match(self.codebook_theme, self.codebook_name, self.codebook_similarity)


def codebook_match(theme_id: str | None, name: str | None, similarity: float | None) -> str:
    """``id — name (similarity s)`` for whatever of the three is known; empty without an id."""
    if not theme_id:
        return ""
    text = theme_id + (f" — {name}" if name and name != theme_id else "")
    return text + (f" (similarity {similarity:.2f})" if similarity is not None else "")


def describe_themes(
    corpus: Corpus,
    labels: Sequence[int] | np.ndarray,
    embeddings: np.ndarray | None,
    *,
    theme_codebook: Mapping[int, str] | None = None,
    stability: Mapping[int, float] | None = None,
    n_keywords: int = 10,
    n_quotes: int = 5,
    stop_words: Sequence[str] = (),
    seed: int = 42,
    prompts: Sequence[str | None] | None = None,
    phrase_space: np.ndarray | None = None,
    embed_phrases: PhraseEmbedder | None = None,
    codebook_vectors: Mapping[str, tuple[str, np.ndarray]] | None = None,
    vectors: ThemeVectors | None = None,
) -> list[CandidateTheme]:
    """One :class:`CandidateTheme` per label (outliers, label -1, last), largest theme first.

    ``embeddings`` are the vectors the themes were found in (``ThemeFinder.embeddings_``).
    ``phrase_space``: the segments' vectors in the space ``embed_phrases`` maps keyphrases
    into (the embedder's own output; default ``embeddings``); without ``embed_phrases``
    keyphrases are ranked by c-TF-IDF alone. ``codebook_vectors``: codebook theme id ->
    (name, vector in ``phrase_space``), for the similarity shown beside ``codebook_theme``.
    ``prompts``: for each segment the moderator's question it answers (None where none), from
    :func:`themekit.context.link_prompts`; each theme lists the questions it answers most.
    ``seed`` breaks ties only; the result is deterministic.

    ``vectors``: what describing needs from the vectors, already aggregated
    (:mod:`themekit.theme_vectors`; the ray engine builds it over the cache shards); then
    ``embeddings`` and ``phrase_space`` are not read (pass None).
    """
    labels = np.asarray(labels, dtype=int)
    n = len(corpus)
    if vectors is None:
        if embeddings is None:
            raise InputError("describe_themes needs the embeddings or their aggregates")
        X = np.asarray(embeddings)
        if len(labels) != n or X.shape[0] != n:
            raise InputError(f"{len(labels)} labels and {X.shape[0]} embeddings for {n} segments")
        if phrase_space is not None and len(phrase_space) != n:
            raise InputError(f"{len(phrase_space)} phrase-space vectors for {n} segments")
    elif len(labels) != n or vectors.n != n:
        raise InputError(f"{len(labels)} labels and vectors of {vectors.n} for {n} segments")
    if prompts is not None and len(prompts) != n:
        raise InputError(f"{len(prompts)} prompts for {n} segments")
    if n == 0:
        return []
    # the phrase-space vectors at hand (not the ray engine at scale): keyphrases are ranked in
    # them with each language's mean taken away (themekit.naming); at scale, from the centres
    in_memory_phrases = None
    if vectors is None:
        vectors = theme_vectors.in_memory(labels, X, phrase_space, n_quotes)
        if n <= PHRASE_ROWS_MAX:  # larger: ranked from the centres, as at scale (no n x d copies)
            in_memory_phrases = _unit(X if phrase_space is None else phrase_space)
    themes = sorted(set(labels.tolist()), key=lambda t: (t == -1, -int((labels == t).sum()), t))
    keywords = _keywords(corpus, labels, themes, n_keywords, stop_words)
    speakers = [s.speaker for s in corpus]
    names_all = proper_nouns(corpus.texts) | speaker_name_words(speakers, corpus.texts)
    scored = score_keyphrases(
        corpus.texts,
        corpus.languages,
        labels,
        in_memory_phrases,
        centres=(
            _phrase_centres(vectors)
            if embed_phrases is not None and in_memory_phrases is None
            else None
        ),
        embed_phrases=embed_phrases,
        stop_words=stop_words,
        names=names_all,
        seed=seed,
        speakers=speakers,
    )
    phrases = scored.phrases
    names = name_themes(phrases, [t for t in themes if t != -1], scored)
    out: list[CandidateTheme] = []
    for t in themes:
        idx = np.flatnonzero(labels == t)
        kw, by_lang, kw_names = keywords[t]
        stab = None if stability is None else stability.get(int(t))
        flagged = t == -1 or (stab is not None and stab < UNSTABLE_BELOW)
        cb = None if theme_codebook is None else theme_codebook.get(int(t))
        cb_name, cb_sim = None, None
        if cb is not None and codebook_vectors and cb in codebook_vectors and len(idx):
            cb_name, vec = codebook_vectors[cb]
            centre = _unit(vectors.phrase_means[int(t)])
            cb_sim = round(float(centre @ _unit(np.asarray(vec, dtype=np.float64))), 3)
        by_phrase = phrases.get(int(t), {})
        out.append(
            CandidateTheme(
                id=int(t),
                label="outliers" if t == -1 else names[int(t)][0],
                size=len(idx),
                keywords=kw,
                keywords_by_language=by_lang,
                quotes=_quotes(corpus, vectors, int(t), n_quotes),
                languages=_count(corpus[i].language for i in idx.tolist()),
                speakers=_count(corpus[i].speaker for i in idx.tolist()),
                sessions=_count(corpus[i].session for i in idx.tolist()),
                codebook_theme=cb,
                stability=None if stab is None else float(stab),
                flagged=bool(flagged),
                prompts=_top_prompts(prompts, idx),
                name_by_language={} if t == -1 else names[int(t)][1],
                keyphrases_by_language={k: list(v) for k, v in by_phrase.items()},
                description=_description(corpus, vectors, idx),
                codebook_name=cb_name,
                codebook_similarity=cb_sim,
                keyword_label="outliers" if t == -1 else keyword_label(kw, by_lang, kw_names),
            )
        )
    return out


def _unit(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    return X / np.maximum(np.linalg.norm(X, axis=-1, keepdims=True), 1e-12)


def _phrase_centres(vectors: ThemeVectors) -> dict[int, np.ndarray]:
    """Per theme (not outliers) its phrase-space centre, in directions away from the mean of
    all segments, for ranking keyphrases at scale."""
    mean_all = vectors.phrase_mean_all
    if mean_all is None:
        return {t: _unit(m) for t, m in vectors.phrase_means.items() if t != -1}
    return {t: _unit(m - mean_all) for t, m in vectors.phrase_means.items() if t != -1}


def _description(corpus: Corpus, vectors: ThemeVectors, idx: np.ndarray) -> str:
    """The theme's most central quote of at least :data:`MIN_QUOTE_WORDS` words, shortened."""
    if len(idx) == 0:
        return ""
    central = vectors.central_unit[idx]
    long_enough = np.asarray([len(corpus[int(i)].text.split()) >= MIN_QUOTE_WORDS for i in idx])
    score = central - 2.0 * (~long_enough)
    return describe_quote(corpus[int(idx[int(np.argmax(score))])].text)


#: How many of the moderator's questions each theme lists.
N_PROMPTS = 3


def _top_prompts(prompts: Sequence[str | None] | None, idx: np.ndarray) -> dict[str, int]:
    if prompts is None:
        return {}
    counts = Counter(p for i in idx.tolist() if (p := prompts[i]))
    # most frequent first; ties in the order the questions were asked (first segment answering)
    first = {p: i for i in reversed(idx.tolist()) if (p := prompts[i])}
    ranked = sorted(counts, key=lambda p: (-counts[p], first[p]))
    return {p: counts[p] for p in ranked[:N_PROMPTS]}


def _count(values: Any) -> dict[str, int]:
    return dict(sorted(Counter(v for v in values).items(), key=lambda kv: (-kv[1], kv[0])))


def _keywords(
    corpus: Corpus,
    labels: np.ndarray,
    themes: list[int],
    n_keywords: int,
    extra_stop: Sequence[str],
) -> dict[int, tuple[list[str], dict[str, list[str]], frozenset[str]]]:
    from bertopic.vectorizers import ClassTfidfTransformer
    from sklearn.feature_extraction.text import CountVectorizer

    from themekit.stopwords import TOKEN_PATTERN, stop_words

    texts = corpus.texts
    empty: dict[int, tuple[list[str], dict[str, list[str]], frozenset[str]]] = {
        t: ([], {lang: [] for lang in KEYWORD_LANGUAGES}, frozenset()) for t in themes
    }
    vec = CountVectorizer(
        stop_words=stop_words(extra_stop), token_pattern=TOKEN_PATTERN, lowercase=True, binary=True
    )
    # one row per theme: the counts of all its segments (BERTopic's "class documents"),
    # counted in blocks (themekit.theme_words)
    got = theme_words(texts, labels, themes, corpus.languages, vec)
    if got is None:  # nothing but stop words
        return empty
    from scipy.sparse import csr_matrix

    vocab, rows, word_lang = got.vocab, csr_matrix(got.rows), got.word_language
    ctfidf = ClassTfidfTransformer(reduce_frequent_words=True).fit_transform(rows)
    weights = np.asarray(ctfidf.todense()) if hasattr(ctfidf, "todense") else np.asarray(ctfidf)
    names = proper_nouns(texts)
    out = {}
    for r, t in enumerate(themes):
        order = [j for j in np.argsort(-weights[r], kind="stable") if weights[r, j] > 0]
        kw = [str(vocab[j]) for j in order[:n_keywords]]
        langs_here = {corpus[i].language for i in np.flatnonzero(labels == t).tolist()}
        by_lang: dict[str, list[str]] = {}
        for lang in KEYWORD_LANGUAGES:
            if lang in langs_here or "mixed" in langs_here:
                by_lang[lang] = [str(vocab[j]) for j in order if word_lang[j] == lang][:n_keywords]
            else:
                by_lang[lang] = []
        out[t] = (kw, by_lang, names)
    return out


def keyword_label(
    keywords: list[str], by_lang: dict[str, list[str]], names: frozenset[str] = frozenset()
) -> str:
    """Two keywords per language where the theme has both ("kumpulan, faham / group, listen").

    Names of people and places (``names``) stay in the keyword lists but are skipped here: a
    label such as "temerloh / kuantan" says where people talk, not what about; they are used only
    when nothing else is left."""

    def pick(words: list[str], k: int) -> list[str]:
        common = [w for w in words if w not in names]
        return (common or words)[:k]

    parts = [", ".join(pick(by_lang.get(lang, []), 2)) for lang in KEYWORD_LANGUAGES]
    parts = [p for p in parts if p]
    if len(parts) == 2:
        return " / ".join(parts)
    return ", ".join(pick(keywords, 4)) if keywords else "(no keywords)"


def _quotes(corpus: Corpus, vectors: ThemeVectors, t: int, n_quotes: int) -> list[Quote]:
    pool_of = vectors.pools.get(t)
    if pool_of is None or n_quotes <= 0:
        return []
    # candidates: the more central half of the theme (at least 3 x n_quotes segments, at most
    # theme_vectors.QUOTE_POOL_MAX), most central first
    pool = pool_of.rows.tolist()
    cent = dict(zip(pool, pool_of.central.tolist(), strict=True))
    X = dict(zip(pool, pool_of.vectors, strict=True))
    chosen: list[int] = []
    seen_spk: set[str] = set()
    seen_ses: set[str] = set()
    seen_lang: set[str] = set()
    while pool and len(chosen) < n_quotes:
        best, best_score = None, -np.inf
        for i in pool:
            seg = corpus[int(i)]
            score = cent[int(i)]
            score += 0.15 * (seg.speaker not in seen_spk) + 0.10 * (seg.session not in seen_ses)
            score += 0.15 * (seg.language in KEYWORD_LANGUAGES and seg.language not in seen_lang)
            if len(seg.text.split()) < MIN_QUOTE_WORDS:
                score -= 1.0
            if chosen:
                near = np.stack([X[c] for c in chosen]) @ X[int(i)]
                score -= 0.5 * max(0.0, float(np.max(near)) - 0.5)
            if score > best_score + 1e-12:
                best, best_score = int(i), score
        assert best is not None
        chosen.append(best)
        pool.remove(best)
        seg = corpus[best]
        seen_spk.add(seg.speaker)
        seen_ses.add(seg.session)
        seen_lang.add(seg.language)
    return [
        Quote(
            segment_id=corpus[i].id,
            text=corpus[i].text,
            speaker=corpus[i].speaker,
            session=corpus[i].session,
            language=corpus[i].language,
        )
        for i in chosen
    ]


def describe_subthemes(
    corpus: Corpus,
    labels: Sequence[int] | np.ndarray,
    sub: np.ndarray,
    embeddings: np.ndarray,
    *,
    phrase_space: np.ndarray | None = None,
    embed_phrases: PhraseEmbedder | None = None,
    stop_words: Sequence[str] = (),
    seed: int = 42,
    n_quotes: int = 2,
) -> dict[int, list[SubTheme]]:
    """The sub-themes of every split theme (``sub >= 0``), each described as
    :func:`describe_themes` describes a theme, among its theme's segments only (so a part's name
    says what sets it apart from its sibling parts); largest part first."""
    labels = np.asarray(labels, dtype=int)
    out: dict[int, list[SubTheme]] = {}
    for t in sorted(set(labels.tolist()) - {-1}):
        idx = np.flatnonzero((labels == t) & (sub >= 0))
        if not len(idx):
            continue
        parts = describe_themes(
            Corpus([corpus[int(i)] for i in idx]),
            sub[idx],
            np.asarray(embeddings)[idx],
            n_keywords=5,
            n_quotes=n_quotes,
            stop_words=stop_words,
            seed=seed,
            phrase_space=None if phrase_space is None else np.asarray(phrase_space)[idx],
            embed_phrases=embed_phrases,
        )
        out[int(t)] = [
            SubTheme(
                id=f"{t}.{p.id + 1}",
                label=p.label,
                size=p.size,
                name_by_language=p.name_by_language,
                description=p.description,
                quotes=p.quotes,
            )
            for p in parts
        ]
    return out


def attach_subthemes(
    corpus: Corpus,
    labels: Sequence[int] | np.ndarray,
    embeddings: np.ndarray,
    themes: Sequence[CandidateTheme],
    **describe: Any,
) -> tuple[list[str], dict[str, Any]]:
    """The finer level of a run: each theme split where it falls into clear parts
    (:func:`themekit.themes.subthemes.split_themes`, in ``embeddings``, the space the themes were
    found in), the parts described (:func:`describe_subthemes`, ``describe`` its keywords) and
    attached to their theme; returns per segment its sub-theme id and the split per theme."""
    from themekit.themes.subthemes import split_themes

    labels = np.asarray(labels, dtype=int)
    split = split_themes(embeddings, labels, seed=describe.get("seed", 42))
    parts = describe_subthemes(corpus, labels, split.sub, embeddings, **describe)
    for theme in themes:
        theme.subthemes = parts.get(theme.id, [])
    return split.ids(labels), {str(t): r for t, r in split.themes.items()}
