"""Azure DevOps answers read defensively: the JSON shapes we rely on checked, texts trimmed."""

from __future__ import annotations

from typing import Any

from bot.pipelines.deployer import DeployError, DeployErrorCode

DETAIL_LIMIT = 300


def as_object(body: Any, what: str) -> dict[str, Any]:
    """``body`` as a JSON object; INVALID, naming ``what`` was expected, if it is none."""
    if not isinstance(body, dict):
        raise DeployError(DeployErrorCode.INVALID, f"DevOps answered without a {what} object")
    return body


def as_list(value: Any) -> list[Any]:
    """``value`` if it is a JSON array, else an empty list."""
    return value if isinstance(value, list) else []


def items(body: Any) -> list[dict[str, Any]]:
    """The objects of a list answer; INVALID if the answer is no list."""
    # The specs declare bare arrays; the service wraps lists as {"count", "value"}.
    if isinstance(body, dict):
        body = body.get("value")
    if not isinstance(body, list):
        raise DeployError(DeployErrorCode.INVALID, "DevOps answered without a list")
    return [item for item in body if isinstance(item, dict)]


def as_int(value: Any, what: str) -> int:
    """``value`` as an id; INVALID, naming ``what``, if it is not an integer."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise DeployError(DeployErrorCode.INVALID, f"DevOps answered without a valid {what}")
    return value


def trim(text: str) -> str:
    """A DevOps text fit for an error's detail: on one line, at most DETAIL_LIMIT characters."""
    text = " ".join(text.split())
    return text if len(text) <= DETAIL_LIMIT else text[: DETAIL_LIMIT - 1] + "…"
