"""Commands per second through /api/messages: our bot beside a minimal botbuilder-core echo bot.

Both bots run as in production: each request carries a Bot Framework token that the bot validates
(signing keys served by this script on loopback), and each reply carries an outbound token (a fixed
stub on both sides, in place of the MSAL call). Each bot is its own process pinned to one core; this
process drives the load and plays the connector on the other core. Our bot answers the real
``subscriptions`` command (store read, Adaptive Card); the echo bot echoes text.
Prints each figure and the ratio (goal: at least 1.0).

The comparison bot needs botbuilder-core, the ``bench`` extra of pyproject.toml: on first run this
script installs it into .venv-bench.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
import uuid
from pathlib import Path

from aiohttp import ClientSession, ClientTimeout, web

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.identity import APP_ID, TENANT_ID, SigningKeys  # noqa: E402

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
        print(
            f"installing {', '.join(packages)} into {BENCH_VENV} (first run only)", file=sys.stderr
        )
        subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", *packages, "aiohttp"], check=True
        )
    return python


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def pinned(command: list[str]) -> list[str]:
    """Run the bot on core 1 when taskset exists; the load runs on core 0."""
    return ["taskset", "-c", "1", *command] if shutil.which("taskset") else command


class Microsoft:
    """Loopback stand-ins for the Bot Connector (counting replies) and the key endpoints."""

    def __init__(self, keys: SigningKeys) -> None:
        self.keys = keys
        self.replies = 0
        self.app = web.Application()
        self.app.router.add_get("/keys", self.jwks)
        self.app.router.add_get("/openid", self.openid)
        self.app.router.add_route("*", "/v3/{tail:.*}", self.reply)
        self.url = ""

    async def jwks(self, _request: web.Request) -> web.Response:
        return web.json_response(self.keys.jwks())

    async def openid(self, _request: web.Request) -> web.Response:
        return web.json_response(
            {"issuer": "https://api.botframework.com", "jwks_uri": self.url + "keys"}
        )

    async def reply(self, _request: web.Request) -> web.Response:
        self.replies += 1
        return web.json_response({"id": str(self.replies)})


def activity(service_url: str, text: str) -> dict:
    return {
        "type": "message",
        "id": str(uuid.uuid4()),
        "serviceUrl": service_url,
        "channelId": "msteams",
        "from": {"id": "29:bench-user", "name": "Bench", "aadObjectId": "bench-user"},
        "recipient": {"id": "28:bench-bot", "name": "Bot"},
        "conversation": {"id": "a:bench-conversation", "conversationType": "personal"},
        "text": text,
        "locale": "en-US",
    }


async def wait_until_up(
    session: ClientSession, url: str, process: asyncio.subprocess.Process
) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.returncode is not None:
            raise RuntimeError(f"{url} exited with {process.returncode}")
        try:
            async with session.post(url, data=b"{}", headers={"Content-Type": "application/json"}):
                return
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not start")


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


async def start_bot(
    session: ClientSession, command: list[str], env: dict
) -> tuple[str, asyncio.subprocess.Process]:
    """Start one bot pinned to core 1 (``command`` gets the port after the script); its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/api/messages"
    process = await asyncio.create_subprocess_exec(
        *pinned([command[0], command[1], str(port), *command[2:]]),
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    await wait_until_up(session, url, process)
    return url, process


async def compare(session: ClientSession, urls: list[str], microsoft: Microsoft) -> list[float]:
    """Median rate of each bot, their rounds alternating so that drift hits both alike."""
    body = activity(microsoft.url, "subscriptions")
    token = microsoft.keys.token(serviceurl=microsoft.url)
    for url in urls:
        await drive(session, url, body, token, WARMUP)
    before = microsoft.replies
    rates: list[list[float]] = [[] for _ in urls]
    for _ in range(ROUNDS):
        for index, url in enumerate(urls):
            rates[index].append(await drive(session, url, body, token, REQUESTS))
    missing = ROUNDS * REQUESTS * len(urls) - (microsoft.replies - before)
    if missing:
        raise RuntimeError(f"{missing} replies did not reach the connector")
    return [statistics.median(bot_rates) for bot_rates in rates]


async def main() -> None:
    bench_python = ensure_bench_venv()
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {0})
    microsoft = Microsoft(SigningKeys())
    runner = web.AppRunner(microsoft.app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    microsoft.url = f"http://127.0.0.1:{port}/"
    path = os.environ.get("PATH", "/usr/bin:/bin")
    processes: list[asyncio.subprocess.Process] = []
    with tempfile.TemporaryDirectory() as data:
        ours_env = {
            "PATH": path,
            "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID": APP_ID,
            "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__TENANTID": TENANT_ID,
            "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTSECRET": "bench-secret",
            "RELEASEBOT_DATABASE_URL": f"sqlite+aiosqlite:///{data}/bench.db",
            "RELEASEBOT_DEV_LOCAL_CONNECTOR": "true",
            "RELEASEBOT_LOG_LEVEL": "ERROR",
        }
        ours_command = [
            sys.executable,
            str(ROOT / "bench" / "agents_bot.py"),
            microsoft.url + "keys",
        ]
        echo = ROOT / "bench" / "botbuilder_echo.py"
        theirs_command = [str(bench_python), str(echo), microsoft.url + "openid", APP_ID]
        try:
            async with ClientSession(timeout=ClientTimeout(total=60)) as session:
                urls = []
                for command, env in ((ours_command, ours_env), (theirs_command, {"PATH": path})):
                    url, process = await start_bot(session, command, env)
                    urls.append(url)
                    processes.append(process)
                ours, theirs = await compare(session, urls, microsoft)
        finally:
            for process in processes:
                process.terminate()
                await asyncio.wait_for(process.wait(), 30)
    await runner.cleanup()
    print(f"agents_sdk_bot: {ours:.1f} commands/s")
    print(f"botbuilder_echo: {theirs:.1f} commands/s")
    print(f"ratio: {ours / theirs:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
