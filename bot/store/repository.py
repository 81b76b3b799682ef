"""The store on SQL, through SQLAlchemy Core (async): conversations, subscriptions, model versions,
the announcement outbox, and the poller's watermarks and the time it began watching each source."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Row,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.matching import literal_prefix, matches
from bot.store.tables import (
    announcements,
    approvals,
    conversations,
    model_versions,
    registry_sources,
    registry_watermarks,
    subscriptions,
)
from dialogs.approval import Person
from dialogs.policy import PolicyDefaults, policy_to_json, resolve
from domain.policy import Policy, PolicyOverrides
from domain.records import (
    ConversationInfo,
    ModelVersion,
    PendingAnnouncement,
    RecordedVersion,
    Subscription,
    SubscriptionChange,
)
from domain.statuses import AnnouncementStatus, ApprovalState, SourceKind

# Hot-path statements, built once: SQLAlchemy then only binds the parameters.
_LIST_SUBSCRIPTIONS = (
    select(subscriptions)
    .where(subscriptions.c.conversation_ref == bindparam("conversation_ref"))
    .order_by(subscriptions.c.id)
)
# Who registered a known version (and what: a user, an application...), when it was stored
# without; a creator already stored is never overwritten.
_FILL_IN_CREATOR = (
    update(model_versions)
    .where(
        model_versions.c.source_kind == bindparam("known_kind"),
        model_versions.c.source_name == bindparam("known_source"),
        model_versions.c.name == bindparam("known_name"),
        model_versions.c.version == bindparam("known_version"),
        model_versions.c.created_by.is_(None),
    )
    .values(
        created_by=bindparam("new_created_by"),
        created_by_type=bindparam("new_created_by_type"),
        created_at=func.coalesce(
            model_versions.c.created_at,
            bindparam("new_created_at", type_=model_versions.c.created_at.type),
        ),
    )
)


MAX_SUBSCRIPTIONS = 100
"""The most subscriptions one conversation may hold."""


class TooManySubscriptionsError(Exception):
    """The conversation holds the most subscriptions it may."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"a conversation holds at most {limit} subscriptions")
        self.limit = limit


