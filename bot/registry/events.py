"""Azure ML model-registered events, in the Event Grid schema or CloudEvents 1.0: pure parsing.

An event is a hint, not a record: it names a workspace, a model and a version, which the bot then
reads from Azure ML. Nothing else in it (tags, properties) is read, since anyone holding the
webhook's secret can write it.

Field casing differs between Microsoft's samples (``ModelName``, ``ModelVersion``) and the schema
(``modelName``, numeric ``modelVersion``), so data keys are read without regard to case, with the
subject ``models/{name}:{version}`` as the fallback.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from bot.config import Workspace
from domain.statuses import SourceKind

MODEL_REGISTERED = "Microsoft.MachineLearningServices.ModelRegistered"
SUBSCRIPTION_VALIDATION = "Microsoft.EventGrid.SubscriptionValidationEvent"
MAX_EVENTS = 1000

_WORKSPACE_ID = re.compile(
    r"^/subscriptions/(?P<subscription>[^/]+)/resourceGroups/(?P<group>[^/]+)"
    r"/providers/Microsoft\.MachineLearningServices/workspaces/(?P<workspace>[^/]+)$",
    re.IGNORECASE,
)
_SUBJECT = re.compile(r"^models/(?P<name>[^:/]+):(?P<version>[^:/]+)$")


class EventError(ValueError):
    """A delivery that is not what Event Grid sends; the message says why."""


@dataclass(frozen=True)
class ValidationHandshake:
    """Event Grid's subscription validation: answer with the code."""

    code: str


@dataclass(frozen=True)
class VersionHint:
    """An event's word that a version of a configured workspace was registered."""

    source_kind: SourceKind
    source_name: str
    name: str
    version: str


@dataclass(frozen=True)
class Delivery:
    """The versions a delivery names, and how many of its events were ignored."""

    hints: list[VersionHint]
    ignored: int


def parse_delivery(
    body: bytes, workspaces: tuple[Workspace, ...]
) -> Delivery | ValidationHandshake:
    """Parse one POST from Event Grid (either schema, one event or an array of them).

    Events for workspaces that are not configured, and other event types, are counted as ignored.
    Raises :class:`EventError` for a body that is not a valid delivery.
    """
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise EventError(f"the body is not valid JSON: {error}") from None
    events = document if isinstance(document, list) else [document]
    if not events or len(events) > MAX_EVENTS:
        raise EventError(f"a delivery holds 1 to {MAX_EVENTS} events")
    hints: list[VersionHint] = []
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            raise EventError(f"event {index} is not a JSON object")
        event_type, source = _envelope(event, index)
        if event_type == SUBSCRIPTION_VALIDATION:
            return ValidationHandshake(_validation_code(event))
        if event_type == MODEL_REGISTERED:
            hint = _hint(event, source, workspaces, index)
            if hint is not None:
                hints.append(hint)
    return Delivery(hints, ignored=len(events) - len(hints))


def _envelope(event: dict[str, Any], index: int) -> tuple[str, str]:
    """The event type and its source (topic), from either schema."""
    if "specversion" in event:
        event_type, source = event.get("type"), event.get("source")
    else:
        event_type, source = event.get("eventType"), event.get("topic")
    if not isinstance(event_type, str) or not event_type:
        raise EventError(f"event {index} has no type (eventType or type)")
    return event_type, source if isinstance(source, str) else ""


def _validation_code(event: dict[str, Any]) -> str:
    data = event.get("data")
    code = _lower_keys(data).get("validationcode") if isinstance(data, dict) else None
    if not isinstance(code, str) or not code:
        raise EventError("the validation event has no data.validationCode")
    return code


def _hint(
    event: dict[str, Any], source: str, workspaces: tuple[Workspace, ...], index: int
) -> VersionHint | None:
    workspace = _configured_workspace(source, workspaces)
    if workspace is None:
        return None
    data = event.get("data")
    if data is not None and not isinstance(data, dict):
        raise EventError(f"event {index}: data must be an object")
    fields = _lower_keys(data or {})
    subject = _SUBJECT.match(str(event.get("subject") or ""))
    name = _text(fields.get("modelname")) or (subject["name"] if subject else None)
    version = _text(fields.get("modelversion")) or (subject["version"] if subject else None)
    if not name or not version:
        raise EventError(f"event {index}: no model name and version in data or subject")
    if len(name) > 255 or len(version) > 128:
        raise EventError(f"event {index}: the model name or version is too long")
    return VersionHint(SourceKind.WORKSPACE, workspace.name, name, version)


def _configured_workspace(source: str, workspaces: tuple[Workspace, ...]) -> Workspace | None:
    found = _WORKSPACE_ID.match(source)
    if found is None:
        return None
    key = (found["subscription"].lower(), found["group"].lower(), found["workspace"].lower())
    for workspace in workspaces:
        if (
            workspace.subscription_id.lower(),
            workspace.resource_group.lower(),
            workspace.name.lower(),
        ) == key:
            return workspace
    return None


def _lower_keys(data: dict[str, Any]) -> dict[str, Any]:
    return {str(key).lower(): value for key, value in data.items()}


def _text(value: Any) -> str | None:
    """A name or version: text, or a whole number (the schema's numeric version)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None
