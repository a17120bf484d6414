"""``execution`` section: where the job runs (this machine, or a Ray cluster)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from themekit.config._base import Section

#: ``ray://host:port`` (Ray Client) or ``host:port`` (the head node's GCS address).
_ADDRESS_RE = re.compile(r"^(ray://)?[A-Za-z0-9_.\-\[\]:]+:\d{1,5}$")


class ExecutionConfig(Section):
    """``engine: local`` (the default) runs everything in this process and needs no Ray.
    ``engine: ray`` embeds on a Ray cluster (an actor pool of embedders, one model load each,
    writing embedding cache shards) and, for corpora larger than ``sample_size``, fits the
    themes on a stratified sample and assigns the rest on the cluster."""

    engine: Literal["local", "ray"] = "local"
    address: str = Field(
        "auto",
        description=(
            "ray engine: 'auto' (RAY_ADDRESS or a cluster started on this machine with "
            "`ray start --head`, else a new local Ray), 'local' (always a new local Ray), "
            "'ray://host:port' (Ray Client) or 'host:port' (the head node's address)"
        ),
    )
    num_workers: int = Field(2, ge=1, le=10000, description="embedding actors (one model each)")
    gpus_per_worker: float | Literal["auto"] = Field(
        "auto",
        description="GPUs per embedding actor; 'auto': 1 when the cluster has GPUs, else 0 (CPU)",
    )
    cpus_per_worker: float = Field(1.0, gt=0, le=256)
    sample_size: int = Field(
        20000,
        ge=100,
        description=(
            "ray engine: the themes are fitted on a sample of this many segments, stratified by "
            "session and language, and the rest are assigned on the cluster (a corpus no larger "
            "than this is fitted whole, exactly as by the local engine)"
        ),
    )
    shard_rows: int = Field(
        1024, ge=1, le=1_000_000, description="texts per embedding batch and cache shard"
    )
    shared_cache: bool = Field(
        True,
        description=(
            "the embedding cache folder is on a filesystem every worker sees (one machine, NFS, "
            "a mounted bucket): workers write their shards there as each batch finishes. false: "
            "vectors stream back to the driver, which writes the shards"
        ),
    )
    max_retries: int = Field(
        3, ge=0, le=100, description="restarts of a failed worker (and retries of its batch)"
    )
    connect_timeout_s: float = Field(
        15.0, gt=0, le=600, description="how long to try to reach a remote cluster address"
    )

    @field_validator("address")
    @classmethod
    def _valid_address(cls, value: str) -> str:
        value = value.strip()
        if value in ("auto", "local") or _ADDRESS_RE.match(value):
            return value
        raise ValueError("must be 'auto', 'local', 'ray://host:port' or 'host:port'")

    @field_validator("gpus_per_worker")
    @classmethod
    def _non_negative(cls, value: float | str) -> float | str:
        if isinstance(value, float | int) and not 0 <= value <= 64:
            raise ValueError("must be 'auto' or a number of GPUs between 0 and 64")
        return value
