"""The answers to ``pending``, ``history`` and ``status``: lists of approvals and deployments
(Adaptive Card 1.5), pure functions like every card."""

from __future__ import annotations

from typing import Any

from bot.cards import Card, adaptive_card, text_block, title
from bot.cards.facts import fact_set, when
from bot.cards.status import describe_target, run_label, status_key
from bot.cards.text import NAME_LIMIT, REASON_LIMIT, json_bytes, plain
from bot.i18n import Translator
from domain.records import ApprovalRecord, DeploymentRecord
from domain.releases import DecisionSummary, Deployed, ModelStatus, VersionHistory
from domain.statuses import ApprovalState, DeploymentStatus

# Teams refuses messages over about 28 KB: the list stays well below, leaving room for the rest.
MAX_LIST_BYTES = 20_000
MAX_PENDING_SHOWN = 25
"""At most this many pending approvals on one card (each fits in about 800 bytes)."""


def pending_card(t: Translator, records: list[ApprovalRecord]) -> Card:
    """The approvals waiting in this conversation, or that there are none; the oldest
    :data:`MAX_PENDING_SHOWN` of them, so that the card stays within what Teams accepts."""
    body: list[dict[str, Any]] = [title(t("pending.title", count=len(records)))]
    if not records:
        body.append(text_block(t("pending.empty")))
    for record in records[:MAX_PENDING_SHOWN]:
        facts = [
            (t("announce.fact_model"), plain(record.version.name, NAME_LIMIT)),
            (t("announce.fact_version"), plain(record.version.version, NAME_LIMIT)),
            (t("list.fact_kind"), t(f"kind.{record.kind}")),
            (
                t("list.fact_approvals"),
                t(
                    "list.approvals_value",
                    count=len(record.votes),
                    required=record.policy.required_approvals,
                ),
            ),
            (t("list.fact_expires"), when(record.expires_at)),
        ]
        if record.requested_by_name:
            requester = plain(record.requested_by_name, NAME_LIMIT)
            facts.append((t("list.fact_requested_by"), requester))
        body.append(fact_set(facts) | {"separator": True})
    if len(records) > MAX_PENDING_SHOWN:
        body.append(text_block(t("announce.more", count=len(records) - MAX_PENDING_SHOWN)))
    return adaptive_card(body)


def history_card(t: Translator, name: str, versions: list[VersionHistory]) -> Card:
    """A model's newest versions here, each with its decisions and deployments; older versions
    are left out where the card would grow beyond what Teams accepts."""
    name = plain(name, NAME_LIMIT)
    if not versions:
        return adaptive_card([text_block(t("history.empty", name=name))])
    body: list[dict[str, Any]] = [title(t("history.title", name=name, count=len(versions)))]
    size = 0
    for shown, entry in enumerate(versions):
        section = _version_section(t, entry)
        size += json_bytes(section)
        if size > MAX_LIST_BYTES:
            left_out = len(versions) - shown
            body.append(text_block(t("history.left_out", count=left_out), isSubtle=True))
            break
        body.append(section)
    return adaptive_card(body)


def _version_section(t: Translator, entry: VersionHistory) -> dict[str, Any]:
    version = entry.version
    items: list[dict[str, Any]] = [
        text_block(
            t("history.version", version=plain(version.version, NAME_LIMIT)), weight="Bolder"
        )
    ]
    if version.created_at:
        items.append(
            text_block(
                t("history.registered", when=when(version.created_at)),
                isSubtle=True,
                spacing="None",
            )
        )
    items += [text_block(_decision(t, d), spacing="Small") for d in entry.decisions]
    if not entry.decisions:
        items.append(text_block(t("history.no_decision"), isSubtle=True, spacing="Small"))
    items += [
        text_block(_deployment_line(t, deployment), spacing="Small")
        for deployment in entry.deployments
    ]
    return {"type": "Container", "separator": True, "items": items}


