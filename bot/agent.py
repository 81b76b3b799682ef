"""The Agents SDK application: chat commands, install events and conversation bookkeeping."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from microsoft_agents.activity import Activity, ActivityTypes, InvokeResponse
from microsoft_agents.hosting.core import (
    AgentApplication,
    Connections,
    Storage,
    StoreItem,
    TurnContext,
    TurnState,
)
from microsoft_agents.hosting.core.app._routes import RouteRank
from microsoft_agents.hosting.core.app.adaptive_card import factory
from typing_extensions import override

from bot.admission import TenantGate, activity_tenant, card_action_answer
from bot.card_actions import CONVERSATION_REF, CardActions
from bot.cards import (
    Card,
    error_card,
    help_card,
    subscribed_card,
    subscriptions_card,
    unsubscribed_card,
)
from bot.cards.announcement import PUBLIC_STUDIO, approval_card, describe_target
from bot.cards.lists import history_card, pending_card, status_card
from bot.cards.verbs import APPROVE, CARD_ACTION, REJECT
from bot.channel import card_message
from bot.conversations import ConversationDirectory
from bot.i18n import Translator
from bot.registry.azureml import ModelRegistry
from bot.store.approvals import ApprovalStore
from bot.store.audit import Asker, CommandAudit
from bot.store.store import Store
from bot.store.subscriptions import TooManySubscriptionsError
from dialogs.approval import Person
from dialogs.commands import (
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
from domain.policy import Refused
from domain.records import Decision
from domain.releases import ApprovalRequest, NoRollback, VersionNotFound

log = logging.getLogger(__name__)

# Activity types whose own handlers decide about the conversation (install, remove).
_MEMBERSHIP_TYPES = {ActivityTypes.installation_update, ActivityTypes.conversation_update}
Changing = Deploy | Rollback | Subscribe | Unsubscribe
"""The commands that change something: who sends them is checked."""


_Item = TypeVar("_Item", bound=StoreItem)


class NoTurnStateStorage(Storage):
    """The SDK's turn-state storage, empty on purpose: all our state lives in the SQL store.

    The SDK would otherwise load and deep-copy conversation and user state on every turn.
    """

    @override
    async def read(
        self, keys: list[str], *, target_cls: type[_Item], **kwargs: Any
    ) -> dict[str, _Item]:
        """Nothing is stored."""
        return {}

    @override
    async def write(self, changes: dict[str, StoreItem]) -> None:
        """Nothing is kept."""

    @override
    async def delete(self, keys: list[str]) -> None:
        """Nothing to delete."""


@dataclass(frozen=True)
class Access:
    """Who the bot serves and who may change subscriptions: the operator's settings."""

    allowed_tenants: frozenset[str]
    subscription_managers: frozenset[str] = frozenset()
    """Entra object ids; empty: every member of a served conversation."""


