"""``/api/events/azureml``: Azure ML model-registered events pushed by Event Grid.

Both schemas are served: the Event Grid schema (with its ``SubscriptionValidation`` handshake) and
CloudEvents 1.0 (with the ``OPTIONS`` WebHook-Request-Origin handshake). A delivery is acknowledged
only after its versions are stored, so Event Grid retries anything we could not keep.

An event does not say who registered the version, which the card shows and "no self-approval"
needs: before storing, each version is read from its source (when that source is configured, as
the poller's), for a few seconds at most. A creator not known by then is filled in by the poller.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from aiohttp import web

from bot.config import Secret, Workspace
from bot.domain import ModelVersion
from bot.failpoints import reached
from bot.logs import correlated, version_correlation
from bot.metrics import EVENTS, VERSIONS
from bot.outbox import OutboxSender
from bot.registry.azureml import ModelRegistry, failure_reason
from bot.registry.entra import EntraTokenValidator
from bot.registry.events import EventError, ValidationHandshake, parse_delivery
from bot.store.repository import Store
from bot.web import error_response

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Releasebot-Secret"  # noqa: S105 - a header name, not a secret
SECRET_PARAMETER = "secret"  # noqa: S105 - a parameter name
LOOKUP_SECONDS = 3.0
"""How long a delivery waits, at most, for its sources to say who registered its versions."""
WARNED_VERSIONS = 3

DELIVERY_OUTCOMES = {200: "accepted", 401: "refused"}
VersionKey = tuple[str, str, str, str]
"""A version's identity: source kind, source name, model name, version."""


