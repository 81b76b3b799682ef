"""Catalogs match across languages; cards are pure, valid Adaptive Cards 1.5 in the user's language."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.cards import error_card, help_card, subscribed_card, subscriptions_card, unsubscribed_card
from bot.cards.announcement import approval_card, studio_url
from bot.cards.facts import MISSING, key_metrics
from bot.cards.verbs import APPROVE, REJECT, VIEW
from bot.i18n import LANGUAGES, Translator, language_of, placeholders
from dialogs.approval import Role, Viewer
from dialogs.commands import ALIASES, CommandName
from domain.policy import Refused
from domain.records import ModelVersion, Subscription
from domain.statuses import ApprovalState
from tests.support.cards import card_text, execute_actions, fact_tables
from tests.support.store import approval_of


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


VERSION = ModelVersion(
    source_kind="workspace",
    source_name="ml-prod",
    name="fraud-detector",
    version="12",
    tags={"stage": "candidate", "accuracy": "0.934", "owner": "risk"},
    properties={"mlflow.metric.auc": "0.981", "run_id": "abc", "f1_score": "n/a"},
    description="Gradient boosted trees, retrained on October data.",
    created_by="Ada Lovelace",
    created_at=datetime(2026, 11, 24, 9, 30, tzinfo=UTC),
    source_id="/subscriptions/0000/resourceGroups/ml-rg/providers/Microsoft.MachineLearningServices/workspaces/ml-prod",
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
        approval_card(t, approval_of(VERSION)),
        approval_card(t, approval_of(ModelVersion("registry", "shared", "m", "1"), 8)),
    ]


@pytest.mark.parametrize("language", LANGUAGES)
def test_cards_are_adaptive_cards_1_5_made_of_known_elements(language):
    known = {"TextBlock", "FactSet", "Container", "Table"}
    actions = {"Action.Execute", "Action.OpenUrl", "Action.ShowCard"}
    for card in all_cards(Translator(language)):
        assert card["type"] == "AdaptiveCard"
        assert card["version"] == "1.5"
        assert {element["type"] for element in card["body"]} <= known
        assert {action["type"] for action in card.get("actions", [])} <= actions
        json.dumps(card)  # plain JSON, nothing else


def test_cards_speak_the_users_language():
    english = card_text(subscribed_card(Translator("en"), SUBSCRIPTION, created=True))
    german = card_text(subscribed_card(Translator("de"), SUBSCRIPTION, created=True))

    assert "Subscribed (#4)" in english
    assert "workspace ml-prod, tags stage=prod" in english
    assert "Abonniert (#4)" in german
    assert "Arbeitsbereich ml-prod, Tags stage=prod" in german
    assert "Ada Lovelace" in german


def test_cards_are_pure():
    t = Translator("de")
    assert all_cards(t) == all_cards(t)


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (
            "en",
            [
                "New version: fraud-detector 12",
                "workspace ml-prod",
                "Registered by",
                "Ada Lovelace",
                "Key metrics",
                "Approve",
                "Reject",
                "Open in Azure ML studio",
                "retrained on October data",
            ],
        ),
        (
            "de",
            [
                "Neue Version: fraud-detector 12",
                "Arbeitsbereich ml-prod",
                "Registriert von",
                "Wichtige Metriken",
                "Genehmigen",
                "Ablehnen",
                "In Azure ML Studio öffnen",
            ],
        ),
    ],
)
def test_the_announcement_card_shows_the_version_in_the_users_language(language, expected):
    card = approval_card(Translator(language), approval_of(VERSION), viewer=Viewer(Role.DECIDE))

    text = card_text(card)
    for part in expected:
        assert part in text, part
    assert "{{DATE(2026-11-24T09:30:00Z, SHORT)}} {{TIME(2026-11-24T09:30:00Z)}}" in text


def test_the_buttons_carry_the_shared_verbs_and_the_approval():
    card = approval_card(Translator("en"), approval_of(VERSION), viewer=Viewer(Role.DECIDE))

    execute = [(a["verb"], a["data"]) for a in execute_actions(card)]
    assert execute == [(APPROVE, {"approvalId": 7}), (REJECT, {"approvalId": 7})]
    assert card["refresh"]["action"] == {
        "type": "Action.Execute",
        "verb": VIEW,
        "data": {"approvalId": 7},
    }


def test_the_card_everyone_sees_has_no_decision_buttons_but_asks_for_each_viewers_own():
    card = approval_card(Translator("en"), approval_of(VERSION), refresh_for=["29:a", "29:b"])

    assert [(a["verb"], a["title"]) for a in execute_actions(card)] == [(VIEW, "Review and decide")]
    assert card["refresh"]["userIds"] == ["29:a", "29:b"]


def test_the_refresh_names_at_most_sixty_users_once_each():
    user_ids = [f"29:user-{n}" for n in range(100)]

    card = approval_card(Translator("en"), approval_of(VERSION), refresh_for=user_ids * 2)

    assert card["refresh"]["userIds"] == user_ids[:60]


@pytest.mark.parametrize("state", [ApprovalState.APPROVED, ApprovalState.REJECTED])
def test_a_decided_card_is_the_same_for_everyone(state):
    card = approval_card(Translator("en"), approval_of(VERSION, state=state, target=None))

    assert "refresh" not in card
    assert execute_actions(card) == []


def test_reject_asks_for_a_required_reason_first():
    card = approval_card(Translator("de"), approval_of(VERSION), viewer=Viewer(Role.DECIDE))

    form = next(a["card"] for a in card["actions"] if a["type"] == "Action.ShowCard")
    assert form["body"][0]["type"] == "Input.Text"
    assert form["body"][0]["isRequired"] is True
    assert form["body"][0]["id"] == "reason"
    assert form["actions"][0]["verb"] == REJECT


@pytest.mark.parametrize(
    ("changes", "expected", "absent"),
    [
        ({}, ["0 of 2 approvals so far", "release definition 12"], []),
        (
            {"state": ApprovalState.REJECTED, "rejected_by_name": "Grace", "reason": "drift"},
            ["Rejected", "Grace: “drift”"],
            ["Approve"],
        ),
        ({"state": ApprovalState.EXPIRED}, ["Expired without a decision"], ["Approve"]),
        (
            {"state": ApprovalState.APPROVED, "target": None},
            ["Approved", "No deployment target is set"],
            ["Approve"],
        ),
    ],
)
def test_the_card_shows_the_state_of_the_approval(changes, expected, absent):
    card = approval_card(Translator("en"), approval_of(VERSION, **changes))

    text = card_text(card)
    for part in expected:
        assert part in text
    for part in absent:
        assert part not in [a["title"] for a in card["actions"]]


def test_a_refusal_is_shown_to_the_clicker():
    card = approval_card(Translator("en"), approval_of(VERSION), notice="You may not.")

    assert "You may not." in card_text(card)


def test_key_metrics_are_numeric_quality_figures_from_tags_and_properties():
    assert key_metrics(VERSION) == [("mlflow.metric.auc", "0.981"), ("accuracy", "0.934")]


def test_metrics_are_not_repeated_among_the_tags():
    card = approval_card(Translator("en"), approval_of(VERSION))
    tags = fact_tables(card)[-1]

    assert list(tags) == ["stage", "owner"]


def test_studio_links_for_workspaces_and_registries():
    assert studio_url(VERSION) == (
        "https://ml.azure.com/model/fraud-detector:12/details?wsid=/subscriptions/0000/resourceGroups"
        "/ml-rg/providers/Microsoft.MachineLearningServices/workspaces/ml-prod"
    )
    assert studio_url(ModelVersion("registry", "shared", "a b", "1.0")) == (
        "https://ml.azure.com/registries/shared/models/a%20b/version/1.0"
    )
    assert studio_url(ModelVersion("workspace", "ws", "m", "1")) is None


SNAPSHOTS = Path(__file__).parent / "snapshots"


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_announcement_card_matches_its_reviewed_snapshot(language):
    """A changed card must be looked at: update tests/snapshots/announcement.<language>.json on purpose."""
    expected = json.loads((SNAPSHOTS / f"announcement.{language}.json").read_text(encoding="utf-8"))

    assert approval_card(Translator(language), approval_of(VERSION)) == expected


def test_the_card_compares_with_the_version_deployed_now():
    deployed = ModelVersion(
        "workspace",
        "ml-prod",
        "fraud-detector",
        "11",
        tags={"stage": "production", "accuracy": "0.912", "owner": "risk"},
    )
    card = approval_card(Translator("en"), approval_of(VERSION, deployed_now=deployed))

    text = card_text(card)
    assert "Compared with version 11, deployed now (11 → 12)" in text
    facts = {title: value for table in fact_tables(card) for title, value in table.items()}
    assert facts["accuracy"] == "0.912 → 0.934"
    assert facts["mlflow.metric.auc"] == f"{MISSING} → 0.981"
    assert facts["stage"] == "production → candidate"
    assert "owner" not in fact_tables(card)[-1]  # unchanged tags are not repeated


VIEWERS = {
    "approver": Viewer(Role.DECIDE),
    "voter": Viewer(Role.VOTED, voted_at=datetime(2026, 11, 24, 10, 0, tzinfo=UTC)),
    "creator": Viewer(Role.WITHDRAW, Refused("approval.no_self_approval")),
    "requester": Viewer(Role.WITHDRAW, Refused("approval.own_request")),
    "bystander": Viewer(Role.WATCH),
}


def own_view(language: str, who: str) -> dict[str, Any]:
    """What sets one viewer's card apart: its buttons and the lines for them alone (the rest
    is the card everyone sees, snapshotted above)."""
    card = approval_card(
        Translator(language), approval_of(VERSION), viewer=VIEWERS[who], refresh_for=["29:v"]
    )
    status = next(i for i, e in enumerate(card["body"]) if e.get("separator"))
    return {
        "said": [element["text"] for element in card["body"][status + 1 :]],
        "actions": card["actions"],
        "refresh": card["refresh"],
    }


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_viewers_own_card_matches_its_reviewed_snapshot(language):
    """Update tests/snapshots/views.<language>.json on purpose, after looking at the change."""
    expected = json.loads((SNAPSHOTS / f"views.{language}.json").read_text(encoding="utf-8"))

    assert {who: own_view(language, who) for who in VIEWERS} == expected