class ChatHandlers:
    """The handlers of chat commands and install events; dependencies come in explicitly."""

    def __init__(self, store: Store, access: Access, studio: str = PUBLIC_STUDIO) -> None:
        self.store = store
        self.studio = studio
        self.approvals = ApprovalStore(store.engine)
        self.releases = store.releases
        self.requests = store.requests
        self.directory = ConversationDirectory(store)
        self.audit = CommandAudit(store.engine)
        self.subscription_managers = access.subscription_managers

    async def remember_conversation(self, context: TurnContext, _state: TurnState) -> bool:
        """Before every turn: refresh the stored reference of the conversation."""
        if context.activity.type not in _MEMBERSHIP_TYPES:
            context.turn_state[CONVERSATION_REF] = await self.directory.remember(context.activity)
        return True

    async def on_message(self, context: TurnContext, _state: TurnState) -> None:
        """A chat message: parse it as a command and answer with a card."""
        t = Translator(context.activity.locale)
        command = parse_command(context.activity.text)
        card = await self._run(command, context, t)
        if card is not None:
            await context.send_activity(card_message(card))

    async def _run(
        self, command: Command | CommandError, context: TurnContext, t: Translator
    ) -> Card | None:
        """The card that answers a command; None when the command has answered already."""
        if isinstance(command, CommandError):
            return error_card(t, t(command.key, **dict(command.params)), command.usage)
        if isinstance(command, Help):
            return help_card(t)
        conversation_ref = context.turn_state[CONVERSATION_REF]
        assert isinstance(conversation_ref, int)  # noqa: S101 - set by remember_conversation
        if isinstance(command, ListSubscriptions):
            return subscriptions_card(
                t, await self.store.subscriptions.in_conversation(conversation_ref)
            )
        if isinstance(command, ListPending | History | Status):
            return await self._report(command, conversation_ref, t)
        refusals = self._refusals(command, context.activity)
        if refusals:
            return await self._refuse(context, conversation_ref, command, refusals, t)
        if isinstance(command, Deploy | Rollback):
            return await self._request(command, conversation_ref, context, t)
        if isinstance(command, Subscribe):
            return await self._subscribe(command, conversation_ref, context, t)
        return await self._unsubscribe(command, conversation_ref, t)

    def _refusals(self, command: Changing, activity: Activity) -> list[Refused]:
        """Why the sender may not run ``command`` here (empty: they may)."""
        user = activity.from_property
        if user is None or not user.aad_object_id:
            return [Refused("error.person_needed")]
        if isinstance(command, Deploy | Rollback):
            conversation = activity.conversation
            personal = conversation is None or conversation.conversation_type in (None, "personal")
            return [Refused("error.request_in_personal_chat")] if personal else []
        if not self._may_manage(activity):
            return [Refused("error.not_manager")]
        if isinstance(command, Subscribe):
            breaches = floor_breaches(command.policy, self.store.defaults)
            return [Refused(breach.key, dict(breach.params)) for breach in breaches]
        return []

    async def _refuse(
        self,
        context: TurnContext,
        conversation_ref: int,
        command: Changing,
        refusals: list[Refused],
        t: Translator,
    ) -> Card:
        """Tell the sender why not, in their language, and write it in the audit."""
        asker = _asker(context.activity, conversation_ref)
        for refusal in refusals:
            await self.audit.refused(asker, type(command).__name__.lower(), refusal.key)
        log.info("%s refused: %s", type(command).__name__.lower(), [r.key for r in refusals])
        return error_card(t, " ".join(t(r.key, **r.params) for r in refusals))

    async def _report(
        self, command: ListPending | History | Status, conversation_ref: int, t: Translator
    ) -> Card:
        if isinstance(command, ListPending):
            return pending_card(t, await self.approvals.pending_in(conversation_ref))
        if isinstance(command, History):
            versions = await self.releases.history(conversation_ref, command.model)
            return history_card(t, command.model, versions)
        return status_card(t, command.model, await self.releases.status(command.model))

    async def _request(
        self, command: Deploy | Rollback, conversation_ref: int, context: TurnContext, t: Translator
    ) -> Card | None:
        """Ask for the approval of a deployment or rollback (anyone here may ask; the policy
        decides who may approve) and answer with its card, which the card sync keeps current."""
        outcome = await self._ask(command, conversation_ref, _requester(context.activity))
        if isinstance(outcome, VersionNotFound):
            return error_card(t, _not_found(t, outcome))
        if isinstance(outcome, NoRollback):
            return error_card(t, _no_rollback(t, outcome))
        record = await self.approvals.get(outcome.approval_id)
        assert record is not None  # noqa: S101 - approvals are never deleted
        if outcome.created:
            log.info("approval %s requested: %s %s", record.id, record.kind, record.version.name)
        notice = None if outcome.created else t("request.already_pending")
        sent = await context.send_activity(
            card_message(approval_card(t, record, notice, studio=self.studio))
        )
        # An earlier card of a pending approval stays the one that is kept current.
        if sent is not None and sent.id and not outcome.has_card:
            await self.requests.card_posted(record.id, sent.id)
        return None

    async def _ask(
        self, command: Deploy | Rollback, conversation_ref: int, requester: Person | None
    ) -> ApprovalRequest | VersionNotFound | NoRollback:
        if isinstance(command, Rollback):
            return await self.requests.request_rollback(
                conversation_ref, command.model, requester=requester
            )
        kind, name = command.source_kind, command.source_name
        return await self.requests.request_deploy(
            conversation_ref,
            command.model,
            command.version,
            source=(kind.value, name) if kind and name else None,
            requester=requester,
        )

    def _may_manage(self, activity: Activity) -> bool:
        if not self.subscription_managers:
            return True
        user = activity.from_property
        object_id = (user.aad_object_id or "").lower() if user else ""
        return object_id in self.subscription_managers

    async def _subscribe(
        self, command: Subscribe, conversation_ref: int, context: TurnContext, t: Translator
    ) -> Card:
        source = (
            (command.source_kind.value, command.source_name or "") if command.source_kind else None
        )
        user = context.activity.from_property
        try:
            change = await self.store.subscriptions.add(
                conversation_ref,
                command.pattern,
                source=source,
                tags=dict(command.tags),
                created_by=user.aad_object_id if user else None,
                created_by_name=user.name if user else None,
                policy=command.policy,
            )
        except TooManySubscriptionsError as full:
            refusal = Refused("error.too_many_subscriptions", {"max": str(full.limit)})
            return await self._refuse(context, conversation_ref, command, [refusal], t)
        subscription = change.subscription
        if change.created:
            log.info("subscription %s added: %s", subscription.id, command.pattern)
        elif change.before is not None:
            log.info("subscription %s: policy changed", subscription.id)
        return subscribed_card(t, subscription, created=change.created, before=change.before)

    async def _unsubscribe(
        self, command: Unsubscribe, conversation_ref: int, t: Translator
    ) -> Card:
        removed = await self.store.subscriptions.remove(
            conversation_ref,
            subscription_id=command.subscription_id,
            name_pattern=command.pattern,
        )
        target = f"#{command.subscription_id}" if command.subscription_id else str(command.pattern)
        if removed:
            log.info("subscriptions %s removed", [sub.id for sub in removed])
        return unsubscribed_card(t, removed, target)

    async def on_installation_update(self, context: TurnContext, _state: TurnState) -> None:
        """The app was installed in or removed from a conversation."""
        action = (context.activity.action or "").lower()
        if action in ("add", "add-upgrade"):
            await self._installed(context)
        elif action == "remove":
            await self._removed(context)

    async def on_conversation_update(self, context: TurnContext, _state: TurnState) -> None:
        """Members joined or left; the bot itself joining or leaving is an install or removal."""
        activity = context.activity
        bot_id = activity.recipient.id if activity.recipient else None
        if any(member.id == bot_id for member in activity.members_added or []):
            await self._installed(context)
        elif any(member.id == bot_id for member in activity.members_removed or []):
            await self._removed(context)
        else:
            await self.directory.remember(activity)

    async def _installed(self, context: TurnContext) -> None:
        _, activated = await self.directory.install(context.activity)
        log.info("installed in conversation %s", _conversation_id(context))
        if activated:  # greet once, even when Teams sends both installationUpdate and membersAdded
            t = Translator(context.activity.locale)
            await context.send_activity(card_message(help_card(t, greeting=True)))

    async def _removed(self, context: TurnContext) -> None:
        if await self.directory.uninstall(context.activity):
            log.info("removed from conversation %s", _conversation_id(context))

    async def on_error(self, context: TurnContext, error: Exception) -> None:
        """A turn failed: log it, and tell the user without exposing the exception's text."""
        log.error("turn failed: %s", type(error).__name__, exc_info=error)
        if context.activity.type != ActivityTypes.message:
            return
        t = Translator(context.activity.locale)
        try:
            await context.send_activity(card_message(error_card(t, t("error.internal"))))
        except Exception as send_error:
            log.warning("could not report the failure to the user: %s", type(send_error).__name__)


