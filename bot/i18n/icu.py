"""A small subset of ICU MessageFormat: ``{name}``, ``plural`` and ``select`` arguments.

``{count, plural, =0 {none} one {# approval} other {# approvals}}`` picks an exact ``=n`` match
first, then the plural category of the language (English and German: ``one`` for 1, ``other``
for every other number), and writes ``#`` as the number formatted for the language.
``{kind, select, workspace {…} other {…}}`` picks the branch named by the value. Branches may
hold further arguments. Apostrophes are plain text: no message needs ICU's quoting.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

ARGUMENT = re.compile(r"\{\s*(\w+)\s*(?:,\s*(plural|select)\s*,)?\s*(\}?)")
SELECTOR = re.compile(r"\s*(=\d+|\w+)\s*\{")
CLOSE = re.compile(r"\s*\}")
DEPTH = {"{": 1, "}": -1}
GROUPING = {"en": ",", "de": "."}


class MessageError(ValueError):
    """A catalog message that is not valid in this subset of ICU MessageFormat."""


@dataclass(frozen=True)
class _Choice:
    """One parsed ``plural`` or ``select`` argument: its branches and where it ends."""

    branches: dict[str, str]
    end: int


def format_message(message: str, language: str, params: Mapping[str, object]) -> str:
    """``message`` with its arguments filled from ``params``, for ``language``."""
    return _render(message, language, params, None)


def arguments(message: str) -> set[str]:
    """The names of the arguments of ``message``, those inside branches included."""
    names: set[str] = set()
    position = message.find("{")
    while position >= 0:
        name, kind, end = _argument(message, position)
        names.add(name)
        if kind:
            choice = _choice(message, end)
            for branch in choice.branches.values():
                names |= arguments(branch)
            end = choice.end
        position = message.find("{", end)
    return names


def format_number(number: int, language: str) -> str:
    """An integer with the language's digit grouping: 1,234 in English, 1.234 in German."""
    return f"{number:,}".replace(",", GROUPING.get(language, ","))


def _render(message: str, language: str, params: Mapping[str, object], count: str | None) -> str:
    parts: list[str] = []
    position = 0
    while (start := message.find("{", position)) >= 0:
        parts.append(_hashes(message[position:start], count))
        name, kind, end = _argument(message, start)
        if name not in params:
            raise KeyError(name)
        if not kind:
            parts.append(str(params[name]))
            position = end
            continue
        choice = _choice(message, end)
        branch, number = _branch(choice.branches, kind, params[name], language)
        parts.append(_render(branch, language, params, number if kind == "plural" else count))
        position = choice.end
    parts.append(_hashes(message[position:], count))
    return "".join(parts)


def _hashes(text: str, count: str | None) -> str:
    return text if count is None else text.replace("#", count)


def _argument(message: str, start: int) -> tuple[str, str, int]:
    """The name and kind ('' for a plain ``{name}``) of the argument at ``start``, and where the
    plain argument ends or the branches of a choice begin."""
    match = ARGUMENT.match(message, start)
    if match is None or bool(match.group(2)) == bool(match.group(3)):
        raise MessageError(f"malformed argument at {start}: {message!r}")
    return match.group(1), match.group(2) or "", match.end()


def _choice(message: str, position: int) -> _Choice:
    branches: dict[str, str] = {}
    while (selector := SELECTOR.match(message, position)) is not None:
        close = _closing_brace(message, selector.end())
        branches[selector.group(1)] = message[selector.end() : close]
        position = close + 1
    end = CLOSE.match(message, position)
    if end is None or "other" not in branches:
        raise MessageError(f"a choice needs an 'other' branch and a closing brace: {message!r}")
    return _Choice(branches, end.end())


def _closing_brace(message: str, position: int) -> int:
    depth = 1
    for index in range(position, len(message)):
        depth += DEPTH.get(message[index], 0)
        if depth == 0:
            return index
    raise MessageError(f"unbalanced braces: {message!r}")


def _branch(
    branches: dict[str, str], kind: str, value: object, language: str
) -> tuple[str, str | None]:
    if kind == "select":
        return branches.get(str(value), branches["other"]), None
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"a plural argument must be an int, not {type(value).__name__}")
    exact = branches.get(f"={value}")
    # CLDR's rule for integers in both catalog languages: "one" for 1, "other" for the rest
    category = branches.get("one" if value == 1 else "other", branches["other"])
    return exact if exact is not None else category, format_number(value, language)
