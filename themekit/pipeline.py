"""Run a whole job: load -> segment -> embed -> find themes -> describe -> compare -> write.

Each stage is importable on its own (``themekit.load``, ``themekit.embed``,
``themekit.themes``, ``themekit.describe``, ``themekit.compare``, ``themekit.rundir``);
:func:`run` only wires them together, times them and records provenance.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from themekit.config import JobConfig
from themekit.describe import attach_subthemes
from themekit.embed.precision import machine_record
from themekit.heap import release_freed_memory
from themekit.inputs import Inputs, Preflight, check_inputs, load_inputs, preflight, read_config
from themekit.manifest import StageTimer, build_manifest
from themekit.naming import phrase_embedder
from themekit.progress import ProgressCallback
from themekit.result import RunResult

if TYPE_CHECKING:  # pragma: no cover
    from themekit.compare import Scores
    from themekit.context import QuestionContext
    from themekit.describe import CandidateTheme
    from themekit.distributed.ray_engine import RayEngine
    from themekit.embed.base import Embedder
    from themekit.manifest import Manifest
    from themekit.theme_vectors import ThemeVectors
    from themekit.themes import ThemeFinder

__all__ = ["RunResult", "run"]  # RunResult lives in themekit.result; imported here as before

logger = logging.getLogger(__name__)


def run(
    config: JobConfig | str | Path,
    *,
    overrides: list[str] | None = None,
    out_dir: str | Path | None = None,
    write: bool = True,
    progress: ProgressCallback | None = None,
    config_file: str | Path | None = None,
) -> RunResult:
    """Run a job and (by default) write its run folder.

    ``config`` is a :class:`JobConfig` or the path of a YAML job file. ``out_dir`` overrides
    ``output.dir``. Raises :class:`themekit.errors.UserError` subclasses for user mistakes,
    before anything is written.
    """
    cfg, config_file = read_config(config, overrides, config_file)
    pre = preflight(cfg, out_dir=out_dir, write=write)
    timer = StageTimer()
    with timer.stage("load"):
        inputs = load_inputs(cfg, pre.codebook, progress)
    check_inputs(cfg, inputs)
    release_freed_memory("load")
    vectors = frozen = _embed(cfg, inputs, pre.engine, timer, progress)
    release_freed_memory("embed")  # the encoder's freed activations and batch buffers
    if inputs.semi_method is not None and inputs.semi_method.method == "finetune":
        with timer.stage("finetune"):
            vectors = _finetune(cfg, inputs, vectors, progress)
    with timer.stage("themes"):
        finder, at_scale = _find_themes(cfg, inputs, vectors, pre.engine, progress)
    release_freed_memory("themes")
    curve = None
    if (
        cfg.themes.mode == "semi-supervised"
        and inputs.coded
        and cfg.themes.semi_supervised.learning_curve
        and at_scale is None  # at scale the driver holds only the sample's vectors
    ):
        with timer.stage("learning_curve"):
            curve = _learning_curve(cfg, inputs, frozen, finder)
    labels = np.asarray(finder.labels_, dtype=int)
    with timer.stage("describe"):
        themes = _describe(cfg, inputs, vectors, finder, labels, at_scale)
    release_freed_memory("describe")
    subtheme_ids, split = None, None
    if cfg.themes.subthemes and at_scale is None:  # at scale the driver holds no vectors
        with timer.stage("subthemes"):
            subtheme_ids, split = attach_subthemes(
                inputs.corpus,
                labels,
                finder.embeddings_,
                themes,
                phrase_space=vectors.X,
                embed_phrases=phrase_embedder(
                    vectors.embedder, vectors.cache_dir, cfg.embedding.batch_size
                ),
                stop_words=cfg.themes.stop_words,
                seed=cfg.seed,
            )
        release_freed_memory("subthemes")
    elif cfg.themes.subthemes:
        logger.info("sub-themes: not looked for on the ray engine at scale (no vectors here)")
    if pre.namer is not None:
        with timer.stage("name"):
            pre.namer.name(themes)
    scores = None
    if cfg.evaluation.enabled and inputs.coded:
        with timer.stage("compare"):
            scores = _compare(cfg, inputs, finder, labels)
    manifest = _manifest(
        cfg, inputs, vectors, finder, labels, pre, timer, config_file, len(themes), curve
    )
    manifest.subthemes = split
    result = RunResult(
        config=cfg,
        corpus=inputs.corpus,
        embeddings=vectors.X,
        cluster_embeddings=np.asarray(finder.embeddings_),
        labels=labels,
        codebook_theme=finder.codebook_theme_,
        themes=themes,
        codebook=inputs.codebook,
        scores=scores,
        manifest=manifest,
        stability=finder.stability_,
        eval_mask=np.asarray(finder.eval_mask_) if finder.eval_mask_ is not None else None,
        full_corpus=inputs.full,
        coder=_coder(cfg, finder, vectors.finetuned, inputs.use_context),
        subtheme_ids=subtheme_ids,
        sample_rows=vectors.sample,
    )
    if write:
        from themekit.rundir import write_run

        result.path = write_run(result, out_dir=out_dir)
    return result


@dataclass
class _Vectors:
    """The embedding stage's output: the segments' own vectors ``X``, the codebook's, the
    question context and the vectors themes are fitted on. With ``sample`` (the ray engine, a
    corpus larger than ``execution.sample_size``) all of them are the sample's rows only; the
    other segments' vectors stay in the embedding cache. ``P``: the prompts' raw vectors."""

    embedder: Embedder
    q_embedder: Embedder
    cache_dir: Path | None
    X: np.ndarray
    cb_X: np.ndarray | None
    context: QuestionContext
    X_fit: np.ndarray
    finetuned: Any = None
    sample: np.ndarray | None = None
    P: np.ndarray | None = None


def _embed(
    cfg: JobConfig,
    inputs: Inputs,
    engine: RayEngine | None,
    timer: StageTimer,
    progress: ProgressCallback | None,
) -> _Vectors:
    """Segments, the prompts they follow and the codebook's descriptions, embedded once."""
    from themekit.context import build_context
    from themekit.embed import build_embedder, build_query_embedder, default_cache_dir, embed_texts

    codebook, corpus = inputs.codebook, inputs.corpus
    embedder = build_embedder(cfg.embedding)
    cache_dir = None
    if cfg.embedding.cache:
        cache_dir = (
            cfg.resolve_path(cfg.embedding.cache_dir)
            if cfg.embedding.cache_dir
            else default_cache_dir()
        )
    q_embedder = build_query_embedder(cfg.embedding, embedder) if codebook is not None else embedder
    # the ray engine and a corpus larger than its sample: only the sample's vectors are read here
    sample = engine.sample_rows(corpus, cfg.seed) if engine is not None else None
    texts = corpus.texts  # a property that builds the list: read it once
    texts = texts if sample is None else [texts[i] for i in sample.tolist()]
    links = inputs.links if sample is None else [inputs.links[i] for i in sample.tolist()]
    with timer.stage("embed"):
        # codebook descriptions go through the segments' call (so that a corpus-fitted backend,
        # tfidf, puts both in the same space) unless embedding.query_prompt gives them their own
        cb_texts = codebook.descriptions()[0] if codebook is not None else []
        together = q_embedder is embedder
        prompt_texts = inputs.prompt_texts
        all_texts = corpus.texts + prompt_texts + (cb_texts if together else [])
        if engine is not None and cache_dir is not None:  # fills the cache on the cluster
            engine.embed(all_texts, embedder, cfg.embedding, cache_dir=cache_dir, progress=progress)
        X_all = embed_texts(
            all_texts if sample is None else texts + all_texts[len(corpus) :],
            embedder,
            cache_dir=cache_dir,
            batch_size=cfg.embedding.batch_size,
            progress=progress,
            fit=sample is None,  # the sample's: a corpus-fitted backend was fitted on them all
        )
        n, n_p = len(texts), len(prompt_texts)
        X = np.asarray(X_all[:n])
        cb_X = None
        if codebook is not None:
            cb_X = np.asarray(
                X_all[n + n_p :]
                if together
                else embed_texts(
                    cb_texts,
                    q_embedder,
                    cache_dir=cache_dir,
                    batch_size=cfg.embedding.batch_size,
                    progress=(lambda _s, d, t: progress("codebook", d, t)) if progress else None,
                )
            )
        P = np.asarray(X_all[n : n + n_p]) if inputs.use_context else None
        context = build_context(links, inputs.prompts, X, P, cfg.embedding.context_weight)
        for line in context.decisions:
            logger.info("question context: %s", line)
    return _Vectors(
        embedder=embedder,
        q_embedder=q_embedder,
        cache_dir=cache_dir,
        X=X,
        cb_X=cb_X,
        context=context,
        X_fit=_fit_vectors(cfg, inputs, context, X),
        sample=sample,
        P=P,
    )


