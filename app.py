"""Composition root: settings -> store -> Agents SDK -> aiohttp app. Run with ``make run``."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable

from aiohttp import web
from microsoft_agents.hosting.aiohttp import CloudAdapter
from microsoft_agents.hosting.core import (
    AccessTokenProviderBase,
    AgentAuthConfiguration,
    ConnectionManager,
    OutboundHostValidator,
)

from bot.agent import build_agent
from bot.channel import AgentsChannel
from bot.config import Settings, SettingsError, load_settings, sdk_configuration
from bot.connector import PooledClientFactory
from bot.health import configuration_checks, startup_warnings
from bot.logs import configure_logging
from bot.outbox import OutboxSender
from bot.ratelimit import RateLimiter
from bot.registry.entra import EntraTokenValidator
from bot.registry.eventgrid import EventGridEndpoint
from bot.store.engine import create_engine
from bot.store.migrate import upgrade
from bot.store.repository import Store
from bot.web import MessageEndpoint, Readiness, build_web_app, timed_check

log = logging.getLogger("releasebot")

SHUTDOWN_GRACE_SECONDS = 10
TokenProviderFactory = Callable[[AgentAuthConfiguration], AccessTokenProviderBase]


def msal_token_provider(config: AgentAuthConfiguration) -> AccessTokenProviderBase:
    """The production token provider (MSAL), imported only when a connection is built."""
    from microsoft_agents.authentication.msal import MsalAuth

    return MsalAuth(config)


async def create_app(
    settings: Settings, token_provider_factory: TokenProviderFactory = msal_token_provider
) -> web.Application:
    """Build the whole bot for ``settings``: migrate the store, wire the SDK, return the web app."""
    engine = create_engine(settings.database_url)
    await upgrade(engine)
    store = Store(engine)

    connection_manager = ConnectionManager(
        provider_factory=token_provider_factory, **sdk_configuration(settings)
    )
    client_factory = PooledClientFactory(connection_manager)
    adapter = CloudAdapter(
        connection_manager=connection_manager,
        channel_service_client_factory=client_factory,
        # Replies go only to Microsoft's service hosts, unless a local connector is allowed.
        host_validator=OutboundHostValidator(enabled=not settings.dev_local_connector),
    )
    # The SDK's default posts "Exception caught : <error>" to the user; our handlers report errors.
    adapter.on_turn_error = None
    agent = build_agent(store, connection_manager, settings.subscription_managers)
    messages = MessageEndpoint(
        adapter=adapter,
        agent=agent,
        auth=connection_manager.get_default_connection_configuration(),
        max_body_bytes=settings.max_body_bytes,
    )
    readiness = Readiness(timed_check(store.ping, "the database"), configuration_checks(settings))
    app = build_web_app(messages, readiness, settings.max_body_bytes)

    channel = AgentsChannel(adapter, settings.bot_client_id, RateLimiter())
    sender = OutboxSender(store, channel)
    entra = (
        EntraTokenValidator(settings.eventgrid_audience, settings.eventgrid_tenant_id)
        if settings.eventgrid_audience and settings.eventgrid_tenant_id
        else None
    )
    events = EventGridEndpoint(
        store,
        settings.azureml_workspaces,
        settings.eventgrid_secret,
        entra,
        settings.max_body_bytes,
        sender,
    )
    app.router.add_post("/api/events/azureml", events.deliver)
    app.router.add_route("OPTIONS", "/api/events/azureml", events.handshake)

    async def start_workers(_app: web.Application) -> None:
        workers.append(asyncio.create_task(sender.run(), name="outbox-sender"))

    async def stop_workers(_app: web.Application) -> None:
        await sender.stop(grace=SHUTDOWN_GRACE_SECONDS)
        await client_factory.close()
        await engine.dispose()

    workers: list[asyncio.Task[None]] = []  # kept referenced while they run
    app.on_startup.append(start_workers)
    app.on_cleanup.append(stop_workers)
    return app


def main() -> None:
    """Read the settings, report what is off, and serve until interrupted."""
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"model-release-bot cannot start: {error}", file=sys.stderr)
        sys.exit(2)
    configure_logging(settings.log_level, settings.secrets())
    for line in startup_warnings(settings):
        log.warning(line)
    log.info(
        "listening on http://%s:%d (store: %s)", settings.host, settings.port, _store_kind(settings)
    )
    web.run_app(
        create_app(settings), host=settings.host, port=settings.port, print=None, access_log=None
    )


def _store_kind(settings: Settings) -> str:
    return settings.database_url.split(":", 1)[0]


if __name__ == "__main__":
    main()
