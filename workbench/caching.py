"""The two caches every reader shares, owned by the store (`Store.disk_cache`, `Store.cached_series`, ...):

- a disk cache (diskcache, size-capped, least recently used out) for what is expensive to
  recompute: per-input maps, input traces, shared PCA frames, oscillation analyses;
- `StampedMemo`, values kept in memory while the files they came from are unchanged (their
  modification times are the stamp): artifact series, histories, table rows, analysis status.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path
from typing import Callable, Hashable

import diskcache


class StampedMemo:
    """Values computed from files, kept in memory while those files are unchanged.

    `get(key, stamp, compute)` returns the value kept for `key` when it was computed at the same
    `stamp` (file times, e.g. `Store.variant_stamp`), else `compute()`, kept from then on. The
    least recently used of `maxsize` values are dropped. Values are shared between callers and
    threads: treat them as read-only."""

    def __init__(self, maxsize: int):
        self.maxsize, self._values, self._lock = maxsize, OrderedDict(), threading.Lock()

    def get(self, key: Hashable, stamp: Hashable, compute: Callable[[], object]):
        with self._lock:
            kept = self._values.get(key)
            if kept is not None and kept[0] == stamp:
                self._values.move_to_end(key)
                return kept[1]
        value = compute()  # outside the lock: slow computations of different keys run side by side
        with self._lock:
            self._values[key] = (stamp, value)
            self._values.move_to_end(key)
            while len(self._values) > self.maxsize:
                self._values.popitem(last=False)
        return value


def open_disk_cache(directory: Path, size_limit: int) -> diskcache.Cache:
    """The disk cache in `directory` (least recently used entries go past `size_limit` bytes),
    one object per directory and process (it holds an SQLite connection)."""
    return _disk_cache(str(directory), size_limit)


@lru_cache(maxsize=16)
def _disk_cache(directory: str, size_limit: int) -> diskcache.Cache:
    return diskcache.Cache(directory, size_limit=size_limit, eviction_policy="least-recently-used")


def file_time(path: Path) -> int | None:
    """The file's modification time (ns), None when it does not exist: a stamp for `StampedMemo`."""
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return None
