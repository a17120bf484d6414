"""Candidate themes: BERTopic on language-neutralised embeddings, sized for one focus group or
for thousands of sessions (see :mod:`themekit.themes.finder`)."""

from __future__ import annotations

from themekit.themes.finder import ThemeFinder

__all__ = ["ThemeFinder"]
