"""Moved: the question context is one stage, :mod:`themekit.context`; the question directions
are :class:`themekit.themes.subspace.QuestionSubspace`. Kept so that older imports still work."""

from __future__ import annotations

from themekit.context import (
    DEFAULT_CONTEXT_WEIGHT,
    add_prompt_context,
    is_question,
    link_prompts,
    question_vectors,
)

__all__ = [
    "DEFAULT_CONTEXT_WEIGHT",
    "add_prompt_context",
    "is_question",
    "link_prompts",
    "question_vectors",
]
