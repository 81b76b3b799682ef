"""Composition root: settings -> store -> Agents SDK -> aiohttp app. Run with ``make run``."""

from __future__ import annotations

import asyncio
import functools
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import ClientSession, web
from azure.core.credentials_async import AsyncTokenCredential
from microsoft_agents.hosting.aiohttp import CloudAdapter
from microsoft_agents.hosting.core import (
    AccessTokenProviderBase,
    AgentAuthConfiguration,
    ConnectionManager,
    OutboundHostValidator,
)

from bot.agent import Access, AgentExtension, build_agent
from bot.audit_api import AuditExport
from bot.cardsync import CardSync
from bot.channel import AgentsChannel
from bot.config import Settings, load_settings
from bot.connector import PooledClientFactory
from bot.health import configuration_checks, startup_warnings
from bot.logs import configure_logging
from bot.network import client_session, export_network_settings
from bot.notify import Notifier, NotifyMode
from bot.outbox import OutboxSender
from bot.pipelines.azure_devops import AzureDevOps, entra_auth, pat_auth
from bot.pipelines.deployer import Deployer
from bot.pipelines.dispatcher import DeploymentWorker
from bot.pipelines.servicehooks import HookHint, ServiceHookEndpoint
from bot.ratelimit import sends_in_flight
from bot.registry.azureml import (
    ModelRegistry,
    default_credential,
    registry_registry,
    workspace_registry,
)
from bot.registry.entra import EntraTokenValidator
from bot.registry.eventgrid import EventGridEndpoint
from bot.registry.watcher import RegistryWatcher
from bot.reminders import Reminders
from bot.roster import Roster
from bot.sdk_config import sdk_configuration
from bot.settings_values import SettingsError
from bot.store.approvals import ApprovalStore
from bot.store.audit_trail import AuditTrail
from bot.store.deployments import DeploymentStore, job_for
from bot.store.engine import create_engine
from bot.store.migrate import upgrade
from bot.store.ratebook import rate_limiter
from bot.store.reminders import ReminderStore
from bot.store.store import Store
from bot.web import (
    Callers,
    MessageEndpoint,
    Readiness,
    build_web_app,
    timed_check,
    trust_botframework_keys,
)
from domain.records import Decision

log = logging.getLogger("releasebot")

# After SIGTERM, requests being answered get HANDLER_GRACE_SECONDS, then the workers' sends in
# flight SHUTDOWN_GRACE_SECONDS, all workers at once: within the 10 s that Docker and
# Kubernetes wait before SIGKILL. What is not done by then stays queued (Event Grid and Teams
# retry an unanswered request).
HANDLER_GRACE_SECONDS = 2.0
SHUTDOWN_GRACE_SECONDS = 6.0
STORE = web.AppKey("store", Store)
"""The app's store, for tools and tests that look at what the bot recorded."""
WATCHER = web.AppKey("watcher", RegistryWatcher)
"""The app's poller, for tests that have it poll now rather than at its next cycle."""
TokenProviderFactory = Callable[[AgentAuthConfiguration], AccessTokenProviderBase]


def msal_token_provider(config: AgentAuthConfiguration) -> AccessTokenProviderBase:
    """The production token provider (MSAL), imported only when a connection is built."""
    from microsoft_agents.authentication.msal import MsalAuth

    return MsalAuth(config)


