"""Blocking SDK calls on daemon threads: results, errors and context reach the caller, and a call
the caller gave up on holds up neither the event loop's shutdown nor its slot's neighbours."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time

import pytest

from bot.registry.threads import DaemonThreads

REQUEST = contextvars.ContextVar("REQUEST", default="none")


async def test_the_result_the_error_and_the_context_reach_the_caller():
    threads = DaemonThreads("test", 2)
    REQUEST.set("r-1")

    result = await threads.run(REQUEST.get)

    assert result == "r-1"
    with pytest.raises(ZeroDivisionError):
        await threads.run(lambda: 1 / 0)


def test_a_call_given_up_on_does_not_hold_up_the_loops_shutdown():
    release = threading.Event()
    threading.Timer(5.0, release.set).start()  # with asyncio.to_thread, asyncio.run waits for it

    async def give_up() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(DaemonThreads("test", 1).run(release.wait), 0.05)

    started = time.monotonic()
    asyncio.run(give_up())

    assert time.monotonic() - started < 4.0
    release.set()


async def test_a_call_still_running_keeps_its_slot():
    threads = DaemonThreads("test", 1)
    release = threading.Event()
    order: list[str] = []

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(threads.run(release.wait), 0.05)
    second = asyncio.create_task(threads.run(lambda: order.append("second")))
    await asyncio.sleep(0.1)
    order.append("released")
    release.set()
    await second

    assert order == ["released", "second"]
