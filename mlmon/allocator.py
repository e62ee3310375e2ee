"""Tune glibc's allocator for reading large logs; a no-op on other C libraries.

Reading a log file hands each decoding thread a fresh buffer of tens of MiB per
chunk. By default glibc serves buffers that size with a new ``mmap`` and returns
them on free, so every chunk pays a page fault per 4 KiB touched, and the
threads' own arenas multiply that. Keeping such buffers on the heap (and not
trimming it eagerly) lets the next chunk reuse the same pages.

Measured on a 1 GiB log with 1% bad lines (2 cores): page faults 1.1 M -> 0.75 M,
system time 4.2 s -> 3.0 s, wall time about 0.7 s less; peak memory unchanged.

Only the command-line entry point calls :func:`tune`: a library should not
change its host process's allocator. The environment variables glibc reads
(``MALLOC_MMAP_THRESHOLD_`` and the like) still win, as mallopt is skipped for
any the user set.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8

_SETTINGS = {
    "MALLOC_MMAP_THRESHOLD_": (_M_MMAP_THRESHOLD, 64 * 1024 * 1024),
    "MALLOC_TRIM_THRESHOLD_": (_M_TRIM_THRESHOLD, 256 * 1024 * 1024),
    "MALLOC_ARENA_MAX": (_M_ARENA_MAX, 2),
}


def tune() -> bool:
    """Apply the settings above if the C library is glibc; whether anything was set."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        libc.gnu_get_libc_version  # only glibc has this  # noqa: B018
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    done = False
    for env, (param, value) in _SETTINGS.items():
        if env not in os.environ:
            done = bool(mallopt(param, value)) or done
    return done
