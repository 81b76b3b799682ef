"""Mentions on Adaptive Cards, so that Teams notifies the people a card calls, and the reminder
that calls the approvers who have not voted yet (pure functions).

Teams turns ``<at>Name</at>`` in a TextBlock into a mention when the card's ``msteams.entities``
holds a ``mention`` entity with that same text and the member's Teams user id (Teams platform
docs: "Mention support within Adaptive Cards").
"""

from __future__ import annotations

import re
from typing import Any

from bot.cards import Card, adaptive_card, text_block
from bot.cards.facts import when
from bot.cards.text import NAME_LIMIT, plain
from bot.i18n import Translator
from domain.records import ApprovalRecord, Member

# What could end the <at> tag or hide text: angle brackets, backslashes, control characters.
_UNSAFE = re.compile(r"[<>\\\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def mention_text(member: Member) -> str:
    """``<at>Name</at>`` for ``member``: their display name, without what could break the tag."""
    name = " ".join(_UNSAFE.sub("", member.name).split())[:NAME_LIMIT] or "?"
    return f"<at>{name}</at>"


def mention_entities(members: list[Member]) -> list[dict[str, Any]]:
    """The ``mention`` entities of ``members``, as ``msteams.entities`` carries them."""
    return [
        {
            "type": "mention",
            "text": mention_text(member),
            "mentioned": {"id": member.user_id, "name": member.name},
        }
        for member in members
    ]


MAX_CARD_MENTIONS = 10
"""The most members an announcement mentions: their entities must fit beside a card of up to
24 KB in Teams' 28 KB a message (the reminders, small cards, mention every one)."""


def with_mentions(t: Translator, card: Card, members: list[Member]) -> Card:
    """``card`` with a line that calls ``members`` (the first MAX_CARD_MENTIONS) to approve, and
    their mention entities; ``card`` itself when there is nobody to call."""
    if not members:
        return card
    members = members[:MAX_CARD_MENTIONS]
    line = text_block(t("notify.approvers", who=_names(members)), spacing="Small")
    return _mentioning({**card, "body": [*card["body"], line]}, members)


def reminder_card(t: Translator, record: ApprovalRecord, members: list[Member] | None) -> Card:
    """The reply in a card's thread that reminds of a pending approval; it calls ``members``
    (the approvers who have not voted yet) when there are any."""
    version = record.version
    title = t(
        "notify.reminder",
        name=plain(version.name, NAME_LIMIT),
        version=plain(version.version, NAME_LIMIT),
        count=len(record.votes),
        required=record.policy.required_approvals,
    )
    body = [text_block(title, weight="Bolder")]
    if members:
        body.append(text_block(t("notify.reminder_who", who=_names(members))))
    body.append(
        text_block(t("notify.reminder_expires", when=when(record.expires_at)), isSubtle=True)
    )
    return _mentioning(adaptive_card(body, speak=title), members or [])


def _names(members: list[Member]) -> str:
    return ", ".join(mention_text(member) for member in members)


def _mentioning(card: Card, members: list[Member]) -> Card:
    if not members:
        return card
    msteams = dict(card.get("msteams") or {})
    msteams["entities"] = [*msteams.get("entities", []), *mention_entities(members)]
    return {**card, "msteams": msteams}
