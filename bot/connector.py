"""Outbound connector clients that share one connection pool.

The SDK opens a new aiohttp session, with new TCP and TLS connections, for every turn. This factory
gives each turn a light session over one shared, keep-alive pool instead, honouring the proxy
variables (``trust_env``) and a timeout on every call. Agentic and Copilot Studio requests keep the
SDK's own path.
"""

from __future__ import annotations

import asyncio
import functools

from aiohttp import BasicAuth, ClientSession, ClientTimeout, TCPConnector
from aiohttp.helpers import get_env_proxy_for_url
from microsoft_agents.activity import Activity, ResourceResponse, RoleTypes
from microsoft_agents.hosting.core import (
    ClaimsIdentity,
    Connections,
    RestChannelServiceClientFactory,
    TurnContext,
)
from microsoft_agents.hosting.core.connector import ConnectorClientBase
from microsoft_agents.hosting.core.connector.client import (
    UserTokenClient,
    connector_client,
    user_token_client,
)
from microsoft_agents.hosting.core.connector.client.connector_client import (
    ConversationsOperations,
)
from microsoft_agents.hosting.core.connector.teams import TeamsConnectorClient
from typing_extensions import override
from yarl import URL

from bot.cloud import CLOUDS, Cloud, CloudName
from bot.network import ssl_context

CONNECTOR_TIMEOUT = ClientTimeout(total=30, connect=10)
MAX_PROXY_HOSTS = 256
"""Connector hosts whose proxy is remembered (Teams uses a handful of regional hosts)."""

# Every client's constructor asks importlib.metadata for the SDK's version, for its User-Agent,
# even when the session has one; it searches every installed package each time (a tenth of a
# chat turn), for an answer that cannot change while the process runs.
for _module in (connector_client, user_token_client):
    _module.get_product_info = functools.cache(_module.get_product_info)  # type: ignore[attr-defined]


class SharedUserTokenClient(UserTokenClient):
    """The SDK's user-token client, shared by the turns: the SDK closes it after each turn, so
    only :meth:`close_session` closes it."""

    @override
    async def close(self) -> None:
        """Stay open for the next turn."""

    async def close_session(self) -> None:
        """Close the HTTP session (at shutdown)."""
        await super().close()


class PooledClientFactory(RestChannelServiceClientFactory):
    """The SDK's REST client factory, with connector clients on a shared connection pool."""

    def __init__(
        self,
        connection_manager: Connections,
        ca_bundle: str | None = None,
        cloud: Cloud = CLOUDS[CloudName.PUBLIC],
    ) -> None:
        super().__init__(
            connection_manager,
            token_service_endpoint=cloud.oauth_url,
            token_service_audience=cloud.botframework_scope,
        )
        self._connections = connection_manager
        self._ca_bundle = ca_bundle
        self._cloud = cloud
        self._pool: TCPConnector | None = None
        self._user_tokens: SharedUserTokenClient | None = None
        self._proxies = EnvProxies()

    @override
    async def create_connector_client(
        self,
        context: TurnContext | None,
        claims_identity: ClaimsIdentity,
        service_url: str,
        audience: str,
        scopes: list[str] | None = None,
        use_anonymous: bool = False,
    ) -> ConnectorClientBase:
        """A Teams connector client for ``service_url`` on the shared pool."""
        if context is not None and _needs_sdk_path(context):
            return await super().create_connector_client(
                context, claims_identity, service_url, audience, scopes, use_anonymous
            )
        provider = (
            self._ANONYMOUS_TOKEN_PROVIDER
            if use_anonymous
            else self._connections.get_token_provider(claims_identity, service_url)
        )
        if self._cloud.name is not CloudName.PUBLIC:
            # The SDK asks for the public Bot Framework's audience, whatever the cloud.
            audience = self._cloud.botframework_scope
            scopes = [f"{audience}/.default"]
        token = await provider.get_access_token(
            audience, scopes or claims_identity.get_token_scope()
        )
        endpoint = service_url if service_url.endswith("/") else service_url + "/"
        proxy, proxy_auth = await self._proxies.for_url(URL(endpoint))
        session = ClientSession(
            base_url=endpoint,
            connector=self._shared_pool(),
            connector_owner=False,
            timeout=CONNECTOR_TIMEOUT,
            proxy=proxy,
            proxy_auth=proxy_auth,
        )
        client = TeamsConnectorClient(endpoint, token, session=session)
        client._conversations = ConversationsWithoutNulls(session)
        return client

    @override
    async def create_user_token_client(
        self, context: TurnContext, claims_identity: ClaimsIdentity, use_anonymous: bool = False
    ) -> UserTokenClient:
        """One client, without a token, for every turn: the bot signs no user in. The SDK's makes
        a new one per turn (a token of the Bot Framework's token service, an HTTP session and a
        read of its package metadata: a fifth of a chat turn's time), and outside the public
        cloud asks the public Bot Framework for its token, and fails."""
        if self._user_tokens is None:
            self._user_tokens = SharedUserTokenClient(
                self._cloud.oauth_url, "", app_id=claims_identity.get_app_id()
            )
        return self._user_tokens

    def _shared_pool(self) -> TCPConnector:
        # Made on first use, inside the running event loop.
        if self._pool is None or self._pool.closed:
            self._pool = TCPConnector(
                limit=100, ttl_dns_cache=300, ssl=ssl_context(self._ca_bundle)
            )
        return self._pool

    async def close(self) -> None:
        """Close the pooled connections (at shutdown)."""
        if self._pool is not None:
            await self._pool.close()
        if self._user_tokens is not None:
            await self._user_tokens.close_session()


