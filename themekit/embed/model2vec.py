"""``model2vec``: static embeddings (a token-vector lookup and a mean), fast and BERTopic-native.

``embedding.model`` names a local folder saved with ``StaticModel.save_pretrained`` or, with
``embedding.allow_remote: true``, a hub id such as ``minishlab/potion-multilingual-128M``.

:func:`static_model_from_token_embeddings` builds a crude static model offline from a local
sentence-transformers folder (its input token embeddings, optionally PCA-reduced). It is meant
for tests and benchmarks on machines without internet; for real use distil properly with
``model2vec.distill`` (``pip install model2vec[distill]``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from themekit.embed.base import (
    EMBEDDERS,
    as_float32_matrix,
    folder_fingerprint,
    hub_cached_folder,
    make_id,
    package_version,
    resolve_model_source,
)
from themekit.errors import ConfigError, download_failed

if TYPE_CHECKING:  # pragma: no cover
    from themekit.config.embedding import EmbeddingConfig

logger = logging.getLogger(__name__)


class Model2VecEmbedder:
    """A model2vec ``StaticModel``, loaded on first ``encode``."""

    min_batch_size = 1024  # a lookup and a mean per text: calls must be large to amortise

    def __init__(
        self,
        model: str,
        *,
        allow_remote: bool = False,
        normalize: bool = True,
        max_seq_length: int | None = None,
        prompt: str = "",
        batch_size: int = 1024,
    ):
        self.model = model
        self.allow_remote = allow_remote
        self.normalize = normalize
        self.max_seq_length = max_seq_length
        self.prompt = prompt
        self.batch_size = batch_size
        self.folder_, self.hub_id_ = resolve_model_source(
            model, allow_remote=allow_remote, backend="model2vec"
        )
        self._model: Any = None
        self._id: str | None = None

    @property
    def model_id(self) -> str:
        return f"{self.hub_id_ or self.folder_} (model2vec)"

    @property
    def id(self) -> str:
        if self._id is None:
            folder = self.folder_ or hub_cached_folder(self.hub_id_, None)
            if folder is None:
                self._load()
                folder = hub_cached_folder(self.hub_id_, None)
            self._id = make_id(
                "model2vec",
                source=self.hub_id_ or (self.folder_.name if self.folder_ else ""),
                fingerprint=folder_fingerprint(folder) if folder is not None else None,
                normalize=self.normalize,
                max_seq_length=self.max_seq_length,
                prompt=self.prompt,
                version=package_version("model2vec"),
            )
        return self._id

    def _load(self) -> Any:
        if self._model is None:
            from model2vec import StaticModel

            source = str(self.folder_) if self.folder_ is not None else self.hub_id_
            logger.info("loading model2vec model %s", source)
            kwargs: dict[str, Any] = {"normalize": self.normalize, "force_download": False}
            if self.max_seq_length is not None:
                kwargs["max_length"] = self.max_seq_length
            try:
                self._model = StaticModel.from_pretrained(source, **kwargs)
            except OSError as exc:  # no network, unknown repo, refused
                if not self.hub_id_:
                    raise
                raise download_failed(self.hub_id_, exc) from None
        return self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        model = self._load()
        batch = [self.prompt + t for t in texts] if self.prompt else list(texts)
        if not batch:
            return np.zeros((0, model.dim), dtype=np.float32)
        out = model.encode(batch, batch_size=self.batch_size, use_multiprocessing=False)
        return as_float32_matrix(out, len(batch))


def static_model_from_token_embeddings(
    st_folder: str | Path, out_folder: str | Path, *, dims: int | None = 64
) -> Path:
    """Save a model2vec ``StaticModel`` made from a sentence-transformers model's token table.

    Offline and quick (seconds): reads the input word-embedding matrix from the folder's
    ``model.safetensors`` and its ``tokenizer.json``, reduces the vectors to ``dims`` with PCA
    (``None`` keeps them) and saves a model2vec folder. Real distillation (``model2vec.distill``)
    gives better vectors; this one exists for tests and offline benchmarks.
    """
    from model2vec import StaticModel
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    st_folder = Path(st_folder)
    weights = load_file(str(st_folder / "model.safetensors"))
    names = [k for k in weights if k.endswith("word_embeddings.weight")]
    if not names:
        raise ValueError(f"{st_folder}: no word_embeddings.weight in model.safetensors")
    table = weights[names[0]].astype(np.float32)
    if dims is not None and dims < table.shape[1]:
        from sklearn.decomposition import PCA

        table = PCA(n_components=dims, random_state=0).fit_transform(table).astype(np.float32)
    tokenizer = Tokenizer.from_file(str(st_folder / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    model = StaticModel(
        vectors=table, tokenizer=tokenizer, normalize=True, base_model_name=str(st_folder.name)
    )
    out = Path(out_folder)
    model.save_pretrained(out)
    return out


@EMBEDDERS.register("model2vec")
def _from_config(cfg: EmbeddingConfig) -> Model2VecEmbedder:
    if not cfg.model:
        raise ConfigError(
            "the model2vec backend needs a model: a local folder saved by model2vec, or a hub "
            "id such as 'minishlab/potion-multilingual-128M' with embedding.allow_remote: true.",
            key="embedding.model",
        )
    return Model2VecEmbedder(
        cfg.model,
        allow_remote=cfg.allow_remote,
        normalize=cfg.normalize,
        max_seq_length=cfg.max_seq_length,
        prompt=cfg.prompt or "",
        batch_size=cfg.batch_size,
    )