def _fit_vectors(
    cfg: JobConfig, inputs: Inputs, context: QuestionContext, X: np.ndarray
) -> np.ndarray:
    """Themes are fitted on the answers read with their question when that is on."""
    if inputs.use_context and cfg.embedding.context_weight > 0:
        return context.fitted_vectors
    return X


def _finetune(
    cfg: JobConfig, inputs: Inputs, vectors: _Vectors, progress: ProgressCallback | None
) -> _Vectors:
    """Semi-supervised ``finetune``: the encoder fine-tuned on the given hand codes; the question
    context carries over, built from the fine-tuned vectors."""
    from themekit.context import build_context
    from themekit.themes.semisupervised import finetune_for_run

    finetuned = finetune_for_run(
        cfg, inputs.corpus, inputs.prompt_texts, inputs.codebook, progress=progress
    )
    context = build_context(
        inputs.links,
        inputs.prompts,
        finetuned.segments,
        finetuned.prompts if inputs.use_context else None,
        cfg.embedding.context_weight,
    )
    return replace(
        vectors,
        context=context,
        X_fit=_fit_vectors(cfg, inputs, context, finetuned.segments),
        cb_X=finetuned.codebook,
        finetuned=finetuned,
    )


def _find_themes(
    cfg: JobConfig,
    inputs: Inputs,
    vectors: _Vectors,
    engine: RayEngine | None,
    progress: ProgressCallback | None,
) -> tuple[ThemeFinder, ThemeVectors | None]:
    """The fitted finder; with a sample (the ray engine at scale) also what describe needs from
    the vectors, aggregated over the cache shards on the workers."""
    from themekit.themes import ThemeFinder

    finder = ThemeFinder.from_config(
        cfg.themes, seed=cfg.seed, language_neutral=cfg.embedding.language_neutral
    )
    if inputs.semi_method is not None:  # method auto, resolved for this run
        finder.set_params(semi_supervised_method=inputs.semi_method.method)
    corpus = inputs.corpus
    semi = cfg.themes.mode == "semi-supervised" and inputs.coded
    rows = vectors.sample if vectors.sample is not None else np.arange(len(corpus))
    texts, languages, codes = corpus.texts, corpus.languages, corpus.codes
    kwargs: dict[str, Any] = {
        "texts": [texts[i] for i in rows.tolist()],
        "languages": [languages[i] for i in rows.tolist()],
        "codebook": inputs.codebook,
        "codebook_embeddings": vectors.cb_X,
        # only semi-supervised coding learns from hand codes; the others never read them
        "hand_codes": [codes[i] for i in rows.tolist()] if semi else None,
        "context": vectors.context,
        "progress": progress,
    }
    if vectors.sample is None:
        finder.fit(vectors.X_fit, **kwargs)
        return finder, None
    assert engine is not None and vectors.cache_dir is not None
    from themekit.distributed.stream import PassJob, SegmentTable, fit_and_stream
    from themekit.embed import EmbeddingCache

    emb = vectors.embedder
    cache = EmbeddingCache(vectors.cache_dir, emb.id, model_id=emb.model_id)
    table = SegmentTable.build(texts, languages, inputs.links, vectors.sample, cache)
    with_context = inputs.use_context and cfg.embedding.context_weight > 0
    job = PassJob(
        assigner=None,
        prompts=vectors.P if with_context else None,
        context_weight=cfg.embedding.context_weight if with_context else 0.0,
        cache_dir=str(vectors.cache_dir),
        embedder_id=emb.id,
    )
    at_scale = fit_and_stream(
        engine,
        finder,
        table,
        sample_raw=vectors.X,
        sample_fit=vectors.X_fit,
        job=job,
        n_quotes=cfg.themes.n_quotes,
        fit_kwargs=kwargs,
    )
    return finder, at_scale


