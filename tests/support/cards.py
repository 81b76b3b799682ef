"""Reading Adaptive Cards: what a user reads, which buttons there are."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def _objects(node: Any, skip: str | None = None) -> Iterator[dict[str, Any]]:
    """Every object in a card, depth first, leaving out what is under the key ``skip``."""
    if isinstance(node, dict):
        yield node
        for key, child in node.items():
            if key != skip:
                yield from _objects(child, skip)
    elif isinstance(node, list):
        for child in node:
            yield from _objects(child, skip)


def card_text(card: dict[str, Any]) -> str:
    """Every text and fact of a card, to assert on what a user reads."""
    return "\n".join(
        node[key]
        for node in _objects(card)
        for key in ("text", "title", "value")
        if isinstance(node.get(key), str)
    )


def execute_actions(card: dict[str, Any]) -> list[dict[str, Any]]:
    """Every Action.Execute button of a card, also those inside a ShowCard's form, in order
    (not the card's refresh: nobody clicks it)."""
    return [node for node in _objects(card, skip="refresh") if node.get("type") == "Action.Execute"]


def fact_tables(card: dict[str, Any]) -> list[dict[str, str]]:
    """The (title, value) tables of a card's body, in order, each as a dict."""
    return [_table(element) for element in card["body"] if element["type"] == "Table"]


def _table(table: dict[str, Any]) -> dict[str, str]:
    return {
        row["cells"][0]["items"][0]["text"]: row["cells"][1]["items"][0]["text"]
        for row in table["rows"]
    }


def card_title(card: dict[str, Any]) -> str:
    """The heading of a card (below the state line of an approval card)."""
    blocks = [element for element in card["body"] if element["type"] == "TextBlock"]
    heading = next((block for block in blocks if block.get("style") == "heading"), blocks[0])
    return str(heading["text"])


def facts(card: dict[str, Any]) -> dict[str, str]:
    """Every fact of a card, in fact sets and tables, title to value (the last one wins)."""
    found: dict[str, str] = {}
    for node in _objects(card):
        if node.get("type") == "FactSet":
            found.update({fact["title"]: fact["value"] for fact in node["facts"]})
        elif node.get("type") == "Table":
            found.update(_table(node))
    return found
