"""Settings: one frozen object read from the environment and an optional `.env` file.

Our own settings share the prefix ``RELEASEBOT_``. The bot's identity uses the Agents SDK's own
names (``CONNECTIONS__SERVICE_CONNECTION__SETTINGS__*``) and Azure credentials use azure-identity's
``AZURE_*`` names, so existing deployment recipes keep working.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import dotenv_values

from bot import settings_values as values
from bot.cloud import CLOUDS, Cloud, CloudName
from bot.settings_values import PREFIX, SettingsError
from dialogs.policy import PolicyDefaults
from domain.target import is_target

SDK_PREFIX = "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__"
CA_VARIABLES = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")
PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY")
SDK_CLIENT_ID = SDK_PREFIX + "CLIENTID"
SDK_TENANT_ID = SDK_PREFIX + "TENANTID"
SDK_CLIENT_SECRET = SDK_PREFIX + "CLIENTSECRET"
SDK_AUTH_TYPE = SDK_PREFIX + "AUTHTYPE"

# Auth types of the SDK that sign in without a client secret.
_SECRETLESS_AUTH_TYPES = {
    "usermanagedidentity",
    "systemmanagedidentity",
    "federatedcredentials",
    "workloadidentity",
    "certificate",
    "certificatesubjectname",
}
_SECRET_NAME = re.compile(r"(SECRET|PASSWORD|TOKEN|PAT|KEY)$")
_WORKSPACE = re.compile(r"^[0-9a-fA-F-]{36}/[-\w._()]{1,90}/[A-Za-z0-9][\w-]{2,32}$")


class Secret:
    """A secret string that never shows itself in ``str``, ``repr`` or logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself: pass it only to the client that needs it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


@dataclass(frozen=True)
class Workspace:
    """An Azure ML workspace, named as ``<subscription id>/<resource group>/<workspace>``."""

    subscription_id: str
    resource_group: str
    name: str


@dataclass(frozen=True)
class MissingSetting:
    """A setting that is not set, and the feature that is off because of it."""

    name: str
    feature: str


