"""The facts of a card as one aligned layout: a two-column table whose columns have the same
widths everywhere on a card (the version's facts, its key metrics, its tags, the comparison with
the version deployed now), so that every value starts at the same place."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from bot.cards import text_block
from bot.cards.text import NAME_LIMIT, plain
from bot.i18n import Translator
from domain.records import ModelVersion

MAX_METRICS = 6
MAX_TAGS = 12
# Card bytes (see bot.cards.text) of a tag's or metric's name and its value.
TAG_KEY_LIMIT = 64
TAG_VALUE_LIMIT = 200
MISSING = "\u2013"  # an en dash: the figure or tag is not there
# Tag and property names that hold quality figures, as Azure ML jobs and MLflow name them.
_METRIC_NAME = re.compile(
    r"(accuracy|auc|f1|precision|recall|rmse|mae|mse|mape|r2|loss|score|metric)", re.IGNORECASE
)
_COLUMNS = [{"width": 2}, {"width": 3}]


def fact_table(rows: list[tuple[str, str]]) -> dict[str, Any]:
    """(title, value) pairs as a table with the card's one column layout."""
    return {
        "type": "Table",
        "columns": _COLUMNS,
        "firstRowAsHeader": False,
        "showGridLines": False,
        "spacing": "Small",
        "rows": [_row(title, value) for title, value in rows],
    }


def _row(title: str, value: str) -> dict[str, Any]:
    return {
        "type": "TableRow",
        "cells": [
            {"type": "TableCell", "items": [text_block(title, weight="Bolder")]},
            # An explicit weight: some renderers make the first row bold otherwise.
            {"type": "TableCell", "items": [text_block(value, weight="Default")]},
        ],
    }


def fact_set(facts: list[tuple[str, str]]) -> dict[str, Any]:
    """A FactSet of (title, value) pairs: for the lists, where each entry stands alone."""
    return {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in facts]}


def when(moment: datetime) -> str:
    """A time that Teams renders in the reader's own time zone and format."""
    stamp = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{{{{DATE({stamp}, SHORT)}}}} {{{{TIME({stamp})}}}}"


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


def figures(t: Translator, version: ModelVersion) -> list[dict[str, Any]]:
    """The version's key metrics, then its other tags, each under its heading."""
    sections: list[dict[str, Any]] = []
    metrics = key_metrics(version)
    if metrics:
        sections += [_heading(t("announce.metrics"))]
        sections += _some_facts(t, [(k, tag_value(v)) for k, v in metrics])
    tags = [(k, tag_value(v)) for k, v in version.tags.items() if (k, v) not in metrics]
    if tags:
        sections += [_heading(t("announce.tags")), *_some_facts(t, tags)]
    return sections


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
    section: list[dict[str, Any]] = [_heading(heading) | {"separator": True}]
    if rows:
        section += _some_facts(t, rows)
    else:
        section.append(text_block(t("approval.change_none"), isSubtle=True))
    return section


def _heading(text: str) -> dict[str, Any]:
    return text_block(text, weight="Bolder", spacing="Medium")


def _change(old: str | None, new: str | None) -> str:
    """A figure or tag before and after, each cut to TAG_VALUE_LIMIT."""
    return f"{tag_value(old)} → {tag_value(new)}"


def tag_value(value: str | None) -> str:
    """A tag's or figure's value as the card shows it (cut, escaped; a dash when missing)."""
    return MISSING if value is None else plain(value, TAG_VALUE_LIMIT)


def _some_facts(t: Translator, rows: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """The first MAX_TAGS of the tags or figures (names escaped here, values already), and how
    many more there are."""
    shown = [(plain(name, TAG_KEY_LIMIT), value) for name, value in rows[:MAX_TAGS]]
    section = [fact_table(shown)]
    if len(rows) > MAX_TAGS:
        more = t("announce.more", count=len(rows) - MAX_TAGS)
        section.append(text_block(more, isSubtle=True, spacing="Small"))
    return section
