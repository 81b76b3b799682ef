"""The audit trail read back, for ``audit`` in chat and ``GET /api/audit``: approvals asked for
(with their policy), votes, rejections, expiries, refusals, refused commands and deployment runs,
merged in time order.

One UNION ALL of small selects finds which rows a page holds (each filtered where its indexes
are), ordered by (time, source, id); then each source's rows of the page are read by id. The
cursor is that order key, so pages neither skip nor repeat entries that share a time.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Integer,
    Row,
    Select,
    and_,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.store.clock import aware
from bot.store.releases import named
from bot.store.tables import approval_audit, approvals, command_audit, deployments, model_versions
from dialogs.policy import policy_from_json
from domain.audit import AuditEntry, AuditEvent, AuditPage, AuditQuery
from domain.statuses import DeploymentStatus

MAX_LIMIT = 10_000
"""The most entries one read returns."""
MAX_ID = 2**63  # the ids are 64-bit columns

# The sources of the trail, in the order entries of the same time are listed.
REQUESTS, DECISIONS, COMMANDS, RUNS_REQUESTED, RUNS_ENDED = range(5)

DECISION_EVENTS = {
    "approve": AuditEvent.APPROVED,
    "reject": AuditEvent.REJECTED,
    "expire": AuditEvent.EXPIRED,
    "refused": AuditEvent.REFUSED,
}


@dataclass(frozen=True)
class Position:
    """An entry's place in the trail: the order key the cursor carries."""

    at: datetime
    source: int
    row_id: int

    def encode(self) -> str:
        """The cursor: opaque to readers, URL-safe."""
        text = f"{self.at.astimezone(UTC).isoformat()}|{self.source}|{self.row_id}"
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Position:
    """The position a cursor names; ValueError if it is not one this module made."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        at, source, row_id = base64.urlsafe_b64decode(padded.encode()).decode().split("|")
        position = Position(datetime.fromisoformat(at), int(source), int(row_id))
    except (ValueError, UnicodeError) as error:
        raise ValueError("the cursor is not one this endpoint gave") from error
    # Cursors carry UTC times (+00:00), which no conversion can take out of range.
    in_range = REQUESTS <= position.source <= RUNS_ENDED and 0 <= position.row_id < MAX_ID
    if not (at.endswith("+00:00") and in_range):
        raise ValueError("the cursor is not one this endpoint gave")
    return position


class AuditTrail:
    """Reads the audit trail; every method is one read transaction."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def page(self, query: AuditQuery) -> AuditPage:
        """The entries after ``query.after``, oldest first, at most ``query.limit`` (capped at
        :data:`MAX_LIMIT`), and the cursor of the next page."""
        limit = max(1, min(query.limit, MAX_LIMIT))
        trail = _trail(query).subquery()
        order = (trail.c.at, trail.c.source, trail.c.row_id)
        keys = select(trail)
        if query.after is not None:
            keys = keys.where(_after(trail.c, decode_cursor(query.after)))
        async with self.engine.connect() as connection:
            found = (await connection.execute(keys.order_by(*order).limit(limit + 1))).all()
            entries = await _entries(connection, found[:limit])
        more = len(found) > limit
        return AuditPage(entries, entries[-1].cursor if more and entries else None)

    async def latest(self, query: AuditQuery) -> tuple[list[AuditEntry], int]:
        """The newest ``query.limit`` entries, oldest first, and how many entries match in all."""
        trail = _trail(query).subquery()
        newest = (trail.c.at.desc(), trail.c.source.desc(), trail.c.row_id.desc())
        async with self.engine.connect() as connection:
            total = await connection.scalar(select(func.count()).select_from(trail))
            found = (
                await connection.execute(select(trail).order_by(*newest).limit(query.limit))
            ).all()
            entries = await _entries(connection, list(reversed(found)))
        return entries, int(total or 0)


def _after(columns: Any, position: Position) -> ColumnElement[bool]:
    at = _stored(position.at)
    return or_(
        columns.at > at,
        and_(columns.at == at, columns.source > position.source),
        and_(columns.at == at, columns.source == position.source, columns.row_id > position.row_id),
    )


