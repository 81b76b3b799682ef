"""Shared fixtures and hooks: a network guard, loopback servers, signed tokens, the real bot over
HTTP. The helpers they use are in tests/support/."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer
from microsoft_agents.hosting.core.authorization import JwtTokenValidator

from app import create_app
from bot.cloud import CLOUDS, CloudName
from bot.config import load_settings
from fakes.azureml import FakeArm
from fakes.devops import FakeDevOps
from fakes.identity import SigningKeys, StubTokenProvider, loopback_key_manager
from fakes.ports import free_port
from fakes.postgres import PostgresServer
from tests.support.bot import BotUnderTest, bot_environment
from tests.support.connector import RecordingConnector
from tests.support.events import ANNOUNCING, ENTRA_AUDIENCE
from tests.support.network_guard import guarded

# --- hooks --------------------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Each phase's report on the test (``rep_call``...), for fixtures that keep artefacts."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


# --- network guard ------------------------------------------------------------------------------


@pytest.fixture(autouse=True, scope="session")
def network_guard() -> Iterator[None]:
    """Fail any test that tries to reach (or even resolve) an address outside loopback."""
    with guarded():
        yield


# --- signing keys and tokens --------------------------------------------------------------------


@pytest.fixture(scope="session")
def signing_keys() -> SigningKeys:
    """RSA keys made once per test run."""
    return SigningKeys()


@pytest.fixture
async def jwks_server(
    signing_keys: SigningKeys, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[str]:
    """Serve our JWKS on loopback and make the SDK's real validator fetch Bot Framework keys there."""

    async def keys(_request: web.Request) -> web.Response:
        return web.json_response(signing_keys.jwks())

    app = web.Application()
    app.router.add_get("/keys", keys)
    async with TestServer(app, host="127.0.0.1") as server:
        url = str(server.make_url("/keys"))
        monkeypatch.setattr(JwtTokenValidator, "_jwk_client_manager", loopback_key_manager(url))
        yield url


# --- the recording connector --------------------------------------------------------------------


@pytest.fixture
async def connector() -> AsyncIterator[RecordingConnector]:
    """A fresh recording connector on loopback."""
    recording = RecordingConnector()
    async with recording.server:
        yield recording


# --- the bot ------------------------------------------------------------------------------------


STORES = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests marked ``both_stores`` run once on SQLite and once on PostgreSQL."""
    if metafunc.definition.get_closest_marker("both_stores") and "database_url" in (
        metafunc.fixturenames
    ):
        metafunc.parametrize("store_kind", STORES, indirect=True)


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects by mark
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that runs on PostgreSQL is marked ``postgres``: the fast lane leaves them out."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_postgres = callspec is not None and callspec.params.get("store_kind") == "postgresql"
        if on_postgres or "postgres" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture
def store_kind(request: pytest.FixtureRequest) -> str:
    """The store a test runs on: SQLite unless it is marked ``both_stores``."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One PostgreSQL cluster for the session, started on first use."""
    server = PostgresServer.start(free_port())
    yield server
    server.stop()


@pytest.fixture
async def database_url(tmp_path: Any, store_kind: str, request: pytest.FixtureRequest) -> str:
    """A fresh store per test: a SQLite file, or a new PostgreSQL database."""
    if store_kind == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres")
        return await server.new_database()
    return f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"


@pytest.fixture
async def arm(tmp_path: Path) -> AsyncIterator[FakeArm]:
    """A loopback Azure Resource Manager with version 1 of ``fraud_model``."""
    fake = FakeArm()
    fake.register("fraud_model", "1")
    await fake.start(tmp_path)
    yield fake
    await fake.close()


@pytest.fixture
async def devops() -> AsyncIterator[FakeDevOps]:
    """A loopback Azure DevOps with the YAML pipeline 42."""
    async with FakeDevOps() as fake:
        fake.add_pipeline(42, "deploy-model")
        yield fake


@pytest.fixture
async def start_bot(
    jwks_server: str,
    signing_keys: SigningKeys,
    connector: RecordingConnector,
    database_url: str,
    arm: FakeArm,
) -> AsyncIterator[Callable[..., Any]]:
    """Start the bot with optional extra settings; every started bot is stopped at the end."""
    started: list[tuple[TestServer, ClientSession]] = []

    async def start(
        registries: list | None = None, deployer: Any = None, **overrides: str
    ) -> BotUnderTest:
        """Start a bot; it polls the ``registries`` given and reads the versions of events there
        (by default ``arm``'s workspace, if the settings name a workspace; else none: Azure is out
        of reach), and deploys with ``deployer`` (none: as the settings say)."""
        env = bot_environment(overrides.pop("database_url", database_url), **overrides)
        settings = load_settings(env, dotenv_path=None)
        if registries is None:
            registries = [arm.registry()] if settings.azureml_workspaces else []
        app = await create_app(settings, StubTokenProvider, registries, deployer)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        session = ClientSession()
        started.append((server, session))
        return BotUnderTest(server, session, signing_keys, connector, settings, arm)

    yield start
    for server, session in started:
        await session.close()
        await server.close()


@pytest.fixture
async def bot(start_bot: Callable[..., Any]) -> BotUnderTest:
    """The bot on default test settings."""
    bot_under_test: BotUnderTest = await start_bot()
    return bot_under_test


# --- shared by several test files ---------------------------------------------------------------


@pytest.fixture
async def entra_bot(start_bot, signing_keys, monkeypatch) -> BotUnderTest:
    """The bot accepting Event Grid deliveries with Entra tokens of our tenant (keys on loopback)."""

    async def keys(_request):
        return web.json_response(signing_keys.jwks())

    app = web.Application()
    app.router.add_get("/{tenant}/discovery/v2.0/keys", keys)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    loopback = str(server.make_url("")).rstrip("/")
    public = CLOUDS[CloudName.PUBLIC]
    monkeypatch.setitem(
        CLOUDS,
        CloudName.PUBLIC,
        dataclasses.replace(
            public, entra_authority=loopback, entra_issuer_v2=loopback + "/{tenant}/v2.0"
        ),
    )
    bot_under_test: BotUnderTest = await start_bot(
        RELEASEBOT_AZUREML_WORKSPACES=ANNOUNCING["RELEASEBOT_AZUREML_WORKSPACES"],
        RELEASEBOT_EVENTGRID_AUDIENCE=ENTRA_AUDIENCE,
    )
    yield bot_under_test
    await server.close()


TUNED = ("", "azure", "microsoft_agents", "azure.ai.ml._telemetry")
"""The loggers whose level configure_logging sets."""


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """The root logger's handlers and the tuned loggers' levels put back after a test that
    configures logging."""
    root = logging.getLogger()
    handlers = list(root.handlers)
    levels = {name: logging.getLogger(name).level for name in TUNED}
    yield
    root.handlers[:] = handlers
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
