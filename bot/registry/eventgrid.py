"""``/api/events/azureml``: Azure ML model-registered events pushed by Event Grid.

Both schemas are served: the Event Grid schema (with its ``SubscriptionValidation`` handshake) and
CloudEvents 1.0 (with the ``OPTIONS`` WebHook-Request-Origin handshake). Deliveries authenticate
with the shared secret or with an Entra token that Event Grid itself obtained.

Azure ML is the truth; an event is a hint. Each version an event names is read from its source,
one of the poller's, for a few seconds at most (all of a delivery's versions at once), and what
the source answers is stored and announced: tags, properties, description, who registered it and
when. A version the source does not have (404) is not stored; one it could not answer in time
(an error, a timeout) is not stored either, and the poller announces it on its next cycle; a
version of a source that is not polled is not announced. Such a delivery is still acknowledged
(Event Grid would only repeat it); one whose versions could not be stored gets a 503, and Event
Grid delivers it again.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from bot.config import Secret, Workspace
from bot.failpoints import reached
from bot.logs import correlated, version_correlation
from bot.metrics import EVENT_VERSIONS, EVENTS, VERSIONS
from bot.outbox import OutboxSender
from bot.registry.azureml import ModelRegistry, failure_reason, is_not_found
from bot.registry.entra import EntraTokenValidator, sent_by_event_grid
from bot.registry.events import EventError, ValidationHandshake, VersionHint, parse_delivery
from bot.store.store import Store
from bot.web import error_response
from domain.records import ModelVersion

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Releasebot-Secret"  # noqa: S105 - a header name, not a secret
SECRET_PARAMETER = "secret"  # noqa: S105 - a parameter name
LOOKUP_SECONDS = 3.0
"""How long a delivery waits, at most, for its sources to answer its versions."""
WARNED_VERSIONS = 3

DELIVERY_OUTCOMES = {200: "accepted", 401: "refused", 503: "unavailable"}


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
    """The configured sources (the ones the poller watches): where events' versions are read."""

    async def authenticated(self, request: web.Request) -> bool:
        """A valid Entra bearer token that Event Grid obtained (when Entra auth is on), or the
        shared secret as the query parameter or the header. A bearer token that is sent must be
        valid."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if self.entra is not None and scheme.lower() == "bearer":
            claims = await self.entra.validate(token.strip())
            return claims is not None and sent_by_event_grid(claims)
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
        """One delivery: store each new version of a configured workspace that Azure ML has,
        once."""
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
        read = await read_versions(delivery.hints, self.registries)
        if not await self._stored(read.found):
            return error_response(503, "the versions could not be stored; deliver again later")
        return web.json_response(
            {"accepted": len(delivery.hints), "ignored": delivery.ignored}, status=200
        )

    async def _stored(self, versions: list[ModelVersion]) -> bool:
        """Store ``versions``; False if the store failed (logged: Event Grid delivers again)."""
        try:
            for version in versions:
                await self._record(version)
        except (SQLAlchemyError, OSError) as error:
            log.error(  # noqa: TRY400 - the exception's text may hold the database's address
                "the versions of an Event Grid delivery could not be stored (%s): it is refused "
                "with 503, and Event Grid delivers it again",
                type(error).__name__,
            )
            return False
        return True

    async def _record(self, version: ModelVersion) -> None:
        """Store one version as its source answered it; its announcements go to the sender at
        once."""
        with correlated(version_correlation(version.source_name, version.name, version.version)):
            recorded = await self.store.versions.record(version, "event", self.sender.lease)
            reached("version_stored")
            EVENT_VERSIONS.labels(outcome="recorded").inc()
            if recorded.new:
                VERSIONS.labels(via="event").inc()
                log.info(
                    "model %s version %s from %s: %d announcement(s) queued",
                    version.name,
                    version.version,
                    version.source_name,
                    len(recorded.claimed) + recorded.unclaimed,
                )
            self.sender.dispatch(recorded)


@dataclass(frozen=True)
class Lookup:
    """What the sources answered for the versions a delivery names."""

    found: list[ModelVersion] = field(default_factory=list)
    missing: dict[VersionHint, str] = field(default_factory=dict)
    """Versions the source does not have (404), with the reason."""
    deferred: dict[VersionHint, str] = field(default_factory=dict)
    """Versions the source did not answer in time, with the reason: the poller's to find."""
    unwatched: dict[VersionHint, str] = field(default_factory=dict)
    """Versions of a source that is not polled."""