def new_approval_values(
    conversation_ref: int,
    version_id: int,
    policy: Policy,
    target: str | None,
    *,
    kind: str = "announce",
    announcement_id: int | None = None,
    requested_by: Person | None = None,
    now: datetime,
) -> dict[str, Any]:
    """The row of a new, pending approval."""
    return {
        "conversation_ref": conversation_ref,
        "model_version_id": version_id,
        "announcement_id": announcement_id,
        "kind": kind,
        "state": ApprovalState.PENDING.value,
        "revision": 1,
        "policy": policy_to_json(policy),
        "target": target,
        "requested_by": requested_by.object_id if requested_by else None,
        "requested_by_name": requested_by.name if requested_by else None,
        "requested_at": now,
        "expires_at": now + policy.expiry,
        "card_revision": 1,
        "shown_revision": 1,
    }


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class Store:
    """Persistent state; every method is one transaction."""

    def __init__(self, engine: AsyncEngine, defaults: PolicyDefaults | None = None) -> None:
        self.engine = engine
        self.defaults = defaults or PolicyDefaults()
        """The approval policy and target of subscriptions that do not set their own."""
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

    async def ping(self) -> None:
        """Raise if the database cannot answer a trivial query."""
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def save_conversation(self, info: ConversationInfo) -> tuple[int, bool]:
        """Store or refresh a conversation and mark it active.

        Returns its id and whether it became active by this call (new, or back after an uninstall):
        a compare-and-set, so only one of several concurrent callers sees True.
        """
        now = utcnow()
        values = _conversation_values(info) | {"active": True, "updated_at": now}
        async with self.engine.begin() as connection:
            inserted = await connection.execute(
                self._insert(conversations)
                .values(**values, created_at=now)
                .on_conflict_do_nothing(index_elements=["channel_id", "conversation_id"])
                .returning(conversations.c.id)
            )
            row = inserted.first()
            if row is not None:
                return row.id, True
            reactivated = await _update_conversation(
                connection, info, values, conversations.c.active.is_(False)
            )
            if reactivated is not None:
                return reactivated, True
            refreshed = await _update_conversation(connection, info, values)
            if refreshed is None:  # deleted between our statements: cannot happen without deletes
                raise LookupError(f"conversation {info.key} vanished")
            return refreshed, False

    async def deactivate_other_tenants(self, allowed: frozenset[str]) -> int:
        """Deactivate the conversations of tenants no longer served (stored before the tenant
        allow-list, or of a tenant the operator removed): they get no more cards. A tenant served
        again comes back with its next activity. How many were deactivated."""
        async with self.engine.begin() as connection:
            result = await connection.execute(
                update(conversations)
                .where(
                    conversations.c.active.is_(True),
                    or_(
                        conversations.c.tenant_id.is_(None),
                        func.lower(conversations.c.tenant_id).not_in(sorted(allowed)),
                    ),
                )
                .values(active=False, updated_at=utcnow())
            )
            return int(result.rowcount or 0)

    async def deactivate_conversation(self, channel_id: str, conversation_id: str) -> bool:
        """Mark a conversation inactive (the bot was removed); True if it was active."""
        async with self.engine.begin() as connection:
            result = await connection.execute(
                update(conversations)
                .where(
                    conversations.c.channel_id == channel_id,
                    conversations.c.conversation_id == conversation_id,
                    conversations.c.active.is_(True),
                )
                .values(active=False, updated_at=utcnow())
            )
            return bool(result.rowcount)

    async def add_subscription(
        self,
        conversation_ref: int,
        name_pattern: str,
        *,
        source: tuple[str, str] | None,
        tags: dict[str, str],
        created_by: str | None,
        created_by_name: str | None,
        policy: PolicyOverrides | None = None,
    ) -> SubscriptionChange:
        """Add a subscription unless the same one exists; an existing one takes the policy
        given, if any. Raises :class:`TooManySubscriptionsError` when the conversation holds
        :data:`MAX_SUBSCRIPTIONS` already."""
        key = {
            "conversation_ref": conversation_ref,
            "name_pattern": name_pattern,
            "source_kind": source[0] if source else "",
            "source_name": source[1] if source else "",
            "tags": json.dumps(tags, sort_keys=True, ensure_ascii=False),
        }
        same = and_(*(subscriptions.c[name] == value for name, value in key.items()))
        async with self.engine.begin() as connection:
            existing = (await connection.execute(select(subscriptions).where(same))).first()
            if existing is not None:
                return await _change_policy(connection, _subscription(existing), same, policy)
            await _hold_room_for_one_more(connection, conversation_ref)
            inserted = await connection.execute(
                self._insert(subscriptions)
                .values(
                    **key,
                    name_prefix=literal_prefix(name_pattern),
                    created_by=created_by,
                    created_by_name=created_by_name,
                    created_at=utcnow(),
                    **_policy_values(policy or PolicyOverrides()),
                )
                .on_conflict_do_nothing()
                .returning(*subscriptions.c)
            )
            row = inserted.first()
            if row is None:  # added by a concurrent request since we looked
                existing = (await connection.execute(select(subscriptions).where(same))).one()
                return await _change_policy(connection, _subscription(existing), same, policy)
            return SubscriptionChange(_subscription(row), created=True)

    async def list_subscriptions(self, conversation_ref: int) -> list[Subscription]:
        """A conversation's subscriptions, oldest first."""
        async with self.engine.connect() as connection:
            rows = await connection.execute(
                _LIST_SUBSCRIPTIONS, {"conversation_ref": conversation_ref}
            )
            return [_subscription(row) for row in rows]

    async def remove_subscriptions(
        self,
        conversation_ref: int,
        *,
        subscription_id: int | None = None,
        name_pattern: str | None = None,
    ) -> list[Subscription]:
        """Delete this conversation's subscription by id, or all with a pattern; returns them."""
        condition = (
            subscriptions.c.id == subscription_id
            if subscription_id is not None
            else subscriptions.c.name_pattern == name_pattern
        )
        async with self.engine.begin() as connection:
            rows = await connection.execute(
                delete(subscriptions)
                .where(subscriptions.c.conversation_ref == conversation_ref, condition)
                .returning(*subscriptions.c)
            )
            return sorted((_subscription(row) for row in rows), key=lambda s: s.id)

    async def record_version(
        self, version: ModelVersion, via: str, lease: timedelta
    ) -> RecordedVersion:
        """Store a model version once and, in the same transaction, queue one announcement per
        active conversation with a matching subscription, claimed for ``lease`` by the caller,
        who sends them at once. A known version queues nothing; if it was stored without its
        creator and ``version`` has one, the creator (and creation time) is filled in."""
        now = utcnow()
        async with self.engine.begin() as connection:
            inserted = await connection.execute(
                self._insert(model_versions)
                .values(**_version_values(version), received_via=via, received_at=now)
                .on_conflict_do_nothing(
                    index_elements=["source_kind", "source_name", "name", "version"]
                )
                .returning(model_versions.c.id)
            )
            row = inserted.first()
            if row is None:
                await _fill_in_creators(connection, [version])
                return RecordedVersion(new=False)
            targets = await _matching_conversations(connection, version)
            if not targets:
                return RecordedVersion(new=True)
            queued = await connection.execute(
                self._insert(announcements)
                .values(
                    [
                        {
                            "conversation_ref": conversation_ref,
                            "model_version_id": row.id,
                            "status": AnnouncementStatus.QUEUED,
                            "attempts": 0,
                            "next_attempt_at": now,
                            "claimed_until": now + lease,
                            "claims": 1,
                            "created_at": now,
                        }
                        for conversation_ref in sorted(targets)
                    ]
                )
                .on_conflict_do_nothing()
                .returning(announcements.c.id, announcements.c.conversation_ref)
            )
            claimed = []
            for announcement in queued:
                target = targets[announcement.conversation_ref]
                approval_id = await self._ask_approval(connection, announcement, row.id, target)
                claimed.append(
                    PendingAnnouncement(
                        id=announcement.id,
                        conversation_ref=announcement.conversation_ref,
                        reference=target.reference,
                        locale=target.locale,
                        attempts=0,
                        claims=1,
                        version_id=row.id,
                        version=version,
                        approval_id=approval_id,
                    )
                )
            return RecordedVersion(new=True, claimed=sorted(claimed, key=lambda a: a.id))

    async def _ask_approval(
        self,
        connection: AsyncConnection,
        announcement: Row[Any],
        version_id: int,
        target: _Audience,
    ) -> int:
        policy, deploy_target = resolve(target.policy, self.defaults)
        inserted = await connection.execute(
            insert(approvals)
            .values(
                new_approval_values(
                    announcement.conversation_ref,
                    version_id,
                    policy,
                    deploy_target,
                    announcement_id=announcement.id,
                    now=utcnow(),
                )
            )
            .returning(approvals.c.id)
        )
        return int(inserted.scalar_one())

    async def claim_announcements(self, limit: int, lease: timedelta) -> list[PendingAnnouncement]:
        """Claim up to ``limit`` due announcements for ``lease``: a compare-and-set, so rows
        claimed by another sender (whose lease has not run out) are never taken. On PostgreSQL
        the candidates are read ``FOR UPDATE SKIP LOCKED``: replicas claiming at the same moment
        take different rows instead of waiting for each other; on SQLite, which has one writer
        at a time, the compare-and-set alone is the claim."""
        now = utcnow()
        claimable = and_(
            announcements.c.status == AnnouncementStatus.QUEUED,
            announcements.c.next_attempt_at <= now,
            or_(announcements.c.claimed_until.is_(None), announcements.c.claimed_until < now),
        )
        async with self.engine.begin() as connection:
            candidates = (
                (
                    await connection.execute(
                        select(announcements.c.id)
                        .where(claimable)
                        .order_by(announcements.c.next_attempt_at, announcements.c.id)
                        .limit(limit)
                        .with_for_update(skip_locked=True)  # PostgreSQL; SQLite ignores it
                    )
                )
                .scalars()
                .all()
            )
            if not candidates:
                return []
            claimed = (
                (
                    await connection.execute(
                        update(announcements)
                        .where(announcements.c.id.in_(candidates), claimable)
                        .values(claimed_until=now + lease, claims=announcements.c.claims + 1)
                        .returning(announcements.c.id)
                    )
                )
                .scalars()
                .all()
            )
            rows = await connection.execute(
                select(
                    announcements.c.id,
                    announcements.c.conversation_ref,
                    announcements.c.attempts,
                    announcements.c.claims,
                    conversations.c.reference,
                    conversations.c.locale,
                    approvals.c.id.label("approval_id"),
                    model_versions.c.id.label("version_id"),
                    *(column for column in model_versions.c if column.name != "id"),
                )
                .join(conversations, conversations.c.id == announcements.c.conversation_ref)
                .join(model_versions, model_versions.c.id == announcements.c.model_version_id)
                .join(approvals, approvals.c.announcement_id == announcements.c.id)
                .where(announcements.c.id.in_(claimed))
                .order_by(announcements.c.id)
            )
            return [_pending(row) for row in rows]

    async def renew_claim(self, item: PendingAnnouncement, lease: timedelta) -> bool:
        """Hold the claim of ``item`` for ``lease`` from now, right before sending it; False if
        another sender claimed the row since (this claim ran out while it waited)."""
        async with self.engine.begin() as connection:
            renewed = await connection.execute(
                update(announcements)
                .where(
                    announcements.c.id == item.id,
                    announcements.c.claims == item.claims,
                    announcements.c.status == AnnouncementStatus.QUEUED,
                )
                .values(claimed_until=utcnow() + lease)
            )
            return bool(renewed.rowcount)

    async def mark_announced(self, announcement_id: int, activity_id: str) -> None:
        """The connector accepted the card: remember the activity id for later updates, on the
        announcement and on the approval its card asks for, unless another sender (one of two
        whose claims overlapped in time) marked it first: its card is the one updated later."""
        async with self.engine.begin() as connection:
            first = await _finish(
                connection,
                announcement_id,
                status=AnnouncementStatus.SENT,
                activity_id=activity_id,
                sent_at=utcnow(),
            )
            if not first:
                return
            await connection.execute(
                update(approvals)
                .where(approvals.c.announcement_id == announcement_id)
                .values(activity_id=activity_id or None)
            )

    async def retry_announcement(self, announcement_id: int, delay: timedelta, error: str) -> None:
        """Release the claim and try again after ``delay``."""
        async with self.engine.begin() as connection:
            await connection.execute(
                update(announcements)
                .where(
                    announcements.c.id == announcement_id,
                    announcements.c.status == AnnouncementStatus.QUEUED,
                )
                .values(
                    attempts=announcements.c.attempts + 1,
                    next_attempt_at=utcnow() + delay,
                    claimed_until=None,
                    last_error=error[:512],
                )
            )

    async def fail_announcement(self, announcement_id: int, error: str) -> None:
        """The connector refused the card for good (not a transient error)."""
        async with self.engine.begin() as connection:
            await _finish(
                connection,
                announcement_id,
                status=AnnouncementStatus.FAILED,
                last_error=error[:512],
            )

    async def drop_conversation(self, conversation_ref: int, error: str) -> int:
        """The bot can no longer post there: deactivate the conversation (so its subscriptions
        match nothing) and drop its queued announcements; returns how many were dropped."""
        async with self.engine.begin() as connection:
            await connection.execute(
                update(conversations)
                .where(conversations.c.id == conversation_ref)
                .values(active=False, updated_at=utcnow())
            )
            dropped = await connection.execute(
                update(announcements)
                .where(
                    announcements.c.conversation_ref == conversation_ref,
                    announcements.c.status == AnnouncementStatus.QUEUED,
                )
                .values(
                    status=AnnouncementStatus.DROPPED, claimed_until=None, last_error=error[:512]
                )
            )
            return int(dropped.rowcount)

    async def news(self, versions: list[ModelVersion]) -> list[ModelVersion]:
        """Those of ``versions`` that recording would change: not stored yet, or stored without
        the creator they bring (a poll lists every version of a model; most are known)."""
        async with self.engine.connect() as connection:
            stored = await _stored_creators(connection, versions)
        return [
            version
            for version in versions
            if _version_key(version) not in stored
            or (stored[_version_key(version)] is None and version.created_by is not None)
        ]

    async def remember_versions(self, versions: list[ModelVersion], via: str) -> None:
        """Record versions as known without announcing them (those a source's first poll finds
        older than the watch), filling in the creator of those stored without one."""
        if not versions:
            return
        now = utcnow()
        async with self.engine.begin() as connection:
            await connection.execute(
                self._insert(model_versions)
                .values(
                    [
                        _version_values(version) | {"received_via": via, "received_at": now}
                        for version in versions
                    ]
                )
                .on_conflict_do_nothing()
            )
            await _fill_in_creators(connection, versions)

    async def watermarks(self, source_kind: str, source_name: str) -> dict[str, str] | None:
        """The latest version seen per model of a source; None until the source is baselined."""
        async with self.engine.connect() as connection:
            baselined = await connection.scalar(
                select(registry_sources.c.baselined_at).where(_source(source_kind, source_name))
            )
            if baselined is None:
                return None
            rows = await connection.execute(
                select(
                    registry_watermarks.c.model_name, registry_watermarks.c.latest_version
                ).where(
                    registry_watermarks.c.source_kind == source_kind,
                    registry_watermarks.c.source_name == source_name,
                )
            )
            return dict(rows.all())

    async def set_watermark(
        self, source_kind: str, source_name: str, model_name: str, latest_version: str
    ) -> None:
        """Remember that a model's versions were listed up to ``latest_version``."""
        statement = self._insert(registry_watermarks).values(
            source_kind=source_kind,
            source_name=source_name,
            model_name=model_name,
            latest_version=latest_version,
            updated_at=utcnow(),
        )
        async with self.engine.begin() as connection:
            await connection.execute(
                statement.on_conflict_do_update(
                    index_elements=["source_kind", "source_name", "model_name"],
                    set_={
                        "latest_version": statement.excluded.latest_version,
                        "updated_at": statement.excluded.updated_at,
                    },
                )
            )

    async def start_watching(self, source_kind: str, source_name: str) -> datetime:
        """Since when the bot watches a source: the time of the first call for it, by any replica
        (this one, if it is the first). Timezone-naive on SQLite, like every stored time."""
        async with self.engine.begin() as connection:
            await connection.execute(
                self._insert(registry_sources)
                .values(source_kind=source_kind, source_name=source_name, watched_since=utcnow())
                .on_conflict_do_nothing()
            )
            watched = await connection.execute(
                select(registry_sources.c.watched_since).where(_source(source_kind, source_name))
            )
            since: datetime = watched.scalar_one()
            return since

    async def mark_baselined(self, source_kind: str, source_name: str) -> None:
        """The source's existing versions are all recorded: from now on, new ones are announced.
        The source is watched already (:meth:`start_watching`)."""
        async with self.engine.begin() as connection:
            await connection.execute(
                update(registry_sources)
                .where(_source(source_kind, source_name), registry_sources.c.baselined_at.is_(None))
                .values(baselined_at=utcnow())
            )


