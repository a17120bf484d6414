from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """Base of every config section: unknown keys are rejected, values are re-validated on
    assignment, types are strict (`seed: true` or `n_themes: "5"` is an error, not 1 or 5)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False, strict=True)
