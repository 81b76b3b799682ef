"""The audit trail read back from the store: every source in time order, one conversation's only
when asked so, filters by model, version and time, and pages that neither skip nor repeat."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert

from bot.store.approvals import new_approval_values
from bot.store.audit import Asker, CommandAudit, audit_approval
from bot.store.audit_trail import AuditTrail, decode_cursor
from bot.store.engine import create_engine
from bot.store.migrate import upgrade
from bot.store.store import Store
from bot.store.tables import approvals, command_audit, deployments, model_versions
from dialogs.approval import Person
from domain.audit import AuditEvent, AuditQuery
from domain.policy import Policy
from tests.support.store import conversation

pytestmark = pytest.mark.both_stores

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
BOB = Person("b0b", None, "Bob")


async def add_version(store: Store, name: str, version: str) -> int:
    async with store.engine.begin() as connection:
        inserted = await connection.execute(
            insert(model_versions)
            .values(
                source_kind="workspace",
                source_name="ml-prod",
                name=name,
                version=version,
                tags="{}",
                properties="{}",
                received_via="poll",
                received_at=T0,
            )
            .returning(model_versions.c.id)
        )
        return int(inserted.scalar_one())


async def add_approval(store: Store, conversation_ref: int, version_id: int, at: datetime) -> int:
    values = new_approval_values(
        conversation_ref,
        version_id,
        Policy(approvers=frozenset({"bob@contoso.com"}), required_approvals=2),
        "pipeline:42",
        kind="deploy",
        requested_by=Person("ada", None, "Ada"),
        now=at,
    )
    async with store.engine.begin() as connection:
        inserted = await connection.execute(
            insert(approvals).values(values).returning(approvals.c.id)
        )
        approval_id = int(inserted.scalar_one())
        # The request's own audit row is told by the approval's row: it must not show twice.
        await audit_approval(
            connection,
            approval_id,
            conversation_ref,
            actor=None,
            action="request",
            detail="deploy",
            at=at,
        )
    return approval_id


async def vote(
    store: Store, approval_id: int, action: str, at: datetime, detail: Any = None
) -> None:
    async with store.engine.begin() as connection:
        await audit_approval(
            connection, approval_id, 1, actor=BOB, action=action, detail=detail, at=at
        )


async def add_run(
    store: Store, approval_id: int, version_id: int, start: datetime, **values: Any
) -> None:
    async with store.engine.begin() as connection:
        await connection.execute(
            insert(deployments).values(
                approval_id=approval_id,
                model_version_id=version_id,
                deployment_key=f"mrb-{approval_id}",
                target="pipeline:42",
                requested_by="Bob",
                attempts=1,
                next_attempt_at=start,
                created_at=start,
                updated_at=start + timedelta(minutes=9),
                result_reported=True,
                **values,
            )
        )


async def refused_command(store: Store, conversation_ref: int, at: datetime) -> None:
    asker = Asker("ada", "Ada", "t", conversation_ref)
    await CommandAudit(store.engine).refused(asker, "deploy", "error.person_needed", ("Fraud", "3"))
    async with store.engine.begin() as connection:
        await connection.execute(command_audit.update().values(at=at))


async def two_teams(store: Store) -> tuple[int, int]:
    """fraud 3 asked for, refused, approved and deployed in one channel; fraud 3 asked for in
    another; churn 1 in the first. Returns both conversations."""
    here, _ = await store.conversations.save(conversation("19:here@thread.tacv2"))
    there, _ = await store.conversations.save(conversation("19:there@thread.tacv2"))
    fraud, churn = await add_version(store, "fraud", "3"), await add_version(store, "churn", "1")
    await refused_command(store, here, T0)
    approval = await add_approval(store, here, fraud, T0 + timedelta(minutes=1))
    await vote(
        store, approval, "refused", T0 + timedelta(minutes=2), "approve: approval.not_an_approver"
    )
    await vote(store, approval, "approve", T0 + timedelta(minutes=3))
    await vote(store, approval, "approve", T0 + timedelta(minutes=4))
    await add_run(
        store,
        approval,
        fraud,
        T0 + timedelta(minutes=4),
        status="finished",
        run_status="succeeded",
        run_name="20261201.1",
        finished_at=T0 + timedelta(minutes=8),
    )
    await add_approval(store, there, fraud, T0 + timedelta(minutes=5))
    await add_approval(store, here, churn, T0 + timedelta(minutes=6))
    return here, there


@dataclass(frozen=True)
class Teams:
    """The trail of :func:`two_teams` and its two conversations."""

    trail: AuditTrail
    here: int
    there: int


@pytest.fixture
async def teams(database_url: str) -> AsyncIterator[Teams]:
    engine = create_engine(database_url)
    await upgrade(engine)
    here, there = await two_teams(Store(engine))
    yield Teams(AuditTrail(engine), here, there)
    await engine.dispose()


async def test_a_conversation_sees_its_own_trail_of_a_model_in_time_order(teams: Teams):
    entries, total = await teams.trail.latest(
        AuditQuery(model="FRAUD", conversation_ref=teams.here, limit=50)
    )

    assert [e.event for e in entries] == [
        AuditEvent.COMMAND_REFUSED,
        AuditEvent.REQUESTED,
        AuditEvent.REFUSED,
        AuditEvent.APPROVED,
        AuditEvent.APPROVED,
        AuditEvent.RUN_REQUESTED,
        AuditEvent.RUN_ENDED,
    ]
    assert total == 7
    assert [e.at - T0 for e in entries] == [timedelta(minutes=m) for m in (0, 1, 2, 3, 4, 4, 8)]
    request, ended = entries[1], entries[-1]
    assert (request.actor_name, request.kind, request.target) == ("Ada", "deploy", "pipeline:42")
    assert request.policy == Policy(approvers=frozenset({"bob@contoso.com"}), required_approvals=2)
    assert request.expires_at == T0 + timedelta(minutes=1) + Policy().expiry
    assert (entries[0].kind, entries[0].detail, entries[0].version) == (
        "deploy",
        "error.person_needed",
        "3",
    )
    assert (ended.detail, ended.run_name) == ("succeeded", "20261201.1")


async def test_the_newest_entries_come_with_the_number_of_all(teams: Teams):
    entries, total = await teams.trail.latest(
        AuditQuery(model="fraud", version="3", conversation_ref=teams.here, limit=2)
    )

    assert [e.event for e in entries] == [AuditEvent.RUN_REQUESTED, AuditEvent.RUN_ENDED]
    assert total == 7


async def test_the_export_reads_every_conversation_and_filters_by_time(teams: Teams):
    trail = teams.trail

    everything = await trail.page(AuditQuery())
    window = await trail.page(
        AuditQuery(since=T0 + timedelta(minutes=3), until=T0 + timedelta(minutes=6))
    )

    assert len(everything.entries) == 9
    assert everything.next is None
    assert {e.conversation_ref for e in everything.entries} == {teams.here, teams.there}
    assert [(e.event, e.model) for e in window.entries] == [
        (AuditEvent.APPROVED, "fraud"),
        (AuditEvent.APPROVED, "fraud"),
        (AuditEvent.RUN_REQUESTED, "fraud"),
        (AuditEvent.REQUESTED, "fraud"),
    ]
    assert window.entries[-1].conversation_ref == teams.there


async def test_pages_follow_each_other_without_gaps_or_repeats(teams: Teams):
    trail = teams.trail
    whole = (await trail.page(AuditQuery())).entries

    read, cursor = [], None
    while True:
        page = await trail.page(AuditQuery(after=cursor, limit=2))
        read += page.entries
        cursor = page.next
        if cursor is None:
            break

    assert read == whole
    assert decode_cursor(read[-1].cursor).at == read[-1].at


async def test_a_model_nobody_asked_about_has_no_trail(teams: Teams):
    entries, total = await teams.trail.latest(AuditQuery(model="other", limit=50))

    assert (entries, total) == ([], 0)
