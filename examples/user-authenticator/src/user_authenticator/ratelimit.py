"""Sliding-window limiter for login attempts, keyed by (username, client IP).

The window lives in process memory: with several gunicorn workers each keeps its own, so the
effective limit is workers x the configured one (the default image runs one worker, many threads).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable


class SlidingWindowLimiter:
    def __init__(
        self,
        max_attempts: int,
        window_seconds: float,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max = max_attempts
        self._window = window_seconds
        self._max_keys = max_keys  # bounds memory when someone sprays usernames
        self._clock = clock
        self._hits: OrderedDict[tuple[str, str], deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def hit(self, key: tuple[str, str]) -> float:
        """Record an attempt. Returns 0 when allowed, else the seconds until one is allowed.

        The attempt is counted before the password is checked, so parallel guesses cannot all
        slip in ahead of the first failure being recorded.
        """
        now = self._clock()
        with self._lock:
            hits = self._hits.get(key)
            if hits is None:
                hits = deque()
                self._hits[key] = hits
                self._evict_if_full()
            else:
                self._hits.move_to_end(key)
            while hits and hits[0] <= now - self._window:
                hits.popleft()
            if len(hits) >= self._max:
                return max(hits[0] + self._window - now, 0.001)
            hits.append(now)
            return 0.0

    def reset(self, key: tuple[str, str]) -> None:
        """Forget a key's attempts: a successful login should not count against the user."""
        with self._lock:
            self._hits.pop(key, None)

    def _evict_if_full(self) -> None:
        while len(self._hits) > self._max_keys:
            self._hits.popitem(last=False)


def retry_after_header(seconds: float) -> str:
    """Retry-After takes whole seconds; round up so a client that obeys it is let in."""
    return str(max(1, math.ceil(seconds)))
