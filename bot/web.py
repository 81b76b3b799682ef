"""aiohttp routes: /api/messages (guarded, then the Agents SDK), /healthz and /readyz."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import re
import time
import warnings
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.web_exceptions import NotAppKeyWarning
from microsoft_agents.activity import Activity
from microsoft_agents.hosting.aiohttp import CloudAdapter
from microsoft_agents.hosting.core import AgentApplication, TurnState
from microsoft_agents.hosting.core.authorization import (
    AgentAuthConfiguration,
    ClaimsIdentity,
    JwtTokenValidator,
)
from pydantic import ValidationError
from yarl import URL

from bot.cards.verbs import CARD_ACTION
from bot.cloud import Cloud
from bot.config import Secret
from bot.metrics import carries_token, metrics_endpoint
from bot.network import network_problem

log = logging.getLogger(__name__)

warnings.filterwarnings("ignore", category=NotAppKeyWarning, module=__name__)

JSON_TYPES = {"application/json"}
CONVERSATION_ID = re.compile(r"^[^/\\?#%\s]{1,512}$")


def error_response(status: int, message: str) -> web.Response:
    """A JSON error body with a reason a client can act on; never a traceback."""
    return web.json_response({"error": message}, status=status)


class TokenCache:
    """Identities of tokens that passed validation, until each token's own expiry.

    Teams sends the same token with every request for up to an hour; checking its signature again
    each time costs about a millisecond. Only the exact token string is cached, never beyond its
    ``exp``, and the cache is bounded; a new token always goes through the SDK's validation.
    """

    def __init__(self, max_entries: int = 1024, clock: Callable[[], float] = time.time) -> None:
        self._entries: OrderedDict[str, tuple[float, ClaimsIdentity]] = OrderedDict()
        self._max_entries = max_entries
        self._clock = clock

    def get(self, token: str) -> ClaimsIdentity | None:
        """The identity of a token validated before and not yet expired."""
        entry = self._entries.get(token)
        if entry is None:
            return None
        expires_at, identity = entry
        if self._clock() >= expires_at:
            del self._entries[token]
            return None
        self._entries.move_to_end(token)
        return identity

    def put(self, token: str, identity: ClaimsIdentity) -> None:
        """Remember a token that just passed validation."""
        self._entries[token] = (float(identity.claims["exp"]), identity)
        self._entries.move_to_end(token)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)


@dataclass(frozen=True)
class Callers:
    """Who may post to ``/api/messages``, beyond a valid signature.

    Teams' channel service signs with the Bot Framework issuer and names, in the ``serviceurl``
    claim, the connector the activity comes from: only then are the activity's ``from``,
    ``conversation`` and tenant the channel's statements. Any app of the bot's tenant can get an
    Entra token for the bot, so Entra tokens are refused, unless the operator names the calling
    app; then the activity comes from that app, never from a person.
    """

    channel_issuers: frozenset[str]
    channels: frozenset[str] = frozenset({"msteams"})
    agent_app_ids: frozenset[str] = frozenset()

    def refusal(self, identity: ClaimsIdentity, activity: dict[str, Any]) -> Refusal | None:
        """Why this caller may not send ``activity`` (None: it may); may mark ``activity`` as
        coming from an agent app."""
        if str(activity["channelId"]).lower() not in self.channels:
            return Refusal(403, f"the channel {str(activity['channelId'])[:64]!r} is not served")
        if not identity.claims:  # anonymous: only with the development switch
            return None
        if identity.claims.get("iss") in self.channel_issuers:
            return _service_url_refusal(identity, activity["serviceUrl"])
        app_id = str(identity.claims.get("appid") or identity.claims.get("azp") or "").lower()
        if app_id not in self.agent_app_ids:
            return Refusal(401, "only tokens of the Teams channel service are accepted here")
        activity["from"] = {"id": app_id, "name": app_id, "role": "bot"}
        return None


@dataclass(frozen=True)
class Refusal:
    """An HTTP refusal: its status and the reason given to the caller."""

    status: int
    reason: str


def _service_url_refusal(identity: ClaimsIdentity, service_url: str) -> Refusal | None:
    claimed = identity.claims.get("serviceurl")
    if not isinstance(claimed, str) or not claimed:
        return Refusal(401, "the channel token names no serviceurl")
    if not same_service_url(claimed, service_url):
        return Refusal(401, "the activity's serviceUrl does not match the token")
    return None


@dataclass(frozen=True)
class MessageEndpoint:
    """``POST /api/messages``: every check the SDK's hosting leaves open, then the SDK pipeline."""

    adapter: CloudAdapter
    agent: AgentApplication[TurnState]
    auth: AgentAuthConfiguration
    max_body_bytes: int
    callers: Callers
    tokens: TokenCache = field(default_factory=TokenCache)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Answer 413, 401, 403, 415 or 400 for what must not reach the SDK; otherwise hand
        over."""
        if (request.content_length or 0) > self.max_body_bytes:
            return _too_large(self.max_body_bytes)
        identity = await authenticate(request.headers.get("Authorization"), self.auth, self.tokens)
        if identity is None:
            return error_response(401, "missing, invalid or expired bearer token")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _too_large(self.max_body_bytes)
        if request.content_type not in JSON_TYPES:
            return error_response(415, "the body must be application/json")
        document = check_activity(body)
        if isinstance(document, str):
            log.warning("activity refused (400): %s", document)
            return error_response(400, document)
        refusal = self.callers.refusal(identity, document)
        if refusal is not None:
            log.warning("activity refused (%d): %s", refusal.status, refusal.reason)
            return error_response(refusal.status, refusal.reason)
        activity = parse_activity(document)
        if isinstance(activity, str):
            log.warning("activity refused (400): %s", activity)
            return error_response(400, activity)
        checked = CheckedRequest(request, activity, identity)
        response = await self.adapter.process_request(checked, self.agent)
        return CloudAdapter._to_aiohttp_response(response)


@dataclass(frozen=True)
class CheckedRequest:
    """The request as the SDK reads it, with the activity we checked and parsed already (so
    the SDK neither parses the body again nor meets a shape it would answer with a 500)."""

    request: web.Request
    activity: Activity
    identity: ClaimsIdentity
    method: str = "POST"

    @property
    def headers(self) -> Mapping[str, str]:
        """The request's headers."""
        return self.request.headers

    async def json(self) -> Any:
        """The parsed activity (pydantic hands a model instance back unchanged)."""
        return self.activity

    def get_claims_identity(self) -> ClaimsIdentity:
        """Who the token says is calling."""
        return self.identity

    def get_path_param(self, name: str) -> str:
        """A path parameter of the route."""
        return self.request.match_info[name]


