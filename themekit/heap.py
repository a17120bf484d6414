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
import os
import platform
import sys
from collections.abc import Callable
from pathlib import Path

logger = logging.getLogger(__name__)

_STATM = Path("/proc/self/statm")


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


def resident_bytes() -> int | None:
    """This process's resident memory now (Linux ``/proc``), or None where it cannot be read."""
    try:
        pages = int(_STATM.read_text(encoding="ascii").split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def release_freed_memory(after: str) -> int | None:
    """Collect garbage and give freed heap pages back to the system (``after``: the stage just
    ended, for the log). Returns the bytes of resident memory this gave back (None where there
    is no ``malloc_trim`` or no ``/proc``)."""
    gc.collect()
    trim = _malloc_trim()
    if trim is None:
        logger.debug("after %s: no glibc malloc_trim here, freed memory left to malloc", after)
        return None
    before = resident_bytes()
    trim(0)
    now = resident_bytes()
    if before is None or now is None:
        return None
    logger.debug(
        "after %s: malloc_trim(0) gave back %.1f MiB (resident %.1f MiB)",
        after,
        (before - now) / 2**20,
        now / 2**20,
    )
    return before - now
