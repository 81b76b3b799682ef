"""Where an approval and its deployment stand, as a card shows it: first one line in the state's
colour (waiting, approved and deploying, deployed, failed, rejected, expired), then the votes,
the reason of a rejection, and the run."""

from __future__ import annotations

from typing import Any

from bot.cards import text_block
from bot.cards.facts import when
from bot.cards.text import DETAIL_LIMIT, NAME_LIMIT, REASON_LIMIT, plain
from bot.i18n import Translator
from domain.records import RUN_NAME_PREFIX, ApprovalRecord, DeploymentRecord
from domain.statuses import ApprovalState, DeploymentStatus
from domain.target import Target

# Container styles: Teams draws them in the light, dark and high-contrast themes alike, with the
# text in the theme's own colour on top (a coloured text is hard to read in some themes).
_STYLE = {
    "waiting": "warning",
    "starting": "accent",
    "queued": "accent",
    "in_progress": "accent",
    "approved": "good",
    "succeeded": "good",
    "partially_succeeded": "warning",
    "failed": "attention",
    "canceled": "warning",
    "not_started": "attention",
    "rejected": "attention",
    "expired": "emphasis",
}


def describe_target(t: Translator, target: str) -> str:
    """``release:12`` or ``pipeline:42`` in words."""
    parsed = Target.parse(target)
    return t(f"approval.target_{parsed.kind.value}", id=str(parsed.definition_id))


def status_key(deployment: DeploymentRecord) -> str:
    """The catalog suffix of where a deployment stands (``deploy.status_<key>``): its run's
    status, else "starting" before a run was started and "queued" after."""
    if deployment.run_status is not None:
        return deployment.run_status.value
    return "starting" if deployment.status == DeploymentStatus.REQUESTED else "queued"


def run_label(deployment: DeploymentRecord) -> str | None:
    """What a person calls the run: its name, unless that is only our marker (``deploy-<key>``,
    which the pipeline's ``name:`` carries for the bot to find it again): then its number."""
    if deployment.run_name and deployment.run_name != RUN_NAME_PREFIX + deployment.key:
        return deployment.run_name
    return str(deployment.run_id) if deployment.run_id is not None else None


def state_of(record: ApprovalRecord) -> str:
    """The one word for where the approval and its deployment stand (``state.<word>``)."""
    if record.state is ApprovalState.PENDING:
        return "waiting"
    if record.state is not ApprovalState.APPROVED:
        return record.state.value
    deployment = record.deployment
    if deployment is None:
        return "approved"
    if deployment.status == DeploymentStatus.ERROR:
        return "not_started"
    return status_key(deployment)


def state_line(t: Translator, record: ApprovalRecord) -> dict[str, Any]:
    """The state, first on the card, in one line in its colour."""
    state = state_of(record)
    return {
        "type": "Container",
        "style": _STYLE[state],
        "bleed": True,
        "items": [text_block(t(f"state.{state}"), weight="Bolder")],
    }


def status_details(t: Translator, record: ApprovalRecord) -> list[dict[str, Any]]:
    """The votes, and then how long it waits, why it was rejected or how the run goes."""
    items = [
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
        waiting = t(
            "approval.waiting",
            count=len(record.votes),
            required=record.policy.required_approvals,
            when=when(record.expires_at),
        )
        items.append(text_block(waiting, isSubtle=True))
    elif record.state is ApprovalState.REJECTED:
        rejection = t(
            "approval.rejected_by",
            name=plain(record.rejected_by_name or "?", NAME_LIMIT),
            reason=plain(record.reason or "", REASON_LIMIT),
        )
        items.append(text_block(rejection))
    elif record.state is ApprovalState.APPROVED:
        items += _deployment_lines(t, record.deployment)
    return items


def status_section(t: Translator, record: ApprovalRecord) -> list[dict[str, Any]]:
    """The state line and its details: what a reply about the result shows."""
    return [state_line(t, record), *status_details(t, record)]


def _deployment_lines(t: Translator, deployment: DeploymentRecord | None) -> list[dict[str, Any]]:
    if deployment is None:
        return [text_block(t("approval.no_target"), isSubtle=True)]
    if deployment.status == DeploymentStatus.ERROR:
        fix = t(
            f"deploy.fix_{deployment.error_code or 'invalid'}",
            target=describe_target(t, deployment.target),
            detail=plain(deployment.last_error or "", DETAIL_LIMIT),
        )
        return [text_block(fix)]
    lines = []
    run = run_label(deployment)
    if run:
        lines.append(text_block(t("deploy.run", run=plain(run, NAME_LIMIT))))
    if deployment.detail:
        lines.append(
            text_block(plain(deployment.detail, DETAIL_LIMIT), isSubtle=True, spacing="Small")
        )
    if deployment.status == DeploymentStatus.REQUESTED and deployment.attempts:
        retrying = t("deploy.retrying", attempts=deployment.attempts)
        lines.append(text_block(retrying, isSubtle=True, spacing="Small"))
    return lines