async def create_app(
    settings: Settings,
    token_provider_factory: TokenProviderFactory = msal_token_provider,
    registries: list[ModelRegistry] | None = None,
    deployer: Deployer | None = None,
    extensions: Sequence[AgentExtension] = (),
) -> web.Application:
    """Build the whole bot for ``settings``: migrate the store, wire the SDK and the workers.

    ``registries`` and ``deployer`` replace the Azure ML sources and the Azure DevOps
    organization named in the settings (tests, the demo); ``extensions`` add chat routes (the demo).
    """
    export_network_settings(settings)
    engine = create_engine(settings.database_url)
    await upgrade(engine)
    store = Store(engine, settings.policy_defaults())
    if left := await store.conversations.deactivate_other_tenants(settings.allowed_tenants):
        log.warning("%d conversation(s) of tenants not served any more get no cards", left)
    connection_manager, client_factory, adapter = _agents_sdk(settings, token_provider_factory)
    channel = AgentsChannel(adapter, settings.bot_client_id, rate_limiter(engine))
    studio = settings.cloud.studio
    sender, cards, reminders = _card_workers(settings, store, channel)
    devops = DevOpsConnection(settings) if deployer is None else None
    if devops is not None:
        deployer = devops.deployer
    deployments = DeploymentWorker(DeploymentStore(engine), deployer, cards.wake)

    def approval_changed(decision: Decision) -> None:
        cards.wake()
        if decision.new_deployment is not None:
            deployments.dispatch(job_for(decision.record, decision.new_deployment))

    sources = registries if registries is not None else configured_registries(settings)
    watcher = RegistryWatcher(store, sources, sender, settings.poll_interval_seconds)

    messages = MessageEndpoint(
        adapter=adapter,
        agent=build_agent(
            store,
            connection_manager,
            Access(settings.allowed_tenants, settings.subscription_managers),
            on_approval_changed=approval_changed,
            registries=sources,
            extensions=extensions,
            studio=studio,
        ),
        auth=connection_manager.get_default_connection_configuration(),
        max_body_bytes=settings.max_body_bytes,
        callers=Callers(
            channel_issuers=frozenset({settings.cloud.botframework_issuer}),
            channels=settings.allowed_channels,
            agent_app_ids=settings.agent_app_ids,
        ),
    )
    readiness = _readiness(settings, store, watcher if sources else None, deployer)
    app = build_web_app(messages, readiness, settings.max_body_bytes, settings.metrics_token)
    app[STORE] = store
    app[WATCHER] = watcher
    events = _event_endpoint(settings, store, sender, sources)
    app.router.add_post("/api/events/azureml", events.deliver)
    app.router.add_route("OPTIONS", "/api/events/azureml", events.handshake)
    app.router.add_get("/api/audit", AuditExport(AuditTrail(engine), settings.metrics_token).handle)
    if settings.devops_hook_secret is not None:
        hooks = _service_hooks(settings, DeploymentStore(engine), deployments)
        app.router.add_post("/api/hooks/azure-devops", hooks.handle)

    async def start_workers(_app: web.Application) -> None:
        workers.append(asyncio.create_task(sender.run(), name="outbox-sender"))
        workers.append(asyncio.create_task(cards.run(), name="card-sync"))
        workers.append(asyncio.create_task(deployments.run(), name="deployments"))
        workers.append(asyncio.create_task(reminders.run(), name="reminders"))
        if sources:
            workers.append(asyncio.create_task(watcher.run(), name="registry-watcher"))

    async def stop_workers(_app: web.Application) -> None:
        await asyncio.gather(
            deployments.stop(grace=SHUTDOWN_GRACE_SECONDS),
            cards.stop(grace=SHUTDOWN_GRACE_SECONDS),
            sender.stop(grace=SHUTDOWN_GRACE_SECONDS),
            reminders.stop(grace=SHUTDOWN_GRACE_SECONDS),
            # The poller gives its lease back while the store is still open.
            watcher.stop(grace=SHUTDOWN_GRACE_SECONDS),
        )
        await client_factory.close()
        if devops is not None:
            await devops.close()
        store.close()
        await engine.dispose()

    workers: list[asyncio.Task[None]] = []  # kept referenced while they run
    app.on_startup.append(start_workers)
    app.on_cleanup.append(stop_workers)
    return app


def _card_workers(
    settings: Settings, store: Store, channel: AgentsChannel
) -> tuple[OutboxSender, CardSync, Reminders]:
    """The workers that post and keep the cards: the outbox sender, the card sync, and the
    reminders, calling approvers as ``RELEASEBOT_NOTIFY`` says."""
    studio = settings.cloud.studio
    notifier = Notifier(NotifyMode(settings.notify), Roster(channel))
    cards = CardSync(ApprovalStore(store.engine), channel, studio=studio, notifier=notifier)
    return (
        OutboxSender(
            store,
            channel,
            studio=studio,
            notifier=notifier,
            on_behind=cards.wake,
            # As many sends under way as keep Teams' rate busy, however long Teams takes.
            in_flight=lambda: sends_in_flight(channel.call_seconds),
        ),
        cards,
        Reminders(ReminderStore(store.engine), channel, notifier),
    )


def _agents_sdk(
    settings: Settings, token_provider_factory: TokenProviderFactory
) -> tuple[ConnectionManager, PooledClientFactory, CloudAdapter]:
    trust_botframework_keys(settings.cloud)
    connection_manager = ConnectionManager(
        provider_factory=token_provider_factory, **sdk_configuration(settings)
    )
    client_factory = PooledClientFactory(connection_manager, settings.ca_bundle, settings.cloud)
    adapter = CloudAdapter(
        connection_manager=connection_manager,
        channel_service_client_factory=client_factory,
        # Replies go only to Microsoft's service hosts, unless a local connector is allowed.
        host_validator=OutboundHostValidator(
            list(settings.cloud.service_hosts) or None, enabled=not settings.dev_local_connector
        ),
    )
    # The SDK's default posts "Exception caught : <error>" to the user; our handlers report errors.
    adapter.on_turn_error = None
    return connection_manager, client_factory, adapter