def _source(source_kind: str, source_name: str) -> ColumnElement[bool]:
    """The condition that picks one source's row of ``registry_sources``."""
    return and_(
        registry_sources.c.source_kind == source_kind,
        registry_sources.c.source_name == source_name,
    )


async def _hold_room_for_one_more(connection: AsyncConnection, conversation_ref: int) -> None:
    """Raise unless the conversation has room for another subscription. The conversation's row
    is written first, so that concurrent subscribes count one after the other."""
    await connection.execute(
        update(conversations)
        .where(conversations.c.id == conversation_ref)
        .values(active=conversations.c.active)
    )
    held = await connection.scalar(
        select(func.count())
        .select_from(subscriptions)
        .where(subscriptions.c.conversation_ref == conversation_ref)
    )
    if (held or 0) >= MAX_SUBSCRIPTIONS:
        raise TooManySubscriptionsError(MAX_SUBSCRIPTIONS)


async def _change_policy(
    connection: AsyncConnection,
    existing: Subscription,
    same: ColumnElement[bool],
    policy: PolicyOverrides | None,
) -> SubscriptionChange:
    """An existing subscription, with ``policy`` (if any) in place of its own."""
    if policy is None or policy.is_empty() or policy == existing.policy:
        return SubscriptionChange(existing, created=False)
    await connection.execute(update(subscriptions).where(same).values(**_policy_values(policy)))
    changed = dataclasses.replace(existing, policy=policy)
    return SubscriptionChange(changed, created=False, before=existing)


