"""``themekit validate``: everything that can fail on the user's side, checked before any embedding."""

from __future__ import annotations

from themekit.config import JobConfig
from themekit.corpus import Corpus


def check_inputs(cfg: JobConfig) -> Corpus:
    """Load the codebook and the corpus (reading and segmenting, no embedding).

    Raises the same :class:`themekit.errors.UserError` that ``run`` would, naming the key or file.
    Returns the loaded corpus so callers can show counts.
    """
    from themekit.codebook import load_codebook
    from themekit.errors import ConfigError
    from themekit.load import load_corpus

    if cfg.codebook.path:
        load_codebook(cfg.resolve_path(cfg.codebook.path), other_id=cfg.codebook.other_id)
    elif cfg.themes.mode == "guided":
        raise ConfigError("guided mode needs a codebook: set codebook.path", key="themes.mode")
    from themekit.embed import build_embedder

    build_embedder(cfg.embedding)  # unknown backend / remote access problems surface here
    return load_corpus(cfg)
