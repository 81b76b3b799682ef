"""When to try again: the server's Retry-After where it gives one, else exponential backoff with
jitter."""

from __future__ import annotations

import random

BASE_DELAY = 0.5
MAX_DELAY = 300.0
MAX_RETRY_AFTER = 3600.0


def backoff(attempts: int, retry_after: float | None) -> float:
    """Seconds until the next try: the server's Retry-After, else exponential with jitter."""
    if retry_after is not None:
        return min(retry_after, MAX_RETRY_AFTER)
    ceiling: float = min(MAX_DELAY, BASE_DELAY * 2.0**attempts)
    return ceiling * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not security
