"""The loop the claim workers share (the outbox sender, the card sync, the reminders, the
deployment worker): claim what is due, handle it, wait for a wake-up or the idle poll, until
stopped.

Work handed over by whoever just claimed it (``dispatch``) runs at once, beside the loop; ``stop``
waits a grace period for both. What is cut off stays claimed until its lease runs out, and is then
taken again, by this process after a restart or by another replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Coroutine
from typing import Any

from bot.retrying import backoff

log = logging.getLogger(__name__)


class ClaimWorker(ABC):
    """Runs :meth:`work_once` until stopped; subclasses claim and handle their rows there."""

    def __init__(self, name: str, *, idle_poll: float) -> None:
        self._name = name
        self._idle_poll = idle_poll
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._running: asyncio.Task[object] | None = None
        self._dispatched: set[asyncio.Task[None]] = set()

    @abstractmethod
    async def work_once(self) -> int:
        """Claim the due rows and handle them; how many were claimed (0: idle)."""

    def wake(self) -> None:
        """Look for due rows now, not at the next idle poll."""
        self._wakeup.set()

    async def run(self) -> None:
        """Work until stopped; a failure is logged and tried again after a backoff."""
        self._running = asyncio.current_task()
        failures = 0
        while not self._stopping:
            self._wakeup.clear()
            try:
                busy = await self.work_once()
                failures = 0
            except Exception:
                failures += 1
                log.exception("the %s failed; trying again", self._name)
                busy = 0
                await asyncio.sleep(backoff(failures, None))
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), self._idle_poll)

    async def stop(self, grace: float) -> None:
        """End :meth:`run` and wait up to ``grace`` seconds for the work in hand."""
        self._stopping = True
        self._wakeup.set()
        pending = [*self._dispatched, *([self._running] if self._running else [])]
        if pending:
            await asyncio.wait(pending, timeout=grace)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` beside the loop (``stop`` waits for it too)."""
        task = asyncio.create_task(work)
        self._dispatched.add(task)
        task.add_done_callback(self._dispatched.discard)
