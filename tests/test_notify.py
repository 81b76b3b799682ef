"""Approvers are called: the announcement mentions the policy's approvers (Teams mention entities)
as RELEASEBOT_NOTIFY says; the roster is read through the connector's paged members, and a
roster that cannot be read leaves the card without mentions, never unsent."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from bot.cards.mentions import mention_text
from bot.config import load_settings
from bot.notify import Notifier, NotifyMode
from bot.roster import Roster
from bot.settings_values import SettingsError
from bot.store.clock import utcnow
from domain.policy import Policy
from domain.records import Member, ModelVersion
from tests.support.activities import ALICE, BOB
from tests.support.approvals import announced_card, start
from tests.support.bot import bot_environment
from tests.support.cards import card_text
from tests.support.connector import roster_entry
from tests.support.store import approval_of

ADA = "00000000-0000-0000-0000-0000000000ada"
APPROVERS = f"{ALICE},bob@contoso.com,{ADA}"
ROSTER = [
    roster_entry(
        "29:carol", "Carol Bystander", "00000000-0000-0000-0000-0000000ca401", "carol@contoso.com"
    ),
    roster_entry("29:alice", "Alice Example", ALICE, "alice@contoso.com"),
    roster_entry("29:bob", "Bob Example", BOB, "Bob@Contoso.com"),
    # Ada registered the versions (the simulated Azure ML says so): she may not approve them.
    roster_entry("29:ada", "Ada Lovelace", ADA, "ada@contoso.com"),
]


def mentions(card: dict[str, Any]) -> list[dict[str, Any]]:
    entities: list[dict[str, Any]] = card.get("msteams", {}).get("entities", [])
    return [entity for entity in entities if entity["type"] == "mention"]


async def test_the_announcement_mentions_the_approvers_who_may_approve(start_bot):
    bot = await start(start_bot, RELEASEBOT_APPROVERS=APPROVERS)
    bot.connector.roster = ROSTER

    card = await announced_card(bot, 20)

    assert mentions(card) == [
        {
            "type": "mention",
            "text": "<at>Alice Example</at>",
            "mentioned": {"id": "29:alice", "name": "Alice Example"},
        },
        {
            "type": "mention",
            "text": "<at>Bob Example</at>",
            "mentioned": {"id": "29:bob", "name": "Bob Example"},
        },
    ]
    assert "Approval asked of <at>Alice Example</at>, <at>Bob Example</at>." in card_text(card)
    assert bot.connector.roster_reads == [{"pageSize": "500"}]


async def test_the_roster_is_read_once_for_several_announcements(start_bot):
    bot = await start(start_bot, RELEASEBOT_APPROVERS=APPROVERS)
    bot.connector.roster = ROSTER

    first = await announced_card(bot, 20)
    second = await announced_card(bot, 21)

    assert len(mentions(first)) == len(mentions(second)) == 2
    assert len(bot.connector.roster_reads) == 1


@pytest.mark.parametrize("notify", ["none", "channel"])
async def test_without_mentions_nobody_is_mentioned_yet_the_approvers_get_their_views(
    start_bot, notify
):
    bot = await start(start_bot, RELEASEBOT_APPROVERS=APPROVERS, RELEASEBOT_NOTIFY=notify)
    bot.connector.roster = ROSTER

    card = await announced_card(bot, 20)

    assert "msteams" not in card
    assert "<at>" not in card_text(card)
    # The roster is read for the card's refresh: only the policy's approvers, never Carol.
    assert sorted(card["refresh"]["userIds"]) == ["29:ada", "29:alice", "29:bob"]


async def test_a_policy_without_approvers_mentions_nobody(start_bot):
    bot = await start(start_bot)
    bot.connector.roster = ROSTER

    card = await announced_card(bot, 20)

    assert "msteams" not in card
    assert bot.connector.roster_reads == []


async def test_a_roster_that_cannot_be_read_leaves_the_card_without_mentions(start_bot, caplog):
    bot = await start(start_bot, RELEASEBOT_APPROVERS=APPROVERS)
    bot.connector.roster = ROSTER
    bot.connector.roster_refusals = [503]

    with caplog.at_level(logging.WARNING, logger="bot.roster"):
        card = await announced_card(bot, 20)

    assert "msteams" not in card
    assert "Version" in card_text(card)  # the card itself went out
    assert [r.getMessage() for r in caplog.records if r.name == "bot.roster"] == [
        "the roster of a conversation could not be read (the connector answered 503): its "
        "approvers are not mentioned until it can be"
    ]


def test_an_unknown_notify_setting_is_refused():
    with pytest.raises(SettingsError, match="RELEASEBOT_NOTIFY must be one of mentions, channel"):
        load_settings(bot_environment("sqlite://", RELEASEBOT_NOTIFY="everyone"), dotenv_path=None)


class OnePage:
    """A roster of Alice and Bob."""

    async def members_page(
        self, reference: str, continuation: str | None
    ) -> tuple[list[Member], str | None]:
        assert reference == "{}"
        assert continuation is None
        alice = Member("29:alice", ALICE, "Alice Example", "alice@contoso.com")
        return [alice, Member("29:bob", BOB, "Bob Example", "bob@contoso.com")], None


async def test_the_person_who_asked_for_the_deployment_is_not_called():
    record = approval_of(
        ModelVersion("workspace", "ws", "m", "1"),
        policy=Policy(approvers=frozenset({ALICE, BOB})),
        kind="deploy",
        requested_by=BOB,
        requested_at=utcnow(),  # still waiting: nobody is called after its expiry
    )

    called = await Notifier(NotifyMode.MENTIONS, Roster(OnePage())).to_call(record)

    assert [member.user_id for member in called or []] == ["29:alice"]


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("Alice Example", "<at>Alice Example</at>"),
        ("Mallory </at><at>Everyone", "<at>Mallory /atatEveryone</at>"),
        ("  \u202eEvil\n Name ", "<at>Evil Name</at>"),
        ("<>", "<at>?</at>"),
    ],
)
def test_a_mention_shows_the_name_without_what_could_break_the_tag(name, text):
    assert mention_text(Member("29:x", "x", name)) == text