def _learning_curve(
    cfg: JobConfig, inputs: Inputs, frozen: _Vectors, finder: ThemeFinder
) -> dict[str, Any]:
    """Kappa on the segments not given at the shares of ``semi_supervised.learning_curve``, on
    the frozen vectors (:mod:`themekit.themes.curve`)."""
    from themekit.themes.curve import learning_curve

    return learning_curve(
        finder,
        frozen.X_fit,
        inputs.corpus.texts,
        inputs.corpus.codes,
        shares=cfg.themes.semi_supervised.learning_curve,
        languages=inputs.corpus.languages,
        codebook=inputs.codebook,
        codebook_embeddings=frozen.cb_X,
        context=frozen.context,
        other_id=cfg.codebook.other_id,
    )


def _describe(
    cfg: JobConfig,
    inputs: Inputs,
    vectors: _Vectors,
    finder: ThemeFinder,
    labels: np.ndarray,
    at_scale: ThemeVectors | None,
) -> list[CandidateTheme]:
    from themekit.describe import describe_themes
    from themekit.naming import phrase_embedder

    codebook, cb_X = inputs.codebook, vectors.cb_X
    cb_vectors = None
    if codebook is not None and cb_X is not None:
        owners = np.asarray(codebook.descriptions()[1], dtype=object)
        cb_vectors = {
            th.id: (th.name, np.asarray(cb_X)[owners == th.id].mean(axis=0))
            for th in codebook.themes
            if (owners == th.id).any()
        }
    prompts, links = inputs.prompts, inputs.links
    return describe_themes(
        inputs.corpus,
        labels,
        finder.embeddings_ if at_scale is None else None,
        theme_codebook=finder.theme_codebook_,
        stability=finder.stability_,
        n_keywords=cfg.themes.n_keywords,
        n_quotes=cfg.themes.n_quotes,
        stop_words=cfg.themes.stop_words,
        seed=cfg.seed,
        prompts=[prompts[j].text if j is not None else None for j in links],
        phrase_space=vectors.X if at_scale is None else None,
        vectors=at_scale,
        embed_phrases=phrase_embedder(
            vectors.embedder, vectors.cache_dir, cfg.embedding.batch_size
        ),
        codebook_vectors=cb_vectors,
    )


