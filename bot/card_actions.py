"""Approve and Reject on a card (``Action.Execute``): who clicked, checked, then the decision;
and each viewer's own view of the card (its refresh).

Who clicked comes from the Teams channel's activity (its token was checked at the HTTP edge). What
the approval policy needs beyond that is looked up, and when a look-up fails the click is refused
with a reason rather than allowed:
- the clicker's UPN, when the policy or the version's creator names people by UPN (Teams leaves
  it out of invokes): asked from the connector at each click until it answers, never remembered
  as unknown;
- who registered the version, when the store does not know yet (a version pushed by Event Grid
  while Azure ML was slow): read from Azure ML at the click.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from microsoft_agents.activity import AdaptiveCardInvokeResponse
from microsoft_agents.hosting.core import TurnContext, TurnState
from microsoft_agents.hosting.core.app.adaptive_card import factory
from microsoft_agents.hosting.core.connector import ConnectorClientBase

from bot.cards.announcement import PUBLIC_STUDIO, approval_card
from bot.cards.verbs import REASON_INPUT
from bot.channel import CONNECTOR_CLIENT_KEY
from bot.failpoints import reached
from bot.i18n import Translator
from bot.metrics import APPROVALS, CLICK_SECONDS
from bot.registry.azureml import ModelRegistry, failure_reason
from bot.store.approvals import CREATOR_NEEDED, UPN_NEEDED, ApprovalBusyError, ApprovalStore, Needed
from bot.store.clock import utcnow
from bot.store.store import Store
from dialogs.approval import (
    Approve,
    Event,
    Person,
    Reject,
    Role,
    Viewer,
    approval_of,
    needs_upn,
    viewer,
)
from domain.policy import Refused
from domain.records import ApprovalRecord, Decision, ModelVersion
from domain.statuses import SourceKind

log = logging.getLogger(__name__)

# Where the agent's first handler leaves the stored conversation's id for the turn.
CONVERSATION_REF = "releasebot.conversation_ref"
CREATOR_LOOKUP_SECONDS = 3.0
"""How long a click waits, at most, for Azure ML to say who registered the version (Teams
gives a card action about ten seconds)."""
MAX_ID = 2**63 - 1  # the store's ids are 64-bit integers
PERSONAL = "approval.personal_chat"
"""Nobody else sees a personal chat: an approval there would be one person's alone."""
UNCHECKED = "approval.identity_unchecked"

EventFor = Callable[[Person, datetime], Event]


@dataclass(frozen=True)
class Click:
    """A click on a card: which approval, in which stored conversation, and what it asks."""

    approval_id: int
    here: int
    event: Event


class LookupFailedError(Exception):
    """The connector could not say who the clicker is."""