@dataclass(frozen=True)
class Settings:
    """Everything the bot reads from its environment. Build it with :func:`load_settings`."""

    host: str = "127.0.0.1"
    """RELEASEBOT_HOST: the address to listen on; 0.0.0.0 in a container."""
    port: int = 3978
    """RELEASEBOT_PORT: the port to listen on."""
    database_url: str = "sqlite+aiosqlite:///data/releasebot.db"
    """RELEASEBOT_DATABASE_URL: SQLAlchemy async URL of the store (SQLite file by default)."""
    log_level: str = "INFO"
    log_format: str = "text"
    """RELEASEBOT_LOG_FORMAT: text, or json (one object per line, with a correlation id)."""
    """RELEASEBOT_LOG_LEVEL: DEBUG, INFO, WARNING or ERROR."""
    poll_interval_seconds: float = 60.0
    """RELEASEBOT_POLL_INTERVAL_SECONDS: how often the Azure ML sources are polled (±10%)."""
    max_body_bytes: int = 256 * 1024
    """RELEASEBOT_MAX_BODY_BYTES: larger request bodies are refused with 413."""
    dev_allow_anonymous: bool = False
    """RELEASEBOT_DEV_ALLOW_ANONYMOUS: development only: accept /api/messages without a token."""
    dev_local_connector: bool = False
    """RELEASEBOT_DEV_LOCAL_CONNECTOR: development only: replies may go to any service URL."""
    subscription_managers: frozenset[str] = frozenset()
    """RELEASEBOT_SUBSCRIPTION_MANAGERS: Entra object ids who may change subscriptions; empty:
    every member of a conversation in an allowed tenant (the policy floor holds either way)."""
    allowed_tenants: frozenset[str] = frozenset()
    """RELEASEBOT_ALLOWED_TENANTS: Entra tenant ids whose Teams the bot serves; default: the
    bot's own tenant (``CONNECTIONS__SERVICE_CONNECTION__SETTINGS__TENANTID``)."""
    allowed_channels: frozenset[str] = frozenset({"msteams"})
    """RELEASEBOT_ALLOWED_CHANNELS: the Bot Framework channel ids served (default: msteams)."""
    agent_app_ids: frozenset[str] = frozenset()
    """RELEASEBOT_AGENT_APP_IDS: Entra app ids that may call /api/messages with their own
    Entra token (agent to agent); such a caller is that app, never a person. Empty: none."""
    azureml_workspaces: tuple[Workspace, ...] = ()
    """RELEASEBOT_AZUREML_WORKSPACES: comma-separated ``subscription/resource-group/workspace``."""
    azureml_registries: tuple[str, ...] = ()
    """RELEASEBOT_AZUREML_REGISTRIES: comma-separated Azure ML registry names."""
    eventgrid_secret: Secret | None = None
    """RELEASEBOT_EVENTGRID_SECRET: what Event Grid sends as ?secret= or X-Releasebot-Secret."""
    eventgrid_audience: str = ""
    """RELEASEBOT_EVENTGRID_AUDIENCE: Entra app (id or URI) Event Grid gets tokens for; '' off."""
    eventgrid_tenant_id: str = ""
    """AZURE_TENANT_ID (else the bot's tenant): the tenant whose Entra tokens Event Grid sends."""
    devops_organization_url: str = ""
    """RELEASEBOT_DEVOPS_ORGANIZATION_URL: e.g. https://dev.azure.com/contoso."""
    devops_project: str = ""
    """RELEASEBOT_DEVOPS_PROJECT: the Azure DevOps project holding the pipelines."""
    devops_pat: Secret | None = None
    """RELEASEBOT_DEVOPS_PAT: a personal access token; without it azure-identity signs in."""
    metrics_token: Secret | None = None
    """RELEASEBOT_METRICS_TOKEN: the bearer token GET /metrics and /api/audit ask for; None:
    /metrics asks for none, /api/audit answers only the host itself."""
    devops_hook_secret: Secret | None = None
    """RELEASEBOT_DEVOPS_HOOK_SECRET: the Basic auth password of the service hooks; None: off."""
    deploy_target: str | None = None
    """RELEASEBOT_DEPLOY_TARGET: ``release:<definition id>[:<alias>]`` or ``pipeline:<id>``."""
    deploy_targets: frozenset[str] = frozenset()
    """RELEASEBOT_DEPLOY_TARGETS: the other targets a subscription may name with ``deploy=``
    (the default target is always allowed); chat cannot name any other."""
    approvers: frozenset[str] | None = None
    """RELEASEBOT_APPROVERS: object ids or UPNs who may approve; None: anyone in the chat."""
    required_approvals: int = 1
    """RELEASEBOT_REQUIRED_APPROVALS: how many must approve a version (N of M)."""
    approval_expiry_hours: int = 72
    """RELEASEBOT_APPROVAL_EXPIRY_HOURS: after this, an unanswered request expires."""
    notify: str = "mentions"
    """RELEASEBOT_NOTIFY: how approvers are called: ``mentions`` on the card and in the reminders,
    ``channel`` (reminders without mentions) or ``none`` (no reminders); see bot/notify.py."""
    developer_name: str = "Model Release Bot maintainers"
    """RELEASEBOT_DEVELOPER_NAME: the publisher shown in the Teams app (make package)."""
    developer_url: str = "https://github.com/model-release-bot"
    """RELEASEBOT_DEVELOPER_URL: the publisher's site; /privacy and /terms are linked below it."""
    cloud: Cloud = CLOUDS[CloudName.PUBLIC]
    """RELEASEBOT_CLOUD: public, usgov or china: the endpoints of Azure ML, Entra, Bot Framework."""
    ca_bundle: str | None = None
    """SSL_CERT_FILE or REQUESTS_CA_BUNDLE: the CA bundle every outbound call trusts (with a
    corporate root); None: the system's."""
    proxy: Mapping[str, str] = field(default_factory=dict, repr=False)
    """HTTPS_PROXY, HTTP_PROXY and NO_PROXY as set (in the environment or .env)."""
    agents_sdk: Mapping[str, str] = field(default_factory=dict, repr=False)
    """The ``CONNECTIONS__*`` settings handed to the Agents SDK, as read."""

    @property
    def bot_client_id(self) -> str:
        """The bot's Entra app id, or '' when not set."""
        return self.agents_sdk.get(SDK_CLIENT_ID, "")

    def secrets(self) -> list[str]:
        """Every secret value in the settings, for the log filter that masks them."""
        secrets = (
            self.devops_pat,
            self.eventgrid_secret,
            self.devops_hook_secret,
            self.metrics_token,
        )
        values = [s.reveal() for s in secrets if s is not None]
        values += [v for k, v in self.agents_sdk.items() if _SECRET_NAME.search(k) and v]
        proxy_passwords = (urlsplit(url).password for url in self.proxy.values() if "@" in url)
        return values + [password for password in proxy_passwords if password]

    def policy_defaults(self) -> PolicyDefaults:
        """The global approval policy and deployment target."""
        return PolicyDefaults(
            approvers=self.approvers,
            required_approvals=self.required_approvals,
            expiry=timedelta(hours=self.approval_expiry_hours),
            target=self.deploy_target,
            allowed_targets=self.deploy_targets,
        )

    def missing(self) -> list[MissingSetting]:
        """The settings that are not set, each with the feature that is off because of it."""
        missing: list[MissingSetting] = []
        if not self.bot_client_id:
            missing.append(
                MissingSetting(
                    SDK_CLIENT_ID,
                    "Teams messages: every request to /api/messages is refused (401) "
                    "and no reply can be sent",
                )
            )
        if not self.agents_sdk.get(SDK_TENANT_ID):
            missing.append(
                MissingSetting(SDK_TENANT_ID, "bot sign-in: the single-tenant bot has no tenant")
            )
        auth_type = self.agents_sdk.get(SDK_AUTH_TYPE, "ClientSecret").lower()
        if auth_type not in _SECRETLESS_AUTH_TYPES and not self.agents_sdk.get(SDK_CLIENT_SECRET):
            missing.append(
                MissingSetting(SDK_CLIENT_SECRET, "replies: the bot cannot get a token to send")
            )
        if not self.allowed_tenants:
            missing.append(
                MissingSetting(
                    f"{PREFIX}ALLOWED_TENANTS",
                    "Teams: no tenant is served, every conversation is told so",
                )
            )
        if not self.azureml_workspaces and not self.azureml_registries:
            missing.append(
                MissingSetting(
                    f"{PREFIX}AZUREML_WORKSPACES or {PREFIX}AZUREML_REGISTRIES",
                    "announcements: no Azure ML workspace or registry is watched",
                )
            )
        if (
            self.azureml_workspaces
            and self.eventgrid_secret is None
            and not self.eventgrid_audience
        ):
            missing.append(
                MissingSetting(
                    f"{PREFIX}EVENTGRID_SECRET or {PREFIX}EVENTGRID_AUDIENCE",
                    "Event Grid push: /api/events/azureml refuses every delivery (401)",
                )
            )
        for name, value in (
            ("DEVOPS_ORGANIZATION_URL", self.devops_organization_url),
            ("DEVOPS_PROJECT", self.devops_project),
        ):
            if not value:
                missing.append(
                    MissingSetting(
                        PREFIX + name, "deployments: approved versions cannot start a pipeline"
                    )
                )
        return missing