def _too_large(limit: int) -> web.Response:
    return error_response(413, f"the body is larger than {limit} bytes")


async def authenticate(
    header: str | None, auth: AgentAuthConfiguration, tokens: TokenCache
) -> ClaimsIdentity | None:
    """The caller's identity from a Bot Framework / Entra bearer token, validated by the SDK.

    Closes the SDK's weak defaults: a token must carry ``exp``, a token without ``kid`` or with
    any other defect is refused (not a 500), and anonymous access needs the development switch.
    """
    if not header:
        return ClaimsIdentity() if auth.ANONYMOUS_ALLOWED else None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token.split()) != 1:
        return None
    known = tokens.get(token)
    if known is not None:
        return known
    try:
        identity = await JwtTokenValidator(auth).validate_token(token)
    except Exception as error:
        problem = network_problem(error)
        if problem is not None:  # the signing keys could not be fetched: say which hop failed
            log.error("bearer token not checked: the signing keys: %s", problem)  # noqa: TRY400
        else:
            log.warning("bearer token refused: %s", type(error).__name__)
        return None
    if not isinstance(identity.claims.get("exp"), (int, float)):
        log.warning("bearer token refused: it has no expiry")
        return None
    tokens.put(token, identity)
    return identity


def check_activity(body: bytes) -> dict[str, Any] | str:
    """The activity document in a request body, or the reason it is not one.

    Checks the fields the SDK needs before it starts a turn and the shape of what our handlers
    read; :func:`parse_activity` then checks every type.
    """
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        return f"the body is not valid JSON: {error}"
    if not isinstance(document, dict):
        return "the body must be a JSON object (an activity)"
    for name in ("type", "serviceUrl", "channelId"):
        if not isinstance(document.get(name), str) or not document[name]:
            return f"the activity needs a non-empty string field '{name}'"
    conversation = document.get("conversation")
    if not isinstance(conversation, dict) or not isinstance(conversation.get("id"), str):
        return "the activity needs conversation.id"
    if not CONVERSATION_ID.match(conversation["id"]):
        # The SDK puts the id into the connector's URL path as it is ("../" included).
        return "the activity's conversation.id is not a Teams conversation id"
    if not _is_http_url(document["serviceUrl"]):
        return "the activity's serviceUrl must be an http(s) URL"
    return _sender_problem(document) or _card_action_problem(document) or document


def _sender_problem(document: dict[str, Any]) -> str | None:
    """Every activity from Teams says who sent it and to whom (the SDK's turn state and the
    conversation reference need both)."""
    for name in ("from", "recipient"):
        account = document.get(name)
        if not isinstance(account, dict) or not isinstance(account.get("id"), str):
            return f"the activity needs {name}.id"
        if not account["id"]:
            return f"the activity needs {name}.id"
    return None


def _card_action_problem(document: dict[str, Any]) -> str | None:
    """An ``adaptiveCard/action`` invoke must carry an action with a verb."""
    if document["type"] != "invoke" or document.get("name") != CARD_ACTION:
        return None
    value = document.get("value")
    if not isinstance(value, dict) or not isinstance(value.get("action"), dict):
        return "the card action needs value.action (an object)"
    action = value["action"]
    if not isinstance(action.get("verb"), str):
        return "the card action needs value.action.verb (a string)"
    if action.get("data") is not None and not isinstance(action["data"], dict):
        return "the card action's value.action.data must be an object"
    return None


class SdkValidationNoise(logging.Filter):
    """Drops the SDK's own ERROR line (with a traceback of about 20 lines) for an activity that
    fails its model: :func:`parse_activity` has logged it as one warning already, and a caller
    must not be able to flood the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        """False for the SDK's validation-error record."""
        return not str(record.msg).startswith("Validation error for Activity")


