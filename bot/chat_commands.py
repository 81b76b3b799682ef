"""Chat commands: the table of what each command runs and who may send it, and the refusals.

A command that changes something is checked before it runs: its sender must be a known person,
and :class:`Permission` says what else. Each refusal is told to the sender in their language and
written in the audit.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Generic, TypeVar

from microsoft_agents.activity import Activity
from microsoft_agents.hosting.core import TurnContext, TurnState

from bot.admission import activity_tenant
from bot.card_actions import CONVERSATION_REF
from bot.cards import (
    Card,
    error_card,
    help_card,
    subscribed_card,
    subscriptions_card,
    unsubscribed_card,
)
from bot.cards.announcement import PUBLIC_STUDIO
from bot.cards.audit import MAX_AUDIT_SHOWN, audit_card
from bot.cards.lists import history_card, pending_card, status_card
from bot.channel import card_message
from bot.deploy_requests import DeployRequests
from bot.i18n import Translator
from bot.store.approvals import ApprovalStore
from bot.store.audit import Asker, CommandAudit
from bot.store.audit_trail import AuditTrail
from bot.store.store import Store
from bot.store.subscriptions import TooManySubscriptionsError
from dialogs.commands import (
    Audit,
    Command,
    CommandError,
    Deploy,
    Help,
    History,
    ListPending,
    ListSubscriptions,
    Rollback,
    Status,
    Subscribe,
    Unsubscribe,
    parse_command,
)
from dialogs.policy import floor_breaches
from domain.audit import AuditQuery
from domain.policy import Refused

log = logging.getLogger(__name__)


class Permission(Enum):
    """Who may send a command, and so what is checked before it runs."""

    READ = "read"
    """It changes nothing: anyone in a served conversation."""
    REQUEST = "request"
    """It asks for an approval: a known person, in a conversation others see (the approval
    policy decides who may approve)."""
    MANAGE = "manage"
    """It changes the conversation's subscriptions: a known person who is a subscription
    manager (when the operator names any)."""

    @property
    def changes(self) -> bool:
        """Whether the command changes something, so that who sends it is checked."""
        return self is not Permission.READ


@dataclass(frozen=True)
class CommandTurn:
    """The turn a command came in, and the sender's language."""

    context: TurnContext
    t: Translator

    @property
    def conversation_ref(self) -> int:
        """The stored conversation's id, which the agent's first handler left for the turn."""
        conversation_ref = self.context.turn_state[CONVERSATION_REF]
        assert isinstance(conversation_ref, int)  # noqa: S101 - set by remember_conversation
        return conversation_ref


