"""``make demo``: the whole product on this machine, with no Azure: ``python -m demo --help``.

``python -m demo`` starts the bot, a simulated Azure ML workspace, a simulated Azure DevOps and the
Microsoft 365 Agents Playground as the Teams client, all on 127.0.0.1, until Ctrl-C.
``python -m demo register <model> [--fail]`` registers a new version in the running demo's
workspace.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
import urllib.error
import urllib.request
from pathlib import Path

from bot.logs import configure_logging
from demo.playground import Playground, PlaygroundError
from demo.stack import MODEL, DemoOptions, demo_stack
from fakes.devops import RESULTS

SDK_USER_TOKEN_LOGGER = "microsoft_agents.hosting.core.connector.client.user_token_client"  # noqa: S105
BANNER = """
  The demo runs. Open the Teams client (the Agents Playground) in your browser:

      {playground}

  In "My Team - General", @mention Release Bot and try:
      subscribe {model}                 this conversation gets the model's new versions
      demo register {model}             a data scientist registers the next version
      pending                           it waits for approval
  Approve on the card and watch it deploy; its links open simulated pages. Then:
  status {model}, history {model}; register and approve another version, then
  rollback {model}; demo register {model} fail, and approve it: its run fails.
  From a shell: .venv/bin/python -m demo register {model} [--fail]

  The simulated Azure DevOps moves a run one state every {step:g} s ({outcome} unless told).
  Ctrl-C stops everything.
"""


def main() -> None:
    """Run the demo, or register a version in a running one."""
    options = _parser().parse_args()
    if options.command == "register":
        sys.exit(_register(options.model, options.fail, options.control_port))
    demo = DemoOptions(
        bot_port=options.port,
        control_port=options.control_port,
        outcome=options.outcome,
        step_seconds=options.step,
        data_dir=Path(options.data),
    )
    configure_logging(options.log_level, ())
    # The demo's bot has no app id on purpose (the Playground checks none): no warning per turn.
    logging.getLogger(SDK_USER_TOKEN_LOGGER).setLevel(logging.ERROR)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_run(demo, options.playground_port))
    except (OSError, PlaygroundError) as error:
        sys.exit(f"The demo could not start: {error}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=3978, help="the bot's port")
    parser.add_argument("--playground-port", type=int, default=56150)
    parser.add_argument("--control-port", type=int, default=3979)
    parser.add_argument("--outcome", choices=RESULTS, default="succeeded", help="of every run")
    parser.add_argument("--step", type=float, default=4.0, help="seconds per run state")
    parser.add_argument("--data", default="data/demo", help="the demo's SQLite store")
    parser.add_argument("--log-level", default="WARNING")
    commands = parser.add_subparsers(dest="command")
    register = commands.add_parser("register", help="register a version in the running demo")
    register.add_argument("model")
    register.add_argument("--fail", action="store_true", help="its deployment run fails")
    register.add_argument("--control-port", type=int, default=3979)
    return parser


async def _run(options: DemoOptions, playground_port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    log_path = options.data_dir / "playground.log"
    async with (
        demo_stack(options),
        Playground(options.bot_url, playground_port, log_path) as playground,
    ):
        print(
            BANNER.format(
                playground=playground.url,
                model=MODEL,
                step=options.step_seconds,
                outcome=options.outcome,
            ),
            flush=True,
        )
        await stop.wait()
    print("The demo stopped.", flush=True)


def _register(model: str, failing: bool, control_port: int) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{control_port}/register",
        data=json.dumps({"model": model, "fail": failing}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310
            answer = json.load(response)
    except urllib.error.HTTPError as error:
        print(json.load(error).get("error", error), file=sys.stderr)
        return 2
    except OSError as error:
        print(
            f"no demo answers on port {control_port} ({error}): start it with make demo",
            file=sys.stderr,
        )
        return 1
    print(f"registered {answer['model']} version {answer['version']}")
    return 0


if __name__ == "__main__":
    main()
