"""What the settings switch off: one log line per missing setting at start, the same on /readyz."""

from __future__ import annotations

from typing import Any

from bot.config import SDK_PREFIX, MissingSetting, Settings
from bot.settings_values import PREFIX


def configuration_checks(settings: Settings) -> dict[str, dict[str, Any]]:
    """Readiness entries that follow from the settings alone: bot identity, Azure ML, DevOps."""
    missing = settings.missing()
    return {
        "cloud": {"ok": True, "detail": settings.cloud.name.value},
        "bot_credentials": _bot_credentials(settings, missing),
        "azure_ml": _entry(missing, "AZUREML_", _azureml_detail(settings)),
        "azure_devops": _entry(missing, "DEVOPS_", settings.devops_organization_url),
    }


def _bot_credentials(settings: Settings, missing: list[MissingSetting]) -> dict[str, Any]:
    if settings.dev_allow_anonymous and not settings.bot_client_id:
        return {"ok": True, "detail": "development mode: anonymous requests, no bot identity"}
    return _entry(missing, SDK_PREFIX, f"app id {settings.bot_client_id}")


def _azureml_detail(settings: Settings) -> str:
    return (
        f"{len(settings.azureml_workspaces)} workspace(s), "
        f"{len(settings.azureml_registries)} registry(ies) configured"
    )


def _entry(missing: list[MissingSetting], prefix: str, detail: str) -> dict[str, Any]:
    names = [item for item in missing if prefix in item.name]
    if not names:
        return {"ok": True, "detail": detail}
    return {"ok": False, "reason": "; ".join(describe(item) for item in names)}


def describe(item: MissingSetting) -> str:
    """One sentence: which setting is missing and what is off because of it."""
    return f"{item.name} is not set, so this is off: {item.feature}"


def startup_warnings(settings: Settings) -> list[str]:
    """The lines to log at start: each missing setting, and each development switch that is on."""
    lines = [describe(item) for item in settings.missing()]
    if settings.dev_allow_anonymous:
        lines.append(
            f"{PREFIX}DEV_ALLOW_ANONYMOUS is on: /api/messages accepts requests without a token. "
            "Development only, never in production."
        )
    if settings.dev_local_connector:
        lines.append(
            f"{PREFIX}DEV_LOCAL_CONNECTOR is on: replies may go to any service URL. "
            "Development only, never in production."
        )
    return lines
