"""The Microsoft 365 Agents Playground (npm, pinned in package.json) as the demo's Teams client.

It runs offline and on loopback only: ``loopback.cjs`` forces its servers onto 127.0.0.1 and
refuses any connection it tries to make elsewhere; its telemetry is off (both switches are needed:
``--disable-telemetry`` alone still probes Application Insights and the cloud metadata address).
It sends the bot no token, and is itself the connector the bot answers (``/_connector``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
from pathlib import Path
from types import TracebackType

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CLI = ROOT / "node_modules" / "@microsoft" / "m365agentsplayground" / "cli.js"
CONFIG = HERE / "playground.yml"
LISTENING = re.compile(r"Listening on (\d+)")
START_TIMEOUT = 60.0
STOP_TIMEOUT = 5.0


def playground_tenant() -> str:
    """The tenant id the Playground's Teams sends (from its configuration file)."""
    found = re.search(r"^tenantId:\s*(\S+)\s*$", CONFIG.read_text("utf-8"), re.MULTILINE)
    if found is None:
        raise PlaygroundError(f"{CONFIG} names no tenantId")
    return found.group(1)


class PlaygroundError(RuntimeError):
    """The Playground could not be started."""


class Playground:
    """The Playground process, talking to the bot at ``bot_url``; its output goes to ``log_path``.

    It takes another port, silently, when ``port`` is busy: :attr:`url` is the one it took.
    """

    def __init__(self, bot_url: str, port: int, log_path: Path) -> None:
        self.bot_url, self.port, self.log_path = bot_url, port, log_path
        self._process: asyncio.subprocess.Process | None = None
        self._drain: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """The address to open in a browser."""
        return f"http://127.0.0.1:{self.port}/"

    @property
    def connector_url(self) -> str:
        """Its Bot Connector, which the bot answers."""
        return f"http://127.0.0.1:{self.port}/_connector"

    async def __aenter__(self) -> Playground:
        node = shutil.which("node")
        if node is None or not CLI.exists():
            raise PlaygroundError(f"needs Node.js and {CLI.relative_to(ROOT)}: run make demo")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._process = await asyncio.create_subprocess_exec(
            node, "-r", str(HERE / "loopback.cjs"), str(CLI), "start",
            "--app-endpoint", f"{self.bot_url}/api/messages",
            "--channel-id", "msteams",
            "--port", str(self.port),
            "--service-url", self.connector_url,
            "--disable-telemetry",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=self._environment(),
            cwd=self.log_path.parent,
            start_new_session=True,  # Ctrl-C in a terminal reaches us, and we stop it
        )  # fmt: skip
        try:
            self.port = await asyncio.wait_for(self._listening(), START_TIMEOUT)
        except (TimeoutError, PlaygroundError):
            await self._stop()
            raise
        self._drain = asyncio.create_task(self._copy_output())
        return self

    async def __aexit__(
        self,
        _type: type[BaseException] | None,
        _error: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        await self._stop()

    def _environment(self) -> dict[str, str]:
        return {
            **os.environ,
            "TEAMSAPPTESTER_BROWSER": "none",
            "APPLICATION_INSIGHTS_NO_STATSBEAT": "true",
            "M365_AGENTS_PLAYGROUND_CONFIG_PATH": str(CONFIG),
            "M365_AGENTS_PLAYGROUND_LOGFILE": str(self.log_path.with_suffix(".debug.log")),
        }

    async def _listening(self) -> int:
        """The port from its ``Listening on N`` line; its output so far goes to the log."""
        assert self._process is not None  # noqa: S101
        assert self._process.stdout is not None  # noqa: S101
        with self.log_path.open("w") as log:
            async for line in self._process.stdout:
                text = line.decode(errors="replace")
                log.write(text)
                found = LISTENING.search(text)
                if found:
                    return int(found[1])
        raise PlaygroundError(f"the Playground stopped at start; see {self.log_path}")

    async def _copy_output(self) -> None:
        assert self._process is not None  # noqa: S101
        assert self._process.stdout is not None  # noqa: S101
        with self.log_path.open("a") as log:
            async for line in self._process.stdout:
                log.write(line.decode(errors="replace"))
                log.flush()

    async def _stop(self) -> None:
        process = self._process
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
        except TimeoutError:
            process.kill()
            await process.wait()
        if self._drain is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._drain