def _stored(moment: datetime) -> datetime:
    """A time as the store compares it: UTC (SQLite compares the text, without the offset)."""
    return moment.astimezone(UTC)


def _trail(query: AuditQuery) -> Any:
    """(at, source, row_id) of every entry that matches ``query``."""
    since = query.since
    if query.after is not None:  # lets each branch use its time index
        cursor_at = decode_cursor(query.after).at
        since = cursor_at if since is None else max(since, cursor_at)
    return union_all(*(branch(query, since) for branch in _BRANCHES))


def _keys(at: ColumnElement[Any], source: int, row_id: ColumnElement[Any]) -> Select[Any]:
    return select(at.label("at"), literal(source, Integer).label("source"), row_id.label("row_id"))


def _version_filter(query: AuditQuery) -> list[ColumnElement[bool]]:
    found = []
    if query.model is not None:
        found.append(named(query.model))
    if query.version is not None:
        found.append(model_versions.c.version == query.version)
    return found


def _common(
    query: AuditQuery,
    since: datetime | None,
    at: ColumnElement[Any],
    conversation: ColumnElement[Any],
) -> list[ColumnElement[bool]]:
    found = []
    if since is not None:
        found.append(at >= _stored(since))
    if query.until is not None:
        found.append(at < _stored(query.until))
    if query.conversation_ref is not None:
        found.append(conversation == query.conversation_ref)
    return found


def _requests(query: AuditQuery, since: datetime | None) -> Select[Any]:
    at = approvals.c.requested_at
    return (
        _keys(at, REQUESTS, approvals.c.id)
        .select_from(approvals.join(model_versions))
        .where(*_version_filter(query), *_common(query, since, at, approvals.c.conversation_ref))
    )


def _decisions(query: AuditQuery, since: datetime | None) -> Select[Any]:
    at = approval_audit.c.at
    return (
        _keys(at, DECISIONS, approval_audit.c.id)
        .select_from(approval_audit.join(approvals).join(model_versions))
        .where(
            # A request is told by its approval's row, which also carries the policy.
            approval_audit.c.action != "request",
            *_version_filter(query),
            *_common(query, since, at, approvals.c.conversation_ref),
        )
    )


def _commands(query: AuditQuery, since: datetime | None) -> Select[Any]:
    at = command_audit.c.at
    condition = _common(query, since, at, command_audit.c.conversation_ref)
    if query.model is not None:
        condition.append(func.lower(command_audit.c.model) == query.model.lower())
    if query.version is not None:
        condition.append(command_audit.c.version == query.version)
    return _keys(at, COMMANDS, command_audit.c.id).where(*condition)


def _runs(source: int, at: ColumnElement[Any]) -> Callable[[AuditQuery, datetime | None], Any]:
    def runs(query: AuditQuery, since: datetime | None) -> Select[Any]:
        condition = [
            *_version_filter(query),
            *_common(query, since, at, approvals.c.conversation_ref),
        ]
        if source == RUNS_ENDED:
            condition.append(deployments.c.status.in_(ENDED))
        return (
            _keys(at, source, deployments.c.id)
            .select_from(deployments.join(approvals).join(model_versions))
            .where(*condition)
        )

    return runs


ENDED = (DeploymentStatus.FINISHED, DeploymentStatus.ERROR)
# A run Azure DevOps refused has no end time: it ended when it was last changed.
_ENDED_AT = func.coalesce(
    deployments.c.finished_at, deployments.c.updated_at, type_=DateTime(timezone=True)
)

_BRANCHES = (
    _requests,
    _decisions,
    _commands,
    _runs(RUNS_REQUESTED, deployments.c.created_at),
    _runs(RUNS_ENDED, _ENDED_AT),
)


async def _entries(connection: AsyncConnection, keys: Sequence[Row[Any]]) -> list[AuditEntry]:
    """The entries of ``keys`` (at, source, row_id), in that order."""
    by_source: dict[int, list[int]] = {}
    for key in keys:
        by_source.setdefault(key.source, []).append(key.row_id)
    rows: dict[tuple[int, int], Row[Any]] = {}
    for source, ids in by_source.items():
        for row in await connection.execute(_DETAILS[source].where(_ID[source].in_(ids))):
            rows[source, row.row_id] = row
    return [
        _entry(
            key.source,
            rows[key.source, key.row_id],
            Position(aware(key.at), key.source, key.row_id),
        )
        for key in keys
    ]


