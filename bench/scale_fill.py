"""A year of a large tenant in the store, for ``bench/scale.py``.

The rows are those the bot writes, through the store's own tables, unique keys and indexes and
its own row builders (``conversation_values``, ``literal_prefix``, ``policy_values``,
``version_values``, ``new_approval_values``, ``policy_to_json``); they go in as one bulk insert
per table (SQLAlchemy's executemany), not one transaction per row, so that the fill takes seconds.
What the bulk path writes for each row is what the bot's own path writes: a conversation as
``Conversations.save``, a subscription as ``Subscriptions.add``, a version as
``Versions.remember``, its announcement as sent by the outbox, an approval with its votes, audit
rows and deployment as ``ApprovalStore.decide`` leaves them after the last click, and the
poller's source and watermark rows as a baselined source's.

A tenant (:class:`Size`): 10,000 Teams channels, 20,000 subscriptions (exact names, globs, tag
and source filters), 2,000 models with 25 versions each over two workspaces and a registry,
each version announced to its model's home channel (50,000 announcements), the newest ten of
each asked for approval (20,000 approvals, three votes each: 60,000 votes and as many audit
rows, plus one per rejection or expiry), 15,000 deployments. :func:`fill` with ``full=False``
writes only the rows of :data:`SHOWCASE` (the channel the chat commands ask in) and the poller's
rows: the empty store of the comparison.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from harness import channel_info
from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.matching import literal_prefix
from bot.store.approvals import new_approval_values
from bot.store.conversations import conversation_values
from bot.store.rows import policy_values, version_values
from bot.store.tables import (
    announcements,
    approval_audit,
    approval_votes,
    approvals,
    conversations,
    deployments,
    model_versions,
    registry_sources,
    registry_watermarks,
    subscriptions,
)
from dialogs.policy import PolicyDefaults, resolve
from domain.policy import PolicyOverrides
from domain.records import ModelVersion
from domain.statuses import ApprovalState, DeploymentStatus, RunStatus, SourceKind

FAMILIES = ("fraud", "churn", "vision", "speech", "ranking", "pricing", "forecast", "nlp", "risk")
SOURCES = (
    (SourceKind.WORKSPACE, "ml-prod"),
    (SourceKind.WORKSPACE, "ml-dev"),
    (SourceKind.REGISTRY, "shared-models"),
)
VERSIONS = 25
ASKED = 10
"""The newest versions of each model that were asked for approval."""
VOTES = 3
HOMES_EVERY = 20
"""Every twentieth channel is the home of four models: their versions are announced there."""
SHOWCASE = 0
TARGET = "pipeline:42"
YEAR = timedelta(days=365)


@dataclass(frozen=True)
class Size:
    """How large the tenant is; ``BENCH_SCALE_FRACTION`` (e.g. 0.1) shrinks it while developing."""

    conversations: int = 10_000
    models: int = 2_000

    @classmethod
    def from_environment(cls) -> Size:
        """The issue's size, or its fraction from the environment."""
        fraction = float(os.environ.get("BENCH_SCALE_FRACTION", "1"))
        full = cls()
        return cls(round(full.conversations * fraction), round(full.models * fraction))

    @property
    def homes(self) -> int:
        """How many channels are the home of models."""
        return self.conversations // HOMES_EVERY


def model_name(model: int) -> str:
    """The name of model number ``model``."""
    return f"{FAMILIES[model % len(FAMILIES)]}-{model:04d}"


def source_of(model: int) -> tuple[SourceKind, str]:
    """The workspace or registry a model is registered in."""
    return SOURCES[model % len(SOURCES)]


def home(model: int, size: Size) -> int:
    """The channel a model's versions are announced in."""
    return (model % size.homes) * HOMES_EVERY


def channel_id(number: int) -> str:
    """The Teams id of channel number ``number``."""
    return f"19:scale-{number}@thread.tacv2"


