"""Reading Adaptive Cards: what a user reads, which buttons there are."""

from __future__ import annotations

from typing import Any


def card_text(card: dict[str, Any]) -> str:
    """Every text and fact of a card, to assert on what a user reads."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key in ("text", "title", "value"):
                if isinstance(node.get(key), str):
                    found.append(node[key])
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(card)
    return "\n".join(found)


def execute_actions(card: dict[str, Any]) -> list[dict[str, Any]]:
    """Every Action.Execute button of a card, also those inside a ShowCard's form, in order
    (not the card's refresh: nobody clicks it)."""
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "Action.Execute":
                found.append(node)
            for key, child in node.items():
                if key != "refresh":
                    walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(card)
    return found


def fact_tables(card: dict[str, Any]) -> list[dict[str, str]]:
    """The (title, value) tables of a card's body, in order, each as a dict."""
    return [
        {
            row["cells"][0]["items"][0]["text"]: row["cells"][1]["items"][0]["text"]
            for row in element["rows"]
        }
        for element in card["body"]
        if element["type"] == "Table"
    ]


def card_title(card: dict[str, Any]) -> str:
    """The heading of a card (below the state line of an approval card)."""
    blocks = [element for element in card["body"] if element["type"] == "TextBlock"]
    heading = next((block for block in blocks if block.get("style") == "heading"), blocks[0])
    return str(heading["text"])


def facts(card: dict[str, Any]) -> dict[str, str]:
    """Every fact of a card, in fact sets and tables, title to value (the last one wins)."""
    found: dict[str, str] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "FactSet":
                found.update({fact["title"]: fact["value"] for fact in node["facts"]})
            if node.get("type") == "Table":
                found.update(fact_tables({"body": [node]})[0])
                return
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(card)
    return found