@dataclass(frozen=True)
class EventGridEndpoint:
    """The webhook: authenticate, parse, store, and hand the new announcements to the sender."""

    store: Store
    workspaces: tuple[Workspace, ...]
    secret: Secret | None
    entra: EntraTokenValidator | None
    max_body_bytes: int
    sender: OutboxSender
    registries: tuple[ModelRegistry, ...] = ()
    """The configured sources (the ones the poller watches): where creators are looked up."""

    async def authenticated(self, request: web.Request) -> bool:
        """A valid Entra bearer token (when Entra auth is on), or the shared secret as the query
        parameter or the header. A bearer token that is sent must be valid."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if self.entra is not None and scheme.lower() == "bearer":
            return await self.entra.validate(token.strip()) is not None
        if self.secret is None:
            return False
        offered = request.query.get(SECRET_PARAMETER) or request.headers.get(SECRET_HEADER) or ""
        return hmac.compare_digest(offered.encode(), self.secret.reveal().encode())

    async def handshake(self, request: web.Request) -> web.Response:
        """CloudEvents abuse protection: allow the origin that asks."""
        if not await self.authenticated(request):
            return error_response(401, "missing or wrong event secret")
        origin = request.headers.get("WebHook-Request-Origin")
        if not origin:
            return error_response(400, "the WebHook-Request-Origin header is missing")
        return web.Response(
            status=200,
            headers={
                "WebHook-Allowed-Origin": origin,
                "WebHook-Allowed-Rate": "*",
                "Allow": "POST",
            },
        )

    async def deliver(self, request: web.Request) -> web.Response:
        """One delivery: store each new version of a configured workspace, once."""
        response = await self._deliver(request)
        EVENTS.labels(outcome=DELIVERY_OUTCOMES.get(response.status, "invalid")).inc()
        return response

    async def _deliver(self, request: web.Request) -> web.Response:
        if not await self.authenticated(request):
            return error_response(401, "missing or wrong event secret")
        if (request.content_length or 0) > self.max_body_bytes:
            return error_response(413, f"the body is larger than {self.max_body_bytes} bytes")
        try:
            body = await request.read()
            delivery = parse_delivery(body, self.workspaces)
            reached("event_received")
        except web.HTTPRequestEntityTooLarge:
            return error_response(413, f"the body is larger than {self.max_body_bytes} bytes")
        except EventError as error:
            return error_response(400, str(error))
        if isinstance(delivery, ValidationHandshake):
            log.info("Event Grid subscription validated")
            return web.json_response({"validationResponse": delivery.code})
        for version in await with_creators(delivery.versions, self.registries):
            with correlated(
                version_correlation(version.source_name, version.name, version.version)
            ):
                await self._record(version)
        return web.json_response(
            {"accepted": len(delivery.versions), "ignored": delivery.ignored}, status=200
        )

    async def _record(self, version: ModelVersion) -> None:
        """Store one version; its announcements go to the sender at once."""
        recorded = await self.store.record_version(version, "event", self.sender.lease)
        reached("version_stored")
        if recorded.new:
            VERSIONS.labels(via="event").inc()
            log.info(
                "model %s version %s from %s: %d announcement(s) queued",
                version.name,
                version.version,
                version.source_name,
                len(recorded.claimed),
            )
        self.sender.dispatch(recorded.claimed)


async def with_creators(
    versions: Sequence[ModelVersion],
    registries: Sequence[ModelRegistry],
    within: float | None = None,
) -> list[ModelVersion]:
    """``versions`` with who registered them (and when, where the event does not say), read from
    their configured sources concurrently, for ``within`` seconds in all (:data:`LOOKUP_SECONDS`).
    A version whose source is not configured, or whose look-up fails or is late, is kept as it
    is; the failures are logged in one warning."""
    within = LOOKUP_SECONDS if within is None else within
    lookups = _start_lookups(versions, registries)
    if not lookups:
        return list(versions)
    try:
        _done, late = await asyncio.wait(lookups.values(), timeout=within)
    finally:
        for lookup in lookups.values():
            lookup.cancel()  # the late ones: their threads finish on their own, unheard
    found, failures = _outcomes(lookups, late, within)
    if failures:
        _warn(failures)
    return [_with_creator(v, found[_key(v)]) if _key(v) in found else v for v in versions]


def _outcomes(
    lookups: dict[VersionKey, asyncio.Task[ModelVersion]],
    late: set[asyncio.Task[ModelVersion]],
    within: float,
) -> tuple[dict[VersionKey, ModelVersion], dict[VersionKey, str]]:
    """What each look-up read, and why the others did not."""
    found: dict[VersionKey, ModelVersion] = {}
    failures: dict[VersionKey, str] = {}
    for key, task in lookups.items():
        if task in late:
            failures[key] = f"no answer within {within:g} s"
        elif (error := task.exception()) is not None:
            failures[key] = failure_reason(error)
        else:
            found[key] = task.result()
    return found, failures


def _start_lookups(
    versions: Sequence[ModelVersion], registries: Sequence[ModelRegistry]
) -> dict[VersionKey, asyncio.Task[ModelVersion]]:
    """One look-up per distinct version whose source is configured."""
    sources = {(r.source_kind, r.source_name): r for r in registries}
    lookups: dict[VersionKey, asyncio.Task[ModelVersion]] = {}
    for version in versions:
        source = sources.get((version.source_kind, version.source_name))
        if source is not None and _key(version) not in lookups:
            read = source.version_details(version.name, version.version)
            lookups[_key(version)] = asyncio.create_task(read)
    return lookups


def _key(version: ModelVersion) -> VersionKey:
    return version.source_kind, version.source_name, version.name, version.version


def _with_creator(pushed: ModelVersion, read: ModelVersion) -> ModelVersion:
    """The pushed version with its creator and creation time from the source; the rest (tags,
    properties) as the event says."""
    return dataclasses.replace(
        pushed, created_by=read.created_by, created_at=pushed.created_at or read.created_at
    )


def _warn(failures: dict[VersionKey, str]) -> None:
    """One line for the whole delivery, however many versions it holds."""
    shown = [
        f"{name} {version} ({kind} {source}): {reason}"
        for (kind, source, name, version), reason in list(failures.items())[:WARNED_VERSIONS]
    ]
    more = len(failures) - len(shown)
    log.warning(
        "could not read who registered %s%s; stored without the creator, a later poll fills it in",
        "; ".join(shown),
        f" (and {more} more version(s))" if more else "",
    )
