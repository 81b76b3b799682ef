"""The demo: the bot with a simulated Azure ML workspace and a simulated Azure DevOps, on loopback.

The bot is the production composition root (``app.create_app``) on SQLite. Only the remote
services are simulated, in their official wire shapes: Azure ML by :mod:`fakes.azureml`, read by the
real ``azure-ai-ml`` client, and Azure DevOps by :mod:`fakes.devops`, whose runs go queued, in
progress and then succeeded or failed on a timer. A new model version reaches the bot both ways it
does in production: pushed as an Event Grid ``ModelRegistered`` event, and found by the poller.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import tempfile
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from aiohttp import ClientSession, ClientTimeout, web
from microsoft_agents.hosting.core import AgentApplication, TurnContext, TurnState
from microsoft_agents.hosting.core.app._routes import RouteRank

from app import TokenProviderFactory, create_app
from bot.agent import AgentExtension
from bot.config import Settings, load_settings
from bot.i18n import Translator
from bot.registry.eventgrid import SECRET_HEADER
from demo.playground import playground_tenant
from demo.studio import PREFIX as STUDIO_PREFIX
from demo.studio import add_studio
from dialogs.commands import normalise_text
from fakes.azureml import ARM, WORKSPACE, FakeArm
from fakes.devops import PAT, PROJECT, FakeDevOps

log = logging.getLogger("releasebot.demo")

MODEL = "fraud_model"
"""The model the simulated workspace starts with (versions 1 and 2), and the one the simulated
release definition 12 deploys."""
CREATOR = "Grace Hopper"
"""Who registers the demo's versions: not the Playground's user, who may then approve them."""
RELEASE_DEFINITION = 12
PIPELINE = 42
EVENT_TIMEOUT = ClientTimeout(total=10)


@dataclass(frozen=True)
class DemoOptions:
    """Where the demo listens and how its simulated Azure DevOps behaves."""

    bot_port: int = 3978
    control_port: int = 3979
    outcome: str = "succeeded"
    step_seconds: float = 4.0
    poll_seconds: int = 20
    data_dir: Path = Path("data/demo")

    @property
    def bot_url(self) -> str:
        """The bot's base URL."""
        return f"http://127.0.0.1:{self.bot_port}"

    @property
    def control_url(self) -> str:
        """The URL of the demo's own control endpoint (``python -m demo register``)."""
        return f"http://127.0.0.1:{self.control_port}"


class Registrar:
    """Registers model versions in the simulated workspace, as a data scientist would, and has
    Event Grid push the ``ModelRegistered`` event to the bot."""

    def __init__(
        self, arm: FakeArm, devops: FakeDevOps, bot_url: str, secret: str, session: ClientSession
    ) -> None:
        self.arm, self.devops = arm, devops
        self.events_url = f"{bot_url}/api/events/azureml"
        self.secret, self.session = secret, session

    async def register(self, model: str, *, failing: bool = False, announce: bool = True) -> str:
        """Register the next version of ``model`` and return it; ``failing``: its deployment runs
        fail; ``announce``: push the event. The event is best effort, as Event Grid's is: the
        poller finds the version anyway."""
        version = str(len(self.arm.models.get(model, [])) + 1)
        tags = {"stage": "candidate", "framework": "lightgbm"}
        metrics = {"accuracy": f"{0.90 + 0.01 * min(int(version), 9):.3f}", "auc": "0.941"}
        self.arm.register(model, version, tags=tags, properties=metrics, createdBy=CREATOR)
        if model == MODEL:
            alias = f"_{MODEL}"
            self.devops.add_model_version(RELEASE_DEFINITION, alias, f"{model}:{version}", version)
        if failing:
            self.devops.failing.add((model, version))
        if announce:
            await self._push_event(model, version, tags, metrics)
        log.info("registered %s version %s in the simulated workspace", model, version)
        return version

    async def _push_event(
        self, model: str, version: str, tags: dict[str, str], metrics: dict[str, str]
    ) -> None:
        topic = ARM.format(
            s=WORKSPACE.subscription_id, g=WORKSPACE.resource_group, w=WORKSPACE.name
        )
        event = {
            "topic": topic,
            "subject": f"models/{model}:{version}",
            "eventType": "Microsoft.MachineLearningServices.ModelRegistered",
            "eventTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z"),
            "id": secrets.token_hex(16),
            "data": {
                "ModelName": model,
                "ModelVersion": int(version),
                "ModelTags": tags,
                "ModelProperties": metrics,
            },
            "dataVersion": "",
            "metadataVersion": "1",
        }
        headers = {SECRET_HEADER: self.secret}
        try:
            async with self.session.post(
                self.events_url, json=[event], headers=headers, timeout=EVENT_TIMEOUT
            ) as response:
                if response.status >= 300:
                    log.warning("the bot refused the event (%s); polling finds it", response.status)
        except OSError as error:
            log.warning("the event did not reach the bot (%s); polling finds it", error)


