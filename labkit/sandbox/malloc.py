"""Keep a kernel's memory flat while sandboxes hash passwords.

argon2id allocates 19 MiB per hash, in the server's worker threads. glibc raises its mmap
threshold after such a block is freed, so later ones come from per-thread arenas that keep
the memory: a notebook that runs a few fix checks grew by 100 MB or more (BENCHMARKS.md).
A fixed threshold makes every large block an ``mmap`` that ``free`` returns to the OS.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

__all__ = ["return_large_blocks_to_os"]

_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
LARGE_BLOCK_BYTES = 1024 * 1024


def return_large_blocks_to_os(threshold: int = LARGE_BLOCK_BYTES) -> bool:
    """Ask glibc to serve blocks of ``threshold`` bytes or more with mmap; True if applied."""
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, threshold))
