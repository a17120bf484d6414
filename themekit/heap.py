"""Freed memory handed back to the operating system between a run's stages (issue 15).

glibc's ``malloc`` keeps memory that was freed: the top of each heap above ``M_TRIM_THRESHOLD``
is returned, but free pages in the middle of a heap, and the heaps (arenas) of other threads
such as PyTorch's and numba's workers, stay resident until ``malloc_trim`` is called. Blocks
that ``malloc`` served from ``mmap`` are unmapped when freed, but glibc raises its ``mmap``
threshold each time one is (up to 32 MiB), so after the encoder's activations most arrays of a
run come from the heaps and stay there once freed. :func:`release_freed_memory` runs Python's
collector and ``malloc_trim(0)``; it frees nothing that is still referenced, so no result can
change. On other C libraries and systems it only collects.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import logging
import platform
import sys
from collections.abc import Callable

logger = logging.getLogger(__name__)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim`` in this process, or None where there is none."""
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return None
    try:
        fn = ctypes.CDLL(None).malloc_trim  # the C library this process already has loaded
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_size_t]
    fn.restype = ctypes.c_int
    return fn


def release_freed_memory(after: str) -> bool:
    """Collect garbage and give freed heap pages back to the system (``after``: the stage just
    ended, for the log). True when ``malloc_trim`` returned memory."""
    gc.collect()
    trim = _malloc_trim()
    if trim is None:
        logger.debug(
            "after %s: no glibc malloc_trim here, freed memory left to the allocator", after
        )
        return False
    released = bool(trim(0))
    logger.debug("after %s: malloc_trim(0) %s", after, "released memory" if released else "no-op")
    return released
