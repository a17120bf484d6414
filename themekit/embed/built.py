"""Model folders that themekit builds once into its cache and checks by sha256 on every load.

Used by the e5 rebuild (:mod:`themekit.embed.e5`) and its ONNX export
(:mod:`themekit.embed.e5_onnx`). A folder holds a JSON record naming a build version and the
sha256 of every file; :func:`verify_folder` says what is wrong with it, and :func:`build_once`
builds it under a temporary name and renames it into place while holding a file lock, so that
concurrent processes never see half a model and a corrupt file is rebuilt.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from themekit.manifest import sha256_file

logger = logging.getLogger(__name__)


def write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def file_hashes(folder: Path) -> dict[str, str]:
    """The sha256 of every file under ``folder``, by its relative POSIX path."""
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    return {name: sha256_file(folder / name) for name in files}


def verify_folder(folder: Path, record: str, version_field: str, version: int) -> str | None:
    """``None`` when ``folder/record`` has ``version_field == version`` and every file it lists
    has its recorded sha256; otherwise what is wrong (``"missing"`` when there is no record)."""
    try:
        data = json.loads((folder / record).read_text(encoding="utf-8"))
        files = data["files"]
    except FileNotFoundError:
        return "missing"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"unreadable {record} ({exc})"
    if data.get(version_field) != version:
        return f"built by {version_field.replace('_', ' ')} {data.get(version_field)}"
    for name, digest in files.items():
        p = folder / name
        if not p.is_file():
            return f"{name} is missing"
        if sha256_file(p) != digest:
            return f"{name} does not match its recorded sha256 (corrupt or changed)"
    return None


def build_once(
    folder: Path,
    verify: Callable[[Path], str | None],
    write: Callable[[Path], None],
    what: str,
    *,
    force: bool = False,
) -> Path:
    """``folder``, built by ``write(tmp_folder)`` when ``verify(folder)`` finds a problem.

    ``write`` must leave the record last, so that a half-written folder never verifies.
    """
    from filelock import FileLock

    if not force and verify(folder) is None:
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder.parent / f".{folder.name}.lock"), timeout=900):
        problem = "forced" if force else verify(folder)
        if problem is None:  # another process built it meanwhile
            return folder
        if problem != "missing":
            logger.warning("%s in %s: %s; rebuilding it", what, folder, problem)
        else:
            logger.info("building %s into %s", what, folder)
        tmp = folder.parent / f".tmp-{uuid.uuid4().hex}"
        try:
            write(tmp)
            if folder.exists():
                old = folder.parent / f".old-{uuid.uuid4().hex}"
                os.replace(folder, old)
                shutil.rmtree(old, ignore_errors=True)
            os.replace(tmp, folder)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return folder
