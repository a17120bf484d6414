"""Write a self-describing run folder, atomically.

Everything is written into a hidden ``.<name>.partial-*`` folder next to the destination and
renamed into place only when every file is there, so a failed run never leaves a folder that
looks complete; such folders left by a killed run are removed by the next write after an hour
(:func:`clean_stale`). A folder is replaced (``output.overwrite``) only when themekit wrote it:
it holds a ``manifest.json`` (run) or ``scores.json`` (evaluation) of themekit's own; names
that become paths are single folder names (:func:`safe_name`). Folders get the user's umask.

Files: ``config.yaml`` (resolved config), ``manifest.json`` (versions, seed, model, input
hashes, stage timings), ``segments.csv``, ``themes.json``, ``assignments.csv``, ``report.md``,
``report.html`` (when ``output.html``), ``scores.json`` (when the corpus has hand codes),
``embeddings_2d.csv`` (the map behind the report), optional ``assignments.parquet`` and
``project.qdpx``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from themekit.config import JobConfig, dump_config
from themekit.errors import InputError, UserError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from themekit.manifest import Manifest
    from themekit.result import RunResult

logger = logging.getLogger(__name__)

REQUIRED_FILES = (
    "config.yaml",
    "manifest.json",
    "segments.csv",
    "themes.json",
    "assignments.csv",
    "report.md",
)


#: The file that marks a folder as written by themekit, per kind of folder: only such a folder
#: is ever deleted or replaced.
MARKERS = {"run": "manifest.json", "evaluation": "scores.json"}

#: Name of the marker key every themekit-written marker file holds.
_MARKER_KEYS = {"run": "themekit_version", "evaluation": "hand_codes_file"}


def safe_name(name: str, *, what: str, key: str | None = None) -> str:
    """``name`` if it is one safe path component (no separators, not ``.``/``..``, not hidden,
    not absolute); otherwise a :class:`UserError` naming ``what`` (the option or config key)."""
    from themekit.errors import ConfigError

    bad = (
        not name
        or name.startswith(".")
        or "/" in name
        or "\\" in name
        or "\0" in name
        or Path(name).is_absolute()
        or Path(name).name != name
    )
    if bad:
        msg = (
            f"{what} must be a single folder name (letters, digits, . _ -; not starting with '.', "
            f"no '/' or '\\'); got {name!r}"
        )
        raise ConfigError(msg, key=key) if key else UserError(msg)
    return name


def written_by_themekit(folder: Path, kind: str = "run") -> bool:
    """True when ``folder`` is a real folder (not a link) holding the marker file themekit
    writes into a ``kind`` folder (a run's ``manifest.json``, an evaluation's ``scores.json``)."""
    if folder.is_symlink() or not folder.is_dir():
        return False
    marker = folder / MARKERS[kind]
    if not marker.is_file() or marker.stat().st_size > 10_000_000:
        return False
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(data, dict) and _MARKER_KEYS[kind] in data


def check_replaceable(final: Path, *, replace: bool, kind: str = "run", hint: str = "") -> None:
    """Raise a :class:`UserError` unless ``final`` is free, or ``replace`` is set and ``final``
    is a folder themekit wrote (see :func:`written_by_themekit`)."""
    if not (final.exists() or final.is_symlink()):
        if final.parent.exists() and not final.parent.is_dir():
            raise UserError(f"{final.parent} is a file, not a folder")
        return
    if not replace:
        raise UserError(f"{final} already exists{hint}")
    if not written_by_themekit(final, kind):
        raise UserError(
            f"{final} already exists and is not a {kind} folder themekit wrote (no "
            f"{MARKERS[kind]} of its own); themekit never deletes it. Choose another name."
        )


@contextmanager
def atomic_folder(final: Path, *, replace: bool = False, kind: str = "run") -> Iterator[Path]:
    """Yield a hidden temporary folder next to ``final``; rename it to ``final`` when the block
    succeeds, delete it when it fails. ``replace`` allows an existing ``final`` to be replaced,
    but only when it is a ``kind`` folder that themekit wrote (:func:`check_replaceable`)."""
    check_replaceable(final, replace=replace, kind=kind)
    clean_stale(final.parent)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-", dir=final.parent))
    except OSError as exc:
        raise UserError(f"cannot create a folder in {final.parent}: {exc.strerror}") from None
    _apply_umask(tmp)
    try:
        yield tmp
        if final.exists() or final.is_symlink():
            check_replaceable(final, replace=replace, kind=kind)  # may have appeared meanwhile
            old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old-", dir=final.parent))
            os.replace(final, old / final.name)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


#: A hidden ``.<name>.partial-*`` / ``.<name>.old-*`` folder older than this (seconds) is left
#: by a killed run (writing a run folder takes seconds) and is removed by the next write.
STALE_AFTER_S = 3600.0
_TEMP_NAME = re.compile(r"^\..+\.(?:partial|old)-[A-Za-z0-9_]{6,}$")


def clean_stale(folder: Path, *, older_than_s: float = STALE_AFTER_S) -> list[Path]:
    """Remove the temporary folders a killed run left in ``folder`` (hidden, named
    ``.<name>.partial-*`` or ``.<name>.old-*``, last changed over ``older_than_s`` ago); returns
    them. Nothing else is touched."""
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    now = time.time()
    for p in folder.iterdir():
        try:
            stale = (
                _TEMP_NAME.match(p.name) is not None
                and not p.is_symlink()
                and p.is_dir()
                and now - p.stat().st_mtime > older_than_s
            )
        except OSError:
            continue
        if stale:
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    if removed:
        logger.info(
            "removed %d folder(s) left by interrupted runs: %s",
            len(removed),
            ", ".join(p.name for p in removed),
        )
    return removed


def _apply_umask(folder: Path) -> None:
    """``mkdtemp`` creates 0700 folders; give the folder the mode the user's umask asks for."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(folder, 0o777 & ~mask)


