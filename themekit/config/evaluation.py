"""``evaluation`` and ``output`` sections."""

from __future__ import annotations

from pydantic import Field

from themekit.config._base import Section


class EvaluationConfig(Section):
    enabled: bool = Field(True, description="score against hand codes when the corpus has them")
    bootstrap: int = Field(1000, ge=0, le=100000, description="bootstrap resamples for 95% CIs")
    confidence: float = Field(0.95, gt=0.5, lt=1.0)
    recovery_threshold: float = Field(
        0.5,
        gt=0.0,
        le=1.0,
        description="a theme is recovered when a candidate holds this share of it and is this share made of it",
    )


class OutputConfig(Section):
    dir: str = Field(
        "runs", description="folder that receives run folders (relative to the working directory)"
    )
    name: str | None = Field(
        None,
        pattern=r"^[\w.\-]+$",
        description="run folder name (letters, digits, . _ -); default '<config stem>-<timestamp>'",
    )
    html: bool = True
    qdpx: bool = False
    parquet: bool = False
    overwrite: bool = False
