"""Adaptive Cards (schema 1.5) as pure functions: JSON in, JSON out, no I/O.

Every string comes from the message catalogs through the translator passed in; text from
outside goes through :func:`bot.cards.text.plain`.
"""

from __future__ import annotations

from typing import Any

from bot.cards.text import NAME_LIMIT, plain
from bot.i18n import Translator
from dialogs.commands import CommandName
from domain.policy import PolicyOverrides
from domain.records import Subscription
from domain.statuses import SourceKind

Card = dict[str, Any]
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"

# The commands the help card lists, in order.
HELP_COMMANDS = (
    CommandName.SUBSCRIBE,
    CommandName.SUBSCRIPTIONS,
    CommandName.UNSUBSCRIBE,
    CommandName.PENDING,
    CommandName.HISTORY,
    CommandName.STATUS,
    CommandName.DEPLOY,
    CommandName.ROLLBACK,
    CommandName.AUDIT,
    CommandName.HELP,
)


def adaptive_card(body: list[dict[str, Any]], *, speak: str | None = None) -> Card:
    """Wrap card elements in an Adaptive Card 1.5 envelope."""
    card: Card = {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.5",
        "body": body,
    }
    if speak:
        card["speak"] = speak
    return card


def text_block(text: str, **style: Any) -> dict[str, Any]:
    """A wrapping TextBlock."""
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def title(text: str) -> dict[str, Any]:
    """The heading of a card."""
    return text_block(text, size="Medium", weight="Bolder", style="heading")


def usage_text(t: Translator, command: CommandName) -> str:
    """The correct form of a command, in the user's language."""
    return t(f"cmd.{command.value}.usage")


def help_card(t: Translator, *, greeting: bool = False) -> Card:
    """The list of commands with their form and an example; a welcome line on install."""
    body: list[dict[str, Any]] = [title(t("help.title"))]
    if greeting:
        body.append(text_block(t("help.greeting")))
    body.append(text_block(t("help.intro"), isSubtle=True))
    for command in HELP_COMMANDS:
        body.append(
            {
                "type": "Container",
                "separator": True,
                "items": [
                    text_block(f"`{usage_text(t, command)}`", fontType="Monospace"),
                    text_block(t(f"cmd.{command.value}.description"), spacing="Small"),
                ],
            }
        )
    body.append(text_block(t("help.examples"), weight="Bolder", separator=True))
    body.extend(text_block(f"`{line}`", fontType="Monospace") for line in _examples(t))
    return adaptive_card(body, speak=t("help.title"))


def _examples(t: Translator) -> list[str]:
    return [
        t("example.subscribe_workspace"),
        t("example.subscribe_tags"),
        t("example.unsubscribe"),
        t("example.history"),
        t("example.deploy"),
    ]


def describe_filters(t: Translator, subscription: Subscription) -> str:
    """The source and tag filters of a subscription in words."""
    name = plain(subscription.source_name or "", NAME_LIMIT)
    if subscription.source_kind == SourceKind.WORKSPACE:
        source = t("subs.source_workspace", name=name)
    elif subscription.source_kind == SourceKind.REGISTRY:
        source = t("subs.source_registry", name=name)
    else:
        source = t("subs.source_any")
    if not subscription.tags:
        return source
    tags = plain(", ".join(f"{key}={value}" for key, value in subscription.tags.items()))
    return t("subs.with_tags", source=source, tags=tags)


def describe_policy(t: Translator, policy: PolicyOverrides) -> str:
    """What a subscription sets of its approval policy and target, in words."""
    if policy.is_empty():
        return t("subs.policy_defaults")
    parts = []
    if policy.approvers is not None:
        parts.append(t("subs.policy_approvers", who=plain(", ".join(sorted(policy.approvers)))))
    if policy.required_approvals is not None:
        parts.append(t("subs.policy_approvals", count=policy.required_approvals))
    if policy.expiry_hours is not None:
        parts.append(t("subs.policy_expiry", hours=policy.expiry_hours))
    if policy.target is not None:
        parts.append(t("subs.policy_target", target=plain(policy.target)))
    return "; ".join(parts)


def subscription_facts(t: Translator, subscription: Subscription) -> dict[str, Any]:
    """One subscription as a FactSet: id, pattern, filters, its own policy."""
    facts = [
        {"title": t("subs.fact_id"), "value": f"#{subscription.id}"},
        {"title": t("subs.fact_pattern"), "value": plain(subscription.name_pattern)},
        {"title": t("subs.fact_filters"), "value": describe_filters(t, subscription)},
    ]
    if not subscription.policy.is_empty():
        policy = describe_policy(t, subscription.policy)
        facts.append({"title": t("subs.fact_policy"), "value": policy})
    if subscription.created_by_name:
        created_by = plain(subscription.created_by_name, NAME_LIMIT)
        facts.append({"title": t("subs.fact_created_by"), "value": created_by})
    return {"type": "FactSet", "facts": facts, "separator": True}


def subscriptions_card(t: Translator, subs: list[Subscription]) -> Card:
    """This conversation's subscriptions, or how to make one."""
    body: list[dict[str, Any]] = [title(t("subs.title", count=len(subs)))]
    if not subs:
        body.append(text_block(t("subs.empty")))
        body.append(text_block(f"`{t('example.subscribe_workspace')}`", fontType="Monospace"))
    body.extend(subscription_facts(t, sub) for sub in subs)
    return adaptive_card(body)


def subscribed_card(
    t: Translator, subscription: Subscription, *, created: bool, before: Subscription | None = None
) -> Card:
    """The answer to ``subscribe``: made now, already there, or there with a new policy (then
    what it was ``before``, so that no change goes unnoticed)."""
    key = "subscribed.created" if created else "subscribed.exists"
    body = [title(t(key, id=subscription.id))]
    if before is not None:
        body = [
            title(t("subscribed.changed", id=subscription.id)),
            text_block(t("subscribed.before", policy=describe_policy(t, before.policy))),
        ]
    body += [subscription_facts(t, subscription), text_block(t("subscribed.hint"), isSubtle=True)]
    return adaptive_card(body)


def unsubscribed_card(t: Translator, removed: list[Subscription], target: str) -> Card:
    """The answer to ``unsubscribe``: what was removed, or that nothing matched."""
    if not removed:
        return adaptive_card(
            [
                title(t("unsubscribed.none", target=plain(target, NAME_LIMIT))),
                text_block(t("unsubscribed.hint")),
            ]
        )
    return adaptive_card(
        [title(t("unsubscribed.done", count=len(removed)))]
        + [subscription_facts(t, sub) for sub in removed]
    )


def error_card(t: Translator, message: str, usage: CommandName | None = None) -> Card:
    """A refusal or an input error, with the correct form of the command when there is one.

    ``message`` is shown literally: it repeats what the user wrote."""
    body: list[dict[str, Any]] = [
        text_block(t("error.title"), weight="Bolder", color="Attention"),
        text_block(plain(message)),
    ]
    if usage is not None:
        body.append(text_block(t("error.usage_label"), weight="Bolder", spacing="Medium"))
        body.append(text_block(f"`{usage_text(t, usage)}`", fontType="Monospace"))
    body.append(text_block(t("error.help_hint"), isSubtle=True))
    return adaptive_card(body)
