"""The embedding cache: keys, corruption, resume, concurrent writers, show/clear."""

from __future__ import annotations

import logging
import multiprocessing as mp
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from themekit.config import EmbeddingConfig
from themekit.embed import (
    Embedder,
    EmbeddingCache,
    build_embedder,
    cache_info,
    clear_cache,
    default_cache_dir,
    embed_texts,
    embedder_key,
)
from themekit.embed.cache import text_hash

TEXTS = [f"{w} {i}" for i, w in enumerate(
    ["sokongan", "keluarga", "kerja", "harapan", "support", "family", "work", "hope"] * 5
)]  # fmt: skip


class Counting:
    """Wraps a real embedder and counts the texts it is asked to encode (vectors stay real)."""

    def __init__(self, inner: Embedder, fail_after_calls: int | None = None):
        self.inner = inner
        self.id = inner.id
        self.model_id = inner.model_id
        self.batch_size = 1
        self.calls = 0
        self.texts = 0
        self.fail_after_calls = fail_after_calls

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if self.fail_after_calls is not None and self.calls >= self.fail_after_calls:
            raise KeyboardInterrupt("simulated crash")
        self.calls += 1
        self.texts += len(texts)
        return self.inner.encode(texts)


@pytest.fixture(scope="module")
def e5() -> Embedder:
    return build_embedder(EmbeddingConfig())


@pytest.fixture(scope="module")
def reference(e5: Embedder) -> np.ndarray:
    return e5.encode(TEXTS)


