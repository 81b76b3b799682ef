"""Which conversations the bot is in: installs, removals, and the stored reference of each turn's
conversation."""

from __future__ import annotations

import logging

from microsoft_agents.activity import ActivityTypes
from microsoft_agents.hosting.core import TurnContext, TurnState

from bot.card_actions import CONVERSATION_REF
from bot.cards import help_card
from bot.channel import card_message
from bot.conversations import ConversationDirectory
from bot.i18n import Translator
from bot.store.store import Store

log = logging.getLogger(__name__)

# Activity types whose own handlers decide about the conversation (install, remove).
_MEMBERSHIP_TYPES = {ActivityTypes.installation_update, ActivityTypes.conversation_update}


class Membership:
    """The handlers of install and conversation-update events, and the turn's conversation."""

    def __init__(self, store: Store) -> None:
        self.directory = ConversationDirectory(store)

    async def remember_conversation(self, context: TurnContext, _state: TurnState) -> bool:
        """Before every turn: refresh the stored reference of the conversation."""
        if context.activity.type not in _MEMBERSHIP_TYPES:
            context.turn_state[CONVERSATION_REF] = await self.directory.remember(context.activity)
        return True

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


def _conversation_id(context: TurnContext) -> str:
    conversation = context.activity.conversation
    return conversation.id if conversation else "?"
