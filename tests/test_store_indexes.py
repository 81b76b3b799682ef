"""The reads that must not grow with a full store (bench/scale.py) are planned on their indexes
(migration 0013), on both stores. PostgreSQL is told to avoid sequential scans while explaining:
on the near-empty tables of a test it would rightly prefer them, but must be able to use the
index."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event

from bot.store.approvals import ApprovalStore
from bot.store.engine import create_engine
from bot.store.migrate import upgrade
from bot.store.store import Store
from domain.records import ModelVersion
from tests.support.store import conversation

pytestmark = pytest.mark.both_stores

VERSION = ModelVersion("workspace", "ml-prod", "fraud-detector", "3", tags={})


@pytest.fixture
async def store(database_url: str):
    engine = create_engine(database_url)
    await upgrade(engine)
    store = Store(engine)
    ref, _ = await store.conversations.save(conversation())
    await store.subscriptions.add(
        ref, "fraud-*", source=None, tags={}, created_by=None, created_by_name=None
    )
    yield store
    await engine.dispose()


async def plan_of(store: Store, read: Callable[[], Awaitable[Any]]) -> str:
    """The query plans of every SELECT that ``read`` runs, as one text."""
    statements: list[tuple[str, Any]] = []

    def capture(_connection, _cursor, statement, parameters, _context, _many) -> None:
        statements.append((statement, parameters))

    event.listen(store.engine.sync_engine, "before_cursor_execute", capture)
    try:
        await read()
    finally:
        event.remove(store.engine.sync_engine, "before_cursor_execute", capture)
    sqlite = store.engine.dialect.name == "sqlite"
    lines = []
    async with store.engine.connect() as connection:
        if not sqlite:
            await connection.exec_driver_sql("SET enable_seqscan = off")
        for statement, parameters in statements:
            if statement.lstrip().upper().startswith("SELECT"):
                explain = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
                rows = await connection.exec_driver_sql(explain + statement, parameters)
                lines += [str(row[-1]) for row in rows]
    return "\n".join(lines)


async def test_matching_a_new_version_looks_up_the_prefixes_of_its_name(store: Store):
    plan = await plan_of(store, lambda: store.versions.record(VERSION, "event", timedelta(60)))

    assert "ix_subscriptions_name_prefix" in plan


async def test_a_models_deployments_are_found_by_its_name_in_any_case(store: Store):
    plan = await plan_of(store, lambda: store.releases.status("Fraud-Detector"))

    assert "ix_model_versions_name_lower" in plan


async def test_a_conversations_pending_approvals_are_read_in_expiry_order(store: Store):
    recorded = await store.versions.record(VERSION, "event", timedelta(60))
    conversation_ref = recorded.claimed[0].conversation_ref

    plan = await plan_of(store, lambda: ApprovalStore(store.engine).pending_in(conversation_ref))

    assert "ix_approvals_conversation_pending" in plan


async def test_only_the_cards_behind_their_approval_are_read_to_update_them(store: Store):
    approvals = ApprovalStore(store.engine)

    plan = await plan_of(store, lambda: approvals.claim_card_updates(10, timedelta(60)))

    assert "ix_approvals_card_behind" in plan
