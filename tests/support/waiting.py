"""Waiting for what the bot does in the background."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import ClientSession

from tests.support.bot import BotUnderTest


async def wait_until(condition: Any, within: float = 5.0) -> None:
    """Wait until ``condition()`` (sync or async) holds."""
    async with asyncio.timeout(within):
        while True:
            held = condition()
            if await held if asyncio.iscoroutine(held) else held:
                return
            await asyncio.sleep(0.02)


async def until_polled(bot: BotUnderTest, within: float = 30.0) -> None:
    """Wait until /readyz reports the Azure ML source polled successfully."""
    polled = {"ok": True, "detail": "1 source(s) polled"}
    async with asyncio.timeout(within), ClientSession() as session:
        while True:
            async with session.get(bot.server.make_url("/readyz")) as response:
                if (await response.json())["checks"]["azure_ml"] == polled:
                    return
            await asyncio.sleep(0.1)
