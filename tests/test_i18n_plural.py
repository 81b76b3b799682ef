"""Real plurals: ICU-style plural and select arguments in both catalogs, and their formatter."""

from __future__ import annotations

import re

import pytest

from bot.i18n import LANGUAGES, Translator
from bot.i18n.icu import MessageError, arguments, format_message

DONE = "unsubscribed.done"
WAITING = "approval.waiting"
QUORUM = "policy.quorum_unreachable"
SOON = {"when": "soon"}


@pytest.mark.parametrize(
    ("language", "key", "params", "expected"),
    [
        ("en", DONE, {"count": 0}, "Removed 0 subscriptions"),
        ("en", DONE, {"count": 1}, "Removed 1 subscription"),
        ("en", DONE, {"count": 2}, "Removed 2 subscriptions"),
        ("en", DONE, {"count": 21}, "Removed 21 subscriptions"),
        ("de", DONE, {"count": 0}, "0 Abonnements entfernt"),
        ("de", DONE, {"count": 1}, "1 Abonnement entfernt"),
        ("de", DONE, {"count": 2}, "2 Abonnements entfernt"),
        ("de", DONE, {"count": 21}, "21 Abonnements entfernt"),
        ("en", WAITING, {"count": 0, "required": 0, **SOON}, "0 of 0 approvals so far"),
        ("en", WAITING, {"count": 0, "required": 1, **SOON}, "0 of 1 approval so far"),
        ("en", WAITING, {"count": 1, "required": 2, **SOON}, "1 of 2 approvals so far"),
        ("en", WAITING, {"count": 1, "required": 21, **SOON}, "1 of 21 approvals so far"),
        ("de", WAITING, {"count": 0, "required": 0, **SOON}, "0 von 0 Genehmigungen;"),
        ("de", WAITING, {"count": 0, "required": 1, **SOON}, "0 von 1 Genehmigung;"),
        ("de", WAITING, {"count": 1, "required": 2, **SOON}, "1 von 2 Genehmigungen;"),
        ("de", WAITING, {"count": 1, "required": 21, **SOON}, "1 von 21 Genehmigungen;"),
        ("en", QUORUM, {"count": 1, "needed": 2}, "1 approver can never give the 2 approvals"),
        ("en", QUORUM, {"count": 21, "needed": 22}, "21 approvers can never give the 22 approvals"),
        ("de", QUORUM, {"count": 1, "needed": 2}, "1 genehmigende Person kann die verlangten 2"),
        ("de", QUORUM, {"count": 2, "needed": 21}, "2 Genehmigende können die verlangten 21"),
    ],
)
def test_a_count_takes_the_plural_its_number_needs(language, key, params, expected):
    """The counted noun, and a verb whose subject it is, agree with the number."""
    assert expected in Translator(language)(key, **params)


MESSAGE = "{count, plural, =0 {nothing waits} one {# request waits} other {# requests wait}}"


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        (0, "nothing waits"),
        (1, "1 request waits"),
        (2, "2 requests wait"),
        (21, "21 requests wait"),
    ],
)
def test_an_exact_match_comes_before_the_plural_category(count, expected):
    assert format_message(MESSAGE, "en", {"count": count}) == expected


@pytest.mark.parametrize(("language", "expected"), [("en", "1,234,567"), ("de", "1.234.567")])
def test_the_number_is_written_as_the_language_writes_it(language, expected):
    assert format_message(MESSAGE, language, {"count": 1234567}) == f"{expected} requests wait"


def test_a_plain_argument_is_written_as_given():
    assert format_message("Subscribed (#{id})", "de", {"id": 1234}) == "Subscribed (#1234)"


def test_branches_hold_further_arguments_and_select_picks_by_value():
    message = "{kind, select, workspace {Arbeitsbereich {name}} other {{kind} {name}}}"

    assert format_message(message, "de", {"kind": "workspace", "name": "a"}) == "Arbeitsbereich a"
    assert format_message(message, "de", {"kind": "registry", "name": "b"}) == "registry b"
    assert arguments(message) == {"kind", "name"}


@pytest.mark.parametrize("count", ["2", 2.0, True, None])
def test_a_count_must_be_an_integer(count):
    with pytest.raises(TypeError):
        format_message(MESSAGE, "en", {"count": count})


def test_a_missing_argument_is_an_error():
    with pytest.raises(KeyError):
        format_message(MESSAGE, "en", {})


@pytest.mark.parametrize(
    "message",
    [
        "{count, plural, one {# approval}}",
        "{count, plural, one {# approval} other {# approvals}",
        "{count, plural, one {# approval other {# approvals}}",
        "{count, number}",
        "{ }",
    ],
)
def test_a_malformed_message_is_refused(message):
    with pytest.raises(MessageError):
        format_message(message, "en", {"count": 1})


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_message_leaves_the_plural_to_the_reader(language):
    catalog = Translator(language).catalog()

    assert [key for key, text in catalog.items() if re.search(r"\w\((?:s|n|en|e)\)", text)] == []
