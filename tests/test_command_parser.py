"""The command parser alone: pure function, every form and error."""

from __future__ import annotations

import pytest

from dialogs.commands import (
    CommandError,
    CommandName,
    Deploy,
    Help,
    History,
    ListPending,
    ListSubscriptions,
    Rollback,
    Status,
    Subscribe,
    Unsubscribe,
    normalise_text,
    parse_command,
)
from domain.statuses import SourceKind


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", Help()),
        (None, Help()),
        ("HELP", Help()),
        ("hilfe", Help()),
        ("subscriptions", ListSubscriptions()),
        ("abonnements", ListSubscriptions()),
        ("subscribe fraud-*", Subscribe("fraud-*")),
        (
            "subscribe fraud-* workspace=ml-prod tag:stage=prod tag:owner=risk",
            Subscribe(
                "fraud-*", SourceKind.WORKSPACE, "ml-prod", (("owner", "risk"), ("stage", "prod"))
            ),
        ),
        ("subscribe m REGISTRY=shared-reg", Subscribe("m", SourceKind.REGISTRY, "shared-reg")),
        ('subscribe m "tag:note=two words"', Subscribe("m", tags=(("note", "two words"),))),
        ("subscribe m tag:empty=", Subscribe("m", tags=(("empty", ""),))),
        ("unsubscribe 7", Unsubscribe(subscription_id=7)),
        ("unsubscribe #7", Unsubscribe(subscription_id=7)),
        ("unsubscribe fraud-*", Unsubscribe(pattern="fraud-*")),
        ("unsubscribe 1234567890123456789012", Unsubscribe(pattern="1234567890123456789012")),
    ],
)
def test_valid_commands(text, expected):
    assert parse_command(text) == expected


@pytest.mark.parametrize(
    ("text", "key", "usage"),
    [
        ("subscribe", "error.missing_pattern", CommandName.SUBSCRIBE),
        ("subscribe a/b", "error.bad_pattern", CommandName.SUBSCRIBE),
        ("subscribe " + "m" * 256, "error.bad_pattern", CommandName.SUBSCRIBE),
        ("subscribe m foo", "error.unexpected_argument", CommandName.SUBSCRIBE),
        ("subscribe m colour=red", "error.unexpected_argument", CommandName.SUBSCRIBE),
        ("subscribe m workspace=ab", "error.bad_source", CommandName.SUBSCRIBE),
        ("subscribe m workspace=ws1 workspace=ws2", "error.one_source", CommandName.SUBSCRIBE),
        ("subscribe m tag:a b=c", "error.unexpected_argument", CommandName.SUBSCRIBE),
        ("subscribe m tag:=c", "error.bad_tag", CommandName.SUBSCRIBE),
        ("subscribe m tag:k=" + "v" * 257, "error.bad_tag", CommandName.SUBSCRIBE),
        ("subscribe m tag:k=1 tag:k=2", "error.duplicate_tag", CommandName.SUBSCRIBE),
        (
            "subscribe m " + " ".join(f"tag:k{i}=v" for i in range(11)),
            "error.too_many_tags",
            CommandName.SUBSCRIBE,
        ),
        ("subscriptions all", "error.unexpected_argument", CommandName.SUBSCRIPTIONS),
        ("unsubscribe", "error.missing_target", CommandName.UNSUBSCRIBE),
        ("unsubscribe 1 2", "error.unexpected_argument", CommandName.UNSUBSCRIBE),
        ("unsubscribe a;b", "error.bad_pattern", CommandName.UNSUBSCRIBE),
        ('subscribe "m', "error.unbalanced_quotes", None),
    ],
)
def test_errors_name_the_problem_and_the_usage(text, key, usage):
    result = parse_command(text)

    assert isinstance(result, CommandError)
    assert (result.key, result.usage) == (key, usage)