def _is_card_action(context: TurnContext) -> bool:
    activity = context.activity
    return activity.type == ActivityTypes.invoke and activity.name == CARD_ACTION


def _is_other_invoke(context: TurnContext) -> bool:
    activity = context.activity
    return activity.type == ActivityTypes.invoke and activity.name != CARD_ACTION


async def _unsupported_invoke(context: TurnContext, _state: TurnState) -> None:
    """An invoke the bot has no use for (task modules, sign-in, ...): 400 with its name, not the
    SDK's 501."""
    name = str(context.activity.name or "")[:64]
    body = {"error": f"this bot does not handle the invoke {name!r}"}
    await context.send_activity(
        Activity(type=ActivityTypes.invoke_response, value=InvokeResponse(status=400, body=body))
    )


async def _unknown_card_action(context: TurnContext, _state: TurnState) -> None:
    """A card action no verb handler took (an unknown verb, or no action at all): 400, not the
    SDK's 501."""
    refusal = factory.bad_request("expected an Action.Execute with the verb approve or reject")
    await context.send_activity(card_action_answer(refusal))


def _asker(activity: Activity, conversation_ref: int) -> Asker:
    user = activity.from_property
    return Asker(
        object_id=(user.aad_object_id or "").lower() or None if user else None,
        name=user.name if user else None,
        tenant_id=activity_tenant(activity),
        conversation_ref=conversation_ref,
    )


