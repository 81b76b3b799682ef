"""The Agents SDK application: its routes, from each kind of activity to the module handling it.

Chat commands are run by :mod:`bot.chat_commands`, installs and the turn's conversation are kept
by :mod:`bot.membership`, and Approve and Reject on cards by :mod:`bot.card_actions`.
"""

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

from bot.admission import TenantGate, card_action_answer
from bot.card_actions import CardActions
from bot.cards import error_card
from bot.cards.announcement import PUBLIC_STUDIO
from bot.cards.verbs import APPROVE, CARD_ACTION, REJECT, VIEW
from bot.channel import card_message
from bot.chat_commands import ChatCommands
from bot.i18n import Translator
from bot.membership import Membership
from bot.registry.azureml import ModelRegistry
from bot.store.store import Store
from domain.records import Decision

log = logging.getLogger(__name__)

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
    refusal = factory.bad_request("expected an Action.Execute with a verb: approve, reject, view")
    await context.send_activity(card_action_answer(refusal))


async def _on_error(context: TurnContext, error: Exception) -> None:
    """A turn failed: log it, and tell the user without exposing the exception's text."""
    log.error("turn failed: %s", type(error).__name__, exc_info=error)
    if context.activity.type != ActivityTypes.message:
        return
    t = Translator(context.activity.locale)
    try:
        await context.send_activity(card_message(error_card(t, t("error.internal"))))
    except Exception as send_error:
        log.warning("could not report the failure to the user: %s", type(send_error).__name__)


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
    chat = ChatCommands(store, access.subscription_managers, studio)
    membership = Membership(store)
    cards = CardActions(store, registries, on_approval_changed, studio)
    app.before_turn(TenantGate(access.allowed_tenants).admit)
    app.before_turn(membership.remember_conversation)
    app.adaptive_card.action_execute(APPROVE)(cards.on_approve)
    app.adaptive_card.action_execute(REJECT)(cards.on_reject)
    app.adaptive_card.action_execute(VIEW)(cards.on_view)
    app.add_route(_is_card_action, _unknown_card_action, is_invoke=True, rank=RouteRank.LAST)
    app.add_route(_is_other_invoke, _unsupported_invoke, is_invoke=True, rank=RouteRank.LAST)
    routes: dict[str, Handler] = {
        ActivityTypes.message: chat.on_message,
        ActivityTypes.installation_update: membership.on_installation_update,
        ActivityTypes.conversation_update: membership.on_conversation_update,
    }
    for activity_type, handler in routes.items():
        app.activity(activity_type)(handler)
    app.error(_on_error)
    for extend in extensions:
        extend(app)
    return app
