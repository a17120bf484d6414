"""What a run reads and checks before any work: the config, the output folder, the codebook,
the corpus and the prompts its answers follow (used by :func:`themekit.pipeline.run`).

Every user mistake that can be found without embedding is raised from here, so that a run
fails in its first seconds and leaves nothing behind.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from themekit.config import JobConfig, load_config
from themekit.corpus import Corpus
from themekit.errors import ConfigError, InputError
from themekit.progress import ProgressCallback

if TYPE_CHECKING:  # pragma: no cover
    from themekit.codebook import Codebook
    from themekit.corpus import Segment
    from themekit.distributed.ray_engine import RayEngine
    from themekit.namer_llm import LLMNamer
    from themekit.themes.semisupervised import MethodChoice

logger = logging.getLogger(__name__)


def corpus_structure(cfg: JobConfig, full: Corpus, corpus: Corpus, n_linked: int) -> dict[str, Any]:
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


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))


def check_guided_codebook(codebook: Codebook, cfg: JobConfig) -> None:
    """Guided coding picks one codebook theme per segment: it needs two to choose between."""
    if len(codebook.ids) < 2:
        raise ConfigError(
            f"guided mode needs a codebook with at least 2 themes to choose between (e.g. one "
            f"theme and {codebook.other_id!r}, for segments that fit none); {cfg.codebook.path} "
            f"has {len(codebook.ids)} ({', '.join(codebook.ids) or 'none'}). Add themes, or use "
            "themes.mode: discover",
            key="codebook.path",
        )


@dataclass
class Preflight:
    """What is checked or opened before any work: the namer, the engine, the codebook."""

    namer: LLMNamer | None
    engine: RayEngine | None
    codebook: Codebook | None


@dataclass
class Inputs:
    """The loaded corpus (``full`` with the context turns, ``corpus`` the analysed segments),
    its codebook, and the prompt each analysed segment follows."""

    full: Corpus
    corpus: Corpus
    files: list[Path]
    coded: bool
    codebook: Codebook | None
    links: list[int | None]
    prompts: list[Segment]
    structure: dict[str, Any]
    use_context: bool
    #: semi-supervised mode: the method it runs (themes.semi_supervised.method auto resolved)
    semi_method: MethodChoice | None = None

    @property
    def n_linked(self) -> int:
        return sum(j is not None for j in self.links)

    @property
    def prompt_texts(self) -> list[str]:
        return [p.text for p in self.prompts] if self.use_context else []


def read_config(
    config: JobConfig | str | Path, overrides: list[str] | None, config_file: str | Path | None
) -> tuple[JobConfig, str | None]:
    file = str(Path(config_file).resolve()) if config_file else None
    if not isinstance(config, JobConfig):
        return load_config(config, overrides), str(Path(config).resolve())
    if overrides:
        raise ConfigError("overrides are only applied when run() reads the config file itself")
    return config, file


def preflight(cfg: JobConfig, *, out_dir: str | Path | None, write: bool) -> Preflight:
    """Every check that can fail before the work, in the order a user meets them."""
    from themekit.codebook import load_codebook
    from themekit.namer_llm import LLMNamer, check_llm_config

    if write:
        from themekit.rundir import check_output

        check_output(Path(out_dir or cfg.output.dir), cfg.output.name, cfg.output.overwrite)
    check_llm_config(cfg.themes)  # sends nothing
    namer = None
    if cfg.themes.namer == "llm":  # permission given: fail now if the endpoint is not there
        namer = LLMNamer.from_config(cfg.themes.llm)
        namer.ping()
    seed_everything(cfg.seed)
    engine = None
    if cfg.execution.engine == "ray":  # Ray missing, cluster unreachable
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
        check_guided_codebook(codebook, cfg)
    if cfg.themes.mode == "semi-supervised" and cfg.themes.semi_supervised.method == "finetune":
        from themekit.themes.semisupervised import encoder_source

        encoder_source(cfg)  # there must be a model to fine-tune
    return Preflight(namer=namer, engine=engine, codebook=codebook)


def load_inputs(
    cfg: JobConfig, codebook: Codebook | None, progress: ProgressCallback | None
) -> Inputs:
    from themekit.context import link_prompts
    from themekit.load import check_codes, input_files, load_corpus

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
    links, prompts = link_prompts(full)
    n_linked = sum(j is not None for j in links)
    use_context = n_linked > 0 and (
        cfg.embedding.context_weight > 0
        or (cfg.themes.mode == "discover" and cfg.themes.question_components > 0)
    )
    return Inputs(
        full=full,
        corpus=corpus,
        files=[Path(f) for f in files],
        coded=coded,
        codebook=codebook,
        links=links,
        prompts=prompts,
        structure={},
        use_context=use_context,
    )


def check_inputs(cfg: JobConfig, inputs: Inputs) -> None:
    """Enough to analyse, and what semi-supervised mode needs; logs what was read."""
    from themekit.load import check_analysable

    corpus, files = inputs.corpus, inputs.files
    if len(corpus) == 0:
        raise InputError(
            "no segments left to analyse after segmentation (all were dropped or context-only)",
            path=", ".join(map(str, files)),
        )
    check_analysable(
        corpus, files, n_themes=cfg.themes.n_themes, extra_stop_words=cfg.themes.stop_words
    )
    if cfg.themes.mode == "semi-supervised" and not inputs.coded:
        raise ConfigError(
            "semi-supervised mode needs hand codes for the segments (a code column or corpus.hand_codes)",
            key="themes.mode",
        )
    if cfg.themes.mode == "semi-supervised":
        from themekit.themes.semisupervised import resolve_method

        inputs.semi_method = resolve_method(cfg, len(corpus))
    logger.info("loaded %d segments from %d file(s)", len(corpus), len(files))
    inputs.structure = corpus_structure(cfg, inputs.full, corpus, inputs.n_linked)
