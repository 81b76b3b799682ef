"""Teams' proactive-message limits as sliding windows: per conversation and for the whole app."""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Protocol

Window = tuple[int, float]
"""At most ``count`` messages per ``seconds``."""

# Teams, per bot and conversation: 7 per second, 8 per 2 seconds, 60 per 30 seconds and 1,800 per
# hour; 50 requests per second for the app, booked per 1.02 s: Teams counts arrivals, and a send
# reaches it some milliseconds after its booking (bench/fanout.py measures the margin this keeps,
# and what a wider one costs: docs/benchmarks.md). Refused requests count too ("all requests are
# subject to the same rate limiting policy").
CONVERSATION_WINDOWS: tuple[Window, ...] = ((7, 1.0), (8, 2.0), (60, 30.0), (1800, 3600.0))
APP_WINDOWS: tuple[Window, ...] = ((50, 1.02),)
PRUNE_EVERY = 1024  # bookings between sweeps of idle conversations' history
# The longest a send waits for its turn, in all; a longer wait (a conversation's budget is spent)
# hands the message back to be tried again then. The outbox renews its claim (60 s) right before
# a send: this wait and the connector's 30 s timeout must fit in it.
MAX_WAIT_SECONDS = 20.0


MIN_IN_FLIGHT = 4
MAX_IN_FLIGHT = 32


def sends_in_flight(call_seconds: float) -> int:
    """How many sends must be under way at once to keep the app's rate busy when Teams takes
    ``call_seconds`` to answer a call: the rate times the call (Little's law), with half as many
    again for the calls that take longer; at least a few, never many. More than needed would
    only make the sends wait for their turn together, and late."""
    count, seconds = APP_WINDOWS[0]
    needed = math.ceil(count / seconds * call_seconds * 1.5)
    return min(MAX_IN_FLIGHT, max(MIN_IN_FLIGHT, needed))


class CannotBook(Exception):
    """No message may go now: ``retry_after`` is how many seconds until one may (None: the
    limiter itself failed, e.g. its database)."""

    def __init__(self, reason: str, retry_after: float | None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Booking:
    """The answer of a booking attempt: booked (``wait`` 0), or the seconds until one fits and
    whether the conversation's own windows are among those in the way."""

    wait: float
    conversation_bound: bool = False


BOOKED = Booking(0.0)


async def take_turn(
    book: Callable[[], Awaitable[Booking]],
    sleep: Callable[[float], Awaitable[None]],
    queue: asyncio.Lock,
) -> None:
    """Call ``book`` until it books, sleeping in between; raise :class:`CannotBook` rather than
    wait more than :data:`MAX_WAIT_SECONDS` in all.

    Sends take the app's free turns in the order they asked (``queue``, first come, first served):
    only the first in line watches the app's windows, the others wait their turn without asking.
    A send that waits for its conversation's own windows waits out of line, holding up nobody.
    """
    waited = 0.0
    while True:
        async with queue:
            while (booking := await book()).wait > 0 and not booking.conversation_bound:
                waited = await _pause(booking.wait, waited, sleep)
            if booking.wait <= 0:
                return
        waited = await _pause(booking.wait, waited, sleep)


async def _pause(wait: float, waited: float, sleep: Callable[[float], Awaitable[None]]) -> float:
    """Sleep ``wait`` seconds, unless that makes more than :data:`MAX_WAIT_SECONDS` in all."""
    if waited + wait > MAX_WAIT_SECONDS:
        raise CannotBook(f"Teams' limits let the next message go in {wait:.0f} s", wait)
    await sleep(wait)
    return waited + wait


class Limiter(Protocol):
    """Paces messages to Teams."""

    async def acquire(self, conversation: Hashable) -> None:
        """Return once a message to ``conversation`` is within every limit (and book it).

        Raises :class:`CannotBook` rather than wait longer than :data:`MAX_WAIT_SECONDS`.
        """
        ...


class RateLimiter:
    """Waits until one more message fits every window of its conversation and of the app.

    For one process (the SQLite store); replicas share theirs through PostgreSQL
    (:class:`bot.store.ratebook.SharedRateLimiter`). Single event loop: the check and the
    booking happen without an await in between; sends take the app's turns in order
    (:func:`take_turn`).
    """

    def __init__(
        self,
        conversation_windows: tuple[Window, ...] = CONVERSATION_WINDOWS,
        app_windows: tuple[Window, ...] = APP_WINDOWS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._conversation_windows = conversation_windows
        self._app_windows = app_windows
        self._clock = clock
        self._sleep = sleep
        self._app: deque[float] = deque()
        self._conversations: dict[Hashable, deque[float]] = {}
        self._bookings = 0
        self._queue = asyncio.Lock()

    async def acquire(self, conversation: Hashable) -> None:
        """Return once a message to ``conversation`` is within every limit (and book it), or
        raise :class:`CannotBook` if that is more than :data:`MAX_WAIT_SECONDS` away."""
        sent = self._conversations.setdefault(conversation, deque())

        async def book() -> Booking:
            now = self._clock()
            own = _wait(sent, self._conversation_windows, now)
            wait = max(_wait(self._app, self._app_windows, now), own)
            if wait > 0:
                return Booking(wait, conversation_bound=own > 0)
            self._app.append(now)
            sent.append(now)
            self._bookings += 1
            if self._bookings % PRUNE_EVERY == 0:
                self._forget_idle(now)
            return BOOKED

        await take_turn(book, self._sleep, self._queue)

    def _forget_idle(self, now: float) -> None:
        """Drop the history of conversations with nothing in their longest window."""
        longest = max(seconds for _, seconds in self._conversation_windows)
        for conversation in [
            c for c, sent in self._conversations.items() if not sent or now - sent[-1] >= longest
        ]:
            del self._conversations[conversation]


def _wait(sent: deque[float], windows: tuple[Window, ...], now: float) -> float:
    """Seconds until one more message fits all ``windows``, given the times in ``sent`` (oldest
    first; those beyond the longest window are dropped)."""
    longest = max(seconds for _, seconds in windows)
    while sent and now - sent[0] >= longest:
        sent.popleft()
    wait = 0.0
    for count, seconds in windows:
        in_window = [t for t in sent if now - t < seconds] if len(sent) >= count else []
        if len(in_window) >= count:
            wait = max(wait, in_window[-count] + seconds - now)
    return wait