class CardActions:
    """The handlers of Approve and Reject; dependencies come in explicitly."""

    def __init__(
        self,
        store: Store,
        registries: Sequence[ModelRegistry],
        on_approval_changed: Callable[[Decision], None],
        studio: str = PUBLIC_STUDIO,
    ) -> None:
        self.approvals = ApprovalStore(store.engine)
        self._store = store
        self._sources = {(r.source_kind, r.source_name): r for r in registries}
        self._on_approval_changed = on_approval_changed
        self._studio = studio
        self._members = MemberCache()

    async def on_approve(
        self, context: TurnContext, _state: TurnState, data: Any
    ) -> AdaptiveCardInvokeResponse:
        """Approve on a card: recorded at once, answered with the card as it is now."""
        return await self._timed_decision(context, data, Approve, "approve")

    async def on_reject(
        self, context: TurnContext, _state: TurnState, data: Any
    ) -> AdaptiveCardInvokeResponse:
        """Reject on a card, with the reason typed into its form."""
        reason = data.get(REASON_INPUT) if isinstance(data, dict) else None
        text = reason if isinstance(reason, str) else ""
        return await self._timed_decision(
            context, data, lambda person, at: Reject(person, text, at), "reject"
        )

    async def on_view(
        self, context: TurnContext, _state: TurnState, data: Any
    ) -> AdaptiveCardInvokeResponse:
        """The clicker's own view of an approval card: asked by Teams' refresh (``trigger``
        automatic) or by "Review and decide" (manual: a refusal is then said, too)."""
        t = Translator(context.activity.locale)
        approval_id = _approval_id(data)
        user = context.activity.from_property
        if approval_id is None or user is None or not user.aad_object_id:
            return factory.bad_request("the action needs an approvalId and a Teams user")
        record = await self.approvals.get(approval_id)
        if record is None or record.conversation_ref != context.turn_state[CONVERSATION_REF]:
            return factory.message(t("approval.gone"))
        person = Person(user.aad_object_id.lower(), None, user.name)
        personal = _in_personal_chat(context)
        seen = (
            Viewer(Role.WATCH, Refused(PERSONAL))
            if personal
            else await self._viewer(context, record, person)
        )
        # Why there are no buttons: said when asked, and in a personal chat (nobody else is there).
        told = personal or _trigger(context) != "automatic"
        refusal = seen.refusal if told and seen.role is Role.WATCH else None
        notice = t(refusal.key, **refusal.params) if refusal else None
        card = approval_card(
            t, record, notice, studio=self._studio, viewer=seen, refresh_for=[user.id]
        )
        return factory.adaptive_card(card)  # type: ignore[arg-type]

    async def _viewer(self, context: TurnContext, record: ApprovalRecord, person: Person) -> Viewer:
        """``person``'s view, with their UPN looked up when the policy needs it; the neutral
        view when Teams cannot say who they are (their click would be refused the same way)."""
        if needs_upn(record, person):
            try:
                person = await self._with_member_ids(context, person)
            except LookupFailedError:
                return Viewer(Role.WATCH)
        return viewer(approval_of(record), person, record.policy, utcnow())

    async def _timed_decision(
        self, context: TurnContext, data: Any, event_for: EventFor, action: str
    ) -> AdaptiveCardInvokeResponse:
        with CLICK_SECONDS.time():
            answer, outcome = await self._decide(context, data, event_for)
        APPROVALS.labels(action=action, outcome=outcome).inc()
        return answer

    async def _decide(
        self, context: TurnContext, data: Any, event_for: EventFor
    ) -> tuple[AdaptiveCardInvokeResponse, str]:
        """The answer to a click, and what came of it (for the metrics)."""
        t = Translator(context.activity.locale)
        approval_id = _approval_id(data)
        user = context.activity.from_property
        if approval_id is None or user is None or not user.aad_object_id:
            return factory.bad_request("the action needs an approvalId and a Teams user"), "invalid"
        conversation_ref = context.turn_state[CONVERSATION_REF]
        assert isinstance(conversation_ref, int)  # noqa: S101 - set by remember_conversation
        person = Person(user.aad_object_id.lower(), None, user.name)
        click = Click(approval_id, conversation_ref, event_for(person, utcnow()))
        if isinstance(click.event, Approve) and _in_personal_chat(context):
            return await self._refuse(click, t, PERSONAL)
        try:
            decision, person = await self._decide_with_lookups(
                context, approval_id, conversation_ref, person, event_for
            )
        except ApprovalBusyError:
            return factory.message(t("approval.busy")), "busy"
        except LookupFailedError:
            return await self._refuse(click, t, UNCHECKED)
        if not isinstance(decision, Decision):  # no such approval here
            return factory.message(t("approval.gone")), "gone"
        return self._answer(t, decision, person, user.id)

    async def _refuse(
        self, click: Click, t: Translator, reason: str
    ) -> tuple[AdaptiveCardInvokeResponse, str]:
        """Refuse a click before the policy sees it: audited, and told in the clicker's words
        (unless there is no such approval here)."""
        if not await self.approvals.refuse(click.approval_id, click.event, click.here, reason):
            return factory.message(t("approval.gone")), "gone"
        return factory.message(t(reason)), "refused"

    async def _decide_with_lookups(
        self,
        context: TurnContext,
        approval_id: int,
        conversation_ref: int,
        person: Person,
        event_for: EventFor,
    ) -> tuple[Decision | None, Person]:
        """Decide, first looking up what the policy needs and the store lacks (each look-up
        at most once); the decision, and the clicker as far as they were looked up."""
        creator_looked_up = False
        for _ in range(len(Needed) + 1):
            event = event_for(person, utcnow())
            decision = await self.approvals.decide(
                approval_id, event, conversation_ref, creator_looked_up=creator_looked_up
            )
            if decision is UPN_NEEDED and person.upn is None:
                person = await self._with_member_ids(context, person)
            elif decision is CREATOR_NEEDED and not creator_looked_up:
                await self._look_up_creator(approval_id)
                creator_looked_up = True
            else:
                break
        return (decision if isinstance(decision, Decision) else None), person

    async def _with_member_ids(self, context: TurnContext, person: Person) -> Person:
        """``person`` with the UPN and email Teams knows for them (Teams leaves both out of
        invokes); '' for a UPN the member has none of: looked up, the object id decides."""
        user = context.activity.from_property
        member = await self._members.get(context, user.id if user else None)
        return replace(person, upn=member.upn or "", email=member.email)

    async def _look_up_creator(self, approval_id: int) -> None:
        """Ask Azure ML who registered the approval's version, and store the answer."""
        record = await self.approvals.get(approval_id)
        source = self._sources.get(_source_of(record.version)) if record else None
        if record is None or source is None:
            return
        version = record.version
        try:
            read = await asyncio.wait_for(
                source.version_details(version.name, version.version), CREATOR_LOOKUP_SECONDS
            )
        except Exception as error:
            reason = "no answer in time" if isinstance(error, TimeoutError) else None
            log.warning(
                "who registered %s %s is unknown: %s",
                version.name,
                version.version,
                reason or failure_reason(error),
            )
            return
        await self._store.versions.remember([read], "click")

    def _answer(
        self, t: Translator, decision: Decision, person: Person, user_id: str
    ) -> tuple[AdaptiveCardInvokeResponse, str]:
        """The clicker's own view of the card after their click, and what came of it."""
        if decision.changed:
            reached("quorum" if decision.new_deployment is not None else "approval_recorded")
            self._on_approval_changed(decision)
        notice = t(decision.refused.key, **decision.refused.params) if decision.refused else None
        record = decision.record
        seen = viewer(approval_of(record), person, record.policy, utcnow())
        card = approval_card(
            t, record, notice, studio=self._studio, viewer=seen, refresh_for=[user_id]
        )
        outcome = "refused" if decision.refused else "recorded" if decision.changed else "unchanged"
        return factory.adaptive_card(card), outcome  # type: ignore[arg-type]


