"""ThemeFinder: candidate themes from segment embeddings with BERTopic.

The steps, each measured in ``benchmarks/themes_choices.py``:

1. unit-normalise the raw embeddings and (``language_neutral``) remove each language's mean
   (:func:`themekit.embed.neutral.LanguageMeanRemover`), so that Malay and English segments about
   the same thing land together; the codebook descriptions get the same treatment;
2. ``discover``: with the moderator's questions given (``questions`` and
   ``question_embeddings``), the answers' own vectors (``answer_embeddings``, else the
   embeddings) are first projected onto the ``question_components`` directions along which they
   vary with the questions, beside their full vectors
   (:class:`themekit.embed.context.QuestionSubspace`; measured in
   ``benchmarks/question_subspace.py``); then BERTopic with a reducer and a cluster model sized
   to the corpus (see :mod:`themekit.themes.cluster`); ``guided``: every segment is coded with
   the codebook theme it is closest to (:mod:`themekit.themes.guided`; with ``questions`` given, pooled over the
   answers to the same moderator question by ``question_weight``, measured in
   ``benchmarks/question_pooling.py``), the rest (``other``) are clustered into new
   candidate themes, and BERTopic describes the result (its manual/supervised mode: ``y`` with
   ``BaseCluster``); ``semi-supervised``: as guided, with a share of the hand codes as training
   labels; the segments given are left out of ``eval_mask_``;
3. outliers (HDBSCAN only) are reassigned with BERTopic's ``reduce_outliers(strategy="embeddings")``
   unless ``outliers="keep"``; their number before reassignment is kept in ``n_outliers_initial_``;
4. corpora larger than ``sample_size`` are fitted on a random sample and the rest is assigned to
   the nearest theme centre (k-means' own rule), then c-TF-IDF is computed on everything;
5. ``stability_runs`` > 0 refits on 80 % subsamples with other seeds and reports how often each
   theme reappears (:mod:`themekit.themes.stability`).

Every random component takes ``seed``: the same inputs and seed give the same themes.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from themekit.codebook import Codebook
from themekit.embed.base import l2_normalize
from themekit.embed.context import DEFAULT_QUESTION_COMPONENTS, QuestionSubspace
from themekit.errors import ConfigError, InputError, NotFittedError
from themekit.progress import ProgressCallback
from themekit.themes import guided
from themekit.themes.cluster import AutoKMeans, make_clusterer, make_reducer
from themekit.themes.stability import stability as _stability

logger = logging.getLogger(__name__)

MODES = ("discover", "guided", "semi-supervised")
CLUSTERINGS = ("auto", "kmeans", "agglomerative", "hdbscan")
REDUCTIONS = ("auto", "umap", "none")
#: Fewer "other" segments than this become a single new candidate theme in guided mode.
MIN_NEW_THEME_SEGMENTS = 10
#: From this many segments on, ``clustering: auto`` uses HDBSCAN on UMAP (BERTopic's own recipe,
#: with sizes scaled to the corpus) instead of k-means on the full embeddings. Measured with
#: language-neutralised e5: on the 339-segment demo k-means recovers more hand-coded themes and
#: HDBSCAN leaves 15-60 % outliers; on SIB-200 (2,008 sentences) HDBSCAN+UMAP reaches NMI 0.53
#: against 0.29-0.37 for silhouette-chosen k-means (benchmarks/RESULTS.md).
DENSITY_MIN_SEGMENTS = 1000
#: Words of two or more letters (no numbers); hyphenated Malay words ("kawan-kawan") stay whole.


class ThemeFinder:
    """Find candidate themes in segment embeddings (scikit-learn style estimator).

    Parameters mirror :class:`themekit.config.themes.ThemesConfig`; ``seed`` drives every
    random component. After :meth:`fit`: ``labels_``, ``codebook_theme_``, ``theme_codebook_``,
    ``stability_``, ``eval_mask_``, ``n_outliers_initial_``, ``topic_model_``, ``embeddings_``
    (the vectors the themes were found in), ``question_subspace_`` (None unless used).
    """

    def __init__(
        self,
        mode: str = "discover",
        n_themes: int | str = "auto",
        min_themes: int = 3,
        max_themes: int = 12,
        clustering: str = "auto",
        reduction: str = "auto",
        outliers: str = "reassign",
        stability_runs: int = 0,
        semi_supervised_share: float = 0.3,
        min_similarity: float = 0.0,
        sample_size: int = 20000,
        language_neutral: bool = True,
        seed: int = 42,
        stop_words: Sequence[str] = (),
        question_weight: float = guided.QUESTION_WEIGHT,
        question_components: int = DEFAULT_QUESTION_COMPONENTS,
    ):
        self.mode = mode
        self.n_themes = n_themes
        self.min_themes = min_themes
        self.max_themes = max_themes
        self.clustering = clustering
        self.reduction = reduction
        self.outliers = outliers
        self.stability_runs = stability_runs
        self.semi_supervised_share = semi_supervised_share
        self.min_similarity = min_similarity
        self.sample_size = sample_size
        self.language_neutral = language_neutral
        self.seed = seed
        self.stop_words = stop_words
        self.question_weight = question_weight
        self.question_components = question_components

    @classmethod
    def from_config(cls, cfg: Any, seed: int = 42, language_neutral: bool = True) -> ThemeFinder:
        """Build from a :class:`ThemesConfig` section."""
        return cls(
            mode=cfg.mode,
            n_themes=cfg.n_themes,
            min_themes=cfg.min_themes,
            max_themes=cfg.max_themes,
            clustering=cfg.clustering,
            reduction=cfg.reduction,
            outliers=cfg.outliers,
            stability_runs=cfg.stability_runs,
            semi_supervised_share=cfg.semi_supervised_share,
            min_similarity=cfg.min_similarity,
            sample_size=cfg.sample_size,
            language_neutral=language_neutral,
            seed=seed,
            stop_words=tuple(cfg.stop_words),
            question_weight=cfg.question_weight,
            question_components=cfg.question_components,
        )

    # ------------------------------------------------------------------------------------------
    def fit(
        self,
        embeddings: np.ndarray,
        texts: Sequence[str],
        *,
        languages: Sequence[str] | None = None,
        codebook: Codebook | None = None,
        codebook_embeddings: np.ndarray | None = None,
        hand_codes: Sequence[str | None] | None = None,
        questions: Sequence[Hashable | None] | None = None,
        question_embeddings: np.ndarray | None = None,
        answer_embeddings: np.ndarray | None = None,
        progress: ProgressCallback | None = None,
    ) -> ThemeFinder:
        """Fit on RAW embeddings (one row per text); see the module doc for the steps.

        ``questions``: for each segment the moderator question it answers (any id, None where
        none; e.g. the links of :func:`themekit.embed.context.link_prompts`). Answers to the
        same question are pooled when segments are coded with the codebook
        (``question_weight``). ``question_embeddings``: for each segment the RAW embedding of the
        question it answers (any row where ``questions`` is None); in ``discover`` mode the
        themes are then found in the question directions (``question_components``).
        ``answer_embeddings``: RAW embeddings of the segments on their own, when ``embeddings``
        have the question added (:func:`themekit.embed.context.add_prompt_context`): the question
        directions are then found in these, so that the question is not counted twice, while the
        codebook coding keeps ``embeddings``. Ignored unless the question directions are used."""
        self._validate_params()
        X = np.asarray(embeddings, dtype=np.float32)
        texts = [str(t) for t in texts]
        if X.ndim != 2 or X.shape[0] != len(texts):
            raise InputError(
                f"expected one embedding row per text: got shape {X.shape} for {len(texts)} texts"
            )
        n = len(texts)
        if n < 3:
            raise InputError(f"need at least 3 segments to find themes, got {n}")
        if languages is not None and len(languages) != n:
            raise InputError(f"{len(languages)} language labels for {n} segments")
        if questions is not None and len(questions) != n:
            raise InputError(f"{len(questions)} question links for {n} segments")
        if question_embeddings is not None:
            if questions is None:
                raise InputError("question_embeddings need questions (which rows answer which)")
            if np.ndim(question_embeddings) != 2 or len(question_embeddings) != n:
                raise InputError(
                    f"expected one question embedding row per segment: got shape "
                    f"{np.shape(question_embeddings)} for {n} segments"
                )
        if answer_embeddings is not None and np.shape(answer_embeddings) != X.shape:
            raise InputError(
                f"answer_embeddings must have the shape of embeddings {X.shape}: got "
                f"{np.shape(answer_embeddings)}"
            )
        if self.mode == "guided" and (codebook is None or codebook_embeddings is None):
            raise ConfigError("guided mode needs a codebook and its embeddings", key="themes.mode")
        if codebook is not None and codebook_embeddings is not None:
            n_desc = len(codebook.descriptions()[0])
            if len(codebook_embeddings) != n_desc:
                raise InputError(
                    f"{len(codebook_embeddings)} codebook embeddings for {n_desc} codebook descriptions"
                )
        if self.mode == "semi-supervised":
            if hand_codes is None or len(hand_codes) != n:
                raise ConfigError(
                    "semi-supervised mode needs one hand code per segment", key="themes.mode"
                )

        report = progress or (lambda stage, done, total: None)
        total_steps = 1 + int(self.stability_runs)
        report("themes", 0, total_steps)

        Y, C = self._prepare(X, languages, codebook, codebook_embeddings)
        self._codebook = codebook
        self._questions = guided.group_ids(questions, n)
        self._C = C
        # the space themes are found in: Y, or in discover mode Y in the question directions
        space = Y
        self.question_subspace_: QuestionSubspace | None = None
        if (
            self.mode == "discover"
            and self.question_components > 0
            and question_embeddings is not None
        ):
            A = Y
            if answer_embeddings is not None:
                A, _ = self._prepare(
                    np.asarray(answer_embeddings, dtype=np.float32), languages, None, None
                )
            sub = QuestionSubspace(self.question_components).fit(
                A, question_embeddings, self._questions
            )
            if sub.n_components_:
                space = sub.transform(A)
                self.question_subspace_ = sub
                logger.info(
                    "themes found in %d directions along which %d answers vary with %d "
                    "moderator questions, beside their full vectors",
                    sub.n_components_,
                    sub.n_answers_,
                    sub.n_questions_,
                )
        self.embeddings_ = space

        given = np.zeros(n, dtype=bool)
        if self.mode == "semi-supervised":
            assert hand_codes is not None  # checked above
            given = self._choose_given(hand_codes)
        self.eval_mask_ = ~given

        if self.mode == "discover":
            topic_model, labels, n_out = self._discover_bertopic(space, texts)
            seg_codes = (
                self._code(Y, None, given, self._questions)
                if codebook is not None and C is not None
                else None
            )
        else:
            labels, seg_codes, n_out = self._assign(
                Y, np.arange(n), self.seed, texts, hand_codes, given
            )
            topic_model, labels = self._describe_with_bertopic(texts, Y, labels)
        self.topic_model_ = topic_model
        self.labels_ = labels
        self.n_outliers_initial_ = n_out
        self.codebook_theme_ = seg_codes
        self.theme_codebook_ = _majority_map(labels, seg_codes) if seg_codes is not None else {}
        report("themes", 1, total_steps)

        self.stability_ = None
        if self.stability_runs > 0:

            def refit(subset: np.ndarray, seed: int) -> np.ndarray:
                sub_codes = [hand_codes[i] for i in subset] if hand_codes is not None else None
                lab, _, _ = self._assign(
                    space[subset],
                    subset,
                    seed,
                    [texts[i] for i in subset],
                    sub_codes,
                    given[subset],
                )
                return lab

            self.stability_ = _stability(
                labels,
                refit,
                int(self.stability_runs),
                self.seed,
                progress=lambda r: report("themes", 1 + r, total_steps),
            )
        return self

    # ------------------------------------------------------------------------------------------
    def _validate_params(self) -> None:
        checks = [
            ("mode", self.mode, MODES),
            ("clustering", self.clustering, CLUSTERINGS),
            ("reduction", self.reduction, REDUCTIONS),
            ("outliers", self.outliers, ("reassign", "keep")),
        ]
        for name, value, allowed in checks:
            if value not in allowed:
                raise ConfigError(
                    f"must be one of {list(allowed)}; got {value!r}", key=f"themes.{name}"
                )
        if self.n_themes != "auto" and (not isinstance(self.n_themes, int) or self.n_themes < 1):
            raise ConfigError(
                f"must be 'auto' or an integer >= 1; got {self.n_themes!r}", key="themes.n_themes"
            )
        if self.min_themes > self.max_themes:
            raise ConfigError(
                f"min_themes ({self.min_themes}) is larger than max_themes ({self.max_themes})",
                key="themes.min_themes",
            )
        if not isinstance(self.question_components, int) or self.question_components < 0:
            raise ConfigError(
                f"must be an integer >= 0; got {self.question_components!r}",
                key="themes.question_components",
            )
        if not 0.0 <= self.question_weight <= 1.0:
            raise ConfigError(
                f"must be between 0 and 1; got {self.question_weight!r}",
                key="themes.question_weight",
            )

    def _prepare(
        self,
        X: np.ndarray,
        languages: Sequence[str] | None,
        codebook: Codebook | None,
        C_raw: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        Xn = l2_normalize(X)
        Cn = l2_normalize(C_raw) if C_raw is not None else None
        if not self.language_neutral or languages is None:
            if self.language_neutral:
                logger.info("no segment languages given: language means not removed")
            return Xn, Cn
        from themekit.embed.neutral import LanguageMeanRemover

        remover = LanguageMeanRemover().fit(Xn, list(languages))
        Y = remover.transform(Xn, list(languages))
        if Cn is not None and codebook is not None:
            Cn = remover.transform(Cn, guided.description_languages(codebook))
        return Y, Cn

    def _choose_given(self, hand_codes: Sequence[str | None]) -> np.ndarray:
        """A stratified random share of the hand-coded segments (at least one per code)."""
        rng = np.random.default_rng(self.seed)
        codes = np.asarray([c or "" for c in hand_codes], dtype=object)
        given = np.zeros(len(codes), dtype=bool)
        for code in sorted(set(codes.tolist()) - {""}):
            idx = np.flatnonzero(codes == code)
            k = max(1, round(self.semi_supervised_share * len(idx)))
            given[rng.choice(idx, size=min(k, len(idx)), replace=False)] = True
        return given

    def _resolved(self, n: int) -> tuple[str, str]:
        clustering = self.clustering
        if clustering == "auto":
            large = n >= DENSITY_MIN_SEGMENTS and self.n_themes == "auto"
            clustering = "hdbscan" if large else "kmeans"
        if self.reduction != "auto":
            return clustering, self.reduction
        return clustering, ("umap" if clustering == "hdbscan" else "none")

    # -- assignment --------------------------------------------------------------------------------
    def _assign(
        self,
        Y: np.ndarray,
        index: np.ndarray,
        seed: int,
        texts: Sequence[str],
        hand_codes: Sequence[str | None] | None,
        given: np.ndarray,
    ) -> tuple[np.ndarray, list[str] | None, int]:
        """Labels (0..k-1, -1 outliers if kept), per-segment codebook codes, initial outliers."""
        if self.mode == "discover":  # stability refits: the coding is not needed
            labels, n_out = self._discover(Y, texts, seed)
            return labels, None, n_out
        codes = self._code(Y, hand_codes, given, self._questions[index])
        other = self._other_id()
        ids = sorted({c for c in codes if c != other}, key=lambda c: (self._theme_order(c), c))
        labels = np.full(len(Y), -1, dtype=int)
        for j, c in enumerate(ids):
            labels[[i for i, cc in enumerate(codes) if cc == c]] = j
        rest = np.flatnonzero(labels == -1)
        if len(rest):
            labels[rest] = len(ids) + self._new_themes(
                Y[rest], seed, room=max(1, self.max_themes - len(ids))
            )
        return labels, codes, 0

    def _theme_order(self, code: str) -> int:
        ids = self._codebook.ids if self._codebook is not None else []
        return ids.index(code) if code in ids else len(ids)

    def _other_id(self) -> str:
        return self._codebook.other_id if self._codebook is not None else "other"

    def _new_themes(self, Z: np.ndarray, seed: int, room: int) -> np.ndarray:
        """Cluster the segments no codebook theme claims into new candidate themes."""
        if len(Z) < MIN_NEW_THEME_SEGMENTS or room <= 1:
            return np.zeros(len(Z), dtype=int)
        km = AutoKMeans("auto", min_k=2, max_k=max(2, min(room, self.max_themes)), seed=seed)
        fit_idx = self._sample(len(Z), seed)
        km.fit(Z[fit_idx])
        return km.predict(Z) if len(fit_idx) < len(Z) else km.labels_

    def _sample(self, n: int, seed: int) -> np.ndarray:
        if n <= self.sample_size:
            return np.arange(n)
        rng = np.random.default_rng(seed)
        return np.sort(rng.choice(n, size=self.sample_size, replace=False))

    def _discover(self, Y: np.ndarray, texts: Sequence[str], seed: int) -> tuple[np.ndarray, int]:
        """Cluster without BERTopic (used by the stability refits; same models and rules as
        :meth:`_discover_bertopic`)."""
        n = len(Y)
        clustering, reduction = self._resolved(n)
        fit_idx = self._sample(n, seed)
        reducer = make_reducer(reduction, len(fit_idx), seed)
        Z = reducer.fit_transform(Y[fit_idx]) if reduction == "umap" else Y[fit_idx]
        model = self._clusterer(clustering, len(fit_idx), seed)
        model.fit(Z)
        labels = np.full(n, -1, dtype=int)
        labels[fit_idx] = np.asarray(model.labels_, dtype=int)
        n_out = int((labels[fit_idx] == -1).sum())
        todo = np.ones(n, dtype=bool)
        todo[fit_idx] = False
        if self.outliers == "reassign":
            todo |= labels == -1
        if todo.any() and (labels >= 0).any():
            cents = _centroids(Y, labels)
            keys = np.asarray(list(cents))
            labels[todo] = keys[np.argmax(Y[todo] @ np.stack(list(cents.values())).T, axis=1)]
        return _relabel(labels), n_out

    def _clusterer(self, clustering: str, n: int, seed: int) -> Any:
        return make_clusterer(
            clustering,
            n,
            n_themes=self.n_themes,
            min_k=self.min_themes,
            max_k=self.max_themes,
            seed=seed,
        )

    def _discover_bertopic(
        self, Y: np.ndarray, texts: Sequence[str]
    ) -> tuple[Any, np.ndarray, int]:
        """BERTopic with the reducer and cluster model in its slots, fitted on a sample when the
        corpus is larger than ``sample_size``; the rest assigned with ``transform``; outliers
        reassigned with ``reduce_outliers(strategy="embeddings")`` unless kept."""
        n = len(Y)
        clustering, reduction = self._resolved(n)
        fit_idx = self._sample(n, self.seed)
        tm = self._bertopic(
            make_reducer(reduction, len(fit_idx), self.seed),
            self._clusterer(clustering, len(fit_idx), self.seed),
        )
        fit_texts = [texts[i] for i in fit_idx]
        topics = np.full(n, -1, dtype=int)
        topics[fit_idx], _ = tm.fit_transform(fit_texts, embeddings=Y[fit_idx])
        n_out = int((topics[fit_idx] == -1).sum())
        changed = False
        if len(fit_idx) < n:
            rest = np.setdiff1d(np.arange(n), fit_idx)
            pred, _ = tm.transform([texts[i] for i in rest], embeddings=Y[rest])
            topics[rest] = np.asarray(pred, dtype=int)
            changed = True
        if self.outliers == "reassign" and (topics == -1).any() and (topics >= 0).any():
            topics = np.asarray(
                tm.reduce_outliers(
                    list(texts),
                    topics.tolist(),
                    strategy="embeddings",
                    embeddings=Y,
                    threshold=-1.0,
                ),
                dtype=int,
            )
            # BERTopic keeps a document an outlier when its similarities sum to <= 0, which
            # happens in the centred (language-neutralised) space: nearest theme centre instead
            left = topics == -1
            if left.any():
                cents = _centroids(Y, topics)
                keys = np.asarray(list(cents))
                topics[left] = keys[np.argmax(Y[left] @ np.stack(list(cents.values())).T, axis=1)]
            changed = True
        if changed:
            tm.update_topics(list(texts), topics=topics.tolist())
        return tm, np.asarray(topics, dtype=int), n_out

    def _code(
        self,
        Y: np.ndarray,
        hand_codes: Sequence[str | None] | None,
        given: np.ndarray,
        questions: np.ndarray,
    ) -> list[str]:
        """Code each segment with a codebook theme (or the hand-code set in semi-supervised mode)."""
        cb = self._codebook
        other = self._other_id()
        if cb is None or self._C is None:  # semi-supervised without a codebook
            assert hand_codes is not None
            return _supervised_only(Y, hand_codes, given)
        texts_owner = cb.descriptions()[1]
        ids = list(cb.ids)
        if hand_codes is not None:
            ids += sorted({c for c in hand_codes if c and c not in ids})
        has_other = other in ids
        scores = guided.theme_scores(Y, self._C, texts_owner, ids)
        desc_labels = np.asarray([ids.index(o) for o in texts_owner])
        extra_X = extra_y = None
        if hand_codes is not None and given.any():
            extra_X = Y[given]
            extra_y = np.asarray(
                [
                    ids.index(hand_codes[int(i)] or other)
                    if (hand_codes[int(i)] or other) in ids
                    else 0
                    for i in np.flatnonzero(given)
                ]
            )
        proba = guided.self_train(Y, scores, self._C, desc_labels, extra_X=extra_X, extra_y=extra_y)
        proba = guided.pool_by_question(proba, questions, self.question_weight)
        pick = proba.argmax(axis=1)
        codes = [ids[j] for j in pick]
        # Without an "other" theme in the codebook, a segment whose best theme is less similar than
        # min_similarity (0 = the average segment, in the neutralised space; BERTopic's seed-topic
        # rule) is "other": this is what leaves room for new themes. With an "other" theme, its
        # descriptions compete directly; the extra threshold lowered kappa on the demo (0.71 -> 0.63
        # on week1, benchmarks/themes_choices.py) and is not applied.
        real = [j for j, t in enumerate(ids) if t != other]
        if not has_other and real:
            best_real = scores[:, real].max(axis=1)
            for i in np.flatnonzero(best_real < self.min_similarity):
                codes[int(i)] = other
        if hand_codes is not None:
            for i in np.flatnonzero(given):
                codes[int(i)] = hand_codes[int(i)] or other
        return codes

    # -- BERTopic ---------------------------------------------------------------------------------
    def _describe_with_bertopic(
        self, texts: Sequence[str], Y: np.ndarray, labels: np.ndarray
    ) -> tuple[Any, np.ndarray]:
        """Fit BERTopic with the labels found (manual mode: ``BaseCluster`` + ``y``)."""
        from bertopic.cluster import BaseCluster
        from bertopic.dimensionality import BaseDimensionalityReduction

        tm = self._bertopic(BaseDimensionalityReduction(), BaseCluster())
        topics, _ = tm.fit_transform(list(texts), embeddings=Y, y=np.asarray(labels))
        return tm, np.asarray(topics, dtype=int)

    def _bertopic(self, reducer: Any, cluster_model: Any) -> Any:
        """A BERTopic that never loads a model (``embedding_model=None``; embeddings passed in),
        with Malay + English stop words removed from its c-TF-IDF keywords and each word counted
        once per segment, as in :func:`themekit.describe.describe_themes`."""
        from bertopic import BERTopic
        from bertopic.vectorizers import ClassTfidfTransformer
        from sklearn.feature_extraction.text import CountVectorizer

        from themekit.stopwords import TOKEN_PATTERN, stop_words

        vectorizer = CountVectorizer(
            stop_words=stop_words(self.stop_words), token_pattern=TOKEN_PATTERN, binary=True
        )
        return BERTopic(
            embedding_model=None,
            umap_model=reducer,
            hdbscan_model=cluster_model,
            vectorizer_model=vectorizer,
            ctfidf_model=ClassTfidfTransformer(reduce_frequent_words=True),
            calculate_probabilities=False,
            verbose=False,
        )

    def _check_fitted(self) -> None:
        if not hasattr(self, "labels_"):
            raise NotFittedError(
                "This ThemeFinder instance is not fitted yet. Call 'fit' with the embeddings first."
            )


# ----------------------------------------------------------------------------------------------
def _centroids(Y: np.ndarray, labels: np.ndarray) -> dict[int, np.ndarray]:
    return {
        int(c): l2_normalize(Y[labels == c].mean(axis=0, keepdims=True))[0]
        for c in sorted(set(labels.tolist()) - {-1})
    }


def _relabel(labels: np.ndarray) -> np.ndarray:
    """Consecutive ids 0..k-1 in order of first appearance (-1 kept)."""
    mapping: dict[int, int] = {}
    out = labels.copy()
    for i, v in enumerate(labels.tolist()):
        if v == -1:
            continue
        out[i] = mapping.setdefault(v, len(mapping))
    return out


def _majority_map(labels: np.ndarray, codes: Sequence[str]) -> dict[int, str]:
    out: dict[int, str] = {}
    for t in sorted(set(labels.tolist()) - {-1}):
        counts = Counter(codes[i] for i in np.flatnonzero(labels == t).tolist())
        out[int(t)] = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
    return out


def _supervised_only(
    Y: np.ndarray, hand_codes: Sequence[str | None], given: np.ndarray
) -> list[str]:
    from sklearn.linear_model import LogisticRegression

    idx = np.flatnonzero(given).tolist()
    y = [hand_codes[i] or "other" for i in idx]
    if len(set(y)) < 2:
        return [y[0]] * len(Y) if y else ["other"] * len(Y)
    clf = LogisticRegression(C=1.0, max_iter=2000).fit(Y[idx], y)
    codes = [str(c) for c in clf.predict(Y)]
    for i in idx:
        codes[i] = hand_codes[i] or "other"
    return codes