def arm_models(size: Size) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """What the loopback Azure ML knows, by workspace or registry name: every model, versions
    1 to 25."""
    stocked: dict[str, dict[str, list[dict[str, Any]]]] = {name: {} for _, name in SOURCES}
    for model in range(size.models):
        stocked[source_of(model)[1]][model_name(model)] = [
            {"version": str(version), "createdAt": "2026-01-01T00:00:00.000Z"}
            for version in range(1, VERSIONS + 1)
        ]
    return stocked


def subscription_filters(number: int) -> list[tuple[str, tuple[str, str] | None, dict[str, str]]]:
    """Channel ``number``'s two subscriptions (pattern, source, tags): an exact name, a glob, a
    glob with a source, or a name with tag and source filters."""
    filters: list[tuple[str, tuple[str, str] | None, dict[str, str]]] = []
    for index in (2 * number, 2 * number + 1):
        family = FAMILIES[index % len(FAMILIES)]
        kind, source = SOURCES[index % len(SOURCES)]
        filters.append(
            [
                (model_name(index * 7 % 2000), None, {}),
                (f"{family}-*", (kind.value, source), {}),
                (f"{family}-{index % 20:02d}*", None, {"stage": "prod"}),
                (model_name(index * 3 % 2000), (kind.value, source), {"team": family}),
            ][index % 4]
        )
    return filters


async def fill(engine: AsyncEngine, service_url: str, size: Size, *, full: bool) -> None:
    """Write the tenant (``full``) or only the showcase channel's rows, and the poller's rows of
    every model in either case."""
    channels = range(size.conversations) if full else [SHOWCASE]
    models = [m for m in range(size.models) if full or home(m, size) == SHOWCASE]
    now = datetime.now(UTC)
    async with engine.begin() as connection:
        refs = await _conversations(connection, service_url, channels, now)
        await _subscriptions(connection, refs, now)
        versions = await _versions(connection, models, now)
        sent = await _announcements(connection, versions, refs, size, now)
        decided = await _approvals(connection, versions, refs, sent, size=size, now=now)
        await _votes_and_audit(connection, decided)
        await _deployments(connection, decided)
        await _poller(connection, size, now)


async def settle(engine: AsyncEngine) -> None:
    """Leave the store as a year of running leaves it: on PostgreSQL, autovacuum has vacuumed and
    analyzed its tables long ago (here it would start during the measures, on the full store's
    side only); SQLite keeps no statistics unless told, and the bot does not tell it."""
    if engine.dialect.name != "postgresql":
        return
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.exec_driver_sql("VACUUM ANALYZE")


async def _bulk(
    connection: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]]
) -> list[int]:
    """Insert ``rows`` in one executemany; their ids, in order."""
    if not rows:
        return []
    result = await connection.execute(
        insert(table).returning(table.c.id, sort_by_parameter_order=True), list(rows)
    )
    return [int(row.id) for row in result]


async def _conversations(
    connection: AsyncConnection, service_url: str, channels: Iterable[int], now: datetime
) -> dict[int, int]:
    numbers = list(channels)
    rows = [
        conversation_values(channel_info(service_url, channel_id(number)))
        | {"active": True, "created_at": now - YEAR, "updated_at": now - YEAR}
        for number in numbers
    ]
    return dict(zip(numbers, await _bulk(connection, conversations, rows), strict=True))


async def _subscriptions(connection: AsyncConnection, refs: dict[int, int], now: datetime) -> None:
    rows = [
        {
            "conversation_ref": ref,
            "name_pattern": pattern,
            "name_prefix": literal_prefix(pattern),
            "source_kind": source[0] if source else "",
            "source_name": source[1] if source else "",
            "tags": _json(tags),
            "created_by": f"user-{number % 300}",
            "created_by_name": f"User {number % 300}",
            "created_at": now - YEAR,
            **policy_values(PolicyOverrides()),
        }
        for number, ref in refs.items()
        for pattern, source, tags in subscription_filters(number)
    ]
    await _bulk(connection, subscriptions, rows)


def _json(tags: dict[str, str]) -> str:
    """Tag filters as ``Subscriptions.add`` keeps them (canonical JSON)."""
    return json.dumps(tags, sort_keys=True, ensure_ascii=False)


