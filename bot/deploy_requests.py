"""``deploy`` and ``rollback`` from chat: ask for the approval and answer with its card, or say
why there is nothing to ask for."""

from __future__ import annotations

import logging

from microsoft_agents.activity import Activity
from microsoft_agents.hosting.core import TurnContext

from bot.cards import Card, error_card
from bot.cards.announcement import approval_card
from bot.cards.status import describe_target
from bot.channel import card_message
from bot.i18n import Translator
from bot.store.approvals import ApprovalStore
from bot.store.requests import ReleaseRequests
from dialogs.approval import Person
from dialogs.commands import Deploy, Rollback
from domain.releases import ApprovalRequest, NoRollback, VersionNotFound

log = logging.getLogger(__name__)


class DeployRequests:
    """Approval requests for a deployment or a rollback; dependencies come in explicitly."""

    def __init__(self, approvals: ApprovalStore, requests: ReleaseRequests, studio: str) -> None:
        self.approvals = approvals
        self.requests = requests
        self.studio = studio

    async def request(
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