async def read_versions(
    hints: Sequence[VersionHint], registries: Sequence[ModelRegistry]
) -> Lookup:
    """The versions ``hints`` name, read from their configured sources concurrently, for
    :data:`LOOKUP_SECONDS` in all. The versions not found, not read in time, or of a source that
    is not configured are logged (one warning for each of these outcomes) and counted."""
    lookups, unwatched = _start_lookups(hints, registries)
    late: set[asyncio.Task[ModelVersion]] = set()
    try:
        if lookups:
            _done, late = await asyncio.wait(lookups.values(), timeout=LOOKUP_SECONDS)
    finally:
        for lookup in lookups.values():
            lookup.cancel()  # the late ones: their threads finish on their own, unheard
    answered = _outcomes(lookups, late, LOOKUP_SECONDS, unwatched)
    _report(answered)
    return answered


def _start_lookups(
    hints: Sequence[VersionHint], registries: Sequence[ModelRegistry]
) -> tuple[dict[VersionHint, asyncio.Task[ModelVersion]], dict[VersionHint, str]]:
    """One look-up per distinct version whose source is configured; the others, with why not."""
    sources = {(r.source_kind, r.source_name): r for r in registries}
    lookups: dict[VersionHint, asyncio.Task[ModelVersion]] = {}
    unwatched: dict[VersionHint, str] = {}
    for hint in dict.fromkeys(hints):
        source = sources.get((hint.source_kind, hint.source_name))
        if source is None:
            unwatched[hint] = "the bot does not poll this source"
        else:
            read = source.version_details(hint.name, hint.version)
            lookups[hint] = asyncio.create_task(read)
    return lookups, unwatched


def _outcomes(
    lookups: dict[VersionHint, asyncio.Task[ModelVersion]],
    late: set[asyncio.Task[ModelVersion]],
    within: float,
    unwatched: dict[VersionHint, str],
) -> Lookup:
    """What each look-up read, or why it did not."""
    outcome = Lookup(unwatched=unwatched)
    for hint, task in lookups.items():
        if task in late:
            outcome.deferred[hint] = f"no answer within {within:g} s"
        elif (error := task.exception()) is None:
            outcome.found.append(task.result())
        elif is_not_found(error):
            outcome.missing[hint] = "not found (404)"
        else:
            outcome.deferred[hint] = failure_reason(error)
    return outcome


def _report(lookup: Lookup) -> None:
    """One warning line per outcome other than found, however many versions it holds."""
    reports = (
        (lookup.missing, "not_found", "Azure ML does not have %s; not announced"),
        (
            lookup.deferred,
            "deferred",
            "no answer from Azure ML for %s; not recorded from the event, the next poll "
            "announces it",
        ),
        (lookup.unwatched, "unwatched", "an event names %s; not announced"),
    )
    for failures, outcome, message in reports:
        if failures:
            EVENT_VERSIONS.labels(outcome=outcome).inc(len(failures))
            log.warning(message, _listed(failures))


def _listed(failures: dict[VersionHint, str]) -> str:
    """The first few versions with their reasons, and how many more there are."""
    shown = [
        f"{hint.name} {hint.version} ({hint.source_kind} {hint.source_name}): {reason}"
        for hint, reason in list(failures.items())[:WARNED_VERSIONS]
    ]
    more = len(failures) - len(shown)
    return "; ".join(shown) + (f" (and {more} more version(s))" if more else "")
