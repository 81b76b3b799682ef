"""Shared fixtures: a network guard, loopback servers, signed tokens and the real bot over HTTP."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer
from microsoft_agents.hosting.core.authorization import JwtTokenValidator

from app import create_app
from bot.config import Settings, load_settings
from fakes.azureml import FakeArm
from fakes.devops import FakeDevOps
from fakes.identity import (
    APP_ID,
    TENANT_ID,
    SigningKeys,
    StubTokenProvider,
    loopback_key_manager,
)
from fakes.postgres import PostgresServer

CLIENT_SECRET = "client-secret-never-logged-7f3a"


# --- network guard ------------------------------------------------------------------------------


class NetworkGuardError(RuntimeError):
    """A test tried to reach an address outside loopback."""


def _is_loopback(host: Any) -> bool:
    if host in ("localhost", "localhost.", None, ""):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _guarded_connect(original: Callable[..., Any]) -> Callable[..., Any]:
    def connect(sock: socket.socket, address: Any) -> Any:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
            raise NetworkGuardError(f"tests may not connect to {address[0]}")
        return original(sock, address)

    return connect


def _guarded_getaddrinfo(original: Callable[..., Any]) -> Callable[..., Any]:
    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, bytes):
            host = host.decode()
        if not _is_loopback(host):
            raise NetworkGuardError(f"tests may not resolve {host}")
        return original(host, *args, **kwargs)

    return getaddrinfo


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Each phase's report on the test (``rep_call``...), for fixtures that keep artefacts."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(autouse=True, scope="session")
def network_guard() -> Iterator[None]:
    """Fail any test that tries to reach (or even resolve) an address outside loopback."""
    patches = {
        (socket.socket, "connect"): _guarded_connect(socket.socket.connect),
        (socket.socket, "connect_ex"): _guarded_connect(socket.socket.connect_ex),
        (socket, "getaddrinfo"): _guarded_getaddrinfo(socket.getaddrinfo),
    }
    originals = {key: getattr(*key) for key in patches}
    for (owner, name), replacement in patches.items():
        setattr(owner, name, replacement)
    yield
    for (owner, name), original in originals.items():
        setattr(owner, name, original)


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


@dataclass
class ConnectorCall:
    """One request the bot made to the connector."""

    method: str
    path: str
    conversation_id: str
    authorization: str | None
    body: dict[str, Any]


class RecordingConnector:
    """A loopback Bot Connector that records every call and answers like the real one."""

    def __init__(self) -> None:
        self.calls: list[ConnectorCall] = []
        self.refusals: list[tuple[int, dict[str, str]]] = []
        """Answers (status, headers) for the next calls, in order, before accepting again."""
        self.refused: list[int] = []
        self._arrived = asyncio.Event()
        self.app = web.Application()
        # Service URLs may carry a path (".../emea/"): accept any prefix before v3/.
        route = "/{prefix:(?:[^/]+/)*}v3/conversations/{conversation_id}/activities"
        self.app.router.add_post(route, self._record)
        self.app.router.add_post(route + "/{activity_id}", self._record)
        self.app.router.add_put(route + "/{activity_id}", self._record)
        members = "/{prefix:(?:[^/]+/)*}v3/conversations/{conversation_id}/members/{member_id}"
        self.app.router.add_get(members, self._member)
        self.upns: dict[str, str] = {}
        """The UPN of each member (by Teams user id) the connector tells the bot about."""
        self.emails: dict[str, str] = {}
        """A member's email where it differs from their UPN (a guest's, say)."""
        self.member_refusals: list[int] = []
        """Statuses for the next member look-ups, in order, before answering again."""
        self.server = TestServer(self.app, host="127.0.0.1")

    @property
    def url(self) -> str:
        """The service URL to put in activities."""
        return str(self.server.make_url("/"))

    async def _record(self, request: web.Request) -> web.Response:
        if self.refusals:
            status, headers = self.refusals.pop(0)
            self.refused.append(status)
            return web.json_response({"error": {"code": "Refused"}}, status=status, headers=headers)
        self.calls.append(
            ConnectorCall(
                method=request.method,
                path=request.path,
                conversation_id=request.match_info["conversation_id"],
                authorization=request.headers.get("Authorization"),
                body=await request.json(),
            )
        )
        self._arrived.set()
        return web.json_response({"id": f"activity-{len(self.calls)}"})

    async def _member(self, request: web.Request) -> web.Response:
        member_id = request.match_info["member_id"]
        if self.member_refusals:
            status = self.member_refusals.pop(0)
            return web.json_response({"error": {"code": "Unavailable"}}, status=status)
        if member_id not in self.upns:
            return web.json_response({"error": {"code": "MemberNotFound"}}, status=404)
        upn = self.upns[member_id]
        email = self.emails.get(member_id, upn)
        return web.json_response({"id": member_id, "userPrincipalName": upn, "email": email})

    def cards(self) -> list[dict[str, Any]]:
        """The Adaptive Cards the bot sent, in order."""
        return [
            attachment["content"]
            for call in self.calls
            for attachment in call.body.get("attachments") or []
            if attachment.get("contentType") == "application/vnd.microsoft.card.adaptive"
        ]

    async def wait_for_calls(self, count: int, within: float = 5.0) -> None:
        """Wait until ``count`` calls were accepted (the outbox sends in the background)."""
        try:
            async with asyncio.timeout(within):
                while len(self.calls) < count:
                    self._arrived.clear()
                    await self._arrived.wait()
        except TimeoutError:
            raise AssertionError(f"expected {count} calls, got {len(self.calls)}") from None

    def last_card(self) -> dict[str, Any]:
        """The newest Adaptive Card sent."""
        cards = self.cards()
        assert cards, f"no card was sent; calls: {self.calls}"
        return cards[-1]


@pytest.fixture
async def connector() -> AsyncIterator[RecordingConnector]:
    """A fresh recording connector on loopback."""
    recording = RecordingConnector()
    async with recording.server:
        yield recording


# --- the bot ------------------------------------------------------------------------------------


def bot_environment(database_url: str, **overrides: str) -> dict[str, str]:
    """The environment of a bot under test: a real app identity and a loopback connector."""
    return {
        "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID": APP_ID,
        "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__TENANTID": TENANT_ID,
        "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTSECRET": CLIENT_SECRET,
        "RELEASEBOT_DATABASE_URL": database_url,
        "RELEASEBOT_DEV_LOCAL_CONNECTOR": "true",
        **overrides,
    }


@dataclass
class BotUnderTest:
    """The real bot served on loopback, with helpers to talk to it like Teams does."""

    server: TestServer
    session: ClientSession
    keys: SigningKeys
    connector: RecordingConnector
    settings: Settings
    arm: FakeArm
    """The loopback Azure ML that the bot reads, when it polls the workspace ml-prod."""

    @property
    def messages_url(self) -> str:
        return str(self.server.make_url("/api/messages"))

    async def post(
        self, activity: Any, *, token: str | None = "valid", **kwargs: Any
    ) -> tuple[int, Any]:
        """POST an activity; ``token='valid'`` signs a correct one for this connector."""
        headers = kwargs.pop("headers", {})
        if token == "valid":
            token = self.keys.token(serviceurl=self.connector.url)
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if isinstance(activity, (bytes, str)):
            kwargs["data"] = activity
            headers.setdefault("Content-Type", "application/json")
        elif activity is not None:
            kwargs["json"] = activity
        async with self.session.post(self.messages_url, headers=headers, **kwargs) as response:
            text = await response.text()
            return response.status, text

    async def say(self, text: str, **activity_args: Any) -> dict[str, Any]:
        """Send a chat message and return the card the bot answered with."""
        before = len(self.connector.calls)
        status, body = await self.post(message(self.connector.url, text, **activity_args))
        assert status == 202, body
        assert len(self.connector.calls) == before + 1, "expected exactly one reply"
        return self.connector.last_card()


STORES = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests marked ``both_stores`` run once on SQLite and once on PostgreSQL."""
    if metafunc.definition.get_closest_marker("both_stores") and "database_url" in (
        metafunc.fixturenames
    ):
        metafunc.parametrize("store_kind", STORES, indirect=True)


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


