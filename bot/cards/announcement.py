"""The card that announces a model version and asks for its approval (Adaptive Card 1.5,
Universal Actions), updated in place as approvals and the deployment progress.

Each viewer sees their own view of it (Teams' user-specific views): the card posted is the
neutral view, and its ``refresh`` asks the bot for each viewer's card: Approve and Reject for
an approver who has not voted, when they approved for one who has, why not for the creator and
the requester, the neutral view for anyone else. A client that does not refresh shows the
neutral view, whose "Review and decide" asks for the same card by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from bot.cards import Card, adaptive_card, text_block
from bot.cards.facts import change_summary, fact_table, figures, when
from bot.cards.status import describe_target, state_line, status_details
from bot.cards.text import NAME_LIMIT, cut, json_bytes, plain
from bot.cards.verbs import APPROVE, REASON_INPUT, REJECT, VIEW
from bot.cloud import CLOUDS, CloudName
from bot.i18n import Translator
from dialogs.approval import Role, Viewer
from domain.records import ApprovalRecord, ModelVersion
from domain.statuses import ApprovalState, SourceKind

PUBLIC_STUDIO = CLOUDS[CloudName.PUBLIC].studio
DESCRIPTION_LIMIT = 1500
# Teams refuses a message over 28 KB; the activity around the card needs about 2 KB of it.
MAX_CARD_BYTES = 24 * 1024
MAX_REFRESH_USERS = 60
"""Teams refreshes a card by itself for at most 60 named users (for everyone in a chat of fewer
than 60 people)."""
NEUTRAL = Viewer(Role.WATCH)


def studio_url(version: ModelVersion, studio: str = PUBLIC_STUDIO) -> str | None:
    """The model version's page in Azure ML studio (of the cloud at ``studio``), when we know
    where it lives."""
    name, number = quote(version.name, safe=""), quote(version.version, safe="")
    if version.source_kind == SourceKind.REGISTRY:
        registry = quote(version.source_name, safe="")
        return f"{studio}/registries/{registry}/models/{name}/version/{number}"
    if version.source_id:
        return f"{studio}/model/{name}:{number}/details?wsid={quote(version.source_id, safe='/')}"
    return None


def approval_card(
    t: Translator,
    record: ApprovalRecord,
    notice: str | None = None,
    *,
    studio: str = PUBLIC_STUDIO,
    viewer: Viewer = NEUTRAL,
    refresh_for: Sequence[str] = (),
) -> Card:
    """A model version asking for approval, as ``viewer`` sees it: the state first, what the
    version is, its figures, the votes and the run; the buttons the viewer may use. ``notice``
    is a line for this viewer only (why their click changed nothing); ``studio``: Azure ML
    studio's address in the bot's cloud; ``refresh_for``: the Teams user ids for whom Teams
    asks for their own view by itself (the approvers)."""
    version = record.version
    title = t(
        f"approval.title_{record.kind}",
        name=plain(version.name, NAME_LIMIT),
        version=plain(version.version, NAME_LIMIT),
    )
    head: list[dict[str, Any]] = [
        state_line(t, record),
        text_block(title, size="Medium", weight="Bolder", style="heading"),
        fact_table(_facts(t, record)),
    ]
    tail = [
        {"type": "Container", "separator": True, "items": status_details(t, record)},
        *_personal_lines(t, viewer, notice),
    ]
    card = adaptive_card([*head, *tail], speak=title)
    card["actions"] = _actions(t, record, viewer, studio)
    if record.state is ApprovalState.PENDING:
        card["refresh"] = _refresh(record.id, refresh_for)
    details = [_description(t, version, studio_url(version, studio)), figures(t, version)]
    if record.deployed_now is not None:
        details.append(change_summary(t, record.deployed_now, version))
    left_out = text_block(t("announce.left_out"), isSubtle=True)
    room = MAX_CARD_BYTES - json_bytes(card)
    card["body"] = [*head, *_within(room, details, left_out), *tail]
    return card


def _refresh(approval_id: int, user_ids: Sequence[str]) -> dict[str, Any]:
    refresh: dict[str, Any] = {
        "action": {"type": "Action.Execute", "verb": VIEW, "data": {"approvalId": approval_id}}
    }
    if user_ids:
        refresh["userIds"] = list(dict.fromkeys(user_ids))[:MAX_REFRESH_USERS]
    return refresh


def _personal_lines(t: Translator, viewer: Viewer, notice: str | None) -> list[dict[str, Any]]:
    """What this viewer alone reads: when they approved, why they may not, what their click did."""
    lines = []
    if viewer.role is Role.VOTED and viewer.voted_at is not None:
        lines.append(t("approval.you_approved", when=when(viewer.voted_at)))
    elif viewer.refusal is not None and viewer.role is Role.WITHDRAW:
        lines.append(t(viewer.refusal.key, **viewer.refusal.params))
    if notice:
        lines.append(notice)
    return [text_block(line, color="Accent", weight="Bolder") for line in dict.fromkeys(lines)]


def _within(
    room: int, sections: list[list[dict[str, Any]]], left_out: dict[str, Any]
) -> list[dict[str, Any]]:
    """The elements of ``sections``, in order, as long as they fit in ``room`` bytes of JSON;
    ``left_out`` in place of those that do not."""
    kept: list[dict[str, Any]] = []
    room -= _size(left_out)
    for section in sections:
        size = sum(_size(element) for element in section)
        if size > room:
            return [*kept, left_out]
        kept += section
        room -= size
    return kept


def _size(element: dict[str, Any]) -> int:
    return json_bytes(element) + len(", ")


def _description(t: Translator, version: ModelVersion, url: str | None) -> list[dict[str, Any]]:
    """The description, cut to DESCRIPTION_LIMIT with a link to all of it in Azure ML studio."""
    if not version.description:
        return []
    whole = plain(version.description)
    shown = cut(whole, DESCRIPTION_LIMIT)
    section = [text_block(shown)]
    if shown != whole and url:
        section.append(text_block(f"[{t('announce.full_description')}]({url})", spacing="Small"))
    return section


def _facts(t: Translator, record: ApprovalRecord) -> list[tuple[str, str]]:
    version = record.version
    source_key = f"announce.{version.source_kind}"
    facts = [
        (t("announce.fact_model"), plain(version.name, NAME_LIMIT)),
        (t("announce.fact_version"), plain(version.version, NAME_LIMIT)),
        (t("announce.fact_source"), t(source_key, name=plain(version.source_name, NAME_LIMIT))),
    ]
    if version.created_by:
        creator = plain(version.created_by, NAME_LIMIT)
        if version.registered_by_app:
            creator = t("announce.created_by_app", name=creator)
        facts.append((t("announce.fact_created_by"), creator))
    if record.requested_by_name:
        facts.append((t("approval.fact_requested_by"), plain(record.requested_by_name, NAME_LIMIT)))
    if record.target:
        facts.append((t("approval.fact_target"), describe_target(t, record.target)))
    if version.created_at:
        facts.append((t("announce.fact_registered"), when(version.created_at)))
    return facts


def _actions(
    t: Translator, record: ApprovalRecord, viewer: Viewer, studio: str
) -> list[dict[str, Any]]:
    """The viewer's buttons, then the links; links beyond the first go to the overflow menu, so
    that the buttons stay on one row."""
    actions: list[dict[str, Any]] = []
    if record.state is ApprovalState.PENDING:
        actions += _pending_actions(t, record.id, viewer)
    deployment = record.deployment
    links: list[tuple[str, str]] = []
    if deployment and deployment.web_url:
        links.append((t("deploy.open_run"), deployment.web_url))
    if deployment and deployment.logs_url and deployment.logs_url != deployment.web_url:
        links.append((t("deploy.open_logs"), deployment.logs_url))
    url = studio_url(record.version, studio)
    if url:
        links.append((t("announce.open_studio"), url))
    for title, link in links:
        action = {"type": "Action.OpenUrl", "title": title, "url": link}
        actions.append(action | {"mode": "secondary"} if actions else action)
    return actions


def _pending_actions(t: Translator, approval_id: int, viewer: Viewer) -> list[dict[str, Any]]:
    role = viewer.role
    data = {"approvalId": approval_id}
    if role is Role.DECIDE:
        approve = {
            "type": "Action.Execute",
            "verb": APPROVE,
            "title": t("announce.approve"),
            "data": data,
            "style": "positive",
        }
        return [approve, _reject_action(t, data)]
    if role is Role.WITHDRAW:
        return [_reject_action(t, data)]
    if role is Role.WATCH and viewer.refusal is None:  # not told yet whether they may
        return [
            {"type": "Action.Execute", "verb": VIEW, "title": t("approval.review"), "data": data}
        ]
    return []


def _reject_action(t: Translator, data: dict[str, Any]) -> dict[str, Any]:
    """Reject opens a form that asks for the reason."""
    reject_form = adaptive_card(
        [
            {
                "type": "Input.Text",
                "id": REASON_INPUT,
                "label": t("approval.reason_label"),
                "placeholder": t("approval.reason_placeholder"),
                "isMultiline": True,
                "isRequired": True,
                "maxLength": 1000,
                "errorMessage": t("approval.reason_required"),
            }
        ]
    )
    reject_form["actions"] = [
        {
            "type": "Action.Execute",
            "verb": REJECT,
            "title": t("approval.reject_confirm"),
            "data": data,
            "style": "destructive",
        }
    ]
    return {"type": "Action.ShowCard", "title": t("announce.reject"), "card": reject_form}