def _version(model: int, version: int, tags: dict[str, str], created: datetime) -> ModelVersion:
    kind, source = source_of(model)
    return ModelVersion(
        source_kind=kind,
        source_name=source,
        name=model_name(model),
        version=str(version),
        tags=tags,
        properties={"framework": "sklearn", "accuracy": f"0.{900 + version}"},
        description=f"Nightly training run {version}",
        created_by="Ada Lovelace",
        created_by_type="User",
        created_at=created,
        source_id=None,
    )


def _created(model: int, version: int, now: datetime) -> datetime:
    """When a version was registered: the 25 versions of a model spread over the year."""
    return now - YEAR + (YEAR - timedelta(days=2)) * version / VERSIONS + timedelta(minutes=model)


Key = tuple[int, int]
"""(model number, version number)"""


async def _versions(
    connection: AsyncConnection, models: list[int], now: datetime
) -> dict[Key, int]:
    keys = [(model, version) for model in models for version in range(1, VERSIONS + 1)]
    rows = [
        version_values(_version(m, v, {"stage": "prod" if v % 2 else "dev"}, _created(m, v, now)))
        | {"received_via": "event", "received_at": _created(m, v, now)}
        for m, v in keys
    ]
    return dict(zip(keys, await _bulk(connection, model_versions, rows), strict=True))


async def _announcements(
    connection: AsyncConnection,
    versions: dict[Key, int],
    refs: dict[int, int],
    size: Size,
    now: datetime,
) -> dict[Key, int]:
    keys = list(versions)
    rows = []
    for model, version in keys:
        at = _created(model, version, now)
        rows.append(
            {
                "conversation_ref": refs[home(model, size)],
                "model_version_id": versions[model, version],
                "status": "sent",
                "attempts": 1,
                "next_attempt_at": at,
                "claimed_until": None,
                "claims": 1,
                "activity_id": f"activity-{model}-{version}",
                "created_at": at,
                "sent_at": at + timedelta(seconds=1),
            }
        )
    return dict(zip(keys, await _bulk(connection, announcements, rows), strict=True))


@dataclass(frozen=True)
class Decided:
    """An approval as written, with what its votes, audit rows and deployment need."""

    id: int
    conversation_ref: int
    version_id: int
    state: ApprovalState
    requested_at: datetime
    number: int


def _state(model: int, version: int) -> ApprovalState:
    """How the approval of a version ended: the newest version of every fourth model is still
    pending; of the others, 1 in 39 was rejected, 7 in 39 expired, the rest approved."""
    if version == VERSIONS and model % 4 == 0:
        return ApprovalState.PENDING
    rest = (model * ASKED + version) % 39
    if rest < 2:
        return ApprovalState.REJECTED
    return ApprovalState.EXPIRED if rest < 9 else ApprovalState.APPROVED


async def _approvals(
    connection: AsyncConnection,
    versions: dict[Key, int],
    refs: dict[int, int],
    sent: dict[Key, int],
    *,
    size: Size,
    now: datetime,
) -> list[Decided]:
    policy, _ = resolve(PolicyOverrides(), PolicyDefaults(target=TARGET))
    asked = [(m, v) for m, v in versions if v > VERSIONS - ASKED]
    rows, decided = [], []
    for number, (model, version) in enumerate(asked):
        state = _state(model, version)
        pending = state is ApprovalState.PENDING
        required = VOTES if state is ApprovalState.APPROVED else VOTES + 1
        requested = now - timedelta(minutes=10) if pending else _created(model, version, now)
        row = new_approval_values(
            refs[home(model, size)],
            versions[model, version],
            dataclasses.replace(policy, required_approvals=required),
            TARGET,
            announcement_id=sent[model, version],
            now=requested,
        )
        rows.append(row | _outcome(state, requested, model, version))
        decided.append(
            Decided(0, row["conversation_ref"], row["model_version_id"], state, requested, number)
        )
    ids = await _bulk(connection, approvals, rows)
    return [dataclasses.replace(item, id=id_) for item, id_ in zip(decided, ids, strict=True)]


