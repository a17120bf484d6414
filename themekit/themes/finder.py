"""ThemeFinder: candidate themes from segment embeddings with BERTopic.

The steps, each measured in ``benchmarks/themes_choices.py``:

1. unit-normalise the raw embeddings and (``language_neutral``) remove each language's mean
   (:func:`themekit.embed.neutral.LanguageMeanRemover`), so that Malay and English segments about
   the same thing land together; the codebook descriptions get the same treatment;
2. ``discover`` (:mod:`themekit.themes.discover`): with the moderator's questions given
   (``context``, a :class:`themekit.context.QuestionContext`), the space to cluster in is chosen
   from the data (``question_space``, :mod:`themekit.themes.space`): the full vectors, or the
   answers' own vectors projected onto the ``question_components`` directions along which they
   vary with the questions, beside their full vectors
   (:class:`themekit.themes.subspace.QuestionSubspace`); then BERTopic with a reducer and a
   cluster model sized to the corpus (see :mod:`themekit.themes.cluster`), k and its runner-up
   recorded (``k_``); ``guided``: every segment is coded with
   the codebook theme it is closest to (:mod:`themekit.themes.guided`; with a context given,
   pooled over the answers to the same moderator question by ``question_weight``), the rest (``other``) are clustered into new
   candidate themes, and BERTopic describes the result (its manual/supervised mode: ``y`` with
   ``BaseCluster``); ``semi-supervised``: as guided, with a share of the hand codes as training
   labels; the segments given are left out of ``eval_mask_``; with
   ``semi_supervised_method="finetune"`` the embeddings come from an encoder fine-tuned on
   those labels and a logistic-regression head on them codes the rest (``head_``;
   :mod:`themekit.themes.finetune`; ``"auto"``, which a run resolves, codes as prototype);
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
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import BaseEstimator

from themekit.codebook import Codebook
from themekit.embed.base import l2_normalize
from themekit.errors import ConfigError, InputError, NotFittedError
from themekit.progress import ProgressCallback
from themekit.themes import discover, finetune, guided
from themekit.themes.cluster import CODEBOOK_K_RULES, AutoKMeans
from themekit.themes.guided import majority_map as _majority_map
from themekit.themes.seeding import DEFAULT_SEED_WEIGHT, SeedingChoice
from themekit.themes.seeding import validate as validate_seeding
from themekit.themes.space import QUESTION_SPACES, SpaceChoice
from themekit.themes.stability import stability as _stability
from themekit.themes.subspace import DEFAULT_QUESTION_COMPONENTS, QuestionSubspace

if TYPE_CHECKING:  # pragma: no cover
    from themekit.context import QuestionContext

logger = logging.getLogger(__name__)

MODES = ("discover", "guided", "semi-supervised")
CLUSTERINGS = ("auto", "kmeans", "agglomerative", "hdbscan")
SEMI_METHODS = ("auto", "finetune", "prototype")
REDUCTIONS = ("auto", "umap", "none")
#: Fewer "other" segments than this become a single new candidate theme in guided mode.
MIN_NEW_THEME_SEGMENTS = 10
DENSITY_MIN_SEGMENTS = discover.DENSITY_MIN_SEGMENTS


class ThemeFinder(BaseEstimator):
    """Find candidate themes in segment embeddings (a scikit-learn estimator: ``get_params``,
    ``set_params`` and ``sklearn.base.clone`` work).

    Parameters mirror :class:`themekit.config.themes.ThemesConfig`; ``seed`` drives every
    random component. After :meth:`fit`: ``labels_``, ``codebook_theme_``, ``theme_codebook_``,
    ``stability_``, ``eval_mask_``, ``n_outliers_initial_``, ``topic_model_``, ``embeddings_``
    (the vectors the themes were found in), ``question_subspace_`` (None unless used),
    ``space_`` (:class:`themekit.themes.space.SpaceChoice`: which space and why; discover only),
    ``k_`` (k chosen, how, the runner-up and its score; discover only), ``seeding_``
    (:class:`themekit.themes.seeding.SeedingChoice`), ``coding_`` (discover's codebook coding),
    ``coding_model_`` ((the self-trained coder, its theme ids) that coded with the codebook)."""

    def __init__(
        self,
        mode: str = "discover",
        n_themes: int | str = "auto",
        min_themes: int | None = None,
        max_themes: int = 12,
        clustering: str = "auto",
        reduction: str = "auto",
        outliers: str = "reassign",
        stability_runs: int = 0,
        semi_supervised_share: float = 0.3,
        min_similarity: float = 0.0,
        guided_scale: str = guided.GUIDED_SCALES[0],
        sample_size: int = 20000,
        language_neutral: bool = True,
        seed: int = 42,
        stop_words: Sequence[str] = (),
        question_weight: float | str = guided.QUESTION_WEIGHT,
        question_components: int = DEFAULT_QUESTION_COMPONENTS,
        question_space: str = "auto",
        semi_supervised_method: str = "prototype",
        semi_supervised_head: str = "logistic",
        seed_with_codebook: bool | str = "auto",
        seed_weight: float = DEFAULT_SEED_WEIGHT,
        codebook_k: str = "near_best",
        describe: bool = True,  # False: no BERTopic topic model (only the codes are wanted)
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
        self.guided_scale = guided_scale
        self.sample_size = sample_size
        self.language_neutral = language_neutral
        self.seed = seed
        self.stop_words = stop_words
        self.question_weight = question_weight
        self.question_components = question_components
        self.question_space = question_space
        self.semi_supervised_method = semi_supervised_method
        self.semi_supervised_head = semi_supervised_head
        self.seed_with_codebook = seed_with_codebook
        self.seed_weight = seed_weight
        self.codebook_k = codebook_k
        self.describe = describe

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
            guided_scale=cfg.guided_scale,
            sample_size=cfg.sample_size,
            language_neutral=language_neutral,
            seed=seed,
            stop_words=tuple(cfg.stop_words),
            question_weight=cfg.question_weight,
            question_components=cfg.question_components,
            question_space=cfg.question_space,
            semi_supervised_method=cfg.semi_supervised.method,
            semi_supervised_head=cfg.semi_supervised.head,
            seed_with_codebook=cfg.seed_with_codebook,
            seed_weight=cfg.seed_weight,
            codebook_k=cfg.codebook_k,
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
        context: QuestionContext | None = None,
        progress: ProgressCallback | None = None,
    ) -> ThemeFinder:
        """Fit on RAW embeddings (one row per text); see the module doc for the steps.

        ``context``: the moderator-question context of the segments
        (:func:`themekit.context.build_context` / :func:`themekit.context.question_context`),
        whose ``fitted_vectors`` are usually the ``embeddings``. Answers to the same question are
        pooled when segments are coded with the codebook (``question_weight``); in ``discover``
        mode the question directions are fitted on its ``answer_vectors`` and used when the data
        support them (``question_space``)."""
        self._validate_params()
        X = np.asarray(embeddings, dtype=np.float32)
        texts = [str(t) for t in texts]
        self._check_inputs(X, texts, languages, codebook, codebook_embeddings, hand_codes, context)
        n = len(texts)
        report = progress or (lambda stage, done, total: None)
        total_steps = 1 + int(self.stability_runs)
        report("themes", 0, total_steps)

        Y, C = self._prepare(X, languages, codebook, codebook_embeddings)
        self.language_remover_ = self._remover
        self._codebook = codebook
        self._questions = guided.group_ids(context.links if context is not None else None, n)
        self._C = C
        space = Y  # where themes are found: Y, or in discover mode maybe the question directions
        self.question_subspace_: QuestionSubspace | None = None
        self.space_: SpaceChoice | None = None
        self.seeding_: SeedingChoice | None = None
        self.coding_: dict[str, Any] | None = None  # discover: how the codebook coding scaled
        self.k_: dict[str, Any] | None = None
        self._pooling: guided.PoolingChoice | None = None
        given = np.zeros(n, dtype=bool)
        if self.mode == "semi-supervised":
            assert hand_codes is not None  # checked above
            given = self._choose_given(hand_codes)
        self.eval_mask_ = ~given

        if self.mode == "discover":
            # the codebook coding (no hand codes) also checks the space choice
            seg_codes = (
                self._code(Y, None, given, self._questions)
                if codebook is not None and C is not None
                else None
            )
            self.coding_model_ = self._self_trained if seg_codes is not None else None
            self.coding_ = discover.coding_record(self, seg_codes)
            space, self.space_, self.question_subspace_ = discover.choose_space(
                self, Y, languages, context, seg_codes
            )
        self.embeddings_ = fit_space = space  # seeded vectors below: for the clustering only
        if self.mode == "discover":
            fit_space, self.seeding_ = discover.seed_space(self, Y, space, seg_codes)
            topic_model, labels, n_out, self.k_ = discover.fit_bertopic(
                self, fit_space, texts, seg_codes
            )
        else:
            labels, seg_codes, n_out = self._assign(
                Y, np.arange(n), self.seed, texts, hand_codes, given
            )
            self.head_ = self._head  # the stability refits below fit their own
            self.coding_model_ = self._self_trained  # (the self-trained coder, its ids) or None
            self.head_choice_ = self._head_choice
            topic_model, labels = (
                discover.describe_with_bertopic(self.stop_words, texts, Y, labels)
                if self.describe
                else (None, labels)
            )
        self.topic_model_ = topic_model
        self.labels_ = labels
        self.n_outliers_initial_ = n_out
        self.codebook_theme_ = seg_codes
        self.pooling_ = self._pooling  # the main coding's: the stability refits code their own
        self.theme_codebook_ = _majority_map(labels, seg_codes) if seg_codes is not None else {}
        report("themes", 1, total_steps)

        self.stability_ = None
        if self.stability_runs > 0:

            def refit(subset: np.ndarray, seed: int) -> np.ndarray:
                sub_codes = [hand_codes[i] for i in subset] if hand_codes is not None else None
                lab, _, _ = self._assign(
                    fit_space[subset],
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

    def _check_inputs(
        self,
        X: np.ndarray,
        texts: list[str],
        languages: Sequence[str] | None,
        codebook: Codebook | None,
        codebook_embeddings: np.ndarray | None,
        hand_codes: Sequence[str | None] | None,
        context: QuestionContext | None,
    ) -> None:
        if X.ndim != 2 or X.shape[0] != len(texts):
            raise InputError(
                f"expected one embedding row per text: got shape {X.shape} for {len(texts)} texts"
            )
        n = len(texts)
        if n < 3:
            raise InputError(f"need at least 3 segments to find themes, got {n}")
        if languages is not None and len(languages) != n:
            raise InputError(f"{len(languages)} language labels for {n} segments")
        if context is not None:
            if len(context.links) != n:
                raise InputError(f"a question context of {len(context.links)} segments for {n}")
            if np.shape(context.answer_vectors) != X.shape:
                raise InputError(
                    f"the context's answer vectors have shape {np.shape(context.answer_vectors)}"
                    f", the embeddings {X.shape}"
                )
        if self.mode == "guided" and (codebook is None or codebook_embeddings is None):
            raise ConfigError("guided mode needs a codebook and its embeddings", key="themes.mode")
        if codebook is not None and codebook_embeddings is not None:
            n_desc = len(codebook.descriptions()[0])
            if len(codebook_embeddings) != n_desc:
                raise InputError(
                    f"{len(codebook_embeddings)} codebook embeddings for {n_desc} codebook descriptions"
                )
        if self.mode == "semi-supervised" and (hand_codes is None or len(hand_codes) != n):
            raise ConfigError(
                "semi-supervised mode needs one hand code per segment", key="themes.mode"
            )

    # ------------------------------------------------------------------------------------------
    def _validate_params(self) -> None:
        checks = [
            ("mode", self.mode, MODES),
            ("clustering", self.clustering, CLUSTERINGS),
            ("reduction", self.reduction, REDUCTIONS),
            ("outliers", self.outliers, ("reassign", "keep")),
            ("question_space", self.question_space, QUESTION_SPACES),
            ("guided_scale", self.guided_scale, guided.GUIDED_SCALES),
            ("codebook_k", self.codebook_k, CODEBOOK_K_RULES),
            ("semi_supervised.method", self.semi_supervised_method, SEMI_METHODS),
            ("semi_supervised.head", self.semi_supervised_head, ("auto", "logistic", "prototype")),
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
        if self.min_themes is not None and self.min_themes > self.max_themes:
            raise ConfigError(
                f"min_themes ({self.min_themes}) is larger than max_themes ({self.max_themes})",
                key="themes.min_themes",
            )
        validate_seeding(self.seed_with_codebook, self.seed_weight)
        if not isinstance(self.question_components, int) or self.question_components < 0:
            raise ConfigError(
                f"must be an integer >= 0; got {self.question_components!r}",
                key="themes.question_components",
            )
        w = self.question_weight
        if w != "auto" and not (isinstance(w, int | float) and 0.0 <= w <= 1.0):
            raise ConfigError(
                f"must be 'auto' or a number between 0 and 1; got {w!r}",
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
        self._remover: Any = None
        if not self.language_neutral or languages is None:
            if self.language_neutral:
                logger.info("no segment languages given: language means not removed")
            return Xn, Cn
        from themekit.embed.neutral import LanguageMeanRemover

        remover = LanguageMeanRemover().fit(Xn, list(languages))
        self._remover = remover
        Y = remover.transform(Xn, list(languages), copy=False)  # Xn is ours: no second copy
        if Cn is not None and codebook is not None:
            Cn = remover.transform(Cn, guided.description_languages(codebook))
        return Y, Cn

    def _choose_given(self, hand_codes: Sequence[str | None]) -> np.ndarray:
        """A stratified random share of the hand-coded segments (at least one per code)."""
        return finetune.choose_given(hand_codes, self.semi_supervised_share, self.seed)

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
            labels, n_out = discover.labels_only(self, Y, seed)
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
        fit_idx = discover.sample(len(Z), self.sample_size, seed)
        km.fit(Z[fit_idx])
        return km.predict(Z) if len(fit_idx) < len(Z) else km.labels_

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
        self._head: finetune.CodingHead | None = None
        self._self_trained: tuple[Any, list[str]] | None = None  # (LogisticRegression, its ids)
        self._head_choice: Any = None  # themes.heads.HeadChoice (method finetune)
        if self.mode == "semi-supervised" and self.semi_supervised_method == "finetune":
            assert hand_codes is not None
            return self._code_with_head(Y, hand_codes, given, questions)
        if cb is None or self._C is None:  # semi-supervised without a codebook
            assert hand_codes is not None
            return guided.supervised_only(Y, hand_codes, given)
        texts_owner = cb.descriptions()[1]
        ids = list(cb.ids)
        if hand_codes is not None:
            ids += sorted({c for c in hand_codes if c and c not in ids})
        has_other = other in ids
        scores = guided.theme_scores(Y, self._C, texts_owner, ids)
        desc_labels = np.asarray([ids.index(o) for o in texts_owner])
        extra_X = extra_y = None
        if hand_codes is not None and given.any():
            extra_X, extra_y = Y[given], guided.given_labels(hand_codes, given, ids, other)
        # guided and discover: self-trained from each theme's similarities over their spread
        setting = "none" if self.mode == "semi-supervised" else self.guided_scale
        first = guided.scale_as_set(scores, setting, centred=self._remover is not None)
        proba, clf = guided.self_train_model(
            Y, first, self._C, desc_labels, extra_X=extra_X, extra_y=extra_y
        )
        self._self_trained = (clf, ids) if clf is not None else None
        proba, self._pooling = guided.pool_as_set(proba, questions, self.question_weight)
        pick = proba.argmax(axis=1)
        codes = [ids[j] for j in pick]
        # Without an "other" theme in the codebook, a segment whose best theme is less similar than
        # min_similarity (0 = the average segment, in the neutralised space; BERTopic's seed-topic
        # rule) is "other": this is what leaves room for new themes. With an "other" theme, its
        # descriptions compete directly; the extra threshold lowered kappa on the demo
        # (benchmarks/themes_choices.py; numbers in benchmarks/RESULTS.md) and is not applied.
        real = [j for j, t in enumerate(ids) if t != other]
        if not has_other and real:
            best_real = scores[:, real].max(axis=1)
            for i in np.flatnonzero(best_real < self.min_similarity):
                codes[int(i)] = other
        if hand_codes is not None:
            for i in np.flatnonzero(given):
                codes[int(i)] = hand_codes[int(i)] or other
        return codes

    def _code_with_head(
        self,
        Y: np.ndarray,
        hand_codes: Sequence[str | None],
        given: np.ndarray,
        questions: np.ndarray,
    ) -> list[str]:
        """semi-supervised, method finetune: the head ``semi_supervised_head`` names (or chooses
        by cross-validation on the given codes) codes the rest (:mod:`themekit.themes.heads`)."""
        from themekit.themes.heads import code_with_head

        codes, self._head, self._pooling, self._head_choice = code_with_head(
            self.semi_supervised_head, Y, hand_codes, given, questions, self._codebook, self._C,
            other=self._other_id(), question_weight=self.question_weight, seed=self.seed,
        )  # fmt: skip
        return codes

    def _check_fitted(self) -> None:
        if not hasattr(self, "labels_"):
            raise NotFittedError(
                "This ThemeFinder instance is not fitted yet. Call 'fit' with the embeddings first."
            )