async def _fill_in_creators(connection: AsyncConnection, versions: list[ModelVersion]) -> None:
    """Fill in who registered the known ``versions`` stored without it, and have their cards
    shown anew, now with "Registered by" (also those on their way: drawn before, posted after)."""
    filled = []
    for version in await _stored_without_creator(connection, versions):
        version_id = await connection.scalar(
            _FILL_IN_CREATOR.returning(model_versions.c.id), _creator_values(version)
        )
        if version_id is not None:
            filled.append(version_id)
    if filled:
        await connection.execute(
            update(approvals)
            .where(approvals.c.model_version_id.in_(filled))
            .values(card_revision=approvals.c.card_revision + 1)
        )


async def _stored_without_creator(
    connection: AsyncConnection, versions: list[ModelVersion]
) -> list[ModelVersion]:
    """Those of ``versions`` that bring a creator the store lacks. For a batch (a source's
    first poll: every version of a model), one look at the model's stored versions saves an
    update per version."""
    candidates = [version for version in versions if version.created_by is not None]
    if len(candidates) <= 1:
        return candidates
    stored = await _stored_creators(connection, candidates)
    return [
        version
        for version in candidates
        if _version_key(version) in stored and stored[_version_key(version)] is None
    ]


VersionKey = tuple[str, str, str, str]