def _outcome(state: ApprovalState, requested: datetime, model: int, version: int) -> dict[str, Any]:
    """The columns an approval has after its votes and decision (its card shown up to date)."""
    revision = 1 + VOTES + (state in (ApprovalState.REJECTED, ApprovalState.EXPIRED))
    pending = state is ApprovalState.PENDING
    rejected = state is ApprovalState.REJECTED
    values: dict[str, Any] = {
        "state": state.value,
        "revision": revision,
        "card_revision": revision,
        "shown_revision": revision,
        "activity_id": f"activity-{model}-{version}",
        "decided_at": None if pending else requested + timedelta(hours=2),
        "rejected_by_name": "Grace Hopper" if rejected else None,
        "reason": "metrics regressed" if rejected else None,
    }
    if not pending:
        values["next_reminder_at"] = None
    return values


async def _votes_and_audit(connection: AsyncConnection, decided: list[Decided]) -> None:
    votes, audit = [], []
    for approval in decided:
        for vote in range(VOTES):
            voter = f"voter-{(approval.number + vote) % 60:02d}"
            at = approval.requested_at + timedelta(minutes=10 * (vote + 1))
            votes.append(
                {
                    "approval_id": approval.id,
                    "voter_id": voter,
                    "voter_upn": f"{voter}@contoso.example",
                    "voter_name": voter.title(),
                    "voted_at": at,
                }
            )
            audit.append(_audit(approval, voter, "approve", at))
        if approval.state in (ApprovalState.REJECTED, ApprovalState.EXPIRED):
            action = "reject" if approval.state is ApprovalState.REJECTED else "expire"
            audit.append(_audit(approval, None, action, approval.requested_at + timedelta(hours=2)))
    await connection.execute(insert(approval_votes), votes)
    await connection.execute(insert(approval_audit), audit)


def _audit(approval: Decided, voter: str | None, action: str, at: datetime) -> dict[str, Any]:
    """An audit row as ``bot.store.audit.audit_approval`` writes it."""
    return {
        "approval_id": approval.id,
        "conversation_ref": approval.conversation_ref,
        "actor_id": voter,
        "actor_name": voter.title() if voter else None,
        "action": action,
        "detail": None,
        "at": at,
    }


async def _deployments(connection: AsyncConnection, decided: list[Decided]) -> None:
    rows = []
    for approval in decided:
        if approval.state is not ApprovalState.APPROVED:
            continue
        started = approval.requested_at + timedelta(hours=1)
        failed = approval.number % 10 == 0
        rows.append(
            {
                "approval_id": approval.id,
                "model_version_id": approval.version_id,
                "deployment_key": f"mrb-{approval.id}-{approval.number:08x}",
                "target": TARGET,
                "requested_by": "Voter-00, Voter-01, Voter-02",
                "status": DeploymentStatus.FINISHED.value,
                "run_status": (RunStatus.FAILED if failed else RunStatus.SUCCEEDED).value,
                "attempts": 1,
                "next_attempt_at": started,
                "claimed_until": None,
                "claims": 1,
                "run_id": approval.id,
                "run_name": f"deploy-model #{approval.id}",
                "web_url": f"https://dev.azure.com/contoso/ml/_build/results?buildId={approval.id}",
                "logs_url": None,
                "detail": None,
                "error_code": None,
                "last_error": None,
                "created_at": started,
                "updated_at": started + timedelta(minutes=20),
                "finished_at": started + timedelta(minutes=20),
                "result_reported": True,
            }
        )
    await _bulk(connection, deployments, rows)


async def _poller(connection: AsyncConnection, size: Size, now: datetime) -> None:
    """Every source baselined, every model's watermark at its latest version."""
    await connection.execute(
        insert(registry_sources),
        [
            {
                "source_kind": kind.value,
                "source_name": name,
                "watched_since": now - YEAR,
                "baselined_at": now - YEAR,
            }
            for kind, name in SOURCES
        ],
    )
    await connection.execute(
        insert(registry_watermarks),
        [
            {
                "source_kind": source_of(model)[0].value,
                "source_name": source_of(model)[1],
                "model_name": model_name(model),
                "latest_version": str(VERSIONS),
                "updated_at": now,
            }
            for model in range(size.models)
        ],
    )