def _event_endpoint(
    settings: Settings, store: Store, sender: OutboxSender, sources: Sequence[ModelRegistry]
) -> EventGridEndpoint:
    entra = (
        EntraTokenValidator(
            settings.eventgrid_audience, settings.eventgrid_tenant_id, settings.cloud
        )
        if settings.eventgrid_audience and settings.eventgrid_tenant_id
        else None
    )
    return EventGridEndpoint(
        store,
        settings.azureml_workspaces,
        settings.eventgrid_secret,
        entra,
        settings.max_body_bytes,
        sender,
        registries=tuple(sources),  # the poller's own: events' versions are read where it reads
    )


def _service_hooks(
    settings: Settings, store: DeploymentStore, worker: DeploymentWorker
) -> ServiceHookEndpoint:
    assert settings.devops_hook_secret is not None  # noqa: S101 - checked by the caller

    async def on_hint(hint: HookHint) -> None:
        if await store.hint(hint.kind.value, hint.run_id):
            worker.wake()

    return ServiceHookEndpoint(
        settings.devops_hook_secret.reveal(), on_hint, max_body_bytes=settings.max_body_bytes
    )


def _readiness(
    settings: Settings, store: Store, watcher: RegistryWatcher | None, deployer: Deployer | None
) -> Readiness:
    """``/readyz``: the settings' entries, the poller's state and the last Azure DevOps hop, for
    the host itself and the bearer of the metrics token."""
    static_checks = configuration_checks(settings)
    live_checks = {"azure_ml": watcher.health} if watcher is not None else {}
    if isinstance(deployer, AzureDevOps):
        live_checks["azure_devops"] = _devops_health(deployer, static_checks["azure_devops"])
    return Readiness(
        timed_check(store.ping, "the database"), static_checks, live_checks, settings.metrics_token
    )


def _devops_health(devops: AzureDevOps, configured: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    """The settings' entry, unless the last call to Azure DevOps failed on the way (TLS, proxy)."""

    def health() -> dict[str, Any]:
        problem = devops.network_problem
        return configured if problem is None else {"ok": False, "reason": problem}

    return health


class DevOpsConnection:
    """The Azure DevOps organization of the settings: a PAT, else azure-identity signs in (its
    async credential, made only when needed), over one connection pool."""

    def __init__(self, settings: Settings) -> None:
        self.deployer: AzureDevOps | None = None
        self._session: ClientSession | None = None
        self._credential: AsyncTokenCredential | None = None
        if not (settings.devops_organization_url and settings.devops_project):
            return
        if settings.devops_pat is not None:
            auth = pat_auth(settings.devops_pat.reveal())
        else:
            from azure.identity.aio import DefaultAzureCredential

            verify = {"connection_verify": settings.ca_bundle} if settings.ca_bundle else {}
            self._credential = DefaultAzureCredential(**verify)
            auth = entra_auth(self._credential)
        self._session = client_session(settings.ca_bundle)
        self.deployer = AzureDevOps(
            self._session, settings.devops_organization_url, settings.devops_project, auth
        )

    async def close(self) -> None:
        """Close the connection pool and the credential."""
        if self._session is not None:
            await self._session.close()
        if self._credential is not None:
            await self._credential.close()


def configured_registries(settings: Settings) -> list[ModelRegistry]:
    """The workspaces and registries of the settings, signed in by azure-identity (one credential,
    made on first use, in the poller's thread), in the settings' cloud."""
    cloud = settings.cloud
    credential = functools.cache(functools.partial(default_credential, cloud.entra_host))
    options = {"cloud": cloud.azureml_cloud}
    return [
        *(
            workspace_registry(workspace, credential, **options)
            for workspace in settings.azureml_workspaces
        ),
        *(registry_registry(name, credential, **options) for name in settings.azureml_registries),
    ]


def main() -> None:
    """Read the settings, report what is off, and serve until interrupted."""
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"model-release-bot cannot start: {error}", file=sys.stderr)
        sys.exit(2)
    configure_logging(settings.log_level, settings.secrets(), settings.log_format)
    for line in startup_warnings(settings):
        log.warning(line)
    log.info(
        "listening on http://%s:%d (store: %s)", settings.host, settings.port, _store_kind(settings)
    )
    web.run_app(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        shutdown_timeout=HANDLER_GRACE_SECONDS,
        print=None,
        access_log=None,
    )


def _store_kind(settings: Settings) -> str:
    return settings.database_url.split(":", 1)[0]


if __name__ == "__main__":
    main()