def _version_key(version: ModelVersion) -> VersionKey:
    return version.source_kind, version.source_name, version.name, version.version


async def _stored_creators(
    connection: AsyncConnection, versions: list[ModelVersion]
) -> dict[VersionKey, str | None]:
    """The stored versions of the models of ``versions``, with their creators."""
    stored: dict[VersionKey, str | None] = {}
    for kind, source, name in {(v.source_kind, v.source_name, v.name) for v in versions}:
        rows = await connection.execute(
            select(model_versions.c.version, model_versions.c.created_by).where(
                model_versions.c.source_kind == kind,
                model_versions.c.source_name == source,
                model_versions.c.name == name,
            )
        )
        stored.update(((kind, source, name, version), creator) for version, creator in rows)
    return stored


async def _finish(connection: AsyncConnection, announcement_id: int, **values: Any) -> bool:
    """Set the final state of a queued announcement; False if it was no longer queued."""
    finished = await connection.execute(
        update(announcements)
        .where(
            announcements.c.id == announcement_id,
            announcements.c.status == AnnouncementStatus.QUEUED,
        )
        .values(claimed_until=None, **values)
    )
    return bool(finished.rowcount)


def _conversation_values(info: ConversationInfo) -> dict[str, Any]:
    return {
        "channel_id": info.channel_id,
        "conversation_id": info.conversation_id,
        "conversation_type": info.conversation_type,
        "tenant_id": info.tenant_id,
        "service_url": info.service_url,
        "name": info.name,
        "locale": info.locale,
        "reference": info.reference,
    }