def test_default_cache_dir_follows_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("THEMEKIT_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path / "embeddings"
    monkeypatch.delenv("THEMEKIT_CACHE")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert default_cache_dir() == Path.home() / ".cache" / "themekit" / "embeddings"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "themekit" / "embeddings"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/dir")  # invalid per the spec: ignored
    assert default_cache_dir() == Path.home() / ".cache" / "themekit" / "embeddings"
    monkeypatch.setenv("THEMEKIT_CACHE", str(tmp_path))  # THEMEKIT_CACHE comes first
    assert default_cache_dir() == tmp_path / "embeddings"


def test_cached_rerun_embeds_nothing_and_returns_the_same_vectors(
    e5: Embedder, reference: np.ndarray, tmp_path: Path
) -> None:
    first = Counting(e5)
    X = embed_texts(TEXTS, first, cache_dir=tmp_path, batch_size=8)
    assert first.texts == len(TEXTS)
    np.testing.assert_allclose(X, reference, atol=1e-6)
    again = Counting(e5)
    Y = embed_texts(TEXTS, again, cache_dir=tmp_path, batch_size=8)
    assert again.texts == 0
    np.testing.assert_array_equal(X, Y)


def test_a_different_option_is_a_different_key(e5: Embedder, tmp_path: Path) -> None:
    embed_texts(TEXTS[:6], e5, cache_dir=tmp_path)
    query = Counting(build_embedder(EmbeddingConfig(prompt="query: ")))
    Xq = embed_texts(TEXTS[:6], query, cache_dir=tmp_path)
    assert query.texts == 6  # nothing served from the passage-prompt entries
    assert not np.allclose(Xq, e5.encode(TEXTS[:6]), atol=1e-3)
    assert len(cache_info(tmp_path)["embedders"]) == 2


def test_resume_embeds_only_what_is_missing(
    e5: Embedder, reference: np.ndarray, tmp_path: Path
) -> None:
    prefix = Counting(e5)
    embed_texts(TEXTS[:15], prefix, cache_dir=tmp_path, batch_size=4)
    assert prefix.texts == 15
    whole = Counting(e5)
    X = embed_texts(TEXTS, whole, cache_dir=tmp_path, batch_size=4)
    assert whole.texts == len(TEXTS) - 15
    np.testing.assert_allclose(X, reference, atol=1e-6)


def test_a_crashed_job_keeps_its_finished_batches(
    e5: Embedder, reference: np.ndarray, tmp_path: Path
) -> None:
    crashing = Counting(e5, fail_after_calls=3)
    with pytest.raises(KeyboardInterrupt):
        embed_texts(TEXTS, crashing, cache_dir=tmp_path, batch_size=5)
    assert crashing.texts == 15
    resumed = Counting(e5)
    X = embed_texts(TEXTS, resumed, cache_dir=tmp_path, batch_size=5)
    assert resumed.texts == len(TEXTS) - 15
    np.testing.assert_allclose(X, reference, atol=1e-6)


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_a_corrupt_shard_is_caught_and_re_embedded(
    damage: str,
    e5: Embedder,
    reference: np.ndarray,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # calls of 10 texts, one shard each (the e5 backend itself asks for CALL_TEXTS a call)
    embed_texts(TEXTS, Counting(e5), cache_dir=tmp_path, batch_size=10)
    shards = EmbeddingCache(tmp_path, e5.id).shards()
    assert len(shards) == 4
    data = shards[1].path.read_bytes()
    if damage == "truncate":
        shards[1].path.write_bytes(data[: len(data) // 2])
    else:
        pos = len(data) // 2
        shards[1].path.write_bytes(data[:pos] + bytes([data[pos] ^ 0xFF]) + data[pos + 1 :])
    counting = Counting(e5)
    with caplog.at_level(logging.WARNING, logger="themekit.embed.cache"):
        X = embed_texts(TEXTS, counting, cache_dir=tmp_path, batch_size=10)
    assert counting.texts == shards[1].rows == 10
    assert "corrupt" in caplog.text and shards[1].path.name in caplog.text
    np.testing.assert_allclose(X, reference, atol=1e-6)
    # the re-embedded vectors were stored again: a third run embeds nothing and warns nothing
    caplog.clear()
    third = Counting(e5)
    with caplog.at_level(logging.WARNING, logger="themekit.embed.cache"):
        np.testing.assert_allclose(
            embed_texts(TEXTS, third, cache_dir=tmp_path), reference, atol=1e-6
        )
    assert third.texts == 0 and "corrupt" not in caplog.text


def test_vectors_are_never_served_to_another_embedder(e5: Embedder, tmp_path: Path) -> None:
    embed_texts(TEXTS[:4], e5, cache_dir=tmp_path)
    cache = EmbeddingCache(tmp_path, e5.id)
    # a shard copied under another embedder's folder is rejected (its stored id differs)
    other = EmbeddingCache(tmp_path, "usem3:other")
    other.put([text_hash("x")], np.ones((1, 384), np.float32))
    for s in cache.shards():
        (other.dir / s.path.name).write_bytes(s.path.read_bytes())
    got = list(other.iter_shards())
    assert len(got) == 1 and got[0][0].tolist() == [text_hash("x")]


def _writer(cache_dir: str, worker: int, n: int) -> None:
    rng = np.random.default_rng(worker)
    cache = EmbeddingCache(Path(cache_dir), "test:concurrent")
    for start in range(0, n, 5):
        ids = [(start + k) % n for k in range(5)]
        hashes = [text_hash(f"text {i}") for i in ids]
        # each text's vector is a function of the text, whichever process writes it
        vecs = np.stack([np.full(8, i, np.float32) for i in ids])
        cache.put(hashes, vecs)
        if rng.random() < 0.3:
            cache.compact(min_shards=3, target_rows=40)


def test_concurrent_writers_do_not_corrupt_the_cache(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), w, 200)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    cache = EmbeddingCache(tmp_path, "test:concurrent")
    seen: dict[bytes, np.ndarray] = {}
    with caplog.at_level(logging.WARNING):
        for hashes, vecs in cache.iter_shards():
            for h, v in zip(hashes.tolist(), vecs, strict=True):
                seen[h] = v
    assert "corrupt" not in caplog.text
    assert len(seen) == 200
    for i in range(200):
        assert (seen[text_hash(f"text {i}")] == i).all()
    assert not list(cache.dir.glob(".tmp-*"))


def test_compaction_merges_small_shards_without_losing_vectors(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path, "test:compact")
    for i in range(40):
        cache.put([text_hash(f"t{i}")], np.full((1, 4), i, np.float32))
    assert cache.compact(min_shards=32, target_rows=16) == 40
    shards = cache.shards()
    assert [s.rows for s in shards] and sum(s.rows for s in shards) == 40 and len(shards) == 3
    got = {h: v[0] for H, V in cache.iter_shards() for h, v in zip(H.tolist(), V, strict=True)}
    assert all(got[text_hash(f"t{i}")] == i for i in range(40))


def test_show_and_clear(e5: Embedder, tmp_path: Path) -> None:
    embed_texts(TEXTS[:10], e5, cache_dir=tmp_path)
    tfidf = build_embedder(EmbeddingConfig(backend="tfidf", tfidf_components=4))
    embed_texts(TEXTS[:7], tfidf, cache_dir=tmp_path)
    info = cache_info(tmp_path)
    assert info["vectors"] == 17 and info["bytes"] > 0
    by_id = {e["id"]: e for e in info["embedders"]}
    assert by_id[e5.id]["vectors"] == 10 and by_id[e5.id]["dim"] == 384
    assert by_id[e5.id]["model_id"] == e5.model_id
    assert clear_cache(tmp_path, e5.id) == 10
    assert [e["id"] for e in cache_info(tmp_path)["embedders"]] == [tfidf.id]
    assert clear_cache(tmp_path, embedder_key(tfidf.id)) == 7
    assert cache_info(tmp_path)["embedders"] == []
    embed_texts(TEXTS[:3], e5, cache_dir=tmp_path)
    (tmp_path / "unrelated.txt").write_text("keep me")
    assert clear_cache(tmp_path) == 3
    assert (tmp_path / "unrelated.txt").exists()
