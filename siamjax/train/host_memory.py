"""Returning freed host memory to the operating system between training phases.

XLA compiles and initialises through many small and medium allocations that glibc keeps
in its heaps after they are freed; the next step then fragments them further. Trimming
after model initialisation, after the state is built and after the step is compiled
lowers the process peak of the r50 step below pysot's (trimming after every step
changes nothing more); dropping JAX's tracing / lowering caches once the step is
compiled (the compiled executable is held by the caller) returns a little more. The
figures are in benchmarks/README.md (``train_step.py``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc

import jax


@functools.lru_cache(maxsize=1)
def _malloc_trim():
    """glibc's ``malloc_trim`` or None (macOS, musl: nothing to do)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None


def release_freed_memory() -> bool:
    """Hands memory that is already freed back to the OS; True if glibc did it."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


def release_after_compile(trim: bool = True) -> None:
    """After an ahead-of-time compile whose executable the caller keeps: drops JAX's
    caches of traced and lowered programs (anything jitted later recompiles once) and,
    with ``trim`` (the backend policy's ``trim_host_memory``), returns the freed memory."""
    jax.clear_caches()
    gc.collect()
    if trim:
        release_freed_memory()
