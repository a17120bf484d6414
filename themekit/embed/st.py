"""``sentence-transformers``: any Hugging Face model id or local folder.

Remote access is explicit: with ``embedding.allow_remote: false`` (the default) a model that is
neither a local folder nor already in the local Hugging Face cache raises
:class:`~themekit.errors.RemoteAccessError` when the embedder is built, before any network
call, and the model is loaded with ``local_files_only=True``.

Prompts: ``embedding.prompt`` wins when set (``""`` means none). Otherwise multilingual-e5 /
e5 models get ``"passage: "`` and other models use their own ``document``/``passage`` prompt
from ``config_sentence_transformers.json`` when they have one.

Device ``auto`` picks CUDA, then Apple MPS, then CPU; on a GPU the model runs in fp16 when
``embedding.fp16`` is true. The dtype is part of the embedder's id (fp16 vectors differ from
fp32 ones in the third decimal), the device is not.
"""

from __future__ import annotations

import json
import logging
import re
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
    resolve_device,
    resolve_model_source,
)
from themekit.errors import ConfigError, download_failed

if TYPE_CHECKING:  # pragma: no cover
    from themekit.config.embedding import EmbeddingConfig

logger = logging.getLogger(__name__)

_E5 = re.compile(r"(^|[/_-])(multilingual-)?e5-", re.IGNORECASE)


def default_prompt(model: str, folder: Path | None) -> str:
    """The document prompt a model expects: e5 -> ``passage: ``, else its own, else ``""``."""
    if _E5.search(model) or (folder is not None and _E5.search(folder.name)):
        return "passage: "
    if folder is not None:
        cfg_file = folder / "config_sentence_transformers.json"
        if cfg_file.is_file():
            try:
                prompts = json.loads(cfg_file.read_text(encoding="utf-8")).get("prompts") or {}
            except (OSError, ValueError):
                prompts = {}
            for name in ("document", "passage"):
                if prompts.get(name):
                    return str(prompts[name])
    return ""


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded on first ``encode``."""

    def __init__(
        self,
        model: str,
        *,
        revision: str | None = None,
        allow_remote: bool = False,
        device: str = "auto",
        fp16: bool = True,
        normalize: bool = True,
        max_seq_length: int | None = None,
        prompt: str | None = None,
        batch_size: int = 64,
    ):
        self.model = model
        self.revision = revision
        self.allow_remote = allow_remote
        self.device = device
        self.fp16 = fp16
        self.normalize = normalize
        self.max_seq_length = max_seq_length
        self.prompt = prompt
        self.batch_size = batch_size
        # Fail fast (no network): a hub id with remote access off raises RemoteAccessError here.
        self.folder_, self.hub_id_ = resolve_model_source(
            model, allow_remote=allow_remote, backend="sentence-transformers", revision=revision
        )
        self._model: Any = None
        self._device: str | None = None
        self._id: str | None = None

    # -- identity ----------------------------------------------------------------------
    @property
    def model_id(self) -> str:
        return self.hub_id_ or str(self.folder_)

    @property
    def effective_prompt(self) -> str:
        if self.prompt is not None:
            return self.prompt
        return default_prompt(self.model, self._local_folder())

    @property
    def resolved_device(self) -> str:
        if self._device is None:
            self._device = resolve_device(self.device)
        return self._device

    @property
    def dtype(self) -> str:
        return "fp16" if self.fp16 and self.resolved_device != "cpu" else "fp32"

    def _local_folder(self) -> Path | None:
        if self.folder_ is not None:
            return self.folder_
        return hub_cached_folder(self.hub_id_, self.revision)

    @property
    def id(self) -> str:
        if self._id is None:
            folder = self._local_folder()
            if folder is None:  # hub model not downloaded yet: download it to learn its commit
                self._load()
                folder = self._local_folder()
            source: dict[str, Any] = {}
            if self.hub_id_:
                source["hub"] = self.hub_id_
                source["commit"] = folder.name if folder is not None else self.revision
            else:
                source["folder"] = folder.name if folder is not None else self.model
            source["fingerprint"] = folder_fingerprint(folder) if folder is not None else None
            self._id = make_id(
                "sentence-transformers",
                **source,
                prompt=self.effective_prompt,
                normalize=self.normalize,
                max_seq_length=self.max_seq_length,
                dtype=self.dtype,
                st_version=package_version("sentence-transformers"),
            )
        return self._id

    # -- model -------------------------------------------------------------------------
    def _load(self) -> Any:
        if self._model is not None:
            return self._model
        from sentence_transformers import SentenceTransformer

        device = self.resolved_device
        kwargs: dict[str, Any] = {}
        if self.dtype == "fp16":
            import torch

            kwargs["model_kwargs"] = {"torch_dtype": torch.float16}
        source = str(self.folder_) if self.folder_ is not None else self.hub_id_
        logger.info("loading sentence-transformers model %s on %s (%s)", source, device, self.dtype)
        try:
            model = SentenceTransformer(
                source,
                device=device,
                revision=self.revision if self.hub_id_ else None,
                local_files_only=not self.allow_remote,
                **kwargs,
            )
        except OSError as exc:  # no network, unknown repo, refused
            if not self.hub_id_:
                raise
            raise download_failed(self.hub_id_, exc) from None
        if self.max_seq_length is not None:
            model.max_seq_length = self.max_seq_length
        self._model = model
        return model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        model = self._load()
        prompt = self.effective_prompt
        out = model.encode(
            list(texts),
            prompt=prompt or None,
            batch_size=self.batch_size,
            normalize_embeddings=self.normalize,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        if len(texts) == 0:
            getter = (
                getattr(model, "get_embedding_dimension", None)
                or model.get_sentence_embedding_dimension
            )
            dim = getter() or 0
            return np.zeros((0, dim), dtype=np.float32)
        return as_float32_matrix(out, len(texts))


@EMBEDDERS.register("sentence-transformers")
def _from_config(cfg: EmbeddingConfig) -> SentenceTransformerEmbedder:
    if not cfg.model:
        raise ConfigError(
            "the sentence-transformers backend needs a model: a Hugging Face id such as "
            "'intfloat/multilingual-e5-small' or a local folder.",
            key="embedding.model",
        )
    if cfg.device != "auto":
        resolve_device(cfg.device)  # validates the name; imports nothing
    return SentenceTransformerEmbedder(
        cfg.model,
        revision=cfg.revision,
        allow_remote=cfg.allow_remote,
        device=cfg.device,
        fp16=cfg.fp16,
        normalize=cfg.normalize,
        max_seq_length=cfg.max_seq_length,
        prompt=cfg.prompt,
        batch_size=cfg.batch_size,
    )