def test_unknown_command_suggests_the_closest():
    assert parse_command("subscirbe x") == CommandError(
        "error.unknown_command_suggest", (("word", "subscirbe"), ("suggestion", "subscribe"))
    )
    assert parse_command("xyzzy") == CommandError("error.unknown_command", (("word", "xyzzy"),))


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("<at>Release Bot</at> subscribe m", "subscribe m"),
        ("<p>subscribe&nbsp;m</p>", "subscribe m"),
        ("  subscribe \n\t m  ", "subscribe m"),
        ("subscribe m \u201ctag:a=b c\u201d", 'subscribe m "tag:a=b c"'),
    ],
)
def test_chat_markup_is_normalised(raw, clean):
    assert normalise_text(raw) == clean


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("pending", ListPending()),
        ("Ausstehend", ListPending()),
        ("history fraud-model", History("fraud-model")),
        ("verlauf fraud.model_v2", History("fraud.model_v2")),
        ("status fraud-model", Status("fraud-model")),
        ("deploy fraud-model 7", Deploy("fraud-model", "7")),
        ("bereitstellen fraud-model 1.2.0-rc_1", Deploy("fraud-model", "1.2.0-rc_1")),
        (
            "deploy fraud-model 7 registry=shared-reg",
            Deploy("fraud-model", "7", SourceKind.REGISTRY, "shared-reg"),
        ),
        (
            "deploy fraud-model 7 WORKSPACE=ml-prod",
            Deploy("fraud-model", "7", SourceKind.WORKSPACE, "ml-prod"),
        ),
        ("rollback fraud-model", Rollback("fraud-model")),
        ("zurücksetzen fraud-model", Rollback("fraud-model")),
        ("zuruecksetzen fraud-model", Rollback("fraud-model")),
    ],
)
def test_valid_release_commands(text, expected):
    assert parse_command(text) == expected


@pytest.mark.parametrize(
    ("text", "key", "usage"),
    [
        ("pending now", "error.unexpected_argument", CommandName.PENDING),
        ("history", "error.missing_model", CommandName.HISTORY),
        ("history fraud-*", "error.bad_model", CommandName.HISTORY),
        ("history a b", "error.unexpected_argument", CommandName.HISTORY),
        ("status", "error.missing_model", CommandName.STATUS),
        ("status m[12]", "error.bad_model", CommandName.STATUS),
        ("status " + "m" * 256, "error.bad_model", CommandName.STATUS),
        ("deploy", "error.missing_model", CommandName.DEPLOY),
        ("deploy m?", "error.bad_model", CommandName.DEPLOY),
        ("deploy m", "error.missing_version", CommandName.DEPLOY),
        ("deploy m registry=shared-reg", "error.missing_version", CommandName.DEPLOY),
        ("deploy m 1/2", "error.bad_version", CommandName.DEPLOY),
        ("deploy m " + "1" * 129, "error.bad_version", CommandName.DEPLOY),
        ("deploy m 1 now", "error.unexpected_argument", CommandName.DEPLOY),
        ("deploy m 1 tag:a=b", "error.unexpected_argument", CommandName.DEPLOY),
        ("deploy m 1 registry=ab", "error.bad_source", CommandName.DEPLOY),
        ("deploy m 1 registry=abc workspace=abc", "error.one_source", CommandName.DEPLOY),
        ("rollback", "error.missing_model", CommandName.ROLLBACK),
        ("rollback m*", "error.bad_model", CommandName.ROLLBACK),
        ("rollback m 3", "error.unexpected_argument", CommandName.ROLLBACK),
    ],
)
def test_release_command_errors_name_the_problem_and_the_usage(text, key, usage):
    result = parse_command(text)

    assert isinstance(result, CommandError)
    assert (result.key, result.usage) == (key, usage)


def test_a_misspelt_release_command_gets_the_closest_word():
    assert parse_command("histroy m") == CommandError(
        "error.unknown_command_suggest", (("word", "histroy"), ("suggestion", "history"))
    )
