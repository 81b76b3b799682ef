"""Model versions: each stored once; a new one queues, in the same transaction, one announcement and
one pending approval per conversation subscribed to it. Versions stored before Azure ML said who
registered them get their creator later."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.store.approvals import new_approval_values
from bot.store.clock import utcnow
from bot.store.engine import dialect_insert
from bot.store.rows import version_values
from bot.store.subscriptions import Audience, matching_conversations
from bot.store.tables import announcements, approvals, model_versions
from dialogs.policy import PolicyDefaults, resolve
from domain.records import ModelVersion, PendingAnnouncement, RecordedVersion
from domain.statuses import AnnouncementStatus

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


CLAIM_FIRST = 50
"""Announcements of a new version claimed at once by whoever recorded it: about a second of
Teams' rate for the app."""


def _announcement_values(
    version_id: int, conversation_ref: int, now: datetime, lease: timedelta | None
) -> dict[str, Any]:
    """The row of a queued announcement, claimed for ``lease`` (None: due for any sender)."""
    return {
        "conversation_ref": conversation_ref,
        "model_version_id": version_id,
        "status": AnnouncementStatus.QUEUED,
        "attempts": 0,
        "next_attempt_at": now,
        "claimed_until": now + lease if lease is not None else None,
        "claims": 1 if lease is not None else 0,
        "created_at": now,
    }


class Versions:
    """The model_versions table, and the announcements a new version queues."""

    def __init__(self, engine: AsyncEngine, defaults: PolicyDefaults) -> None:
        self.engine = engine
        self.defaults = defaults
        """The approval policy and target of subscriptions that do not set their own."""
        self._insert = dialect_insert(engine)

    async def record(
        self,
        version: ModelVersion,
        via: str,
        lease: timedelta,
        *,
        claim_first: int = CLAIM_FIRST,
    ) -> RecordedVersion:
        """Store a model version once and, in the same transaction, queue one announcement and
        one pending approval per active conversation with a matching subscription. The first
        ``claim_first`` announcements are claimed for ``lease`` by the caller, who sends them at
        once; the others are due at once for whichever sender claims them (a version for 10,000
        channels is sent in batches, not held in memory at once). A known version queues nothing;
        if it was stored without its creator and ``version`` has one, the creator (and creation
        time) is filled in."""
        now = utcnow()
        async with self.engine.begin() as connection:
            inserted = await connection.execute(
                self._insert(model_versions)
                .values(**version_values(version), received_via=via, received_at=now)
                .on_conflict_do_nothing(
                    index_elements=["source_kind", "source_name", "name", "version"]
                )
                .returning(model_versions.c.id)
            )
            row = inserted.first()
            if row is None:
                await _fill_in_creators(connection, [version])
                return RecordedVersion(new=False)
            targets = await matching_conversations(connection, version)
            if not targets:
                return RecordedVersion(new=True)
            refs = sorted(targets)
            claimed_refs = set(refs[:claim_first])
            queued = await connection.execute(
                self._insert(announcements)
                .on_conflict_do_nothing()
                .returning(announcements.c.id, announcements.c.conversation_ref),
                [
                    _announcement_values(row.id, ref, now, lease if ref in claimed_refs else None)
                    for ref in refs
                ],
            )
            asked = await self._ask_approvals(connection, list(queued), row.id, targets, now)
            claimed = [
                PendingAnnouncement(
                    id=announcement_id,
                    conversation_ref=ref,
                    reference=targets[ref].reference,
                    locale=targets[ref].locale,
                    attempts=0,
                    claims=1,
                    version_id=row.id,
                    version=version,
                    approval_id=approval_id,
                )
                for announcement_id, (ref, approval_id) in sorted(asked.items())
                if ref in claimed_refs
            ]
            return RecordedVersion(new=True, claimed=claimed, unclaimed=len(asked) - len(claimed))

    async def _ask_approvals(
        self,
        connection: AsyncConnection,
        queued: list[Row[Any]],
        version_id: int,
        targets: dict[int, Audience],
        now: datetime,
    ) -> dict[int, tuple[int, int]]:
        """One pending approval per queued announcement, in one statement: announcement id to
        its conversation and approval id."""
        if not queued:
            return {}
        rows = []
        for announcement in queued:
            policy, deploy_target = resolve(
                targets[announcement.conversation_ref].policy, self.defaults
            )
            rows.append(
                new_approval_values(
                    announcement.conversation_ref,
                    version_id,
                    policy,
                    deploy_target,
                    announcement_id=announcement.id,
                    now=now,
                )
            )
        inserted = await connection.execute(
            insert(approvals).returning(
                approvals.c.id, approvals.c.announcement_id, approvals.c.conversation_ref
            ),
            rows,
        )
        return {
            approval.announcement_id: (approval.conversation_ref, approval.id)
            for approval in inserted
        }

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

    async def remember(self, versions: list[ModelVersion], via: str) -> None:
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
                        version_values(version) | {"received_via": via, "received_at": now}
                        for version in versions
                    ]
                )
                .on_conflict_do_nothing()
            )
            await _fill_in_creators(connection, versions)


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
