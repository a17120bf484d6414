"""Progress reporting without printing: library stages call a callback the caller supplies.

The CLI passes a callback that drives a rich progress bar; a notebook may pass ``None``
(nothing is shown) or its own function.
"""

from __future__ import annotations

from typing import Protocol


class ProgressCallback(Protocol):
    def __call__(self, stage: str, done: int, total: int) -> None:  # pragma: no cover
        """``done`` of ``total`` items of ``stage`` are finished."""
