"""``/api/events/azureml``: Azure ML model-registered events pushed by Event Grid.

Both schemas are served: the Event Grid schema (with its ``SubscriptionValidation`` handshake) and
CloudEvents 1.0 (with the ``OPTIONS`` WebHook-Request-Origin handshake). A delivery is acknowledged
only after its versions are stored, so Event Grid retries anything we could not keep.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass

from aiohttp import web

from bot.config import Secret, Workspace
from bot.outbox import OutboxSender
from bot.registry.entra import EntraTokenValidator
from bot.registry.events import EventError, ValidationHandshake, parse_delivery
from bot.store.repository import Store
from bot.web import error_response

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Releasebot-Secret"  # noqa: S105 - a header name, not a secret
SECRET_PARAMETER = "secret"  # noqa: S105 - a parameter name


@dataclass(frozen=True)
class EventGridEndpoint:
    """The webhook: authenticate, parse, store, and hand the new announcements to the sender."""

    store: Store
    workspaces: tuple[Workspace, ...]
    secret: Secret | None
    entra: EntraTokenValidator | None
    max_body_bytes: int
    sender: OutboxSender

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
        if not await self.authenticated(request):
            return error_response(401, "missing or wrong event secret")
        if (request.content_length or 0) > self.max_body_bytes:
            return error_response(413, f"the body is larger than {self.max_body_bytes} bytes")
        try:
            body = await request.read()
            delivery = parse_delivery(body, self.workspaces)
        except web.HTTPRequestEntityTooLarge:
            return error_response(413, f"the body is larger than {self.max_body_bytes} bytes")
        except EventError as error:
            return error_response(400, str(error))
        if isinstance(delivery, ValidationHandshake):
            log.info("Event Grid subscription validated")
            return web.json_response({"validationResponse": delivery.code})
        for version in delivery.versions:
            recorded = await self.store.record_version(version, "event", self.sender.lease)
            if recorded.new:
                log.info(
                    "model %s version %s from %s: %d announcement(s) queued",
                    version.name,
                    version.version,
                    version.source_name,
                    len(recorded.claimed),
                )
            self.sender.dispatch(recorded.claimed)
        return web.json_response(
            {"accepted": len(delivery.versions), "ignored": delivery.ignored}, status=200
        )
