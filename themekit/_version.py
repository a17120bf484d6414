"""The package version, in a module of its own so that code recording it (the run manifest)
need not import the package's ``__init__``."""

from __future__ import annotations

__version__ = "0.1.0"