def load_settings(
    environ: Mapping[str, str] | None = None, dotenv_path: str | Path | None = ".env"
) -> Settings:
    """Read the settings from ``environ`` (default: the process) over an optional ``.env`` file.

    Raises :class:`SettingsError` naming the first setting whose value cannot be used.
    """
    env = read_environment(environ, dotenv_path)

    def get(name: str, default: str = "") -> str:
        return env.get(PREFIX + name, default).strip()

    return Settings(
        host=get("HOST", Settings.host),
        port=values.port(get("PORT", str(Settings.port))),
        database_url=get("DATABASE_URL", Settings.database_url),
        log_level=values.choice("LOG_LEVEL", get("LOG_LEVEL", "INFO").upper(), _LOG_LEVELS),
        log_format=values.choice("LOG_FORMAT", get("LOG_FORMAT", "text").lower(), ("text", "json")),
        max_body_bytes=values.positive_int("MAX_BODY_BYTES", get("MAX_BODY_BYTES", "262144")),
        poll_interval_seconds=float(
            values.positive_int("POLL_INTERVAL_SECONDS", get("POLL_INTERVAL_SECONDS", "60"))
        ),
        dev_allow_anonymous=values.boolean("DEV_ALLOW_ANONYMOUS", get("DEV_ALLOW_ANONYMOUS")),
        dev_local_connector=values.boolean("DEV_LOCAL_CONNECTOR", get("DEV_LOCAL_CONNECTOR")),
        subscription_managers=frozenset(
            item.lower() for item in values.comma_separated(get("SUBSCRIPTION_MANAGERS"))
        ),
        allowed_tenants=values.tenants(get("ALLOWED_TENANTS"), env.get(SDK_TENANT_ID, "")),
        allowed_channels=frozenset(
            item.lower() for item in values.comma_separated(get("ALLOWED_CHANNELS", "msteams"))
        ),
        agent_app_ids=values.guids("AGENT_APP_IDS", get("AGENT_APP_IDS")),
        azureml_workspaces=tuple(
            _workspace(item) for item in values.comma_separated(get("AZUREML_WORKSPACES"))
        ),
        azureml_registries=tuple(
            values.registry_name(item) for item in values.comma_separated(get("AZUREML_REGISTRIES"))
        ),
        eventgrid_secret=Secret(get("EVENTGRID_SECRET")) if get("EVENTGRID_SECRET") else None,
        eventgrid_audience=get("EVENTGRID_AUDIENCE"),
        eventgrid_tenant_id=(env.get("AZURE_TENANT_ID") or env.get(SDK_TENANT_ID) or "").strip(),
        devops_organization_url=values.https_url(
            "DEVOPS_ORGANIZATION_URL", get("DEVOPS_ORGANIZATION_URL"), loopback_http=True
        ),
        devops_project=get("DEVOPS_PROJECT"),
        devops_pat=Secret(get("DEVOPS_PAT")) if get("DEVOPS_PAT") else None,
        devops_hook_secret=_secret(get("DEVOPS_HOOK_SECRET")),
        metrics_token=_secret(get("METRICS_TOKEN")),
        deploy_target=_target("DEPLOY_TARGET", get("DEPLOY_TARGET")),
        deploy_targets=frozenset(
            _target("DEPLOY_TARGETS", item) or item
            for item in values.comma_separated(get("DEPLOY_TARGETS"))
        ),
        approvers=values.approvers(get("APPROVERS")),
        required_approvals=values.bounded_int(
            "REQUIRED_APPROVALS", get("REQUIRED_APPROVALS", "1"), 20
        ),
        approval_expiry_hours=values.bounded_int(
            "APPROVAL_EXPIRY_HOURS", get("APPROVAL_EXPIRY_HOURS", "72"), 24 * 30
        ),
        notify=values.choice("NOTIFY", get("NOTIFY", Settings.notify).lower(), _NOTIFY_MODES),
        developer_name=get("DEVELOPER_NAME", Settings.developer_name),
        developer_url=values.https_url(
            "DEVELOPER_URL", get("DEVELOPER_URL", Settings.developer_url)
        ),
        cloud=CLOUDS[
            CloudName(values.choice("CLOUD", get("CLOUD", "public").lower(), _CLOUD_NAMES))
        ],
        ca_bundle=_ca_bundle(env),
        proxy=_proxy_variables(env),
        agents_sdk={k: v for k, v in env.items() if k.startswith("CONNECTIONS__")},
    )


