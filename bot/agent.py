"""The Agents SDK application: chat commands, install events and conversation bookkeeping."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from microsoft_agents.activity import Activity, ActivityTypes
from microsoft_agents.hosting.core import (
    AgentApplication,
    Connections,
    Storage,
    StoreItem,
    TurnContext,
    TurnState,
)
from typing_extensions import override

from bot.cards import (
    Card,
    error_card,
    help_card,
    subscribed_card,
    subscriptions_card,
    unsubscribed_card,
)
from bot.channel import card_message
from bot.conversations import ConversationDirectory
from bot.i18n import Translator
from bot.store.repository import Store
from dialogs.commands import (
    Command,
    CommandError,
    Help,
    ListSubscriptions,
    Subscribe,
    Unsubscribe,
    parse_command,
)

log = logging.getLogger(__name__)

# Activity types whose own handlers decide about the conversation (install, remove).
_MEMBERSHIP_TYPES = {ActivityTypes.installation_update, ActivityTypes.conversation_update}
# Where before_turn leaves the stored conversation's id for the handlers of the same turn.
CONVERSATION_REF = "releasebot.conversation_ref"


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


class ChatHandlers:
    """The handlers behind the agent's routes; dependencies come in explicitly."""

    def __init__(self, store: Store, subscription_managers: frozenset[str]) -> None:
        self.store = store
        self.directory = ConversationDirectory(store)
        self.subscription_managers = subscription_managers

    async def remember_conversation(self, context: TurnContext, _state: TurnState) -> bool:
        """Before every turn: refresh the stored reference of the conversation."""
        if context.activity.type not in _MEMBERSHIP_TYPES:
            context.turn_state[CONVERSATION_REF] = await self.directory.remember(context.activity)
        return True

    async def on_message(self, context: TurnContext, _state: TurnState) -> None:
        """A chat message: parse it as a command and answer with a card."""
        t = Translator(context.activity.locale)
        command = parse_command(context.activity.text)
        await context.send_activity(card_message(await self._run(command, context, t)))

    async def _run(
        self, command: Command | CommandError, context: TurnContext, t: Translator
    ) -> Card:
        if isinstance(command, CommandError):
            return error_card(t, t(command.key, **dict(command.params)), command.usage)
        if isinstance(command, Help):
            return help_card(t)
        conversation_ref = context.turn_state[CONVERSATION_REF]
        assert isinstance(conversation_ref, int)  # noqa: S101 - set by remember_conversation
        if isinstance(command, ListSubscriptions):
            return subscriptions_card(t, await self.store.list_subscriptions(conversation_ref))
        if not self._may_manage(context.activity):
            return error_card(t, t("error.not_manager"))
        if isinstance(command, Subscribe):
            return await self._subscribe(command, conversation_ref, context.activity, t)
        return await self._unsubscribe(command, conversation_ref, t)

    def _may_manage(self, activity: Activity) -> bool:
        if not self.subscription_managers:
            return True
        user = activity.from_property
        object_id = (user.aad_object_id or "").lower() if user else ""
        return object_id in self.subscription_managers

    async def _subscribe(
        self, command: Subscribe, conversation_ref: int, activity: Activity, t: Translator
    ) -> Card:
        source = (
            (command.source_kind.value, command.source_name or "") if command.source_kind else None
        )
        user = activity.from_property
        subscription, created = await self.store.add_subscription(
            conversation_ref,
            command.pattern,
            source=source,
            tags=dict(command.tags),
            created_by=user.aad_object_id if user else None,
            created_by_name=user.name if user else None,
        )
        if created:
            log.info("subscription %s added: %s", subscription.id, command.pattern)
        return subscribed_card(t, subscription, created=created)

    async def _unsubscribe(
        self, command: Unsubscribe, conversation_ref: int, t: Translator
    ) -> Card:
        removed = await self.store.remove_subscriptions(
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


def _conversation_id(context: TurnContext) -> str:
    conversation = context.activity.conversation
    return conversation.id if conversation else "?"


Handler = Callable[[TurnContext, TurnState], Awaitable[None]]


def build_agent(
    store: Store, connection_manager: Connections, subscription_managers: frozenset[str]
) -> AgentApplication[TurnState]:
    """The AgentApplication with our routes; typing indicators off (they break channel threads)."""
    app = AgentApplication[TurnState](
        storage=NoTurnStateStorage(),
        connection_manager=connection_manager,
        start_typing_timer=False,
        remove_recipient_mention=True,
    )
    chat = ChatHandlers(store, subscription_managers)
    app.before_turn(chat.remember_conversation)
    routes: dict[str, Handler] = {
        ActivityTypes.message: chat.on_message,
        ActivityTypes.installation_update: chat.on_installation_update,
        ActivityTypes.conversation_update: chat.on_conversation_update,
    }
    for activity_type, handler in routes.items():
        app.activity(activity_type)(handler)
    app.error(chat.on_error)
    return app