def check_export_target(path: Path, *, suffix: str, option: str, force: bool) -> None:
    """Fail before any work unless ``path`` can receive an export: it ends in ``suffix``, its
    folder exists, and it is not an existing file (unless ``force``) or a folder."""
    if path.suffix.lower() != suffix:
        raise UserError(f"{option} needs a file name ending in {suffix}; got {str(path)!r}")
    if path.is_dir():
        raise UserError(f"{option} {path} is a folder; give a file name ending in {suffix}")
    if not path.parent.is_dir():
        raise UserError(f"{option} {path}: the folder {path.parent} does not exist")
    if (path.exists() or path.is_symlink()) and not force:
        raise UserError(f"{option} {path} already exists; pass --force to replace it")
    if not os.access(path.parent, os.W_OK):
        raise UserError(f"{option} {path}: the folder {path.parent} is not writable")


def write_json(path: Path, data: Any) -> None:
    path.write_text(
        json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8"
    )


class SavedRun:
    """A run folder read back (:func:`read_run`). Each file is read when first asked for:
    ``config`` (``config.yaml`` as the resolved :class:`JobConfig`), ``config_data`` (the same
    file as a plain mapping, or None), ``assignments`` (``assignments.csv``), ``segments``
    (``segments.csv``: every turn, moderator turns too, ids and names as text, character
    positions as ints or None), ``themes`` (``themes.json``'s list, [] without the file) and
    ``manifest`` (``manifest.json`` as a :class:`~themekit.manifest.Manifest`, None without
    the file). A missing or unreadable file raises
    :class:`~themekit.errors.InputError` naming it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _file(self, name: str) -> Path:
        path = self.path / name
        if not path.is_file():
            raise InputError(f"not a themekit run folder (no {name})", path=self.path)
        return path

    @cached_property
    def config_data(self) -> dict[str, Any] | None:
        from themekit.config.job import load_yaml
        from themekit.errors import ConfigError

        path = self.path / "config.yaml"
        if not path.is_file():
            return None
        try:
            data = load_yaml(path.read_text(encoding="utf-8"), source=path)
        except (ConfigError, UnicodeDecodeError) as exc:
            raise InputError(f"config.yaml is not readable YAML: {exc}", path=path) from None
        if not isinstance(data, dict):
            raise InputError("config.yaml is not a job config", path=path)
        return data

    @cached_property
    def config(self) -> JobConfig:
        from themekit.config import config_from_dict

        path = self._file("config.yaml")
        data = dict(self.config_data or {})
        return config_from_dict(data, base_dir=data.pop("base_dir", "."), source=path)

    @cached_property
    def assignments(self) -> pd.DataFrame:
        import pandas as pd

        return pd.read_csv(
            self._file("assignments.csv"), dtype={"segment_id": str}, keep_default_na=False
        )

    @cached_property
    def segments(self) -> pd.DataFrame:
        import pandas as pd

        positions = ("char_start", "char_end")
        df = pd.read_csv(
            self._file("segments.csv"),
            dtype={"id": str, "session": str, "speaker": str},
            keep_default_na=False,
            na_values={"char_start": [""], "char_end": [""], "start": [""], "end": [""]},
        )
        for col in positions:
            if col in df.columns:
                df[col] = df[col].astype("Int64").astype(object).where(df[col].notna(), None)
        for col in ("code", "secondary_code"):
            if col in df.columns:
                df[col] = df[col].replace("", None)
        return df

    @cached_property
    def themes(self) -> list[dict[str, Any]]:
        path = self.path / "themes.json"
        if not path.is_file():
            return []
        return list(_read_json(path).get("themes", []))

    @cached_property
    def manifest(self) -> Manifest | None:
        from themekit.manifest import Manifest

        path = self.path / "manifest.json"
        return Manifest.read(path) if path.is_file() else None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path.name} is not readable JSON: {exc}", path=path) from None
    if not isinstance(data, dict):
        raise InputError(f"{path.name} does not hold a JSON object", path=path)
    return data


def read_run(run_dir: str | Path, *, require: Sequence[str] = ("config.yaml",)) -> SavedRun:
    """A run folder for reading back; the files in ``require`` must be there (an
    :class:`~themekit.errors.InputError` names the first one missing)."""
    run = SavedRun(Path(run_dir))
    for name in require:
        run._file(name)
    return run


def load_run_config(run_dir: Path) -> JobConfig:
    """The resolved config a run folder recorded (``config.yaml``), with its original base folder."""
    return read_run(run_dir).config


def check_target(final: Path, overwrite: bool) -> None:
    """Fail (before any work) when the run folder ``final`` cannot be written."""
    check_replaceable(
        final,
        replace=overwrite,
        kind="run",
        hint="; choose another output.name or set output.overwrite: true",
    )


def check_output(root: Path, name: str | None, overwrite: bool) -> None:
    """Fail before any work when no run folder can be written into ``root`` (a file, not a
    folder; not writable) or when ``root/name`` is taken (:func:`check_target`)."""
    existing = root
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"the output folder {root} cannot be made: {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"the output folder {existing} is not writable (--out / output.dir)")
    if name:
        check_target(root / safe_name(name, what="output.name", key="output.name"), overwrite)


def run_name(result: RunResult) -> str:
    cfg = result.config
    if cfg.output.name:
        return safe_name(cfg.output.name, what="output.name", key="output.name")
    stem = "run"
    src = result.manifest.config_file
    if src:
        stem = Path(src).stem
    return f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"


def write_run(result: RunResult, out_dir: str | Path | None = None) -> Path:
    """Write the run folder and return its path."""
    from themekit.report import write_reports

    cfg = result.config
    root = Path(out_dir) if out_dir is not None else Path(cfg.output.dir)
    name = run_name(result)
    final = root / name
    check_target(final, cfg.output.overwrite)
    with atomic_folder(final, replace=cfg.output.overwrite) as tmp:
        (tmp / "config.yaml").write_text(dump_config(cfg), encoding="utf-8")
        result.manifest.write(tmp / "manifest.json")
        segments = result.full_corpus or result.corpus  # moderator turns too (is_context)
        segments.to_frame().drop(columns=["meta"]).to_csv(tmp / "segments.csv", index=False)
        assignments = result.assignments()
        assignments.to_csv(tmp / "assignments.csv", index=False)
        if cfg.output.parquet:
            assignments.to_parquet(tmp / "assignments.parquet", index=False)
        write_json(tmp / "themes.json", {"themes": [t.to_dict() for t in result.themes]})
        if result.scores is not None:
            write_json(tmp / "scores.json", result.scores.to_dict())
        write_reports(result, tmp)
        coder = getattr(result, "coder", None)
        if coder is not None:  # themekit.themes.finetune.Coder: safetensors, no pickle
            coder.save_into_run(tmp)
        if cfg.output.qdpx:
            from themekit.qda.export import export_qdpx

            export_qdpx(result, tmp / "project.qdpx")
    logger.info("run folder written: %s", final)
    return final
