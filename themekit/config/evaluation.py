"""``evaluation`` and ``output`` sections."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from themekit.config._base import Section

#: Defaults of ``evaluation``, also those of :func:`themekit.compare.compare`.
DEFAULT_BOOTSTRAP = 1000
DEFAULT_CONFIDENCE = 0.95
DEFAULT_RECOVERY_THRESHOLD = 0.5


class EvaluationConfig(Section):
    enabled: bool = Field(True, description="score against hand codes when the corpus has them")
    bootstrap: int = Field(
        DEFAULT_BOOTSTRAP, ge=0, le=100000, description="bootstrap resamples for 95% CIs"
    )
    confidence: float = Field(DEFAULT_CONFIDENCE, gt=0.5, lt=1.0)
    recovery_threshold: float = Field(
        DEFAULT_RECOVERY_THRESHOLD,
        gt=0.0,
        le=1.0,
        description="a theme is recovered when a candidate holds this share of it and is this share made of it",
    )
    unknown_codes: Literal["error", "ignore"] = Field(
        "error",
        description="hand codes that are not codebook ids: 'error' stops before any work and "
        "lists them; 'ignore' drops them (those segments are not scored) with a warning",
    )


class OutputConfig(Section):
    dir: str = Field(
        "runs", description="folder that receives run folders (relative to the working directory)"
    )
    name: str | None = Field(
        None,
        description="run folder name (letters, digits, . _ -; not starting with '.'); "
        "default '<config stem>-<timestamp>'",
    )
    html: bool = True
    qdpx: bool = False
    parquet: bool = False
    overwrite: bool = False

    @field_validator("name")
    @classmethod
    def _one_folder_name(cls, v: str | None) -> str | None:
        if v is not None and (not re.fullmatch(r"[\w\-][\w.\-]*", v)):
            raise ValueError(
                "must be a single folder name: letters, digits, . _ - and not starting with '.' "
                "(so not '.' or '..'), no '/'"
            )
        return v
