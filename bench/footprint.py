"""Start-up time and memory of the bot.

Start: the real entry point as `make run` starts it (`python app.py`), in its own process on a
fresh SQLite store (migrated at start), with the bot's identity and one Azure ML workspace set
(nothing answers for it: it is polled in the background and fails, as a workspace behind a
firewall would); timed from the process's start until `GET /healthz` answers 200. Then it idles
for two seconds and its resident memory (VmRSS) is read. Five runs; prints the median start (goal
≤ 1.2 s), the slowest, and the idle RSS.

After 10,000 cards: the benchmarks' bot process (`bench/harness.py`: production authentication,
the loopback connector and Azure ML) with 10,000 channels subscribed to one model; one version is
pushed and its 10,000 cards go out within Teams' 50 per second (about 3.5 minutes); the RSS once
the last card has arrived.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from aiohttp import ClientError, ClientSession
from fanout import push
from harness import (
    Microsoft,
    bot_environment,
    ours,
    rss_kb,
    seed_subscribers,
    start_bot,
    stop_bot,
)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fakes.identity import APP_ID, TENANT_ID  # noqa: E402
from fakes.ports import free_port  # noqa: E402

RUNS = 5
IDLE_SECONDS = 2.0
CARDS = 10_000


def environment(data_dir: str, port: int) -> dict[str, str]:
    """The settings of one run: SQLite in ``data_dir``, a workspace nothing answers for."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID": APP_ID,
        "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__TENANTID": TENANT_ID,
        "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTSECRET": "bench-secret",
        "RELEASEBOT_PORT": str(port),
        "RELEASEBOT_DATABASE_URL": f"sqlite+aiosqlite:///{data_dir}/footprint.db",
        "RELEASEBOT_LOG_LEVEL": "ERROR",
        "RELEASEBOT_AZUREML_WORKSPACES": "00000000-0000-0000-0000-000000000000/ml-rg/ml-prod",
        "AZURE_CLIENT_ID": "00000000-0000-0000-0000-000000000001",
        "AZURE_TENANT_ID": TENANT_ID,
        "AZURE_CLIENT_SECRET": "bench-secret",
        "AZURE_AUTHORITY_HOST": "https://127.0.0.1:9",
    }


async def one_run(session: ClientSession) -> tuple[float, int]:
    """Seconds from exec to a healthy /healthz, and the idle RSS in kB."""
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        started = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(ROOT / "app.py"),
            env=environment(data, port),
            cwd=ROOT,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            seconds = await healthy(session, f"http://127.0.0.1:{port}/healthz", started, process)
            await asyncio.sleep(IDLE_SECONDS)
            return seconds, rss_kb(process.pid)
        finally:
            process.terminate()
            await asyncio.wait_for(process.wait(), 30)


async def healthy(
    session: ClientSession, url: str, started: float, process: asyncio.subprocess.Process
) -> float:
    """Poll ``url`` every 5 ms until it answers 200; the seconds since ``started``."""
    while process.returncode is None:
        try:
            async with session.get(url) as response:
                if response.status == 200:
                    return time.perf_counter() - started
        except ClientError:
            pass
        await asyncio.sleep(0.005)
    raise RuntimeError(f"the bot exited with {process.returncode}")


async def rss_after_cards(session: ClientSession) -> tuple[int, int]:
    """The bot's RSS in kB after CARDS cards went out, and how many arrived."""
    microsoft = Microsoft(read_cards=False)
    await microsoft.start()
    with tempfile.TemporaryDirectory() as data:
        await seed_subscribers(data, microsoft, count=CARDS, pattern="footprint-*")
        base, process = await start_bot(session, ours(microsoft), bot_environment(data, microsoft))
        try:
            await push(session, base, microsoft, "footprint-model")
            async with asyncio.timeout(CARDS / 40 + 120):
                while len(microsoft.cards) < CARDS:
                    microsoft.arrived.clear()
                    await microsoft.arrived.wait()
            return rss_kb(process.pid), len(microsoft.cards)
        finally:
            await stop_bot(process)
            await microsoft.stop()


async def main() -> None:
    async with ClientSession() as session:
        runs = [await one_run(session) for _ in range(RUNS)]
        after, cards = await rss_after_cards(session)
    starts = [seconds for seconds, _ in runs]
    print(f"start: {statistics.median(starts):.2f} s")
    print(f"start_max: {max(starts):.2f} s")
    print(f"rss_idle: {statistics.median(rss for _, rss in runs) / 1024:.0f} MB")
    print(f"rss_after_cards: {after / 1024:.0f} MB")
    print(f"cards: {cards} cards")


if __name__ == "__main__":
    asyncio.run(main())
