"""Message catalogs: every user-facing string in English and German, chosen by the locale."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from string import Formatter
from typing import Any

DEFAULT_LANGUAGE = "en"
LANGUAGES = ("en", "de")


@cache
def _catalog(language: str) -> dict[str, str]:
    text = resources.files(__package__).joinpath(f"{language}.json").read_text("utf-8")
    catalog: dict[str, str] = json.loads(text)
    return catalog


def language_of(locale: str | None) -> str:
    """The catalog language for a locale such as ``de-DE`` or ``en_US``; English otherwise."""
    language = (locale or "").replace("_", "-").split("-")[0].lower()
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


def placeholders(message: str) -> set[str]:
    """The ``{name}`` placeholders of a catalog message."""
    return {name for _, name, _, _ in Formatter().parse(message) if name}


class Translator:
    """Looks up messages in one language, falling back to English for a missing key."""

    def __init__(self, locale: str | None) -> None:
        self.language = language_of(locale)

    def __call__(self, key: str, **params: Any) -> str:
        """The message ``key`` with its ``{placeholders}`` filled from ``params``."""
        message = _catalog(self.language).get(key) or _catalog(DEFAULT_LANGUAGE)[key]
        return message.format(**params) if params else message

    def catalog(self) -> dict[str, str]:
        """All messages of this language (for tests that compare catalogs)."""
        return dict(_catalog(self.language))
