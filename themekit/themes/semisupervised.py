"""The run's side of fine-tuned semi-supervised coding: fine-tune for a run
(:func:`finetune_for_run`, called by the pipeline) and code new sessions with the coder a run
saved (:func:`code_sessions`, ``themekit code RUN FOLDER``). The model side is
:mod:`themekit.themes.finetune`."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from themekit.errors import InputError
from themekit.progress import ProgressCallback
from themekit.themes.finetune import (
    CODER_DIR,
    Coder,
    choose_given,
    default_prompt_for,
    encode,
    encoder_source,
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
    info = finetune_encoder(
        model,
        texts,
        labels,
        max_pairs=ss.max_pairs,
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