ProxyChoice = tuple[URL | None, BasicAuth | None]
"""A proxy and its credentials; (None, None): connect directly."""


class EnvProxies:
    """The proxy of each connector host, from the proxy variables, looked up once per host.

    aiohttp's ``trust_env`` looks the proxy up on every request, and ``~/.netrc`` for the host's
    credentials too, each in a thread of its own: two thread hops per reply, for answers that
    cannot change while the process runs (the proxy variables are set before it serves). The
    netrc lookup is dropped on purpose: the connector is called with the bot's bearer token, and
    aiohttp refuses a request that has both. The proxy's own credentials still come from the
    proxy URL or ``~/.netrc``, as with ``trust_env``.
    """

    def __init__(self) -> None:
        self._known: dict[tuple[str, str | None, int | None], ProxyChoice] = {}

    async def for_url(self, url: URL) -> ProxyChoice:
        """The proxy for ``url`` and its credentials; (None, None): connect directly."""
        key = (url.scheme, url.host, url.port)
        known = self._known.get(key)
        if known is None:
            if len(self._known) >= MAX_PROXY_HOSTS:
                self._known.clear()
            # Reads the environment and ~/.netrc: blocking, so off the event loop.
            known = self._known[key] = await asyncio.to_thread(_env_proxy, url)
        return known


def _env_proxy(url: URL) -> ProxyChoice:
    try:
        return get_env_proxy_for_url(url)
    except LookupError:  # no proxy variable for the scheme, or NO_PROXY names the host
        return None, None


class ConversationsWithoutNulls(ConversationsOperations):
    """The SDK's conversation calls, but a new message goes without the fields it set to null.

    The SDK clears a proactive message's id (``id = None``) and sends it as ``"id": null``,
    which the Agents Playground refuses (400 BadArgument); Teams ignores it.
    """

    @override
    async def send_to_conversation(self, conversation_id: str, body: Activity) -> ResourceResponse:
        """Post ``body`` as a new message of the conversation."""
        without_nulls = Activity.model_validate(
            body.model_dump(by_alias=True, exclude_unset=True, exclude_none=True)
        )
        return await super().send_to_conversation(conversation_id, without_nulls)


def _needs_sdk_path(context: TurnContext) -> bool:
    recipient = context.activity.recipient
    return bool(
        context.activity.is_agentic_request()
        or (recipient is not None and recipient.role == RoleTypes.connector_user)
    )
