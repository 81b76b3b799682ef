"""How the values of our settings are read and checked.

Each reader takes the setting's name without the ``RELEASEBOT_`` prefix and its text, and raises
:class:`SettingsError` naming the setting and the form expected when the text cannot be used.
"""

from __future__ import annotations

import re

from dialogs.policy import parse_approvers

PREFIX = "RELEASEBOT_"

_REGISTRY = re.compile(r"^[A-Za-z0-9][\w-]{2,32}$")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class SettingsError(ValueError):
    """A setting has a value we cannot use; the message names the setting and the expected form."""


def comma_separated(value: str) -> list[str]:
    """The items of a comma-separated list, stripped, without empty ones."""
    return [item.strip() for item in value.split(",") if item.strip()]


def boolean(name: str, value: str) -> bool:
    """A switch: 1/true/yes/on or 0/false/no/off (any case); empty is off."""
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise SettingsError(f"{PREFIX}{name} must be true or false, not {value!r}")


def positive_int(name: str, value: str) -> int:
    """A whole number above zero."""
    if not value.isdigit() or int(value) <= 0:
        raise SettingsError(f"{PREFIX}{name} must be a positive whole number, not {value!r}")
    return int(value)


def bounded_int(name: str, value: str, maximum: int) -> int:
    """A whole number from 1 to ``maximum``."""
    number = positive_int(name, value)
    if number > maximum:
        raise SettingsError(f"{PREFIX}{name} must be at most {maximum}, not {value!r}")
    return number


def port(value: str) -> int:
    """RELEASEBOT_PORT: a TCP port number."""
    number = positive_int("PORT", value)
    if number > 65535:
        raise SettingsError(f"{PREFIX}PORT must be between 1 and 65535, not {value!r}")
    return number


def choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    """One of ``choices``, as written."""
    if value not in choices:
        raise SettingsError(f"{PREFIX}{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


def guids(name: str, value: str) -> frozenset[str]:
    """A comma-separated list of Entra ids (GUIDs), in lower case."""
    items = comma_separated(value)
    for item in items:
        if not _GUID.match(item):
            raise SettingsError(f"{PREFIX}{name}: {item!r} is not an Entra id (a GUID)")
    return frozenset(item.lower() for item in items)


def tenants(value: str, bot_tenant: str) -> frozenset[str]:
    """The tenants served: as listed, else the bot's own (none: nobody is served)."""
    listed = guids("ALLOWED_TENANTS", value)
    return listed or frozenset({bot_tenant.strip().lower()} - {""})


def approvers(value: str) -> frozenset[str] | None:
    """RELEASEBOT_APPROVERS: Entra object ids or UPNs; empty: None (anyone in the chat)."""
    if not value:
        return None
    parsed = parse_approvers(value)
    if parsed is None:
        raise SettingsError(
            f"{PREFIX}APPROVERS must be comma-separated Entra object ids or UPNs, not {value!r}"
        )
    return parsed


def registry_name(item: str) -> str:
    """One name of RELEASEBOT_AZUREML_REGISTRIES."""
    if not _REGISTRY.match(item):
        raise SettingsError(f"{PREFIX}AZUREML_REGISTRIES: {item!r} is not a registry name")
    return item


def https_url(name: str, value: str, *, loopback_http: bool = False) -> str:
    """An https:// URL; with ``loopback_http`` also http:// to this machine (the demo's simulated
    Azure DevOps), where nothing sent can be read on the way."""
    secure = re.match(r"^https://[^\s/]+(/[^\s]*)?$", value)
    loopback = loopback_http and re.match(
        r"^http://(127\.0\.0\.1|localhost)(:\d{1,5})?(/[^\s]*)?$", value
    )
    if value and not (secure or loopback):
        raise SettingsError(f"{PREFIX}{name} must be an https:// URL, not {value!r}")
    return value.rstrip("/")
