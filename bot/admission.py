"""Which organisations the bot serves: the tenant of every activity, checked before anything else.

The Teams app may be installed in other tenants (a store listing, a sideloaded package, a guest
who adds it): their conversations must not subscribe to our models, see our cards or approve our
deployments. An activity from a tenant not allowed is not processed: nothing is stored, a message
gets one short answer and a card action a refusal. Each such tenant is logged once per process,
without content.
"""

from __future__ import annotations

import logging

from microsoft_agents.activity import (
    Activity,
    ActivityTypes,
    AdaptiveCardInvokeResponse,
    InvokeResponse,
)
from microsoft_agents.hosting.core import TurnContext, TurnState
from microsoft_agents.hosting.core.app.adaptive_card import factory

from bot.cards.verbs import CARD_ACTION
from bot.conversations import channel_data_tenant
from bot.i18n import Translator

log = logging.getLogger(__name__)

MAX_TENANTS_LOGGED = 1000


def activity_tenant(activity: Activity) -> str | None:
    """The activity's tenant id, lower case; None when it names none, or two that differ."""
    conversation = activity.conversation
    named = {
        str(tenant).strip().lower()
        for tenant in (
            conversation.tenant_id if conversation else None,
            channel_data_tenant(activity.channel_data),
        )
        if tenant
    }
    return named.pop() if len(named) == 1 else None


class TenantGate:
    """Lets through the activities of the allowed tenants; answers the others and stops them."""

    def __init__(self, allowed_tenants: frozenset[str]) -> None:
        self._allowed = frozenset(tenant.lower() for tenant in allowed_tenants)
        self._logged: set[str] = set()

    async def admit(self, context: TurnContext, _state: TurnState) -> bool:
        """Before every turn: True to go on; False (after the refusal is sent) to stop."""
        tenant = activity_tenant(context.activity)
        if tenant is not None and tenant in self._allowed:
            return True
        self._log_once(tenant)
        await _refuse(context)
        return False

    def _log_once(self, tenant: str | None) -> None:
        key = tenant or "(none or two)"
        if key in self._logged or len(self._logged) >= MAX_TENANTS_LOGGED:
            return
        self._logged.add(key)
        log.warning("activities from tenant %s are refused: it is not an allowed tenant", key)


async def _refuse(context: TurnContext) -> None:
    """One short answer in the activity's own terms; membership changes get none."""
    activity = context.activity
    t = Translator(activity.locale)
    if activity.type == ActivityTypes.message:
        await context.send_activity(t("tenant.not_served"))
    elif activity.type == ActivityTypes.invoke:
        await context.send_activity(_invoke_refusal(activity, t("tenant.not_served")))


def _invoke_refusal(activity: Activity, reason: str) -> Activity:
    """403 for an invoke; a card action gets Universal Actions' error response, which Teams
    shows to the clicker."""
    if activity.name == CARD_ACTION:
        return card_action_answer(factory.error(403, reason, "Forbidden"))
    response = InvokeResponse(status=403, body={"error": reason})
    return Activity(type=ActivityTypes.invoke_response, value=response)


def card_action_answer(answer: AdaptiveCardInvokeResponse) -> Activity:
    """The invoke response that carries a Universal Actions answer (Teams shows its error)."""
    body = answer.model_dump(mode="json", by_alias=True, exclude_none=True)
    return Activity(type=ActivityTypes.invoke_response, value=InvokeResponse(status=200, body=body))
