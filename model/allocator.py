"""Memory allocator setting for large runs: reuse freed arrays instead of faulting in new ones.

A month allocates dozens of temporary arrays, one element per borrower. glibc (the C
library of most Linux systems) serves blocks this large with fresh pages from the
system and returns them when freed, so every temporary is page-faulted in and zeroed by
the kernel again, month after month. At a million borrowers that is a few percent of
the run time, at ten million about half (``python -m benchmarks``).

:func:`reuse_freed_memory` raises glibc's thresholds so freed blocks stay in the
process and are reused; :func:`release_freed_memory` hands what is free back to the
system (after a run). Peak memory does not grow (the same blocks are reused), but it is
a setting of the process: ``python -m experiments`` applies it in the processes that
simulate and releases the memory after each run, and a script or notebook can do the
same.

glibc gives each thread other than the main one its own memory pool of at most 64 MiB,
whose large blocks always come fresh from the system. A process that simulates in
another thread (a Dask worker) needs ``MALLOC_ARENA_MAX=1`` in its environment, set
before it starts, to share the main pool (:data:`WORKER_ENVIRONMENT`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from functools import cache

# mallopt parameters (glibc malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: Blocks up to this size come from the reusable heap (1 GiB: any per-borrower array
#: up to 125 million float64 values).
MMAP_THRESHOLD = 1 << 30
#: Free memory kept at the top of the heap before returning it to the system (2 GiB - 1).
TRIM_THRESHOLD = (1 << 31) - 1
#: Environment for processes that simulate in a worker thread (Dask workers).
WORKER_ENVIRONMENT = {"MALLOC_ARENA_MAX": "1"}


@cache
def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt.argtypes, libc.mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
        libc.malloc_trim.argtypes, libc.malloc_trim.restype = (ctypes.c_size_t,), ctypes.c_int
    except (OSError, AttributeError):  # not glibc (e.g. musl has no mallopt)
        return None
    return libc


def reuse_freed_memory() -> bool:
    """Keep freed large blocks in this process for reuse (glibc on Linux; else nothing).

    Returns:
        True if the setting was applied, False on other platforms or C libraries.

    Example:
        >>> from model import reuse_freed_memory
        >>> reuse_freed_memory() in (True, False)
        True
    """
    libc = _glibc()
    if libc is None:
        return False
    mmap_set = bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    trim_set = bool(libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return mmap_set and trim_set


def release_freed_memory() -> bool:
    """Give the memory this process holds free back to the system (glibc ``malloc_trim``).

    Returns:
        True if memory was released, False if there was none or on other platforms.
    """
    libc = _glibc()
    return bool(libc.malloc_trim(0)) if libc is not None else False
