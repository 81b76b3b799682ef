"""Calls into a synchronous SDK on daemon threads.

A call stuck on a slow or vanished server (azure-core retries for a minute) must hold neither the
event loop's shutdown nor the process's exit: the threads of ``asyncio.to_thread`` and of a
``ThreadPoolExecutor`` are joined at both, these are not. A caller that gives up leaves its call
to finish on its own; its slot stays taken until then, so a slow server never gets more than
``limit`` calls at once from here.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class DaemonThreads:
    """Runs blocking calls, at most ``limit`` at a time, each on its own daemon thread."""

    def __init__(self, name: str, limit: int) -> None:
        self._name = name
        self._slots = threading.BoundedSemaphore(limit)

    async def run(self, call: Callable[[], T]) -> T:
        """The result of ``call()`` run on a daemon thread (with the caller's context variables:
        the correlation id of the logs follows)."""
        loop = asyncio.get_running_loop()
        outcome: asyncio.Future[T] = loop.create_future()
        context = contextvars.copy_context()
        threading.Thread(
            target=self._work,
            args=(lambda: context.run(call), loop, outcome),
            name=self._name,
            daemon=True,
        ).start()
        return await outcome

    def _work(
        self, call: Callable[[], T], loop: asyncio.AbstractEventLoop, outcome: asyncio.Future[T]
    ) -> None:
        with self._slots:
            try:
                result = call()
            except BaseException as error:  # handed to the caller, who waits for it
                _hand_over(loop, outcome, functools.partial(outcome.set_exception, error))
            else:
                _hand_over(loop, outcome, functools.partial(outcome.set_result, result))


def _hand_over(
    loop: asyncio.AbstractEventLoop, outcome: asyncio.Future[T], settle: Callable[[], None]
) -> None:
    def settle_if_awaited() -> None:
        if not outcome.done():  # the caller may have given up (cancelled)
            settle()

    # RuntimeError: the loop closed while the call ran, and nobody is waiting any more.
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(settle_if_awaited)