async def _update_conversation(
    connection: AsyncConnection,
    info: ConversationInfo,
    values: dict[str, Any],
    *extra: Any,
) -> int | None:
    result = await connection.execute(
        update(conversations)
        .where(
            conversations.c.channel_id == info.channel_id,
            conversations.c.conversation_id == info.conversation_id,
            *extra,
        )
        .values(**values)
        .returning(conversations.c.id)
    )
    row = result.first()
    return None if row is None else int(row.id)


def _policy_values(policy: PolicyOverrides) -> dict[str, Any]:
    approvers = sorted(policy.approvers) if policy.approvers is not None else None
    return {
        "approvers": json.dumps(approvers) if approvers is not None else None,
        "required_approvals": policy.required_approvals,
        "expiry_hours": policy.expiry_hours,
        "target": policy.target,
    }


def _overrides(row: Row[Any]) -> PolicyOverrides:
    return PolicyOverrides(
        approvers=frozenset(json.loads(row.approvers)) if row.approvers is not None else None,
        required_approvals=row.required_approvals,
        expiry_hours=row.expiry_hours,
        target=row.target,
    )


def _subscription(row: Row[Any]) -> Subscription:
    tags: dict[str, str] = json.loads(row.tags)
    return Subscription(
        id=row.id,
        conversation_ref=row.conversation_ref,
        name_pattern=row.name_pattern,
        source_kind=SourceKind(row.source_kind) if row.source_kind else None,
        source_name=row.source_name or None,
        tags=tags,
        created_by=row.created_by,
        created_by_name=row.created_by_name,
        created_at=row.created_at,
        policy=_overrides(row),
    )


