"""Run a whole job: load -> segment -> embed -> find themes -> describe -> compare -> write.

Each stage is importable on its own (``themekit.load``, ``themekit.embed``,
``themekit.themes``, ``themekit.describe``, ``themekit.compare``, ``themekit.rundir``);
:func:`run` only wires them together, times them and records provenance.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from themekit.config import JobConfig, load_config
from themekit.corpus import Corpus
from themekit.errors import ConfigError, InputError
from themekit.manifest import StageTimer, build_manifest
from themekit.progress import ProgressCallback
from themekit.result import RunResult

if TYPE_CHECKING:  # pragma: no cover
    from themekit.codebook import Codebook

__all__ = ["RunResult", "run"]  # RunResult lives in themekit.result; imported here as before

logger = logging.getLogger(__name__)


def _structure(cfg: JobConfig, full: Corpus, corpus: Corpus, n_linked: int) -> dict[str, Any]:
    """What was read or inferred about the corpus's structure (logged; kept in the manifest)."""
    inferred = [s for s in full if s.meta.get("moderator_inferred")]
    out: dict[str, Any] = {
        "moderator": cfg.segmentation.moderator,
        "moderator_detect": cfg.segmentation.moderator_detect,
        "n_context": len(full) - len(corpus),
        "n_inferred_context": sum(s.is_context for s in inferred),
        "inferred_moderators": sorted({f"{s.session}: {s.speaker}" for s in inferred}),
        "n_following_context": n_linked,
    }
    if cfg.segmentation.moderator == "context":
        if len(full) == len(corpus) and any(s.speaker for s in corpus):
            logger.warning(
                "segmentation.moderator is 'context' but no speaker matched "
                "segmentation.moderator_pattern and no session reads as a conversation led by "
                "one questioner: every turn is analysed, none is read as a prompt"
            )
        else:
            logger.info(
                "%d moderator turns kept as context (%d of them inferred, not named); %d "
                "segments follow one",
                out["n_context"],
                out["n_inferred_context"],
                n_linked,
            )
    return out


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))


