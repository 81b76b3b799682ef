"""Commands per second through /api/messages: our bot beside a minimal botbuilder-core echo bot.

Both bots run as in production: each request carries a Bot Framework token that the bot validates
(signing keys served by this script on loopback), and each reply carries an outbound token (a fixed
stub on both sides, in place of the MSAL call). Each bot is its own process pinned to one core; this
process drives the load and plays the connector on the other core. Our bot answers the real
``subscriptions`` command (store read, Adaptive Card); the echo bot echoes text. Rounds alternate
between the bots so that drift hits both alike. Prints each figure and the ratio (goal: ≥ 1.0),
and each bot's CPU time per command (from /proc; 0 where there is none).

The comparison bot needs botbuilder-core, the ``bench`` extra of pyproject.toml: on first run this
script installs it into .venv-bench.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
import uuid
from pathlib import Path

from aiohttp import ClientSession, ClientTimeout
from harness import APP_ID, ROOT, Microsoft, bot_environment, ours, start_bot, stop_bot

from fakes.identity import TENANT_ID

BENCH_VENV = ROOT / ".venv-bench"
REQUESTS = 1000
WARMUP = 100
IN_FLIGHT = 16
ROUNDS = 5


def ensure_bench_venv() -> Path:
    """The Python of .venv-bench, made with the pinned ``bench`` extra if it is missing."""
    python = BENCH_VENV / "bin" / "python"
    if not python.exists():
        extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
        packages = extras["optional-dependencies"]["bench"]
        print(f"installing {', '.join(packages)} into {BENCH_VENV}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", *packages, "aiohttp"], check=True
        )
    return python


def activity(service_url: str, text: str) -> dict:
    return {
        "type": "message",
        "id": str(uuid.uuid4()),
        "serviceUrl": service_url,
        "channelId": "msteams",
        "from": {"id": "29:bench-user", "name": "Bench", "aadObjectId": "bench-user"},
        "recipient": {"id": "28:bench-bot", "name": "Bot"},
        "conversation": {
            "id": "a:bench-conversation",
            "conversationType": "personal",
            "tenantId": TENANT_ID,
        },
        "channelData": {"tenant": {"id": TENANT_ID}},
        "text": text,
        "locale": "en-US",
    }


async def drive(session: ClientSession, url: str, body: dict, token: str, count: int) -> float:
    """Send ``count`` requests, IN_FLIGHT at a time; return requests per second."""
    queue = iter(range(count))
    failures: list[int] = []

    async def worker() -> None:
        for _ in queue:
            headers = {"Authorization": f"Bearer {token}"}
            async with session.post(url, json=body, headers=headers) as response:
                await response.read()
                if response.status >= 300:
                    failures.append(response.status)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed, e.g. {failures[0]}")
    return count / elapsed


def cpu_seconds(pid: int) -> float:
    """CPU time (user and system, all threads) of a process so far; 0 without /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def compare(
    session: ClientSession, bots: list[tuple[str, int]], microsoft: Microsoft
) -> list[tuple[float, float]]:
    """Median rate of each bot (URL, pid), their rounds alternating, and its CPU time per
    command (which other processes on its core do not inflate, as they do the rate)."""
    body = activity(microsoft.url, "subscriptions")
    token = microsoft.keys.token(serviceurl=microsoft.url)
    for url, _ in bots:
        await drive(session, url, body, token, WARMUP)
    before = len(microsoft.cards)
    rates: list[list[float]] = [[] for _ in bots]
    cpu = [0.0 for _ in bots]
    for _ in range(ROUNDS):
        for index, (url, pid) in enumerate(bots):
            started = cpu_seconds(pid)
            rates[index].append(await drive(session, url, body, token, REQUESTS))
            cpu[index] += cpu_seconds(pid) - started
    missing = ROUNDS * REQUESTS * len(bots) - (len(microsoft.cards) - before)
    if missing:
        raise RuntimeError(f"{missing} replies did not reach the connector")
    return [
        (statistics.median(bot_rates), spent / (ROUNDS * REQUESTS))
        for bot_rates, spent in zip(rates, cpu, strict=True)
    ]


async def main() -> None:
    bench_python = ensure_bench_venv()
    microsoft = Microsoft(read_cards=False)
    await microsoft.start()
    echo = [
        str(bench_python),
        str(ROOT / "bench" / "botbuilder_echo.py"),
        microsoft.url + "openid",
        APP_ID,
    ]
    with tempfile.TemporaryDirectory() as data:
        async with ClientSession(timeout=ClientTimeout(total=60)) as session:
            bots = [
                await start_bot(session, ours(microsoft), bot_environment(data, microsoft)),
                await start_bot(session, echo, {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}),
            ]
            try:
                (ours_rate, ours_cpu), (theirs_rate, theirs_cpu) = await compare(
                    session,
                    [(base + "/api/messages", process.pid) for base, process in bots],
                    microsoft,
                )
            finally:
                for _, process in bots:
                    await stop_bot(process)
    await microsoft.stop()
    print(f"agents_sdk_bot: {ours_rate:.1f} commands/s")
    print(f"botbuilder_echo: {theirs_rate:.1f} commands/s")
    print(f"ratio: {ours_rate / theirs_rate:.2f}")
    print(f"agents_sdk_bot_cpu: {ours_cpu * 1000:.2f} ms/command")
    print(f"botbuilder_echo_cpu: {theirs_cpu * 1000:.2f} ms/command")


if __name__ == "__main__":
    asyncio.run(main())
