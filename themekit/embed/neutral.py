"""Language-neutral embeddings: remove each language's mean vector.

A multilingual model can retrieve translations perfectly and still cluster by language first
(FACTS: multilingual-e5-small put no Malay-English translation pair in the same k-means
cluster; after subtracting each language's mean, 86 %). Subtracting each language's mean
vector removes the shared "this is Malay" / "this is English" direction and keeps what the
segment is about.

Groups: every named language (``ms``, ``en``, or any other code) with at least ``min_group``
segments gets its own mean. ``mixed`` (code-switched) segments sit between the languages, so
they get the *centre*: the unweighted average of the named languages' means. ``unknown``
segments (too short to tell) also get the centre, as do named languages with fewer than
``min_group`` segments (their own mean would mostly be their content). With no named language
large enough, the centre is the overall mean. Rows are re-normalised to unit length.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from themekit.embed.base import ROW_CHUNK, row_norms
from themekit.errors import NotFittedError

#: Labels that name no single language.
NON_LANGUAGES = frozenset({"mixed", "unknown"})


class LanguageMeanRemover:
    """Fit per-language means on one set of vectors, subtract them from any (scikit-learn style)."""

    def __init__(self, min_group: int = 5, normalize: bool = True):
        self.min_group = min_group
        self.normalize = normalize

    def fit(self, X: np.ndarray, languages: Sequence[str]) -> LanguageMeanRemover:
        X = _check(X, languages)
        labels = np.asarray(list(languages), dtype=object)
        means: dict[str, np.ndarray] = {}
        for lang in sorted(set(labels.tolist()) - NON_LANGUAGES):
            mask = labels == lang
            if int(mask.sum()) >= self.min_group:  # no copy of the language's rows
                means[lang] = np.mean(X, axis=0, where=mask[:, None])
        if means:
            center = np.mean(np.stack(list(means.values())), axis=0)
        elif len(X):
            center = X.mean(axis=0)
        else:
            center = np.zeros(X.shape[1], dtype=np.float32)
        self.means_ = means
        self.center_ = center.astype(np.float32)
        return self

    def transform(
        self, X: np.ndarray, languages: Sequence[str], *, copy: bool = True
    ) -> np.ndarray:
        """``X`` less each row's language mean (the centre for the others), re-normalised.
        ``copy=False``: in place when ``X`` is a writable float32 array that the caller owns.
        Works ``ROW_CHUNK`` rows at a time: no temporary of the size of ``X``."""
        if not hasattr(self, "center_"):
            raise NotFittedError(
                "This LanguageMeanRemover instance is not fitted yet. Call 'fit' with the "
                "vectors and their language labels first."
            )
        X = _check(X, languages)
        out = X if not copy and X.flags.writeable else np.array(X, dtype=np.float32, copy=True)
        labels = np.asarray(list(languages), dtype=object)
        # each row's mean: row k of `subtract` (the centre last)
        subtract = np.vstack([*self.means_.values(), self.center_]).astype(np.float32)
        which = np.full(len(labels), len(self.means_), dtype=np.intp)
        for k, lang in enumerate(self.means_):
            which[labels == lang] = k
        for a in range(0, len(out), ROW_CHUNK):
            out[a : a + ROW_CHUNK] -= subtract[which[a : a + ROW_CHUNK]]
        if self.normalize:
            norms = row_norms(out)
            np.maximum(norms, 1e-12, out=norms)
            out /= norms
        return out

    def fit_transform(self, X: np.ndarray, languages: Sequence[str]) -> np.ndarray:
        return self.fit(X, languages).transform(X, languages)


def remove_language_means(
    X: np.ndarray, languages: Sequence[str], *, min_group: int = 5
) -> np.ndarray:
    """Subtract each language's mean vector from its rows and re-normalise (see module doc).

    ``ms``/``en`` (and any other named language with >= ``min_group`` rows) lose their own
    mean; ``mixed``, ``unknown`` and rare languages lose the centre between the languages.
    Returns a new float32 array; ``X`` is not modified.
    """
    return LanguageMeanRemover(min_group=min_group).fit_transform(X, languages)


def _check(X: np.ndarray, languages: Sequence[str]) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2:
        raise ValueError(f"expected a 2-d array of embeddings, got shape {X.shape}")
    if len(languages) != X.shape[0]:
        raise ValueError(f"{len(languages)} language labels for {X.shape[0]} embeddings")
    return X