def _check_guided_codebook(codebook: Codebook, cfg: JobConfig) -> None:
    """Guided coding picks one codebook theme per segment: it needs two to choose between."""
    if len(codebook.ids) < 2:
        raise ConfigError(
            f"guided mode needs a codebook with at least 2 themes to choose between (e.g. one "
            f"theme and {codebook.other_id!r}, for segments that fit none); {cfg.codebook.path} "
            f"has {len(codebook.ids)} ({', '.join(codebook.ids) or 'none'}). Add themes, or use "
            "themes.mode: discover",
            key="codebook.path",
        )


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
    from themekit.codebook import load_codebook
    from themekit.compare import compare
    from themekit.context import build_context, link_prompts
    from themekit.describe import describe_themes
    from themekit.embed import (
        build_embedder,
        build_query_embedder,
        default_cache_dir,
        embed_texts,
    )
    from themekit.load import check_analysable, check_codes, input_files, load_corpus
    from themekit.namer_llm import LLMNamer, check_llm_config
    from themekit.naming import phrase_embedder
    from themekit.themes import ThemeFinder

    config_file = str(Path(config_file).resolve()) if config_file else None
    if not isinstance(config, JobConfig):
        config_file = str(Path(config).resolve())
        config = load_config(config, overrides)
    elif overrides:
        raise ConfigError("overrides are only applied when run() reads the config file itself")
    cfg = config
    if write:  # fail before the work, not after it
        from themekit.rundir import check_output

        check_output(Path(out_dir or cfg.output.dir), cfg.output.name, cfg.output.overwrite)
    check_llm_config(cfg.themes)  # sends nothing
    namer = None
    if cfg.themes.namer == "llm":  # permission given: fail now if the endpoint is not there
        namer = LLMNamer.from_config(cfg.themes.llm)
        namer.ping()
    _seed_everything(cfg.seed)
    timer = StageTimer()
    engine = None
    if cfg.execution.engine == "ray":  # fail before the work: Ray missing, cluster unreachable
        from themekit.distributed.ray_engine import RayEngine

        engine = RayEngine.check(cfg)

    codebook = None
    if cfg.codebook.path:
        codebook = load_codebook(
            cfg.resolve_path(cfg.codebook.path), other_id=cfg.codebook.other_id
        )
    if cfg.themes.mode in ("guided",) and codebook is None:
        raise ConfigError("guided mode needs a codebook: set codebook.path", key="themes.mode")
    if cfg.themes.mode == "guided" and codebook is not None:
        _check_guided_codebook(codebook, cfg)
    if cfg.themes.mode == "semi-supervised" and cfg.themes.semi_supervised.method == "finetune":
        from themekit.themes.finetune import encoder_source

        encoder_source(cfg)  # fail before the work when there is no model to fine-tune

    with timer.stage("load"):
        full = load_corpus(cfg, progress=progress)
        files = input_files(cfg)
        coded = full.analysed().has_codes
        if codebook is not None:  # hand codes checked against the codebook before any work
            full = Corpus(
                check_codes(
                    full.segments, codebook.ids, codebook.other_id, cfg.evaluation.unknown_codes
                )
            )
        corpus = full.analysed()
    if len(corpus) == 0:
        raise InputError(
            "no segments left to analyse after segmentation (all were dropped or context-only)",
            path=", ".join(map(str, files)),
        )
    check_analysable(
        corpus, files, n_themes=cfg.themes.n_themes, extra_stop_words=cfg.themes.stop_words
    )
    if cfg.themes.mode == "semi-supervised" and not coded:
        raise ConfigError(
            "semi-supervised mode needs hand codes for the segments (a code column or corpus.hand_codes)",
            key="themes.mode",
        )
    logger.info("loaded %d segments from %d file(s)", len(corpus), len(files))
    links, prompts = link_prompts(full)
    n_linked = sum(j is not None for j in links)
    structure = _structure(cfg, full, corpus, n_linked)
    use_context = n_linked > 0 and (
        cfg.embedding.context_weight > 0
        or (cfg.themes.mode == "discover" and cfg.themes.question_components > 0)
    )
    prompt_texts = [p.text for p in prompts] if use_context else []

    embedder = build_embedder(cfg.embedding)
    cache_dir = None
    if cfg.embedding.cache:
        cache_dir = (
            cfg.resolve_path(cfg.embedding.cache_dir)
            if cfg.embedding.cache_dir
            else default_cache_dir()
        )
    q_embedder = build_query_embedder(cfg.embedding, embedder) if codebook is not None else embedder
    with timer.stage("embed"):
        # codebook descriptions go through the segments' call (so that a corpus-fitted backend,
        # tfidf, puts both in the same space) unless embedding.query_prompt gives them their own
        cb_texts = codebook.descriptions()[0] if codebook is not None else []
        together = q_embedder is embedder
        all_texts = corpus.texts + prompt_texts + (cb_texts if together else [])
        if engine is not None and cache_dir is not None:  # fills the cache on the cluster
            engine.embed(all_texts, embedder, cfg.embedding, cache_dir=cache_dir, progress=progress)
        X_all = embed_texts(
            all_texts,
            embedder,
            cache_dir=cache_dir,
            batch_size=cfg.embedding.batch_size,
            progress=progress,
        )
        n, n_p = len(corpus), len(prompt_texts)
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
        P = np.asarray(X_all[n : n + n_p]) if use_context else None
        context = build_context(links, prompts, X, P, cfg.embedding.context_weight)
        for line in context.decisions:
            logger.info("question context: %s", line)
        X_fit = context.fitted_vectors if use_context and cfg.embedding.context_weight > 0 else X

    finetuned = None
    if cfg.themes.mode == "semi-supervised" and cfg.themes.semi_supervised.method == "finetune":
        from themekit.themes.semisupervised import finetune_for_run

        with timer.stage("finetune"):
            finetuned = finetune_for_run(cfg, corpus, prompt_texts, codebook, progress=progress)
        # the question context carries over, built from the fine-tuned vectors
        context = build_context(
            links,
            prompts,
            finetuned.segments,
            finetuned.prompts if use_context else None,
            cfg.embedding.context_weight,
        )
        X_fit = (
            context.fitted_vectors
            if use_context and cfg.embedding.context_weight > 0
            else finetuned.segments
        )
        cb_X = finetuned.codebook

    with timer.stage("themes"):
        finder = ThemeFinder.from_config(
            cfg.themes, seed=cfg.seed, language_neutral=cfg.embedding.language_neutral
        )
        # the ray engine fits a large corpus on a stratified sample and assigns the rest on Ray
        fit = finder.fit
        if engine is not None:
            from themekit.distributed.scale import SampleFitter

            fit = SampleFitter(engine, finder, corpus, cfg.seed)
        fit(
            X_fit,
            corpus.texts,
            languages=corpus.languages,
            codebook=codebook,
            codebook_embeddings=cb_X,
            # only semi-supervised coding learns from hand codes; the others never read them
            hand_codes=corpus.codes if cfg.themes.mode == "semi-supervised" and coded else None,
            context=context,
            progress=progress,
        )
    labels = np.asarray(finder.labels_, dtype=int)

    cb_vectors = None
    if codebook is not None and cb_X is not None:
        owners = np.asarray(codebook.descriptions()[1], dtype=object)
        cb_vectors = {
            th.id: (th.name, np.asarray(cb_X)[owners == th.id].mean(axis=0))
            for th in codebook.themes
            if (owners == th.id).any()
        }
    with timer.stage("describe"):
        themes = describe_themes(
            corpus,
            labels,
            finder.embeddings_,
            theme_codebook=finder.theme_codebook_,
            stability=finder.stability_,
            n_keywords=cfg.themes.n_keywords,
            n_quotes=cfg.themes.n_quotes,
            stop_words=cfg.themes.stop_words,
            seed=cfg.seed,
            prompts=[prompts[j].text if j is not None else None for j in links],
            phrase_space=X,
            embed_phrases=phrase_embedder(embedder, cache_dir, cfg.embedding.batch_size),
            codebook_vectors=cb_vectors,
        )
    if namer is not None:
        with timer.stage("name"):
            namer.name(themes)

    scores = None
    if cfg.evaluation.enabled and coded:
        with timer.stage("compare"):
            scores = compare(
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

    manifest = build_manifest(
        seed=cfg.seed,
        inputs=[Path(p) for p in files]
        + ([cfg.resolve_path(cfg.codebook.path)] if cfg.codebook.path else []),
        model_id=embedder.model_id,
        embedder_id=embedder.id,
        timings=timer.seconds,
        extra={
            "seeds": {"global": cfg.seed, "themes": cfg.seed, "bootstrap": cfg.seed},
            "n_segments": len(corpus),
            "n_context_segments": len(full) - len(corpus),
            "n_segments_with_prompt_context": (
                n_linked if use_context and cfg.embedding.context_weight > 0 else 0
            ),
            # discover: directions along which answers vary with the questions (0 = not used)
            "question_components": (
                finder.question_subspace_.n_components_ if finder.question_subspace_ else 0
            ),
            # which space discovery clustered in, and why (themekit.themes.space)
            "clustering_space": finder.space_.to_dict() if finder.space_ else None,
            # how many themes, how chosen, the runner-up (themekit.themes.discover.k_record)
            "k": finder.k_,
            # what was inferred about the corpus's structure (segmentation.moderator_detect)
            "structure": structure,
            "n_themes": len(themes),
            "n_outliers_initial": int(getattr(finder, "n_outliers_initial_", 0)),
            "n_outliers": int((labels == -1).sum()),
            "mode": cfg.themes.mode,
            "config_file": config_file,
            "codebook": str(cfg.resolve_path(cfg.codebook.path)) if cfg.codebook.path else None,
            # how the codebook's descriptions were embedded (embedding.query_prompt)
            "codebook_embedder_id": q_embedder.id if codebook is not None else None,
            "execution": engine.record() if engine is not None else {"engine": "local"},
            "semi_supervised": _semi_supervised_record(cfg, finder, finetuned),
        },
    )
    result = RunResult(
        config=cfg,
        corpus=corpus,
        embeddings=X,
        cluster_embeddings=np.asarray(finder.embeddings_),
        labels=labels,
        codebook_theme=finder.codebook_theme_,
        themes=themes,
        codebook=codebook,
        scores=scores,
        manifest=manifest,
        stability=finder.stability_,
        eval_mask=np.asarray(finder.eval_mask_) if finder.eval_mask_ is not None else None,
        full_corpus=full,
        coder=_coder(cfg, finder, finetuned, use_context),
    )
    if write:
        from themekit.rundir import write_run

        result.path = write_run(result, out_dir=out_dir)
    return result


def _semi_supervised_record(cfg: JobConfig, finder: Any, finetuned: Any) -> dict[str, Any] | None:
    """The manifest's record of what semi-supervised mode was given and how it learnt."""
    if cfg.themes.mode != "semi-supervised":
        return None
    mask = np.asarray(finder.eval_mask_, dtype=bool)
    return {
        "method": cfg.themes.semi_supervised.method,
        "share": cfg.themes.semi_supervised_share,
        "split_seed": cfg.seed,
        "n_given": int((~mask).sum()),
        "n_scored_candidates": int(mask.sum()),
        "finetune": finetuned.info if finetuned is not None else None,
    }


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
        question_weight=cfg.themes.question_weight,
        language_means=dict(remover.means_) if remover is not None else {},
        language_center=remover.center_ if remover is not None else None,
        info=finetuned.info,
    )