def _compare(cfg: JobConfig, inputs: Inputs, finder: ThemeFinder, labels: np.ndarray) -> Scores:
    from themekit.compare import compare

    corpus, codebook = inputs.corpus, inputs.codebook
    return compare(
        labels,
        [c or "" for c in corpus.codes],
        secondary_codes=[s.secondary_code for s in corpus],
        codebook_theme=finder.codebook_theme_,
        languages=corpus.languages,
        codebook_ids=codebook.ids if codebook else None,
        other_id=cfg.codebook.other_id,
        recovery_threshold=cfg.evaluation.recovery_threshold,
        bootstrap=cfg.evaluation.bootstrap,
        confidence=cfg.evaluation.confidence,
        seed=cfg.seed,
        eval_mask=finder.eval_mask_,
    )


def _manifest(
    cfg: JobConfig,
    inputs: Inputs,
    vectors: _Vectors,
    finder: ThemeFinder,
    labels: np.ndarray,
    pre: Preflight,
    timer: StageTimer,
    config_file: str | None,
    n_themes: int,
    curve: dict[str, Any] | None = None,
) -> Manifest:
    from themekit.themes.semisupervised import semi_supervised_record

    codebook, engine = inputs.codebook, pre.engine
    with_context = inputs.use_context and cfg.embedding.context_weight > 0
    return build_manifest(
        seed=cfg.seed,
        inputs=list(inputs.files)
        + ([cfg.resolve_path(cfg.codebook.path)] if cfg.codebook.path else []),
        model_id=vectors.embedder.model_id,
        embedder_id=vectors.embedder.id,
        timings=timer.seconds,
        extra={
            "seeds": {"global": cfg.seed, "themes": cfg.seed, "bootstrap": cfg.seed},
            "n_segments": len(inputs.corpus),
            "n_context_segments": len(inputs.full) - len(inputs.corpus),
            "n_segments_with_prompt_context": inputs.n_linked if with_context else 0,
            # discover: directions along which answers vary with the questions (0 = not used)
            "question_components": (
                finder.question_subspace_.n_components_ if finder.question_subspace_ else 0
            ),
            # which space discovery clustered in, and why (themekit.themes.space)
            "clustering_space": finder.space_.to_dict() if finder.space_ else None,
            # whether the codebook seeded discovery's clustering (themekit.themes.seeding)
            "codebook_seeding": finder.seeding_.to_dict() if finder.seeding_ else None,
            # discover: how its codebook coding scaled the themes (themes.guided_scale)
            "codebook_coding": getattr(finder, "coding_", None),
            # codebook coding: how much the answers to one question were pooled, and why
            "question_pooling": finder.pooling_.to_dict() if finder.pooling_ else None,
            # how many themes, how chosen, the runner-up (themekit.themes.discover.k_record)
            "k": finder.k_,
            # what was inferred about the corpus's structure (segmentation.moderator_detect)
            "structure": inputs.structure,
            "n_themes": n_themes,
            "n_outliers_initial": int(getattr(finder, "n_outliers_initial_", 0)),
            "n_outliers": int((labels == -1).sum()),
            "mode": cfg.themes.mode,
            "config_file": config_file,
            "codebook": str(cfg.resolve_path(cfg.codebook.path)) if cfg.codebook.path else None,
            # how the codebook's descriptions were embedded (embedding.query_prompt)
            "codebook_embedder_id": vectors.q_embedder.id if codebook is not None else None,
            # what about this machine can change the vectors (e5: bf16 here, fp32 there)
            "machine": machine_record(),
            "embedding_run": _embedding_run(vectors.embedder),
            "execution": engine.record() if engine is not None else {"engine": "local"},
            "semi_supervised": semi_supervised_record(
                cfg, finder, vectors.finetuned, curve, inputs.semi_method
            ),
        },
    )


def _embedding_run(embedder: Any) -> dict[str, Any] | None:
    """The embedder's own record of how it ran (e5: runtime, device, precision and why)."""
    record = getattr(embedder, "record", None)
    return record() if callable(record) else None


def _coder(cfg: JobConfig, finder: Any, finetuned: Any, use_context: bool) -> Any:
    """The fine-tuned coder a run folder keeps (None unless method finetune)."""
    if finetuned is None or getattr(finder, "head_", None) is None:
        return None
    from themekit.themes.finetune import Coder

    remover = finder.language_remover_
    return Coder(
        encoder=finetuned.encoder,
        head=finder.head_,
        prompt=finetuned.prompt,
        context_weight=cfg.embedding.context_weight if use_context else 0.0,
        question_weight=finder.pooling_.weight if finder.pooling_ is not None else 0.0,
        language_means=dict(remover.means_) if remover is not None else {},
        language_center=remover.center_ if remover is not None else None,
        info=finetuned.info,
    )
