"""How approvers are called (``RELEASEBOT_NOTIFY``): mentioned on the announcement and in the
reminders, reminded without mentions, or not at all.

- ``mentions`` (the default): the announcement mentions the policy's approvers, and each reminder
  in the card's thread mentions those who have not voted yet, so that Teams notifies them. Only
  members the conversation's roster names, and never the version's creator or the person who
  asked for the deployment (they may not approve); a policy that names no approvers (anyone may
  approve) mentions nobody. When the roster cannot be read, cards and reminders go out without
  mentions.
- ``channel``: no mentions (no roster is read); the reminders are posted as plain replies in the
  card's thread, which Teams shows to those who follow the channel or the thread. A bot cannot
  mention a whole channel or team.
- ``none``: no mentions and no reminders; the card alone.
"""

from __future__ import annotations

from enum import StrEnum

from bot.cards import Card
from bot.cards.announcement import approval_card
from bot.cards.mentions import reminder_card, with_mentions
from bot.i18n import Translator
from bot.roster import Roster
from bot.store.clock import utcnow
from dialogs.approval import Person, Role, approval_of, viewer
from domain.records import ApprovalRecord, Member
from domain.statuses import ApprovalState


class NotifyMode(StrEnum):
    """The values of ``RELEASEBOT_NOTIFY``."""

    CHANNEL = "channel"
    MENTIONS = "mentions"
    NONE = "none"


class Notifier:
    """Adds the mentions that call approvers to the announcement, and draws the reminders."""

    def __init__(self, mode: NotifyMode, roster: Roster) -> None:
        self.mode = mode
        self.roster = roster
        """The approvers as Teams members (shared, so that its cache serves every card)."""

    @property
    def reminds(self) -> bool:
        """Whether pending approvals are reminded of in their card's thread."""
        return self.mode is not NotifyMode.NONE

    async def shared_card(self, t: Translator, record: ApprovalRecord, studio: str) -> Card:
        """The card of ``record`` that everyone in its conversation sees, posted or edited: while
        it waits, Teams refreshes it for the approvers who are members (each gets their own view),
        and it calls those who may still vote."""
        if record.state is not ApprovalState.PENDING:
            return approval_card(t, record, studio=studio)
        approvers = await self.roster.approver_members(record.reference, record.policy.approvers)
        refresh_for = [member.user_id for member in approvers or []]
        card = approval_card(t, record, studio=studio, refresh_for=refresh_for)
        return with_mentions(t, card, await self.to_call(record) or [])

    async def reminder(self, t: Translator, record: ApprovalRecord) -> Card:
        """The reminder of ``record``, calling the approvers who have not voted yet."""
        return reminder_card(t, record, await self.to_call(record))

    async def to_call(self, record: ApprovalRecord) -> list[Member] | None:
        """The members to mention for ``record``: its approvers who may still vote; None when
        nobody is mentioned (not in this mode, or the roster is unknown)."""
        if self.mode is not NotifyMode.MENTIONS:
            return None
        members = await self.roster.approver_members(record.reference, record.policy.approvers)
        if members is None:
            return None
        approval, now = approval_of(record), utcnow()
        return [
            member
            for member in members
            if viewer(approval, _person(member), record.policy, now).role is Role.DECIDE
        ]


def _person(member: Member) -> Person:
    return Person(member.object_id or "", member.upn, member.name)


async def shared_card(
    notifier: Notifier | None, t: Translator, record: ApprovalRecord, studio: str
) -> Card:
    """:meth:`Notifier.shared_card`, or with no notifier the card alone (nobody called)."""
    if notifier is None:
        return approval_card(t, record, studio=studio)
    return await notifier.shared_card(t, record, studio)
