"""The store as the tests see it: rows, counts, and records as the store returns them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from app import STORE
from bot.store.engine import create_engine
from bot.store.tables import announcements
from domain.policy import Policy
from domain.records import ApprovalRecord, ConversationInfo, ModelVersion
from domain.statuses import ApprovalState
from tests.support.bot import BotUnderTest


def conversation(
    conversation_id: str = "19:c@thread.tacv2", service_url: str = "https://smba/"
) -> ConversationInfo:
    """A Teams channel as the store saves it."""
    return ConversationInfo(
        channel_id="msteams",
        conversation_id=conversation_id,
        conversation_type="channel",
        tenant_id="t",
        service_url=service_url,
        name=None,
        locale="en-US",
        reference=json.dumps({"conversation": {"id": conversation_id}}),
    )


async def rows(bot: BotUnderTest) -> list[dict]:
    """The announcement rows of the bot's store."""
    engine = create_engine(bot.settings.database_url)
    async with engine.connect() as connection:
        result = [dict(row) for row in (await connection.execute(select(announcements))).mappings()]
    await engine.dispose()
    return result


def approval_of(version: ModelVersion, approval_id: int = 7, **changes: Any) -> ApprovalRecord:
    """A pending approval of ``version`` as the store returns it."""
    requested = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    fields: dict[str, Any] = {
        "id": approval_id,
        "conversation_ref": 1,
        "reference": "{}",
        "locale": "en-US",
        "version_id": 3,
        "version": version,
        "kind": "announce",
        "state": ApprovalState.PENDING,
        "revision": 1,
        "policy": Policy(required_approvals=2),
        "target": "release:12",
        "requested_by": None,
        "requested_by_name": None,
        "requested_at": requested,
        "expires_at": requested + timedelta(hours=72),
        "decided_at": None,
        "rejected_by_name": None,
        "reason": None,
        "votes": (),
        "activity_id": None,
        "card_revision": 1,
        "deployment": None,
    }
    return ApprovalRecord(**(fields | changes))


async def count(bot: BotUnderTest, table: Any) -> int:
    """How many rows ``table`` holds in the bot's store."""
    async with bot.server.app[STORE].engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(table)) or 0)