def _version_values(version: ModelVersion) -> dict[str, Any]:
    return {
        "source_kind": version.source_kind,
        "source_name": version.source_name,
        "name": version.name,
        "version": version.version,
        "tags": json.dumps(version.tags, sort_keys=True, ensure_ascii=False),
        "properties": json.dumps(version.properties, sort_keys=True, ensure_ascii=False),
        "description": version.description,
        "created_by": version.created_by,
        "created_by_type": version.created_by_type,
        "created_at": version.created_at,
        "source_id": version.source_id,
    }


def _creator_values(version: ModelVersion) -> dict[str, Any]:
    """The parameters of :data:`_FILL_IN_CREATOR`."""
    return {
        "known_kind": version.source_kind,
        "known_source": version.source_name,
        "known_name": version.name,
        "known_version": version.version,
        "new_created_by": version.created_by,
        "new_created_by_type": version.created_by_type,
        "new_created_at": version.created_at,
    }


@dataclass(frozen=True)
class _Audience:
    """A conversation to announce a version to, and the policy of its subscription."""

    reference: str
    locale: str | None
    policy: PolicyOverrides


async def _matching_conversations(
    connection: AsyncConnection, version: ModelVersion
) -> dict[int, _Audience]:
    """Active conversations with a subscription the version matches, with their reference,
    locale and policy: SQL narrows the candidates by source and the pattern's literal prefix,
    :func:`matches` decides. Where several subscriptions of a conversation match, the oldest with
    a deployment target sets the policy (else the oldest)."""
    name = version.name.lower()
    prefix = subscriptions.c.name_prefix
    rows = await connection.execute(
        select(subscriptions, conversations.c.reference, conversations.c.locale)
        .join(conversations, conversations.c.id == subscriptions.c.conversation_ref)
        .where(
            conversations.c.active.is_(True),
            func.substr(literal(name), 1, func.length(prefix)) == prefix,
            or_(
                subscriptions.c.source_kind == "",
                and_(
                    subscriptions.c.source_kind == version.source_kind,
                    func.lower(subscriptions.c.source_name) == version.source_name.lower(),
                ),
            ),
        )
        .order_by(subscriptions.c.target.is_(None), subscriptions.c.id)
    )
    audiences: dict[int, _Audience] = {}
    for row in rows:
        subscription = _subscription(row)
        if row.conversation_ref not in audiences and matches(subscription, version):
            audiences[row.conversation_ref] = _Audience(
                row.reference, row.locale, subscription.policy
            )
    return audiences


def _pending(row: Row[Any]) -> PendingAnnouncement:
    return PendingAnnouncement(
        id=row.id,
        conversation_ref=row.conversation_ref,
        reference=row.reference,
        locale=row.locale,
        attempts=row.attempts,
        claims=row.claims,
        version_id=row.version_id,
        version=model_version(row._mapping),
        approval_id=row.approval_id,
    )


def model_version(row: Mapping[Any, Any]) -> ModelVersion:
    """A model version from its stored columns."""
    return ModelVersion(
        source_kind=SourceKind(row["source_kind"]),
        source_name=row["source_name"],
        name=row["name"],
        version=row["version"],
        tags=json.loads(row["tags"]),
        properties=json.loads(row["properties"]),
        description=row["description"],
        created_by=row["created_by"],
        created_by_type=row["created_by_type"],
        created_at=row["created_at"],
        source_id=row["source_id"],
    )
