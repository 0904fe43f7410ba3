"""Keep the tap's memory flat over a long sync.

The live Python heap of a sync stays the same size from the first page to the last (measured
with tracemalloc), but glibc's allocator fragments under a stream of large, short-lived response
bodies parsed on several threads, and the process's resident size creeps up with the number of
pages. Three allocator settings stop that:
- a fixed mmap threshold of 32 KiB: response bodies and their decoded text (tens of KiB to a
  few MiB each) are then mapped for their short life and unmapped when freed. By default glibc
  raises the threshold to the largest block freed so far, after which such blocks are carved from
  the heap and leave holes that smaller objects pin (measured: 14 MiB of free but unusable heap
  at the peak of a 20,000-conversation sync, against 2.5 MiB with the fixed threshold);
- fewer malloc arenas (one per thread by default);
- returning freed pages to the system now and then.
Elsewhere than glibc these do nothing.

The cyclic garbage collector is also told that the objects made at start-up (modules, schemas,
the catalog) live for the whole run, and to run less often: parsed pages create hundreds of
thousands of dicts and lists without a single reference cycle, and with the default settings
the collector kept re-scanning them (5 to 7% of the tap's CPU under perf).
"""
import ctypes
import ctypes.util
import gc
import sys
import time

M_MMAP_THRESHOLD = -3       # mallopt parameters, from glibc's malloc.h
M_ARENA_MAX = -8
MMAP_THRESHOLD_BYTES = 32 * 1024
ARENAS = 2
TRIM_EVERY_SECONDS = 0.5
# Allocations between young-generation collections (CPython's default is 700): a page of
# records is parsed between two collections, not one record; cycles are still found.
GC_YOUNG_THRESHOLD = 20_000


def _glibc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        return libc
    except (OSError, AttributeError):     # musl and others have no mallopt/malloc_trim
        return None


class Heap:
    def __init__(self):
        self.libc = _glibc()
        self.last_trim = time.monotonic()

    def prepare(self):
        """Call once, after start-up and before any worker thread starts."""
        if self.libc:
            self.libc.mallopt(M_ARENA_MAX, ARENAS)
            self.libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
        gc.collect()
        gc.freeze()
        _, older, oldest = gc.get_threshold()
        gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)

    def tidy(self):
        """Give freed memory back to the system, at most every TRIM_EVERY_SECONDS."""
        now = time.monotonic()
        if self.libc and now - self.last_trim >= TRIM_EVERY_SECONDS:
            self.libc.malloc_trim(0)
            self.last_trim = now


HEAP = Heap()