def parse_activity(document: dict[str, Any]) -> Activity | str:
    """The activity as the SDK's model, or the first problem pydantic found."""
    try:
        return Activity.model_validate(document)
    except ValidationError as error:
        return validation_reason(error)


def validation_reason(error: ValidationError) -> str:
    """The first problem pydantic found, as a short sentence without the input's value."""
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"the activity is malformed at '{where}': {first['msg']}"


def _is_http_url(value: str) -> bool:
    try:
        url = URL(value)
    except ValueError:
        return False
    # No user info or query: Teams sends neither, and a reply would carry them along.
    plain_url = not (url.user or url.password or url.query_string or url.fragment)
    return url.scheme in ("http", "https") and bool(url.host) and plain_url


def same_service_url(claimed: str, service_url: str) -> bool:
    """Whether the token's ``serviceurl`` claim names the activity's connector: the same
    scheme, host, port and path (host case and a trailing slash aside)."""
    try:
        a, b = URL(claimed), URL(service_url)
    except ValueError:
        return False
    return (a.scheme, (a.host or "").casefold(), a.port, a.path.rstrip("/")) == (
        b.scheme,
        (b.host or "").casefold(),
        b.port,
        b.path.rstrip("/"),
    )


Check = Callable[[], Awaitable[dict[str, Any]]]


# Headers a reverse proxy adds: a request through one is not the host's own, whatever its address.
PROXY_HEADERS = ("Forwarded", "X-Forwarded-For")


@dataclass(frozen=True)
class Readiness:
    """``/readyz``: the state of each dependency; ready when the store answers."""

    store_check: Check
    static_checks: dict[str, dict[str, Any]]
    live_checks: dict[str, Callable[[], dict[str, Any]]] = field(default_factory=dict)
    """Entries kept current by a worker (the poller's state); they replace static ones."""
    token: Secret | None = None
    """The metrics token, which also shows the details to a caller from elsewhere."""

    async def handle(self, request: web.Request) -> web.Response:
        """``ready``, and for the host itself or the metrics token's bearer the checks: ``ok``
        or the reason per dependency; 503 when the store is down."""
        store = await self.store_check()
        status = 200 if store["ok"] else 503
        if not self._may_see_checks(request):
            # The checks name the app id, the organization and the sources: not for the internet.
            return web.json_response({"ready": store["ok"]}, status=status)
        live = {name: check() for name, check in self.live_checks.items()}
        checks = {"store": store, **self.static_checks, **live}
        return web.json_response({"ready": store["ok"], "checks": checks}, status=status)

    def _may_see_checks(self, request: web.Request) -> bool:
        if self.token is not None and carries_token(request, self.token):
            return True
        return from_this_host(request)


def from_this_host(request: web.Request) -> bool:
    """Whether ``request`` comes from this host itself, not through a reverse proxy."""
    return is_loopback(request.remote) and not any(h in request.headers for h in PROXY_HEADERS)


def is_loopback(address: str | None) -> bool:
    """Whether ``address`` (an IP address) is this host's own (127.0.0.0/8, ::1)."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return ip.is_loopback or bool(mapped and mapped.is_loopback)


def timed_check(probe: Callable[[], Awaitable[None]], what: str, timeout: float = 2.0) -> Check:
    """A check that runs ``probe`` under a timeout and reports the failure's kind, not its text."""

    async def check() -> dict[str, Any]:
        try:
            await asyncio.wait_for(probe(), timeout)
        except TimeoutError:
            return {"ok": False, "reason": f"{what} did not answer within {timeout:g} s"}
        except Exception as error:
            return {"ok": False, "reason": f"{what} failed ({type(error).__name__})"}
        return {"ok": True}

    return check


async def healthz(_request: web.Request) -> web.Response:
    """The process is alive."""
    return web.json_response({"ok": True})


def build_web_app(
    messages: MessageEndpoint,
    readiness: Readiness,
    max_body_bytes: int,
    metrics_token: Secret | None = None,
) -> web.Application:
    """The aiohttp application with all routes."""
    sdk_model_log = logging.getLogger("microsoft_agents.activity.activity")
    if not any(isinstance(f, SdkValidationNoise) for f in sdk_model_log.filters):
        sdk_model_log.addFilter(SdkValidationNoise())
    app = web.Application(client_max_size=max_body_bytes)
    app.router.add_post("/api/messages", messages.handle)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readiness.handle)
    app.router.add_get("/metrics", metrics_endpoint(metrics_token))
    return app


def trust_botframework_keys(cloud: Cloud) -> None:
    """Check the Bot Framework tokens of ``cloud`` against its own signing keys.

    The SDK picks the keys by the token's issuer, from a table that knows the public cloud and the
    US Government only; a China token would be checked against the public keys and refused.
    """
    from microsoft_agents.hosting.core.authorization import _entra_issuers

    _entra_issuers.BOTFRAMEWORK_JWKS_URIS.setdefault(
        cloud.botframework_issuer, cloud.botframework_jwks
    )
