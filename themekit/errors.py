"""The project's exceptions.

Everything a user can cause (a bad config, a missing or malformed input file) raises a
:class:`UserError`; the CLI turns it into a one-paragraph message and exit code 2. Anything
else is a bug or an environment problem and exits with code 1.
"""

from __future__ import annotations

from pathlib import Path


class ThemekitError(Exception):
    """Base class of every error raised on purpose by themekit."""


class UserError(ThemekitError):
    """A mistake the user can fix: bad config, missing or malformed input."""


class ConfigError(UserError):
    """The job config is invalid. ``key`` is the dotted path of the offending key."""

    def __init__(self, message: str, *, key: str | None = None, source: str | Path | None = None):
        self.key = key
        self.source = str(source) if source is not None else None
        where = f"{self.source}: " if self.source else ""
        what = f"[{key}] " if key else ""
        super().__init__(f"{where}{what}{message}")


class InputError(UserError):
    """An input file cannot be used. Names the file and, where it applies, the line or row."""

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        row: int | None = None,
    ):
        self.path = str(path) if path is not None else None
        self.line = line
        self.row = row
        where = ""
        if self.path:
            where = self.path
            if line is not None:
                where += f", line {line}"
            if row is not None:
                where += f", row {row}"
            where += ": "
        super().__init__(f"{where}{message}")


class RemoteAccessError(UserError):
    """A model or data set would have to be downloaded but remote access is switched off."""


def download_failed(model: str, exc: BaseException) -> RemoteAccessError:
    """The error for a model that could not be fetched from the hub (no network, unknown id)."""
    reason = " ".join(str(exc).split())[:300]
    return RemoteAccessError(
        f"could not fetch the model {model!r} from the Hugging Face hub "
        f"({type(exc).__name__}: {reason}). Check the network and the model id (embedding.model), "
        "or download the model once and set embedding.model to its local folder"
    )


class NotFittedError(ThemekitError, ValueError):
    """An estimator was used before ``fit``."""
