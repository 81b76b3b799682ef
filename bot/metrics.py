"""What the bot counts and times, served as Prometheus text on ``GET /metrics``.

Each replica counts what it did itself; Prometheus adds the replicas up. The names follow
Prometheus' conventions: ``_total`` for counters, ``_seconds`` for durations.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

from bot.config import Secret

Handler = Callable[[web.Request], Awaitable[web.Response]]

EVENTS = Counter(
    "releasebot_events_received_total",
    "Event Grid deliveries to /api/events/azureml, by outcome",
    ["outcome"],
)
EVENT_VERSIONS = Counter(
    "releasebot_event_versions_total",
    "Versions named by Event Grid events, by what Azure ML answered: recorded, not_found (no "
    "card), deferred (no answer in time: the poller's), unwatched (a source the bot does not poll)",
    ["outcome"],
)
VERSIONS = Counter(
    "releasebot_versions_recorded_total", "New model versions stored, by how they came", ["via"]
)
CARDS = Counter(
    "releasebot_cards_total",
    "Announcement cards: sent, retried, failed for good, dropped (conversation gone)",
    ["outcome"],
)
APPROVALS = Counter(
    "releasebot_approval_clicks_total",
    "Approve and Reject clicks, by what came of them",
    ["action", "outcome"],
)
RUNS = Counter(
    "releasebot_runs_total",
    "Azure DevOps runs and releases that ended, by result (error: never started)",
    ["result"],
)
CARD_SEND_SECONDS = Histogram(
    "releasebot_card_send_seconds", "Posting one announcement card to Teams"
)
DEVOPS_REQUEST_SECONDS = Histogram(
    "releasebot_devops_request_seconds", "One Azure DevOps REST call", ["method"]
)
CLICK_SECONDS = Histogram(
    "releasebot_approval_click_seconds", "Answering an Approve or Reject click"
)


def metrics_endpoint(token: Secret | None) -> Handler:
    """``GET /metrics``: every metric in the Prometheus text format; with ``token``, only for a
    request that carries it as a bearer token (the bot's endpoints face the internet)."""

    async def metrics(request: web.Request) -> web.Response:
        if token is not None and not carries_token(request, token):
            return web.json_response({"error": "missing or wrong metrics token"}, status=401)
        response = web.Response(body=generate_latest())
        response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        response.charset = "utf-8"
        return response

    return metrics


def carries_token(request: web.Request, token: Secret) -> bool:
    """Whether ``request`` carries ``token`` as its bearer token (compared in constant time)."""
    offered = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    return hmac.compare_digest(offered.encode(), token.reveal().encode())
