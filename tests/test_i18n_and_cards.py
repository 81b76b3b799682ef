"""Catalogs match across languages; cards are pure, valid Adaptive Cards 1.5 in the user's language."""

from __future__ import annotations

import json

import pytest

from bot.cards import error_card, help_card, subscribed_card, subscriptions_card, unsubscribed_card
from bot.domain import Subscription
from bot.i18n import LANGUAGES, Translator, language_of, placeholders
from dialogs.commands import ALIASES, CommandName
from tests.test_chat_commands import card_text


def test_every_language_has_every_message_with_the_same_placeholders():
    english = Translator("en").catalog()
    for language in LANGUAGES:
        catalog = Translator(language).catalog()
        assert catalog.keys() == english.keys(), language
        for key, text in catalog.items():
            assert placeholders(text) == placeholders(english[key]), (language, key)


def test_every_usage_line_starts_with_a_word_the_parser_knows():
    for language in LANGUAGES:
        t = Translator(language)
        for command in CommandName:
            word = t(f"cmd.{command.value}.usage").split()[0]
            assert ALIASES[word] is command, (language, word)


@pytest.mark.parametrize(
    ("locale", "language"),
    [
        ("de-DE", "de"),
        ("de_CH", "de"),
        ("DE", "de"),
        ("en-GB", "en"),
        ("fr-FR", "en"),
        (None, "en"),
        ("", "en"),
    ],
)
def test_the_language_follows_the_locale_with_english_as_fallback(locale, language):
    assert language_of(locale) == language


SUBSCRIPTION = Subscription(
    id=4,
    conversation_ref=1,
    name_pattern="fraud-*",
    source_kind="workspace",
    source_name="ml-prod",
    tags={"stage": "prod"},
    created_by_name="Ada Lovelace",
)


def all_cards(t: Translator) -> list[dict]:
    return [
        help_card(t),
        help_card(t, greeting=True),
        subscriptions_card(t, []),
        subscriptions_card(t, [SUBSCRIPTION]),
        subscribed_card(t, SUBSCRIPTION, created=True),
        subscribed_card(t, SUBSCRIPTION, created=False),
        unsubscribed_card(t, [], "#9"),
        unsubscribed_card(t, [SUBSCRIPTION], "fraud-*"),
        error_card(t, "message", CommandName.SUBSCRIBE),
    ]


@pytest.mark.parametrize("language", LANGUAGES)
def test_cards_are_adaptive_cards_1_5_made_of_known_elements(language):
    known = {"TextBlock", "FactSet", "Container"}
    for card in all_cards(Translator(language)):
        assert card["type"] == "AdaptiveCard"
        assert card["version"] == "1.5"
        assert {element["type"] for element in card["body"]} <= known
        json.dumps(card)  # plain JSON, nothing else


def test_cards_speak_the_users_language():
    english = card_text(subscribed_card(Translator("en"), SUBSCRIPTION, created=True))
    german = card_text(subscribed_card(Translator("de"), SUBSCRIPTION, created=True))

    assert "Subscribed (#4)" in english
    assert "workspace ml-prod, tags stage=prod" in english
    assert "Abonniert (#4)" in german
    assert "Workspace ml-prod, Tags stage=prod" in german
    assert "Ada Lovelace" in german


def test_cards_are_pure():
    t = Translator("de")
    assert all_cards(t) == all_cards(t)