def read_environment(
    environ: Mapping[str, str] | None = None, dotenv_path: str | Path | None = ".env"
) -> dict[str, str]:
    """The process environment over the values of an optional ``.env`` file."""
    merged: dict[str, str] = {}
    if dotenv_path is not None and Path(dotenv_path).is_file():
        merged.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
    merged.update(os.environ if environ is None else environ)
    return merged


_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_CLOUD_NAMES = tuple(CloudName)
_NOTIFY_MODES = ("mentions", "channel", "none")


def _secret(value: str) -> Secret | None:
    return Secret(value) if value else None


def _target(name: str, value: str) -> str | None:
    if value and not is_target(value):
        raise SettingsError(
            f"{PREFIX}{name} must name release:<definition id>[:<artifact alias>] or "
            f"pipeline:<pipeline id>, not {value!r}"
        )
    return value or None


def _workspace(item: str) -> Workspace:
    if not _WORKSPACE.match(item):
        raise SettingsError(
            f"{PREFIX}AZUREML_WORKSPACES: {item!r} is not <subscription id>/<resource group>/"
            "<workspace>, e.g. 00000000-0000-0000-0000-000000000000/ml-rg/ml-workspace"
        )
    subscription_id, resource_group, name = item.split("/")
    return Workspace(subscription_id, resource_group, name)


def _ca_bundle(env: Mapping[str, str]) -> str | None:
    """The one CA bundle that SSL_CERT_FILE or REQUESTS_CA_BUNDLE names (both: the same file)."""
    named = {name: env[name].strip() for name in CA_VARIABLES if env.get(name, "").strip()}
    if not named:
        return None
    if len(set(named.values())) > 1:
        raise SettingsError("SSL_CERT_FILE and REQUESTS_CA_BUNDLE name different files: set one")
    name, bundle = next(iter(named.items()))
    if not Path(bundle).is_file():
        raise SettingsError(f"{name}: there is no CA bundle file at {bundle}")
    return bundle


def _proxy_variables(env: Mapping[str, str]) -> dict[str, str]:
    """The proxy variables, by their upper-case names (the lower-case ones count too)."""
    found = {name: env.get(name) or env.get(name.lower()) for name in PROXY_VARIABLES}
    return {name: value.strip() for name, value in found.items() if value and value.strip()}
