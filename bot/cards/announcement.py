"""The card that announces a new model version (Adaptive Card 1.5, Universal Actions)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from bot.cards import Card, adaptive_card, text_block
from bot.cards.verbs import APPROVE, REJECT
from bot.domain import ModelVersion
from bot.i18n import Translator

STUDIO = "https://ml.azure.com"
MAX_METRICS = 6
MAX_TAGS = 12
# Tag and property names that hold quality figures, as Azure ML jobs and MLflow name them.
_METRIC_NAME = re.compile(
    r"(accuracy|auc|f1|precision|recall|rmse|mae|mse|mape|r2|loss|score|metric)", re.IGNORECASE
)


def studio_url(version: ModelVersion) -> str | None:
    """The model version's page in Azure ML studio, when we know where it lives."""
    name, number = quote(version.name, safe=""), quote(version.version, safe="")
    if version.source_kind == "registry":
        registry = quote(version.source_name, safe="")
        return f"{STUDIO}/registries/{registry}/models/{name}/version/{number}"
    if version.source_id:
        return f"{STUDIO}/model/{name}:{number}/details?wsid={quote(version.source_id, safe='/')}"
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


def announcement_card(t: Translator, version: ModelVersion, version_id: int) -> Card:
    """New version of a model: what it is, where it comes from, its figures, Approve and Reject."""
    title = t("announce.title", name=version.name, version=version.version)
    source_key = "announce.registry" if version.source_kind == "registry" else "announce.workspace"
    facts = [
        (t("announce.fact_model"), version.name),
        (t("announce.fact_version"), version.version),
        (t("announce.fact_source"), t(source_key, name=version.source_name)),
    ]
    if version.created_by:
        facts.append((t("announce.fact_created_by"), version.created_by))
    body: list[dict[str, Any]] = [
        text_block(title, size="Medium", weight="Bolder", style="heading"),
        fact_set(facts),
    ]
    if version.created_at:
        # Teams renders DATE() and TIME() in the reader's own time zone and format.
        stamp = version.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        when = f"{{{{DATE({stamp}, SHORT)}}}} {{{{TIME({stamp})}}}}"
        body.append(text_block(t("announce.registered_at", when=when), isSubtle=True))
    if version.description:
        body.append(text_block(version.description))
    body.extend(_figures(t, version))
    card = adaptive_card(body, speak=title)
    card["actions"] = _actions(t, version, version_id)
    return card


def fact_set(facts: list[tuple[str, str]]) -> dict[str, Any]:
    """A FactSet of (title, value) pairs."""
    return {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in facts]}


def _figures(t: Translator, version: ModelVersion) -> list[dict[str, Any]]:
    sections: list[dict[str, Any]] = []
    metrics = key_metrics(version)
    if metrics:
        sections += [text_block(t("announce.metrics"), weight="Bolder"), fact_set(metrics)]
    tags = [(k, v) for k, v in version.tags.items() if (k, v) not in metrics][:MAX_TAGS]
    if tags:
        sections += [text_block(t("announce.tags"), weight="Bolder"), fact_set(tags)]
    return sections


def _actions(t: Translator, version: ModelVersion, version_id: int) -> list[dict[str, Any]]:
    data = {"modelVersionId": version_id}
    actions: list[dict[str, Any]] = [
        {
            "type": "Action.Execute",
            "verb": APPROVE,
            "title": t("announce.approve"),
            "data": data,
            "style": "positive",
        },
        {
            "type": "Action.Execute",
            "verb": REJECT,
            "title": t("announce.reject"),
            "data": data,
            "style": "destructive",
        },
    ]
    url = studio_url(version)
    if url:
        actions.append({"type": "Action.OpenUrl", "title": t("announce.open_studio"), "url": url})
    return actions