def _decision(t: Translator, decision: DecisionSummary) -> str:
    kind = t(f"kind.{decision.kind}")
    at = when(decision.decided_at or decision.requested_at)
    if decision.state is ApprovalState.PENDING:
        return t(
            "history.pending",
            kind=kind,
            count=len(decision.approved_by),
            required=decision.required,
            when=when(decision.expires_at),
        )
    if decision.state is ApprovalState.APPROVED:
        names = ", ".join(plain(name, NAME_LIMIT) for name in decision.approved_by)
        return t("history.approved", kind=kind, names=names, when=at)
    if decision.state is ApprovalState.REJECTED:
        return t(
            "history.rejected",
            kind=kind,
            name=plain(decision.rejected_by or "?", NAME_LIMIT),
            when=at,
            reason=plain(decision.reason or "", REASON_LIMIT),
        )
    return t("history.expired", kind=kind, when=at)


def _deployment_line(t: Translator, deployment: DeploymentRecord) -> str:
    return t(
        "history.deployment",
        target=describe_target(t, deployment.target),
        status=run_status(t, deployment, link=True),
        when=when(deployment.finished_at or deployment.created_at),
    )


def run_status(t: Translator, deployment: DeploymentRecord, *, link: bool = False) -> str:
    """Where a deployment stands, in words; with ``link``, its run name as a markdown link."""
    if deployment.status == DeploymentStatus.ERROR:
        return t("deploy.error")
    status = status_key(deployment)
    run = plain(run_label(deployment) or "", NAME_LIMIT)
    if link:
        run = run_link(t, run, deployment.web_url)
    return t(f"deploy.status_{status}", run=run)


def run_link(t: Translator, run: str, url: str | None) -> str:
    """A run's name as a markdown link to ``url`` when that is an https address."""
    if not url or not url.startswith("https://"):
        return run
    return f"[{run or t('deploy.open_run')}]({url.replace(')', '%29').replace(' ', '%20')})"


def status_card(t: Translator, name: str, status: ModelStatus) -> Card:
    """What is deployed now, with a link to its run, and a newer deployment that did not
    succeed (running or failed), if any."""
    current = status.current
    name = plain(name, NAME_LIMIT)
    body: list[dict[str, Any]] = []
    actions: list[dict[str, Any]] = []
    if current is None:
        body.append(text_block(t("status.none", name=name)))
    else:
        body.append(title(t("status.title", name=name)))
        body.append(fact_set(_current_facts(t, current)))
        if current.deployment.web_url:
            actions.append(_open_run(t, current.deployment.web_url))
    if status.newer is not None:
        body.append(_newer_line(t, status.newer))
    card = adaptive_card(body)
    if actions:
        card["actions"] = actions
    return card


def _current_facts(t: Translator, current: Deployed) -> list[tuple[str, str]]:
    deployment = current.deployment
    version = current.version
    source = f"announce.{version.source_kind}"
    return [
        (t("announce.fact_version"), plain(version.version, NAME_LIMIT)),
        (t("announce.fact_source"), t(source, name=plain(version.source_name, NAME_LIMIT))),
        (t("status.fact_finished"), when(current.ended_at)),
        (t("approval.fact_target"), describe_target(t, deployment.target)),
        (t("status.fact_run"), plain(run_label(deployment) or "", NAME_LIMIT)),
        (t("status.fact_result"), t(f"state.{status_key(deployment)}")),
    ]


def _newer_line(t: Translator, newer: Deployed) -> dict[str, Any]:
    deployment = newer.deployment
    running = deployment.status.running
    key = "status.newer_running" if running else "status.newer_failed"
    return text_block(
        t(
            key,
            version=plain(newer.version.version, NAME_LIMIT),
            status=run_status(t, deployment, link=True),
        ),
        color="Default" if running else "Attention",
        separator=True,
    )


def _open_run(t: Translator, url: str) -> dict[str, Any]:
    return {"type": "Action.OpenUrl", "title": t("deploy.open_run"), "url": url}