# --- activities as Teams sends them -------------------------------------------------------------

BOT_ACCOUNT = {"id": f"28:{APP_ID}", "name": "ReleaseBot"}
USER_ID = "00000000-0000-0000-0000-0000000000a1"


def message(
    service_url: str,
    text: str,
    *,
    scope: str = "personal",
    locale: str = "en-US",
    user_object_id: str = USER_ID,
    conversation_id: str | None = None,
) -> dict[str, Any]:
    """A Teams message activity in personal chat, a group chat or a channel thread."""
    activity = base_activity(service_url, "message", scope=scope, conversation_id=conversation_id)
    activity |= {
        "text": text,
        "textFormat": "plain",
        "locale": locale,
        "from": {"id": "29:user-1", "name": "Ada Lovelace", "aadObjectId": user_object_id},
    }
    if scope != "personal":
        mention = f"<at>{BOT_ACCOUNT['name']}</at>"
        activity["text"] = f"{mention} {text}"
        activity["entities"] = [{"type": "mention", "mentioned": BOT_ACCOUNT, "text": mention}]
    return activity


CONVERSATIONS = {
    "personal": "a:1personal-chat-with-ada",
    "groupChat": "19:group-chat-id@thread.v2",
    "channel": "19:release-channel@thread.tacv2",
}


def base_activity(
    service_url: str,
    activity_type: str,
    *,
    scope: str = "personal",
    conversation_id: str | None = None,
) -> dict[str, Any]:
    """The fields every Teams activity carries."""
    conversation_id = conversation_id or CONVERSATIONS[scope]
    if scope == "channel" and activity_type == "message":
        conversation_id += ";messageid=1700000000000"  # a reply in a thread of the channel
    channel_data: dict[str, Any] = {"tenant": {"id": TENANT_ID}}
    if scope == "channel":
        channel_data |= {
            "team": {"id": "19:team@thread.tacv2"},
            "channel": {"id": CONVERSATIONS["channel"]},
        }
    return {
        "type": activity_type,
        "id": str(uuid.uuid4()),
        "timestamp": "2026-11-24T10:00:00.000Z",
        "serviceUrl": service_url,
        "channelId": "msteams",
        "from": {"id": "29:user-1", "name": "Ada Lovelace", "aadObjectId": USER_ID},
        "conversation": {"id": conversation_id, "conversationType": scope, "tenantId": TENANT_ID},
        "recipient": BOT_ACCOUNT,
        "channelData": channel_data,
        "locale": "en-US",
    }


def installation(
    service_url: str, action: str, *, scope: str = "channel", locale: str = "en-US"
) -> dict[str, Any]:
    """An installationUpdate activity: the app was added to or removed from a conversation."""
    return base_activity(service_url, "installationUpdate", scope=scope) | {
        "action": action,
        "locale": locale,
    }


def members_changed(service_url: str, *, added: bool, scope: str = "channel") -> dict[str, Any]:
    """A conversationUpdate in which the bot itself was added or removed."""
    key = "membersAdded" if added else "membersRemoved"
    return base_activity(service_url, "conversationUpdate", scope=scope) | {key: [BOT_ACCOUNT]}
