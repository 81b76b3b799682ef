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
    """Every Action.Execute of a card, also those inside a ShowCard's form, in order."""
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "Action.Execute":
                found.append(node)
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(card)
    return found
