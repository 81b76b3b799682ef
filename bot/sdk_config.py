"""The Agents SDK's configuration, made from our settings with its weak defaults closed."""

from __future__ import annotations

from typing import Any

from microsoft_agents.activity import load_configuration_from_env

from bot.cloud import CloudName
from bot.config import SDK_PREFIX, SDK_TENANT_ID, Settings


def sdk_configuration(settings: Settings) -> dict[str, Any]:
    """The Agents SDK configuration, with the weak defaults closed.

    Issuer validation is always on; anonymous access follows only our explicit development switch.
    """
    env = _cloud_configuration(settings) | dict(settings.agents_sdk)
    env[SDK_PREFIX + "VALIDATE_ISSUER"] = "true"
    env[SDK_PREFIX + "ANONYMOUS_ALLOWED"] = "true" if settings.dev_allow_anonymous else "false"
    config: dict[str, Any] = load_configuration_from_env(env)
    return config


def _cloud_configuration(settings: Settings) -> dict[str, str]:
    """Outside the public cloud, the SDK's Entra authority and the issuers it accepts: the SDK
    knows the US Government by its authority, and nothing of China."""
    cloud, tenant = settings.cloud, settings.agents_sdk.get(SDK_TENANT_ID, "")
    if cloud.name is CloudName.PUBLIC or not tenant:
        return {}
    issuers = [cloud.botframework_issuer, *cloud.entra_issuers(tenant)]
    return {
        SDK_PREFIX + "AUTHORITY": f"{cloud.entra_authority}/{tenant}",
        SDK_PREFIX + "ISSUERS": ",".join(issuers),
    }