def _requester(activity: Activity) -> Person | None:
    user = activity.from_property
    if user is None or not user.aad_object_id:
        return None
    return Person(user.aad_object_id.lower(), None, user.name)


def _not_found(t: Translator, missing: VersionNotFound) -> str:
    """Why a version to deploy is unknown, with what is known instead."""
    name, version = missing.name, missing.version
    if missing.source is not None:
        kind, source_name = missing.source
        source = t(f"announce.{kind}", name=source_name)
        return t("error.unknown_in_source", name=name, version=version, source=source)
    if missing.known_versions:
        versions = ", ".join(missing.known_versions)
        return t("error.unknown_version", name=name, version=version, versions=versions)
    if missing.similar_names:
        suggestions = ", ".join(missing.similar_names)
        return t("error.unknown_model_suggest", name=name, suggestions=suggestions)
    return t("error.unknown_model", name=name)


def _no_rollback(t: Translator, refusal: NoRollback) -> str:
    where = {"target": describe_target(t, refusal.target)} if refusal.target is not None else {}
    suffix = "_with" if where else ""
    if refusal.current is None:
        return t(f"error.nothing_deployed{suffix}", name=refusal.name, **where)
    return t(
        f"error.no_earlier_deployment{suffix}",
        name=refusal.name,
        version=refusal.current.version.version,
        **where,
    )


def _conversation_id(context: TurnContext) -> str:
    conversation = context.activity.conversation
    return conversation.id if conversation else "?"


Handler = Callable[[TurnContext, TurnState], Awaitable[None]]
AgentExtension = Callable[[AgentApplication[TurnState]], None]
"""Adds routes to the application (the demo's own commands)."""


def build_agent(
    store: Store,
    connection_manager: Connections,
    access: Access,
    on_approval_changed: Callable[[Decision], None] = lambda _decision: None,
    *,
    registries: Sequence[ModelRegistry] = (),
    extensions: Sequence[AgentExtension] = (),
    studio: str = PUBLIC_STUDIO,
) -> AgentApplication[TurnState]:
    """The AgentApplication with our routes; typing indicators off (they break channel threads).

    Before anything else, every activity's tenant is checked against ``access``. A decision that
    changes an approval is told to ``on_approval_changed`` (the cards of everyone else and the
    deployment follow in the background); ``registries`` are asked who registered a version when
    the store does not know. Each of ``extensions`` may add routes of its own (the demo's
    ``demo register``).
    """
    app = AgentApplication[TurnState](
        storage=NoTurnStateStorage(),
        connection_manager=connection_manager,
        start_typing_timer=False,
        remove_recipient_mention=True,
    )
    chat = ChatHandlers(store, access, studio)
    cards = CardActions(store, registries, on_approval_changed, studio)
    app.before_turn(TenantGate(access.allowed_tenants).admit)
    app.before_turn(chat.remember_conversation)
    app.adaptive_card.action_execute(APPROVE)(cards.on_approve)
    app.adaptive_card.action_execute(REJECT)(cards.on_reject)
    app.add_route(_is_card_action, _unknown_card_action, is_invoke=True, rank=RouteRank.LAST)
    app.add_route(_is_other_invoke, _unsupported_invoke, is_invoke=True, rank=RouteRank.LAST)
    routes: dict[str, Handler] = {
        ActivityTypes.message: chat.on_message,
        ActivityTypes.installation_update: chat.on_installation_update,
        ActivityTypes.conversation_update: chat.on_conversation_update,
    }
    for activity_type, handler in routes.items():
        app.activity(activity_type)(handler)
    app.error(chat.on_error)
    for extend in extensions:
        extend(app)
    return app
