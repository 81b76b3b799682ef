"""The card that announces a model version and asks for its approval (Adaptive Card 1.5,
Universal Actions), updated in place as approvals and the deployment progress."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from bot.cards import Card, adaptive_card, text_block
from bot.cards.text import DETAIL_LIMIT, NAME_LIMIT, REASON_LIMIT, cut, json_bytes, plain
from bot.cards.verbs import APPROVE, REASON_INPUT, REJECT
from bot.cloud import CLOUDS, CloudName
from bot.i18n import Translator
from domain.records import ApprovalRecord, DeploymentRecord, ModelVersion
from domain.statuses import ApprovalState, DeploymentStatus, RunStatus, SourceKind
from domain.target import Target

PUBLIC_STUDIO = CLOUDS[CloudName.PUBLIC].studio
MAX_METRICS = 6
MAX_TAGS = 12
# Card bytes (see bot.cards.text) of a description, a tag's or metric's name and its value.
DESCRIPTION_LIMIT = 1500
TAG_KEY_LIMIT = 64
TAG_VALUE_LIMIT = 200
# Teams refuses a message over 28 KB; the activity around the card needs about 2 KB of it.
MAX_CARD_BYTES = 24 * 1024
# Tag and property names that hold quality figures, as Azure ML jobs and MLflow name them.
_METRIC_NAME = re.compile(
    r"(accuracy|auc|f1|precision|recall|rmse|mae|mse|mape|r2|loss|score|metric)", re.IGNORECASE
)


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


def key_metrics(version: ModelVersion) -> list[tuple[str, str]]:
    """Numeric quality figures found in the tags and properties, metric-looking names first."""
    found: dict[str, str] = {}
    for key, value in (*version.properties.items(), *version.tags.items()):
        if _METRIC_NAME.search(key) and _is_number(value) and key not in found:
            found[key] = value
    return list(found.items())[:MAX_METRICS]


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def approval_card(
    t: Translator, record: ApprovalRecord, notice: str | None = None, *, studio: str = PUBLIC_STUDIO
) -> Card:
    """A model version asking for approval: what it is, its figures, the approvals so far, the
    deployment it started; Approve and Reject while it is pending. ``notice`` is a line for the
    person who clicked only (why their click changed nothing); ``studio``: Azure ML studio's
    address in the bot's cloud."""
    version = record.version
    title = t(
        f"approval.title_{record.kind}",
        name=plain(version.name, NAME_LIMIT),
        version=plain(version.version, NAME_LIMIT),
    )
    head: list[dict[str, Any]] = [
        text_block(title, size="Medium", weight="Bolder", style="heading"),
        fact_set(_facts(t, record)),
    ]
    if version.created_at:
        head.append(
            text_block(t("announce.registered_at", when=when(version.created_at)), isSubtle=True)
        )
    tail = [status_section(t, record)]
    if notice:
        tail.append(text_block(notice, color="Attention", weight="Bolder"))
    card = adaptive_card([*head, *tail], speak=title)
    card["actions"] = _actions(t, record, studio)
    details = [_description(t, version, studio_url(version, studio)), _figures(t, version)]
    if record.deployed_now is not None:
        details.append(change_summary(t, record.deployed_now, version))
    left_out = text_block(t("announce.left_out"), isSubtle=True)
    room = MAX_CARD_BYTES - json_bytes(card)
    card["body"] = [*head, *_within(room, details, left_out), *tail]
    return card


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


MISSING = "\u2013"  # an en dash: the figure or tag is not there


def change_summary(
    t: Translator, deployed: ModelVersion, candidate: ModelVersion
) -> list[dict[str, Any]]:
    """The version deployed now beside the new one: their metrics, and the tags that differ."""
    old_metrics, new_metrics = dict(key_metrics(deployed)), dict(key_metrics(candidate))
    rows = [
        (name, _change(old_metrics.get(name), new_metrics.get(name)))
        for name in dict.fromkeys([*new_metrics, *old_metrics])
    ]
    rows += [
        (name, _change(deployed.tags.get(name), candidate.tags.get(name)))
        for name in dict.fromkeys([*candidate.tags, *deployed.tags])
        if name not in old_metrics | new_metrics
        and deployed.tags.get(name) != candidate.tags.get(name)
    ]
    heading = t(
        "approval.change_title",
        old=plain(deployed.version, NAME_LIMIT),
        new=plain(candidate.version, NAME_LIMIT),
    )
    section: list[dict[str, Any]] = [text_block(heading, weight="Bolder", separator=True)]
    if rows:
        section += _some_facts(t, rows)
    else:
        section.append(text_block(t("approval.change_none"), isSubtle=True))
    return section


def _change(old: str | None, new: str | None) -> str:
    """A figure or tag before and after, each cut to TAG_VALUE_LIMIT."""
    return f"{_tag_value(old)} → {_tag_value(new)}"


def _tag_value(value: str | None) -> str:
    return MISSING if value is None else plain(value, TAG_VALUE_LIMIT)


