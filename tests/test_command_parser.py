"""The command parser alone: pure function, every form and error."""

from __future__ import annotations

import pytest

from dialogs.commands import (
    CommandError,
    CommandName,
    Help,
    ListSubscriptions,
    SourceKind,
    Subscribe,
    Unsubscribe,
    normalise_text,
    parse_command,
)


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
