"""Subscriptions: which conversations hear about which model versions, with their policy; and the
rule that picks, for a version, the conversations to announce it to."""

from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, bindparam, delete, func, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.matching import literal_prefix, matches, possible_prefixes
from bot.store.clock import utcnow
from bot.store.engine import dialect_insert
from bot.store.reads import Reads
from bot.store.rows import policy_values, subscription_record
from bot.store.tables import conversations, subscriptions
from domain.policy import PolicyOverrides
from domain.records import ModelVersion, Subscription, SubscriptionChange

# Built once (a hot path): SQLAlchemy then only binds the parameters.
_LIST_SUBSCRIPTIONS = (
    select(subscriptions)
    .where(subscriptions.c.conversation_ref == bindparam("conversation_ref"))
    .order_by(subscriptions.c.id)
)

MAX_SUBSCRIPTIONS = 100
"""The most subscriptions one conversation may hold."""


class TooManySubscriptionsError(Exception):
    """The conversation holds the most subscriptions it may."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"a conversation holds at most {limit} subscriptions")
        self.limit = limit


class Subscriptions:
    """The subscriptions table; every method is one transaction."""

    def __init__(self, engine: AsyncEngine, reads: Reads) -> None:
        self.engine = engine
        self._reads = reads
        self._insert = dialect_insert(engine)

    async def add(
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
                return await _change_policy(connection, subscription_record(existing), same, policy)
            await _hold_room_for_one_more(connection, conversation_ref)
            inserted = await connection.execute(
                self._insert(subscriptions)
                .values(
                    **key,
                    name_prefix=literal_prefix(name_pattern),
                    created_by=created_by,
                    created_by_name=created_by_name,
                    created_at=utcnow(),
                    **policy_values(policy or PolicyOverrides()),
                )
                .on_conflict_do_nothing()
                .returning(*subscriptions.c)
            )
            row = inserted.first()
            if row is None:  # added by a concurrent request since we looked
                existing = (await connection.execute(select(subscriptions).where(same))).one()
                return await _change_policy(connection, subscription_record(existing), same, policy)
            return SubscriptionChange(subscription_record(row), created=True)

    async def in_conversation(self, conversation_ref: int) -> list[Subscription]:
        """A conversation's subscriptions, oldest first."""
        return await self._reads.run(functools.partial(_subscriptions_of, conversation_ref))

    async def remove(
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
            return sorted((subscription_record(row) for row in rows), key=lambda s: s.id)


def _subscriptions_of(conversation_ref: int, connection: Connection) -> list[Subscription]:
    rows = connection.execute(_LIST_SUBSCRIPTIONS, {"conversation_ref": conversation_ref})
    return [subscription_record(row) for row in rows]


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
    await connection.execute(update(subscriptions).where(same).values(**policy_values(policy)))
    changed = dataclasses.replace(existing, policy=policy)
    return SubscriptionChange(changed, created=False, before=existing)


@dataclass(frozen=True)
class Audience:
    """A conversation to announce a version to, and the policy of its subscription."""

    reference: str
    locale: str | None
    policy: PolicyOverrides


async def matching_conversations(
    connection: AsyncConnection, version: ModelVersion
) -> dict[int, Audience]:
    """Active conversations with a subscription the version matches, with their reference,
    locale and policy: SQL narrows the candidates by source and the pattern's literal prefix,
    :func:`matches` decides (the prefixes are looked up in the index, not compared with every
    subscription's). Where several subscriptions of a conversation match, the oldest with
    a deployment target sets the policy (else the oldest)."""
    rows = await connection.execute(
        select(subscriptions, conversations.c.reference, conversations.c.locale)
        .join(conversations, conversations.c.id == subscriptions.c.conversation_ref)
        .where(
            conversations.c.active.is_(True),
            subscriptions.c.name_prefix.in_(possible_prefixes(version.name)),
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
    audiences: dict[int, Audience] = {}
    for row in rows:
        stored = subscription_record(row)
        if row.conversation_ref not in audiences and matches(stored, version):
            audiences[row.conversation_ref] = Audience(row.reference, row.locale, stored.policy)
    return audiences
