"""Memory allocator setting for large runs: reuse freed arrays instead of faulting in new ones.

A month allocates dozens of temporary arrays, one element per borrower. glibc (the C
library of most Linux systems) serves blocks this large with fresh pages from the
system and returns them when freed, so every temporary is page-faulted in and zeroed by
the kernel again, month after month. At a million borrowers that is about a tenth of
the run time, at ten million about two fifths (``python -m benchmarks``).

:func:`reuse_freed_memory` raises glibc's thresholds so freed blocks stay in the
process and are reused. Peak memory does not grow (the same blocks are reused), but
memory freed after a run is kept by the process until it exits, so it is a setting of
the process: ``python -m experiments`` applies it in its run processes, and a
script or notebook can call it explicitly.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

# mallopt parameters (glibc malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: Blocks up to this size come from the reusable heap (1 GiB: any per-borrower array
#: up to 125 million float64 values).
MMAP_THRESHOLD = 1 << 30
#: Free memory kept at the top of the heap before returning it to the system (2 GiB - 1).
TRIM_THRESHOLD = (1 << 31) - 1


def reuse_freed_memory() -> bool:
    """Keep freed large blocks in this process for reuse (glibc on Linux; else nothing).

    Returns:
        True if the setting was applied, False on other platforms or C libraries.

    Example:
        >>> from model import reuse_freed_memory
        >>> reuse_freed_memory() in (True, False)
        True
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl has no mallopt)
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
