"""Holding a claim through a call that may outlast it: renew it on a timer while the call runs.

The deployment worker holds its claim on a deployment this way while Azure DevOps starts the
run. The outbox and card sync renew their claims once, right before they send; they could hold
them the same way, should a send ever outlast a claim.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

log = logging.getLogger(__name__)

RENEWALS_PER_LEASE = 3
"""Renew three times per lease, so that one slow or failed renewal does not let the claim lapse."""


@contextlib.asynccontextmanager
async def held(renew: Callable[[], Awaitable[bool]], lease: timedelta) -> AsyncIterator[None]:
    """Keep a claim while the body runs: ``renew`` (hold the claim for ``lease`` from now; False
    once another holder has it) is called every third of ``lease`` until the body ends."""
    done = asyncio.Event()
    heartbeat = asyncio.create_task(_renew_until(done, renew, lease / RENEWALS_PER_LEASE))
    try:
        yield
    finally:
        done.set()  # not cancelled: a renewal under way ends first, no store call is cut off
        await heartbeat


async def _renew_until(
    done: asyncio.Event, renew: Callable[[], Awaitable[bool]], interval: timedelta
) -> None:
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), interval.total_seconds())
        if done.is_set():
            return
        try:
            if not await renew():
                log.warning("the claim was taken over while its call was still running")
                return
        except Exception as error:
            # The store may answer again before the claim runs out: keep trying, one line each.
            log.warning("a claim could not be renewed (%s); trying again", type(error).__name__)
