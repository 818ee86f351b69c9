"""The one way a process keeps what it read from the database: values per key, each kept for a few
seconds at most. Every process cache of xnatlite is one of these (the routing rules, project IDs,
receivers, the site script), so each is bounded in time and size, and `forget_all` empties every one.

A key names what the value depends on: an ID and its `updated_at`, or a version number, never an
object's `id()` (the address of an object that was freed is handed to the next one, and a cache keyed
on it answers with what the old object held).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_caches: weakref.WeakSet[TimedCache] = weakref.WeakSet()
clock = time.monotonic  # what every TimedCache measures ages with (tests move it on)


class TimedCache(Generic[K, V]):
    """`get(key)` answers `load(key)` as it was at most `seconds` ago (`max_age` asks for fresher);
    at most `max_entries` keys are kept (the oldest go first). Thread-safe: two threads may load the
    same key at once, and the later answer is kept."""

    def __init__(
        self, load: Callable[[K], V], *, seconds: float | Callable[[], float], max_entries: int = 256
    ):
        self._load = load
        self._seconds = seconds
        self._max_entries = max_entries
        self._values: dict[K, tuple[float, V]] = {}
        self._lock = threading.Lock()
        _caches.add(self)

    def _lifetime(self) -> float:
        return self._seconds() if callable(self._seconds) else self._seconds

    def get(self, key: K, *, max_age: float | None = None) -> V:
        now = clock()
        limit = self._lifetime() if max_age is None else min(max_age, self._lifetime())
        found = self._values.get(key)
        if found is not None and now - found[0] <= limit:
            return found[1]
        if self._load is None:
            raise KeyError(key)
        value = self._load(key)
        self.put(key, value)
        return value

    def peek(self, key: K) -> V | None:
        """The value kept for `key` if it is fresh enough, without loading it; None otherwise."""
        found = self._values.get(key)
        if found is not None and clock() - found[0] <= self._lifetime():
            return found[1]
        return None

    def put(self, key: K, value: V) -> None:
        """Keep `value` for `key` from now on (for caches whose values come from work done anyway)."""
        with self._lock:
            self._values.pop(key, None)
            while len(self._values) >= self._max_entries:
                self._values.pop(next(iter(self._values)))
            self._values[key] = (clock(), value)

    def discard(self, key: K) -> None:
        with self._lock:
            self._values.pop(key, None)

    def age(self, key: K) -> float | None:
        """Seconds since the value of `key` was loaded; None when none is kept."""
        found = self._values.get(key)
        return None if found is None else clock() - found[0]

    def forget(self, *_args: object, **_kwargs: object) -> None:
        """Drop every value (connected to model signals: a save in this process is seen at once)."""
        with self._lock:
            self._values.clear()


def forget_all() -> None:
    """Empty every TimedCache of this process (tests; an admin's change applied at once)."""
    for cache in list(_caches):
        cache.forget()
