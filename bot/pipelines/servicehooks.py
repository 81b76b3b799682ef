"""Azure DevOps service hooks: which release or run changed, as a hint to read it again.

Hook payloads carry no signature, so the endpoint checks the Basic auth password configured on the
subscription, and the tracker re-reads the run through the API instead of trusting the payload.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from domain.target import TargetKind

log = logging.getLogger(__name__)

RELEASE_DEPLOYMENT_COMPLETED = "ms.vss-release.deployment-completed-event"
RUN_STATE_CHANGED = "ms.vss-pipelines.run-state-changed-event"
REALM = 'Basic realm="model-release-bot"'
RUN_URL = re.compile(r"/pipelines/(\d+)/runs/(\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class HookHint:
    """A release or run that changed; read it again to learn how."""

    kind: TargetKind
    run_id: int
    """The release id, or the run (build) id."""
    definition_id: int | None
    """The release definition or pipeline id, when the payload names it."""


class MalformedHookError(ValueError):
    """A service hook body that is not an event we can read."""


def parse_service_hook(body: bytes) -> HookHint | None:
    """The hint in a service hook body; None for event types we do not follow."""
    try:
        event = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise MalformedHookError("the body is not JSON") from None
    if not isinstance(event, dict) or not isinstance(event.get("eventType"), str):
        raise MalformedHookError("the body is not a service hook event (no eventType)")
    if event["eventType"] not in (RELEASE_DEPLOYMENT_COMPLETED, RUN_STATE_CHANGED):
        return None
    resource = event.get("resource")
    if not isinstance(resource, dict):
        raise MalformedHookError(f"{event['eventType']} without a resource")
    if event["eventType"] == RELEASE_DEPLOYMENT_COMPLETED:
        return _release_hint(resource)
    return _run_hint(resource)


def _release_hint(resource: dict[str, Any]) -> HookHint:
    environment = _dict(resource.get("environment"))
    deployment = _dict(resource.get("deployment"))
    # environment.releaseId is 0 in the service's own samples: use the nested release.
    release_id = _id(_dict(environment.get("release")).get("id")) or _id(
        _dict(deployment.get("release")).get("id")
    )
    if release_id is None:
        raise MalformedHookError("deployment-completed event without a release id")
    definition_id = _id(_dict(environment.get("releaseDefinition")).get("id")) or _id(
        _dict(deployment.get("releaseDefinition")).get("id")
    )
    return HookHint(TargetKind.RELEASE, release_id, definition_id)


def _run_hint(resource: dict[str, Any]) -> HookHint:
    run = _dict(resource.get("run"))
    links = _dict(run.get("_links"))
    urls = [run.get("url"), _dict(links.get("self")).get("href")]
    match = next(
        (RUN_URL.search(u) for u in urls if isinstance(u, str) and RUN_URL.search(u)), None
    )
    run_id = _id(run.get("id")) or (int(match[2]) if match else None)
    if run_id is None:
        raise MalformedHookError("run-state-changed event without a run id")
    # The URL names the pipeline reliably; the doc sample's pipeline.id is the run's.
    definition_id = (
        int(match[1])
        if match
        else _id(_dict(run.get("pipeline")).get("id"))
        or _id(_dict(resource.get("pipeline")).get("id"))
    )
    return HookHint(TargetKind.PIPELINE, run_id, definition_id)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _id(value: Any) -> int | None:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        return None
    return value


class ServiceHookEndpoint:
    """``POST`` handler for Azure DevOps web hooks sent with Basic auth."""

    def __init__(
        self,
        secret: str,
        on_hint: Callable[[HookHint], Awaitable[None]],
        max_body_bytes: int,
    ) -> None:
        if not secret:
            raise ValueError("the service hook secret is empty")
        self._secret = secret.encode()
        self._on_hint = on_hint
        self._max_body_bytes = max_body_bytes

    async def handle(self, request: web.Request) -> web.Response:
        """Check the password, size and type of a hook delivery, then pass its hint on."""
        if not self._authorized(request.headers.get("Authorization")):
            return web.Response(status=401, headers={"WWW-Authenticate": REALM})
        if request.content_length is not None and request.content_length > self._max_body_bytes:
            return web.Response(status=413, text="the body is too large")
        if request.content_type != "application/json":
            return web.Response(status=415, text="send application/json")
        body = await self._read(request)
        if body is None:
            return web.Response(status=413, text="the body is too large")
        try:
            hint = parse_service_hook(body)
        except MalformedHookError as error:
            return web.Response(status=400, text=str(error))
        if hint is not None:
            await self._deliver(hint)
        return web.Response(status=200)

    def _authorized(self, header: str | None) -> bool:
        scheme, _, credential = (header or "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(credential.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        password = decoded.partition(b":")[2]
        return hmac.compare_digest(password, self._secret)

    async def _read(self, request: web.Request) -> bytes | None:
        # A chunked body has no Content-Length: stop reading past the limit.
        body = bytearray()
        async for chunk in request.content.iter_any():
            body += chunk
            if len(body) > self._max_body_bytes:
                return None
        return bytes(body)

    async def _deliver(self, hint: HookHint) -> None:
        try:
            await self._on_hint(hint)
        except Exception:
            # Only a hint: the tracker's polling still finds the change.
            log.exception("service hook hint %s was not handled", hint)
