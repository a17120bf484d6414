"""``tfidf``: character 2-4-gram TF-IDF reduced by truncated SVD; a fast baseline.

It is *fitted per corpus*: the vocabulary, idf weights and SVD basis come from the texts it
is fitted on, so the same sentence gets different vectors in different corpora. Its ``id``
therefore includes a hash of the fitted corpus, and the embedding cache stores vectors under
that id: a re-run over the same corpus hits the cache, any other corpus gets a new key.
:func:`themekit.embed.embed_texts` fits it on the whole list before encoding in batches.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from themekit.embed.base import EMBEDDERS, as_float32_matrix, l2_normalize, make_id, package_version
from themekit.errors import ConfigError, NotFittedError

if TYPE_CHECKING:  # pragma: no cover
    from themekit.config.embedding import EmbeddingConfig

logger = logging.getLogger(__name__)


def corpus_hash(texts: Sequence[str]) -> str:
    """sha256 over the ordered texts (length-prefixed, so boundaries are unambiguous)."""
    h = hashlib.sha256()
    for t in texts:
        b = t.encode("utf-8")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()[:16]


class TfidfEmbedder:
    """Char 2-4-gram TF-IDF + TruncatedSVD, fitted per corpus (scikit-learn conventions)."""

    model_id = "TF-IDF char 2-4-grams + truncated SVD (fitted per corpus)"
    requires_fit = True
    min_batch_size = 4096

    def __init__(
        self,
        n_components: int = 256,
        *,
        ngram_range: tuple[int, int] = (2, 4),
        min_df: int = 1,
        max_features: int | None = 200_000,
        normalize: bool = True,
        random_state: int = 0,
        batch_size: int = 4096,
    ):
        self.n_components = n_components
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.max_features = max_features
        self.normalize = normalize
        self.random_state = random_state
        self.batch_size = batch_size

    @property
    def id(self) -> str:
        if not hasattr(self, "corpus_hash_"):
            raise NotFittedError(
                "This TfidfEmbedder instance is not fitted yet. Call 'fit' with the corpus "
                "texts first (embed_texts does this); its id depends on the fitted corpus."
            )
        return make_id(
            "tfidf",
            analyzer="char_wb",
            ngram=f"{self.ngram_range[0]}-{self.ngram_range[1]}",
            min_df=self.min_df,
            max_features=self.max_features,
            n_components=self.n_components,
            normalize=self.normalize,
            random_state=self.random_state,
            corpus=self.corpus_hash_,
            sklearn=package_version("scikit-learn"),
        )

    def fit(self, texts: Sequence[str]) -> TfidfEmbedder:
        """Fit the vectoriser and the SVD on ``texts``; refitting on the same corpus is a no-op."""
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        h = corpus_hash(texts)
        if getattr(self, "corpus_hash_", None) == h:
            return self
        vec = TfidfVectorizer(
            analyzer="char_wb",
            ngram_range=self.ngram_range,
            min_df=self.min_df,
            max_features=self.max_features,
            sublinear_tf=True,
            dtype=np.float32,
        )
        M = vec.fit_transform(texts)
        k = max(1, min(self.n_components, M.shape[1] - 1, M.shape[0] - 1))
        svd: Any = TruncatedSVD(n_components=k, random_state=self.random_state)
        svd.fit(M)
        logger.info("tfidf fitted on %d texts: %d features -> %d dims", M.shape[0], M.shape[1], k)
        self.vectorizer_ = vec
        self.svd_ = svd
        self.corpus_hash_ = h
        return self

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not hasattr(self, "svd_"):
            raise NotFittedError(
                "This TfidfEmbedder instance is not fitted yet. Call 'fit' with the corpus "
                "texts before 'encode'."
            )
        if len(texts) == 0:
            return np.zeros((0, self.svd_.n_components), dtype=np.float32)
        X = as_float32_matrix(
            self.svd_.transform(self.vectorizer_.transform(list(texts))), len(texts)
        )
        return l2_normalize(X) if self.normalize else X


@EMBEDDERS.register("tfidf")
def _from_config(cfg: EmbeddingConfig) -> TfidfEmbedder:
    if cfg.model is not None:
        raise ConfigError(
            f"the tfidf backend has no model; leave embedding.model unset. Got {cfg.model!r} instead.",
            key="embedding.model",
        )
    if cfg.query_prompt is not None:
        raise ConfigError(
            "the tfidf backend has no prompts; leave embedding.query_prompt unset. "
            f"Got {cfg.query_prompt!r} instead.",
            key="embedding.query_prompt",
        )
    return TfidfEmbedder(
        n_components=cfg.tfidf_components, normalize=cfg.normalize, batch_size=cfg.batch_size
    )