def _trigger(context: TurnContext) -> str | None:
    """How Teams sent a card action: "automatic" for a refresh, "manual" for a click."""
    value = context.activity.value
    trigger = value.get("trigger") if isinstance(value, dict) else None
    return trigger if isinstance(trigger, str) else None


def _in_personal_chat(context: TurnContext) -> bool:
    conversation = context.activity.conversation
    return conversation is None or conversation.conversation_type in (None, "personal")


def _source_of(version: ModelVersion) -> tuple[SourceKind, str]:
    return version.source_kind, version.source_name


def _approval_id(data: Any) -> int | None:
    value = data.get("approvalId") if isinstance(data, dict) else None
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 < value <= MAX_ID else None


@dataclass(frozen=True)
class MemberIds:
    """What Teams' roster says of a member: their UPN and email (either may be missing)."""

    upn: str | None
    email: str | None


class MemberCache:
    """Members' UPNs and emails as the connector told them, remembered for an hour (at most
    10,000 users). A failed look-up is not remembered: the next click asks again."""

    TTL_SECONDS = 3600.0
    MAX_ENTRIES = 10_000

    def __init__(self) -> None:
        self._known: dict[str, tuple[float, MemberIds]] = {}

    async def get(self, context: TurnContext, user_id: str | None) -> MemberIds:
        """The ids of the Teams user ``user_id`` in this conversation. Raises
        :class:`LookupFailedError` when the connector cannot say."""
        if not user_id:
            raise LookupFailedError("the click names no Teams user")
        now = time.monotonic()
        known = self._known.get(user_id)
        if known is not None and known[0] > now:
            return known[1]
        member = await _member_of(context, user_id)
        if len(self._known) >= self.MAX_ENTRIES:
            self._known.pop(next(iter(self._known)))
        self._known[user_id] = (now + self.TTL_SECONDS, member)
        return member


async def _member_of(context: TurnContext, user_id: str) -> MemberIds:
    """The clicker's UPN and email, asked from the connector."""
    connector = context.turn_state.get(CONNECTOR_CLIENT_KEY)
    conversation = context.activity.conversation
    if not isinstance(connector, ConnectorClientBase) or conversation is None:
        raise LookupFailedError("no connector client in this turn")
    try:
        member = await connector.conversations.get_conversation_member(conversation.id, user_id)
    except Exception as error:
        log.warning("could not look up the clicker's UPN: %s", type(error).__name__)
        raise LookupFailedError(type(error).__name__) from None
    extra = member.model_extra or {}
    upn, email = extra.get("userPrincipalName"), extra.get("email")
    return MemberIds(
        upn.lower() if isinstance(upn, str) and upn else None,
        email.lower() if isinstance(email, str) and email else None,
    )