class ChatCommands:
    """Runs the chat commands by :data:`COMMANDS`; dependencies come in explicitly.

    ``subscription_managers`` are Entra object ids; empty: every member of a served conversation
    may change its subscriptions.
    """

    def __init__(
        self, store: Store, subscription_managers: frozenset[str], studio: str = PUBLIC_STUDIO
    ) -> None:
        self.store = store
        self.approvals = ApprovalStore(store.engine)
        self.releases = store.releases
        self.requests = DeployRequests(self.approvals, store.requests, studio)
        self.audit = CommandAudit(store.engine)
        self.trail = AuditTrail(store.engine)
        self.subscription_managers = subscription_managers

    async def on_message(self, context: TurnContext, _state: TurnState) -> None:
        """A chat message: parse it as a command and answer with a card."""
        t = Translator(context.activity.locale)
        command = parse_command(context.activity.text)
        card = await self._run(command, CommandTurn(context, t))
        if card is not None:
            await context.send_activity(card_message(card))

    async def _run(self, command: Command | CommandError, turn: CommandTurn) -> Card | None:
        """The card that answers a command; None when the command has answered already."""
        t = turn.t
        if isinstance(command, CommandError):
            return error_card(t, t(command.key, **dict(command.params)), command.usage)
        spec = COMMANDS[type(command)]
        refusals = self._refusals(spec.permission, turn.context.activity)
        if refusals:
            return await self._refuse(turn, command, refusals)
        return await spec.run(self, command, turn)

    def _refusals(self, permission: Permission, activity: Activity) -> list[Refused]:
        """Why the sender may not run a command of ``permission`` here (empty: they may)."""
        if not permission.changes:
            return []
        user = activity.from_property
        if user is None or not user.aad_object_id:
            return [Refused("error.person_needed")]
        if permission is Permission.REQUEST:
            return [Refused("error.request_in_personal_chat")] if _personal(activity) else []
        return [] if self._may_manage(activity) else [Refused("error.not_manager")]

    def _may_manage(self, activity: Activity) -> bool:
        if not self.subscription_managers:
            return True
        user = activity.from_property
        object_id = (user.aad_object_id or "").lower() if user else ""
        return object_id in self.subscription_managers

    async def _refuse(self, turn: CommandTurn, command: Command, refusals: list[Refused]) -> Card:
        """Tell the sender why not, in their language, and write it in the audit."""
        t, name = turn.t, type(command).__name__.lower()
        asker = _asker(turn.context.activity, turn.conversation_ref)
        subject = (getattr(command, "model", None), getattr(command, "version", None))
        for refusal in refusals:
            await self.audit.refused(asker, name, refusal.key, subject)
        log.info("%s refused: %s", name, [r.key for r in refusals])
        return error_card(t, " ".join(t(r.key, **r.params) for r in refusals))

    async def _help(self, _command: Help, turn: CommandTurn) -> Card:
        return help_card(turn.t)

    async def _subscriptions(self, _command: ListSubscriptions, turn: CommandTurn) -> Card:
        subscriptions = await self.store.subscriptions.in_conversation(turn.conversation_ref)
        return subscriptions_card(turn.t, subscriptions)

    async def _pending(self, _command: ListPending, turn: CommandTurn) -> Card:
        return pending_card(turn.t, await self.approvals.pending_in(turn.conversation_ref))

    async def _history(self, command: History, turn: CommandTurn) -> Card:
        versions = await self.releases.history(turn.conversation_ref, command.model)
        return history_card(turn.t, command.model, versions)

    async def _status(self, command: Status, turn: CommandTurn) -> Card:
        return status_card(turn.t, command.model, await self.releases.status(command.model))

    async def _audit(self, command: Audit, turn: CommandTurn) -> Card:
        """This conversation's trail only: another team's approvals are theirs to show."""
        query = AuditQuery(
            model=command.model,
            version=command.version,
            conversation_ref=turn.conversation_ref,
            limit=MAX_AUDIT_SHOWN,
        )
        entries, total = await self.trail.latest(query)
        return audit_card(turn.t, command.model, command.version, entries, total)

    async def _request(self, command: Deploy | Rollback, turn: CommandTurn) -> Card | None:
        return await self.requests.request(command, turn.conversation_ref, turn.context, turn.t)

    async def _subscribe(self, command: Subscribe, turn: CommandTurn) -> Card:
        """Add the subscription, or change its policy, within the operator's policy floor."""
        breaches = floor_breaches(command.policy, self.store.defaults)
        if breaches:
            refusals = [Refused(breach.key, dict(breach.params)) for breach in breaches]
            return await self._refuse(turn, command, refusals)
        source = (
            (command.source_kind.value, command.source_name or "") if command.source_kind else None
        )
        user = turn.context.activity.from_property
        try:
            change = await self.store.subscriptions.add(
                turn.conversation_ref,
                command.pattern,
                source=source,
                tags=dict(command.tags),
                created_by=user.aad_object_id if user else None,
                created_by_name=user.name if user else None,
                policy=command.policy,
            )
        except TooManySubscriptionsError as full:
            refusal = Refused("error.too_many_subscriptions", {"max": full.limit})
            return await self._refuse(turn, command, [refusal])
        subscription = change.subscription
        if change.created:
            log.info("subscription %s added: %s", subscription.id, command.pattern)
        elif change.before is not None:
            log.info("subscription %s: policy changed", subscription.id)
        return subscribed_card(turn.t, subscription, created=change.created, before=change.before)

    async def _unsubscribe(self, command: Unsubscribe, turn: CommandTurn) -> Card:
        removed = await self.store.subscriptions.remove(
            turn.conversation_ref,
            subscription_id=command.subscription_id,
            name_pattern=command.pattern,
        )
        target = f"#{command.subscription_id}" if command.subscription_id else str(command.pattern)
        if removed:
            log.info("subscriptions %s removed", [sub.id for sub in removed])
        return unsubscribed_card(turn.t, removed, target)


_Command = TypeVar("_Command")


@dataclass(frozen=True)
class CommandSpec(Generic[_Command]):
    """What a chat command runs, and who may send it."""

    run: Callable[[ChatCommands, _Command, CommandTurn], Awaitable[Card | None]]
    """Its answer; None when it has answered already."""
    permission: Permission


COMMANDS: Mapping[type[Command], CommandSpec[Any]] = {
    Help: CommandSpec(ChatCommands._help, Permission.READ),
    ListSubscriptions: CommandSpec(ChatCommands._subscriptions, Permission.READ),
    ListPending: CommandSpec(ChatCommands._pending, Permission.READ),
    History: CommandSpec(ChatCommands._history, Permission.READ),
    Status: CommandSpec(ChatCommands._status, Permission.READ),
    Audit: CommandSpec(ChatCommands._audit, Permission.READ),
    Deploy: CommandSpec(ChatCommands._request, Permission.REQUEST),
    Rollback: CommandSpec(ChatCommands._request, Permission.REQUEST),
    Subscribe: CommandSpec(ChatCommands._subscribe, Permission.MANAGE),
    Unsubscribe: CommandSpec(ChatCommands._unsubscribe, Permission.MANAGE),
}
"""Every chat command: what it runs and who may send it."""


def _personal(activity: Activity) -> bool:
    conversation = activity.conversation
    return conversation is None or conversation.conversation_type in (None, "personal")


def _asker(activity: Activity, conversation_ref: int) -> Asker:
    user = activity.from_property
    return Asker(
        object_id=(user.aad_object_id or "").lower() or None if user else None,
        name=user.name if user else None,
        tenant_id=activity_tenant(activity),
        conversation_ref=conversation_ref,
    )