_VERSION = (model_versions.c.name.label("model"), model_versions.c.version.label("version"))
_APPROVAL = (
    approvals.c.id.label("approval_id"),
    approvals.c.conversation_ref,
    approvals.c.kind,
    approvals.c.target,
)
_ID = {
    REQUESTS: approvals.c.id,
    DECISIONS: approval_audit.c.id,
    COMMANDS: command_audit.c.id,
    RUNS_REQUESTED: deployments.c.id,
    RUNS_ENDED: deployments.c.id,
}
_RUN = select(
    deployments.c.id.label("row_id"),
    deployments.c.requested_by,
    deployments.c.status,
    deployments.c.run_status,
    deployments.c.error_code,
    deployments.c.run_name,
    deployments.c.web_url,
    *_VERSION,
    *_APPROVAL,
).select_from(deployments.join(approvals).join(model_versions))
_DETAILS = {
    REQUESTS: select(
        approvals.c.id.label("row_id"),
        approvals.c.requested_by,
        approvals.c.requested_by_name,
        approvals.c.policy,
        approvals.c.expires_at,
        *_VERSION,
        *_APPROVAL,
    ).select_from(approvals.join(model_versions)),
    DECISIONS: select(
        approval_audit.c.id.label("row_id"),
        approval_audit.c.action,
        approval_audit.c.actor_id,
        approval_audit.c.actor_name,
        approval_audit.c.detail,
        *_VERSION,
        *_APPROVAL,
    ).select_from(approval_audit.join(approvals).join(model_versions)),
    COMMANDS: select(command_audit, command_audit.c.id.label("row_id")),
    RUNS_REQUESTED: _RUN,
    RUNS_ENDED: _RUN,
}


def _entry(source: int, row: Row[Any], position: Position) -> AuditEntry:
    common: dict[str, Any] = {"at": position.at, "cursor": position.encode()}
    if source == COMMANDS:
        return AuditEntry(
            event=AuditEvent.COMMAND_REFUSED,
            model=row.model,
            version=row.version,
            conversation_ref=row.conversation_ref,
            kind=row.command,
            actor_id=row.actor_id,
            actor_name=row.actor_name,
            detail=row.detail,
            **common,
        )
    common |= {
        "model": row.model,
        "version": row.version,
        "conversation_ref": row.conversation_ref,
        "approval_id": row.approval_id,
        "kind": row.kind,
        "target": row.target,
    }
    return _MAKERS[source](row, common)


def _request_entry(row: Row[Any], common: dict[str, Any]) -> AuditEntry:
    return AuditEntry(
        event=AuditEvent.REQUESTED,
        actor_id=row.requested_by,
        actor_name=row.requested_by_name,
        policy=policy_from_json(row.policy),
        expires_at=aware(row.expires_at),
        **common,
    )


def _decision_entry(row: Row[Any], common: dict[str, Any]) -> AuditEntry:
    return AuditEntry(
        event=DECISION_EVENTS.get(row.action, AuditEvent.REFUSED),
        actor_id=row.actor_id,
        actor_name=row.actor_name,
        detail=row.detail,
        **common,
    )


def _run_requested_entry(row: Row[Any], common: dict[str, Any]) -> AuditEntry:
    return AuditEntry(event=AuditEvent.RUN_REQUESTED, actor_name=row.requested_by, **common)


def _run_ended_entry(row: Row[Any], common: dict[str, Any]) -> AuditEntry:
    failed = row.status == DeploymentStatus.ERROR
    return AuditEntry(
        event=AuditEvent.RUN_ENDED,
        detail=f"error: {row.error_code}" if failed else row.run_status,
        run_name=row.run_name,
        run_url=row.web_url,
        **common,
    )


_MAKERS: dict[int, Callable[[Row[Any], dict[str, Any]], AuditEntry]] = {
    REQUESTS: _request_entry,
    DECISIONS: _decision_entry,
    RUNS_REQUESTED: _run_requested_entry,
    RUNS_ENDED: _run_ended_entry,
}
