"""themekit: candidate themes from Malay, English and code-switched transcripts, checked
against hand coding.

Heavy libraries (torch, BERTopic, embedding models) are imported on first use, not here.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from themekit._version import __version__

logging.getLogger(__name__).addHandler(logging.NullHandler())

if TYPE_CHECKING:  # pragma: no cover
    from themekit.config import JobConfig, load_config
    from themekit.corpus import Corpus, Segment
    from themekit.pipeline import run
    from themekit.result import RunResult

__all__ = ["Corpus", "JobConfig", "RunResult", "Segment", "__version__", "load_config", "run"]

_LAZY = {
    "JobConfig": "themekit.config",
    "load_config": "themekit.config",
    "Corpus": "themekit.corpus",
    "Segment": "themekit.corpus",
    "RunResult": "themekit.result",
    "run": "themekit.pipeline",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'themekit' has no attribute {name!r}")