def demo_settings(options: DemoOptions, devops: FakeDevOps, event_secret: str) -> Settings:
    """The bot's settings: SQLite under the demo's folder, the simulated services, the two
    development switches the Playground needs (it sends no token and is its own connector), and
    cards that link to the demo's own Azure ML studio page (:mod:`demo.studio`)."""
    workspace = WORKSPACE
    environment = {
        "RELEASEBOT_HOST": "127.0.0.1",
        "RELEASEBOT_PORT": str(options.bot_port),
        "RELEASEBOT_DATABASE_URL": f"sqlite+aiosqlite:///{options.data_dir}/releasebot.db",
        "RELEASEBOT_DEV_ALLOW_ANONYMOUS": "true",
        "RELEASEBOT_DEV_LOCAL_CONNECTOR": "true",
        "RELEASEBOT_ALLOWED_TENANTS": playground_tenant(),
        "RELEASEBOT_POLL_INTERVAL_SECONDS": str(options.poll_seconds),
        "RELEASEBOT_AZUREML_WORKSPACES": "/".join(
            (workspace.subscription_id, workspace.resource_group, workspace.name)
        ),
        "RELEASEBOT_EVENTGRID_SECRET": event_secret,
        "RELEASEBOT_DEVOPS_ORGANIZATION_URL": devops.organization_url,
        "RELEASEBOT_DEVOPS_PROJECT": PROJECT,
        "RELEASEBOT_DEVOPS_PAT": PAT,
        "RELEASEBOT_DEPLOY_TARGET": f"pipeline:{PIPELINE}",
    }
    settings = load_settings(environment, dotenv_path=None)
    studio = options.control_url + STUDIO_PREFIX
    return dataclasses.replace(settings, cloud=dataclasses.replace(settings.cloud, studio=studio))


def demo_commands(registrar: Registrar) -> AgentExtension:
    """The chat command ``demo register <model> [fail]``, for the demo only."""

    def selected(context: TurnContext) -> bool:
        words = normalise_text(context.activity.text).lower().split()
        return context.activity.type == "message" and words[:1] == ["demo"]

    async def on_demo(context: TurnContext, _state: TurnState) -> None:
        t = Translator(context.activity.locale)
        words = normalise_text(context.activity.text).split()
        if len(words) not in (3, 4) or words[1].lower() != "register" or not _model_name(words[2]):
            await context.send_activity(t("demo.usage"))
            return
        failing = len(words) == 4 and words[3].lower() in ("fail", "failing")
        version = await registrar.register(words[2], failing=failing)
        await context.send_activity(t("demo.registered", model=words[2], version=version))

    def extend(app: AgentApplication[TurnState]) -> None:
        app.add_route(selected, on_demo, rank=RouteRank.FIRST)

    return extend


def _model_name(word: str) -> bool:
    return 0 < len(word) <= 64 and all(c.isalnum() or c in "_-." for c in word)


def control_app(registrar: Registrar) -> web.Application:
    """``POST /register {"model": ..., "fail": false}``: what ``python -m demo register`` calls;
    and the simulated Azure ML studio's pages."""

    async def register(request: web.Request) -> web.Response:
        try:
            body = await request.json()
            model, failing = body["model"], bool(body.get("fail", False))
        except (ValueError, KeyError, TypeError):
            return web.json_response({"error": 'send {"model": "<name>"}'}, status=400)
        if not isinstance(model, str) or not _model_name(model):
            return web.json_response({"error": f"{model!r} is not a model name"}, status=400)
        version = await registrar.register(model, failing=failing)
        return web.json_response({"model": model, "version": version})

    app = web.Application()
    app.router.add_post("/register", register)
    add_studio(app, registrar.arm)
    return app


@asynccontextmanager
async def demo_stack(options: DemoOptions) -> AsyncIterator[Registrar]:
    """Start the simulated services, the bot and the control endpoint; stop them on exit."""
    options.data_dir.mkdir(parents=True, exist_ok=True)
    # The simulated services keep nothing: a store from an earlier run would know versions
    # that they register anew, and would not announce them.
    for stale in options.data_dir.glob("releasebot.db*"):
        stale.unlink()
    async with AsyncExitStack() as stack:
        certificates = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        arm = FakeArm()
        await arm.start(certificates)
        stack.push_async_callback(arm.close)
        devops = await FakeDevOps(
            step_seconds=options.step_seconds, outcome=options.outcome
        ).start()
        stack.push_async_callback(devops.close)
        devops.add_release_definition(RELEASE_DEFINITION, MODEL)
        devops.add_pipeline(PIPELINE, "deploy-fraud-model")
        event_secret = secrets.token_urlsafe(24)
        session = await stack.enter_async_context(ClientSession())
        registrar = Registrar(arm, devops, options.bot_url, event_secret, session)
        for _ in range(2):
            await registrar.register(MODEL, announce=False)
        bot = await create_app(
            demo_settings(options, devops, event_secret),
            # A stand-in for MSAL: it has the one method the SDK calls here.
            token_provider_factory=cast(TokenProviderFactory, LoopbackTokenProvider),
            registries=[arm.registry()],
            extensions=[demo_commands(registrar)],
        )
        await _serve(stack, bot, options.bot_port)
        await _serve(stack, control_app(registrar), options.control_port)
        yield registrar


async def _serve(stack: AsyncExitStack, app: web.Application, port: int) -> None:
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    await web.TCPSite(runner, "127.0.0.1", port).start()


class LoopbackTokenProvider:
    """The bot's outbound token for the Playground's connector, which checks none. Not empty:
    the SDK refuses an empty token before it sends anything."""

    def __init__(self, _config: Any) -> None:
        pass

    async def get_access_token(self, *_args: Any, **_kwargs: Any) -> str:
        """A placeholder: nothing on loopback checks it."""
        return "demo-playground-checks-no-token"
