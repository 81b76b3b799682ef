"""Message catalogs: every user-facing string in English and German, chosen by the locale."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from bot.i18n.icu import arguments, format_message

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
    """The arguments of a catalog message: ``{name}`` and ``{count, plural, …}`` alike."""
    return arguments(message)


class Translator:
    """Looks up messages in one language, falling back to English for a missing key."""

    def __init__(self, locale: str | None) -> None:
        self.language = language_of(locale)

    def __call__(self, key: str, **params: Any) -> str:
        """The message ``key`` with its arguments filled from ``params`` (ICU MessageFormat's
        ``{name}``, ``plural`` and ``select``; see :mod:`bot.i18n.icu`)."""
        message = _catalog(self.language).get(key) or _catalog(DEFAULT_LANGUAGE)[key]
        return format_message(message, self.language, params)

    def catalog(self) -> dict[str, str]:
        """All messages of this language (for tests that compare catalogs)."""
        return dict(_catalog(self.language))
