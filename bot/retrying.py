"""When to try again: the server's Retry-After where it gives one, else exponential backoff with
jitter."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

BASE_DELAY = 0.5
MAX_DELAY = 300.0
MAX_RETRY_AFTER = 3600.0


def retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())


def backoff(attempts: int, retry_after: float | None) -> float:
    """Seconds until the next try: the server's Retry-After, else exponential with jitter."""
    if retry_after is not None:
        return min(retry_after, MAX_RETRY_AFTER)
    ceiling: float = min(MAX_DELAY, BASE_DELAY * 2.0**attempts)
    return ceiling * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not security