def _some_facts(t: Translator, rows: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """The first MAX_TAGS of the tags or figures (names escaped here, values already), and how
    many more there are."""
    shown = [(plain(name, TAG_KEY_LIMIT), value) for name, value in rows[:MAX_TAGS]]
    section = [fact_set(shown)]
    if len(rows) > MAX_TAGS:
        more = t("announce.more", count=len(rows) - MAX_TAGS)
        section.append(text_block(more, isSubtle=True, spacing="Small"))
    return section


def when(moment: datetime) -> str:
    """A time that Teams renders in the reader's own time zone and format."""
    stamp = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{{{{DATE({stamp}, SHORT)}}}} {{{{TIME({stamp})}}}}"


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
    return facts


def describe_target(t: Translator, target: str) -> str:
    """``release:12`` or ``pipeline:42`` in words."""
    parsed = Target.parse(target)
    return t(f"approval.target_{parsed.kind.value}", id=str(parsed.definition_id))


def status_section(t: Translator, record: ApprovalRecord) -> dict[str, Any]:
    """Where the approval and its deployment stand."""
    items: list[dict[str, Any]] = [
        text_block(
            t(f"approval.state_{record.state.value}"),
            weight="Bolder",
            color=_STATE_COLOR[record.state],
        )
    ]
    items += [
        text_block(
            t(
                "approval.vote",
                name=plain(vote.name or vote.voter_id, NAME_LIMIT),
                when=when(vote.at),
            ),
            spacing="Small",
        )
        for vote in record.votes
    ]
    if record.state is ApprovalState.PENDING:
        items.append(
            text_block(
                t(
                    "approval.waiting",
                    count=len(record.votes),
                    required=record.policy.required_approvals,
                    when=when(record.expires_at),
                ),
                isSubtle=True,
            )
        )
    elif record.state is ApprovalState.REJECTED:
        items.append(
            text_block(
                t(
                    "approval.rejected_by",
                    name=plain(record.rejected_by_name or "?", NAME_LIMIT),
                    reason=plain(record.reason or "", REASON_LIMIT),
                )
            )
        )
    elif record.state is ApprovalState.APPROVED:
        items.extend(_deployment_lines(t, record))
    return {"type": "Container", "separator": True, "items": items}


def _deployment_lines(t: Translator, record: ApprovalRecord) -> list[dict[str, Any]]:
    deployment = record.deployment
    if deployment is None:
        return [text_block(t("approval.no_target"), isSubtle=True)]
    if deployment.status == DeploymentStatus.ERROR:
        fix = t(
            f"deploy.fix_{deployment.error_code or 'invalid'}",
            target=describe_target(t, deployment.target),
            detail=plain(deployment.last_error or "", DETAIL_LIMIT),
        )
        return [text_block(t("deploy.error"), color="Attention", weight="Bolder"), text_block(fix)]
    status = status_key(deployment)
    lines = [
        text_block(
            t(f"deploy.status_{status}", run=plain(deployment.run_name or "", NAME_LIMIT)),
            color=_RUN_COLOR.get(status, "Default"),
        )
    ]
    if deployment.detail:
        lines.append(
            text_block(plain(deployment.detail, DETAIL_LIMIT), isSubtle=True, spacing="Small")
        )
    if deployment.status == DeploymentStatus.REQUESTED and deployment.attempts:
        lines.append(
            text_block(
                t("deploy.retrying", attempts=deployment.attempts), isSubtle=True, spacing="Small"
            )
        )
    return lines


_STATE_COLOR = {
    ApprovalState.PENDING: "Default",
    ApprovalState.APPROVED: "Good",
    ApprovalState.REJECTED: "Attention",
    ApprovalState.EXPIRED: "Warning",
}
_RUN_COLOR: dict[str, str] = {
    RunStatus.SUCCEEDED: "Good",
    RunStatus.PARTIALLY_SUCCEEDED: "Warning",
    RunStatus.FAILED: "Attention",
    RunStatus.CANCELED: "Warning",
}


def status_key(deployment: DeploymentRecord) -> str:
    """The catalog suffix of where a deployment stands (``deploy.status_<key>``): its run's
    status, else "starting" before a run was started and "queued" after."""
    if deployment.run_status is not None:
        return deployment.run_status.value
    return "starting" if deployment.status == DeploymentStatus.REQUESTED else "queued"


def fact_set(facts: list[tuple[str, str]]) -> dict[str, Any]:
    """A FactSet of (title, value) pairs."""
    return {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in facts]}


def _figures(t: Translator, version: ModelVersion) -> list[dict[str, Any]]:
    sections: list[dict[str, Any]] = []
    metrics = key_metrics(version)
    if metrics:
        sections += [text_block(t("announce.metrics"), weight="Bolder")]
        sections += _some_facts(t, [(k, _tag_value(v)) for k, v in metrics])
    tags = [(k, _tag_value(v)) for k, v in version.tags.items() if (k, v) not in metrics]
    if tags:
        sections += [text_block(t("announce.tags"), weight="Bolder"), *_some_facts(t, tags)]
    return sections


def _actions(t: Translator, record: ApprovalRecord, studio: str) -> list[dict[str, Any]]:
    actions: list[dict[str, Any]] = []
    if record.state is ApprovalState.PENDING:
        actions += _decision_actions(t, record.id)
    deployment = record.deployment
    if deployment and deployment.web_url:
        actions.append(
            {"type": "Action.OpenUrl", "title": t("deploy.open_run"), "url": deployment.web_url}
        )
    if deployment and deployment.logs_url and deployment.logs_url != deployment.web_url:
        actions.append(
            {"type": "Action.OpenUrl", "title": t("deploy.open_logs"), "url": deployment.logs_url}
        )
    url = studio_url(record.version, studio)
    if url:
        actions.append({"type": "Action.OpenUrl", "title": t("announce.open_studio"), "url": url})
    return actions


def _decision_actions(t: Translator, approval_id: int) -> list[dict[str, Any]]:
    """Approve at once; Reject opens a form that asks for the reason."""
    data = {"approvalId": approval_id}
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
    return [
        {
            "type": "Action.Execute",
            "verb": APPROVE,
            "title": t("announce.approve"),
            "data": data,
            "style": "positive",
        },
        {"type": "Action.ShowCard", "title": t("announce.reject"), "card": reject_form},
    ]
