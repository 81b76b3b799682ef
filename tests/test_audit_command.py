"""``audit`` in chat through the real bot over HTTP, in English and German: requests, votes,
refusals and the policy in time order, and only the conversation's own records."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.cards.audit import audit_card
from bot.cards.verbs import APPROVE, REJECT
from bot.i18n import Translator
from domain.audit import AuditEntry, AuditEvent
from tests.support.activities import BOB, USER_ID
from tests.support.approvals import announce, decide, start
from tests.support.bot import BotUnderTest
from tests.support.cards import card_text, execute_actions

MODEL = "sklearn_regression_model"


async def history_in_three_conversations(start_bot) -> BotUnderTest:
    """Version 20 in the channel: announced, rejected by Bob, asked for by Ada, refused to her,
    approved by Bob. Ada's deploy in the group chat, and her deploy refused in personal chat."""
    bot = await start(start_bot)
    announced = await announce(bot, 20)
    await decide(
        bot, REJECT, {"approvalId": announced, "reason": "worse metrics"}, user=BOB, name="Bob"
    )
    card = await bot.say(f"deploy {MODEL} 20", scope="channel")
    requested = execute_actions(card)[0]["data"]["approvalId"]
    await decide(bot, APPROVE, {"approvalId": requested}, user=USER_ID, name="Ada Lovelace")
    await decide(bot, APPROVE, {"approvalId": requested}, user=BOB, name="Bob")
    await bot.say(f"deploy {MODEL} 20", scope="groupChat")
    await bot.say(f"deploy {MODEL} 20", scope="personal")
    return bot


def in_order(text: str, *parts: str) -> bool:
    positions = [text.find(part) for part in parts]
    return -1 not in positions and positions == sorted(positions)


@pytest.mark.slow
async def test_audit_tells_the_story_of_a_model_here_and_nothing_else(start_bot):
    bot = await history_in_three_conversations(start_bot)

    channel = card_text(await bot.say(f"audit {MODEL}", scope="channel"))
    group = card_text(await bot.say(f"audit {MODEL}", scope="groupChat"))
    personal = card_text(await bot.say(f"audit {MODEL} 20", scope="personal"))

    assert f"Audit of {MODEL}, oldest first" in channel
    assert in_order(
        channel,
        "New version announced; approval asked for. Policy: approvals needed: 1; "
        "approvers: anyone here; expires {{DATE(",
        "Rejected by Bob: “worse metrics”",
        "Ada Lovelace asked for a deployment.",
        "Ada Lovelace was refused: You asked for this deployment, so someone else must approve it.",
        "Approved by Bob.",
    )
    assert "(version 20)" in channel
    assert channel.count("asked for a deployment") == 1  # the group chat's request is not shown
    assert "personal chat" not in channel
    assert group.count("asked for a deployment") == 1
    assert "Bob" not in group
    assert "Ada Lovelace was refused: Deployments and rollbacks are asked for where" in personal
    assert "Bob" not in personal


@pytest.mark.slow
async def test_protokoll_speaks_german(start_bot):
    bot = await history_in_three_conversations(start_bot)

    text = card_text(await bot.say(f"protokoll {MODEL} 20", scope="channel", locale="de-DE"))
    other = card_text(await bot.say(f"protokoll {MODEL} 21", scope="channel", locale="de-DE"))

    assert f"Protokoll von {MODEL} 20, älteste zuerst" in text
    assert in_order(
        text,
        "Neue Version angekündigt; Genehmigung angefragt. Richtlinie: nötige Genehmigungen: 1; "
        "Genehmigende: alle hier",
        "Abgelehnt von Bob: „worse metrics“",
        "Ada Lovelace hat eine Bereitstellung angefragt.",
        "Ada Lovelace wurde abgewiesen:",
        "Genehmigt von Bob.",
    )
    assert other == f"Zu {MODEL} 21 wurde in dieser Unterhaltung nichts aufgezeichnet."


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("audit", "Tell me which model"),
        (f"audit {MODEL} 20 extra", "I did not understand “extra”."),
        (f"audit {MODEL} 2/0", "“2/0” is not a version"),
    ],
)
async def test_audit_without_a_model_shows_its_form(bot: BotUnderTest, command, expected):
    text = card_text(await bot.say(command))

    assert expected in text
    assert "audit <model-name> [<version>]" in text


async def test_help_lists_audit(bot: BotUnderTest):
    assert "`audit <model-name> [<version>]`" in card_text(await bot.say("help"))
    german = card_text(await bot.say("hilfe", locale="de-DE"))
    assert "`protokoll <Modellname> [<Version>]`" in german


AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def entry(event: AuditEvent, **fields) -> AuditEntry:
    return AuditEntry(at=AT, event=event, cursor="c", version="3", **fields)


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        (
            "en-US",
            [
                "Deployment requested with pipeline 42.",
                "Deployed: [20261201.1](https://dev.azure.com/r)",
                "The deployment could not start (forbidden)",
            ],
        ),
        (
            "de-DE",
            [
                "Bereitstellung mit Pipeline 42 angefragt.",
                "Bereitgestellt: [20261201.1](https://dev.azure.com/r)",
                "Die Bereitstellung konnte nicht starten (forbidden)",
            ],
        ),
    ],
)
def test_runs_show_their_results_with_a_link(locale, expected):
    entries = [
        entry(AuditEvent.RUN_REQUESTED, target="pipeline:42"),
        entry(
            AuditEvent.RUN_ENDED,
            detail="succeeded",
            run_name="20261201.1",
            run_url="https://dev.azure.com/r",
        ),
        entry(AuditEvent.RUN_ENDED, detail="error: forbidden"),
    ]

    text = card_text(audit_card(Translator(locale), "fraud", None, entries, total=3))

    assert in_order(text, *expected)


def test_a_long_trail_shows_the_newest_and_how_many_are_left_out():
    entries = [entry(AuditEvent.REJECTED, actor_name="Bob", detail="x" * 900)] * 50

    card = audit_card(Translator("en-US"), "fraud", "3", entries, total=80)

    text = card_text(card)
    shown = text.count("Rejected by Bob")
    assert 10 < shown < 50  # what fits in a card Teams accepts
    assert f"Earlier entries not shown: {80 - shown}." in text
    assert "GET /api/audit" in text
