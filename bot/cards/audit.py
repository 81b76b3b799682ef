"""The answer to ``audit``: a model's audit trail in this conversation, oldest first, one line
per entry with its time in the reader's own format (Adaptive Card 1.5, a pure function)."""

from __future__ import annotations

from typing import Any

from bot.cards import Card, adaptive_card, text_block, title
from bot.cards.facts import when
from bot.cards.lists import run_link
from bot.cards.status import describe_target
from bot.cards.text import NAME_LIMIT, REASON_LIMIT, json_bytes, plain
from bot.i18n import Translator, placeholders
from domain.audit import AuditEntry, AuditEvent
from domain.policy import Policy
from domain.statuses import RunStatus

MAX_AUDIT_SHOWN = 50
"""The newest entries the card shows; the export has them all."""
MAX_AUDIT_BYTES = 20_000
"""Teams refuses messages over about 28 KB: the card stays well below."""
MAX_APPROVERS_SHOWN = 5


def audit_card(
    t: Translator, model: str, version: str | None, entries: list[AuditEntry], total: int
) -> Card:
    """The newest entries (oldest of them first) and how many earlier ones are left out, with
    where the complete trail is."""
    name = plain(model, NAME_LIMIT)
    if version is not None:
        name = f"{name} {plain(version, NAME_LIMIT)}"
    if not entries:
        return adaptive_card([text_block(t("audit.empty", name=name))])
    lines = [_line(t, entry) for entry in entries]
    while len(lines) > 1 and json_bytes(lines) > MAX_AUDIT_BYTES:
        lines.pop(0)
    body: list[dict[str, Any]] = [title(t("audit.title", name=name))]
    left_out = total - len(lines)
    if left_out > 0:
        body.append(text_block(t("audit.left_out", count=left_out), isSubtle=True))
    body += lines
    return adaptive_card(body)


def _line(t: Translator, entry: AuditEntry) -> dict[str, Any]:
    text = f"**{when(entry.at)}** · {_what(t, entry)}"
    if entry.version is not None:
        text = f"{text} ({t('audit.version', version=plain(entry.version, NAME_LIMIT))})"
    return text_block(text, spacing="Small")


def _what(t: Translator, entry: AuditEntry) -> str:
    """What happened, in words."""
    who = plain(entry.actor_name or "", NAME_LIMIT) or t("audit.someone")
    match entry.event:
        case AuditEvent.REQUESTED:
            request = t(f"audit.requested_{entry.kind}", name=who)
            return f"{request} {_policy(t, entry)}"
        case AuditEvent.APPROVED:
            return t("audit.approved", name=who)
        case AuditEvent.REJECTED:
            return t("audit.rejected", name=who, reason=plain(entry.detail or "", REASON_LIMIT))
        case AuditEvent.EXPIRED:
            return t("audit.expired")
        case AuditEvent.REFUSED | AuditEvent.COMMAND_REFUSED:
            return t("audit.refused", name=who, reason=_reason(t, entry.detail))
        case AuditEvent.RUN_REQUESTED:
            target = describe_target(t, entry.target) if entry.target else "?"
            return t("audit.run_requested", target=target)
    return _run_ended(t, entry)


def _policy(t: Translator, entry: AuditEntry) -> str:
    """The policy applied: approvals needed, by whom, until when."""
    policy = entry.policy or Policy()
    return t(
        "audit.policy",
        required=policy.required_approvals,
        approvers=_approvers(t, policy),
        expires=when(entry.expires_at) if entry.expires_at else "?",
    )


def _approvers(t: Translator, policy: Policy) -> str:
    if policy.approvers is None:
        return t("audit.anyone")
    names = sorted(policy.approvers)
    shown = ", ".join(plain(name, NAME_LIMIT) for name in names[:MAX_APPROVERS_SHOWN])
    return shown + (", …" if len(names) > MAX_APPROVERS_SHOWN else "")


def _reason(t: Translator, detail: str | None) -> str:
    """A refusal's catalog key (after the clicked verb, for a click) in words; its parameters
    were not kept, so they show as "…"."""
    key = (detail or "").rpartition(": ")[2]
    message = t.catalog().get(key)
    if message is None:
        return plain(key, NAME_LIMIT)
    return message.format(**dict.fromkeys(placeholders(message), "…"))


def _run_ended(t: Translator, entry: AuditEntry) -> str:
    result = entry.detail or ""
    if result.startswith("error"):
        return f"{t('deploy.error')} ({plain(result.partition(': ')[2], NAME_LIMIT)})"
    if result not in set(RunStatus):
        return plain(result, NAME_LIMIT)
    run = run_link(t, plain(entry.run_name or "", NAME_LIMIT), entry.run_url)
    return t(f"deploy.status_{result}", run=run)
