"""``GET /api/audit``: the audit trail of every conversation for compliance, as JSON or CSV.

Protected like ``/metrics``: with ``RELEASEBOT_METRICS_TOKEN`` set, only for its bearer (401
otherwise). Without it the trail, which names people and their reasons, is served only to the host
itself (403 for anyone else), where ``/metrics`` would be open. A page holds at most
:data:`~bot.store.audit_trail.MAX_LIMIT` entries; ``next`` (and the ``Link`` header) continue it.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from aiohttp import web
from multidict import MultiMapping

from bot.config import Secret
from bot.metrics import carries_token
from bot.store.audit_trail import MAX_LIMIT, AuditTrail, decode_cursor
from bot.web import error_response, from_this_host
from dialogs.commands import MODEL_NAME, VERSION
from domain.audit import AuditEntry, AuditPage, AuditQuery

DEFAULT_LIMIT = 1000
PARAMETERS = frozenset({"from", "to", "model", "version", "limit", "cursor", "format"})
FORMATS = ("json", "csv")
COLUMNS = (
    "at",
    "event",
    "model",
    "version",
    "conversation",
    "approval_id",
    "kind",
    "actor_id",
    "actor_name",
    "detail",
    "required_approvals",
    "approvers",
    "expires_at",
    "target",
    "run_name",
    "run_url",
)
# What a spreadsheet app would take for a formula (OWASP's list): such cells get a leading "'".
FORMULA_START = re.compile(r"^[=+\-@\t\r]")
DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)
LIMIT = re.compile(r"^\d{1,5}$", re.ASCII)


@dataclass(frozen=True)
class AuditExport:
    """The endpoint; ``token`` is the metrics token (None: only the host itself may read)."""

    trail: AuditTrail
    token: Secret | None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """401/403 for a caller who may not read, 400 for a malformed parameter, else a page."""
        if self.token is not None and not carries_token(request, self.token):
            return error_response(401, "missing or wrong metrics token")
        if self.token is None and not from_this_host(request):
            return error_response(
                403, "the audit is served to the host itself unless RELEASEBOT_METRICS_TOKEN is set"
            )
        asked = parse_request(request.query, request.headers.get("Accept", ""))
        if isinstance(asked, str):
            return error_response(400, asked)
        query, as_csv = asked
        page = await self.trail.page(query)
        headers = _next_link(request, page)
        if as_csv:
            return await _send_csv(request, page.entries, headers)
        body = {"entries": [entry_fields(e) for e in page.entries], "next": page.next}
        return web.json_response(body, headers=headers)


def parse_request(params: MultiMapping[str], accept: str) -> tuple[AuditQuery, bool] | str:
    """The query and whether CSV is asked for, or why the parameters are malformed."""
    unknown = sorted(set(params) - PARAMETERS)
    if unknown:
        return f"unknown parameter {unknown[0]!r}; known: {', '.join(sorted(PARAMETERS))}"
    repeated = [name for name in params if len(params.getall(name)) > 1]
    if repeated:
        return f"the parameter {repeated[0]!r} is given more than once"
    single = dict(params)
    fmt = single.get("format", "csv" if "text/csv" in accept.lower() else "json")
    if fmt not in FORMATS:
        return f"format must be json or csv, not {fmt[:32]!r}"
    try:
        return _query(single), fmt == "csv"
    except ValueError as malformed:
        return str(malformed)


def _query(params: Mapping[str, str]) -> AuditQuery:
    """The query the parameters ask for; ValueError with the reason if one is malformed."""
    since, until = _moment(params, "from"), _moment(params, "to", end_of_day=True)
    if since is not None and until is not None and since >= until:
        raise ValueError("'from' must be before 'to'")
    model, version = params.get("model"), params.get("version")
    if model is not None and not MODEL_NAME.match(model):
        raise ValueError("model must be a model's exact name (letters, digits, - _ and .)")
    if version is not None and not VERSION.match(version):
        raise ValueError("version must be a version (letters, digits, . _ and -)")
    limit = params.get("limit", str(DEFAULT_LIMIT))
    if not LIMIT.match(limit) or not 1 <= int(limit) <= MAX_LIMIT:
        raise ValueError(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    cursor = params.get("cursor")
    if cursor is not None:
        decode_cursor(cursor)
    return AuditQuery(model, version, None, since, until, cursor, int(limit))


def _moment(params: Mapping[str, str], name: str, *, end_of_day: bool = False) -> datetime | None:
    """An ISO 8601 date or time (UTC unless it names its offset); a date as ``to`` includes
    that whole day."""
    text = params.get(name)
    if text is None:
        return None
    try:
        if DATE_ONLY.match(text):
            day = date.fromisoformat(text) + (timedelta(days=1) if end_of_day else timedelta())
            return datetime.combine(day, time(), UTC)
        moment = datetime.fromisoformat(text)
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise ValueError(
            f"{name!r} must be an ISO 8601 date or time, e.g. 2026-12-01 or 2026-12-01T08:00Z"
        ) from None


def entry_fields(entry: AuditEntry) -> dict[str, Any]:
    """An entry as the export's columns."""
    policy = entry.policy
    return {
        "at": _iso(entry.at),
        "event": entry.event.value,
        "model": entry.model,
        "version": entry.version,
        "conversation": entry.conversation_ref,
        "approval_id": entry.approval_id,
        "kind": entry.kind,
        "actor_id": entry.actor_id,
        "actor_name": entry.actor_name,
        "detail": entry.detail,
        "required_approvals": policy.required_approvals if policy else None,
        "approvers": sorted(policy.approvers) if policy and policy.approvers is not None else None,
        "expires_at": _iso(entry.expires_at) if entry.expires_at else None,
        "target": entry.target,
        "run_name": entry.run_name,
        "run_url": entry.run_url,
    }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def csv_cell(value: Any) -> str:
    """A value as a CSV cell that no spreadsheet app runs as a formula."""
    if value is None:
        return ""
    text = " ".join(value) if isinstance(value, list) else str(value)
    return f"'{text}" if FORMULA_START.match(text) else text


async def _send_csv(
    request: web.Request, entries: list[AuditEntry], headers: dict[str, str]
) -> web.StreamResponse:
    response = web.StreamResponse(headers=headers)
    response.content_type = "text/csv"
    response.charset = "utf-8"
    await response.prepare(request)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for start in range(0, len(entries), 500):
        for entry in entries[start : start + 500]:
            writer.writerow([csv_cell(value) for value in entry_fields(entry).values()])
        await response.write(buffer.getvalue().encode())
        buffer.seek(0)
        buffer.truncate()
    await response.write(buffer.getvalue().encode())  # the header row of an empty page
    await response.write_eof()
    return response


def _next_link(request: web.Request, page: AuditPage) -> dict[str, str]:
    if page.next is None:
        return {}
    url = request.rel_url.update_query(cursor=page.next)
    return {"Link": f'<{url}>; rel="next"'}
