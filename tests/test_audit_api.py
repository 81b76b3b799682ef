"""GET /api/audit: the compliance export, protected like /metrics, as JSON or CSV, paged, with
malformed parameters answered 400 and cells no spreadsheet app runs as formulas."""

from __future__ import annotations

import base64
import csv
import io
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import MultiDict

from bot.audit_api import PARAMETERS, csv_cell, parse_request
from bot.cards.verbs import APPROVE, REJECT
from domain.audit import AuditQuery
from tests.support.activities import BOB
from tests.support.approvals import announce, decide, start
from tests.support.bot import BotUnderTest

TOKEN = "audit-7f3a"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MODEL = "sklearn_regression_model"
FORMULA = '=HYPERLINK("https://evil.example","click")'


async def get(
    bot: BotUnderTest, headers: dict[str, str] | None = None, **params: str
) -> tuple[int, Any, Any]:
    url = bot.server.make_url("/api/audit").with_query(params)
    async with bot.session.get(url, headers=headers or {}) as response:
        body = await (
            response.json() if response.content_type == "application/json" else response.text()
        )
        return response.status, body, response.headers


async def with_trail(start_bot, **settings: str) -> BotUnderTest:
    """Version 20 rejected by Bob with a formula for a reason, version 21 approved by Alice."""
    bot = await start(start_bot, **settings)
    await decide(
        bot,
        REJECT,
        {"approvalId": await announce(bot, 20), "reason": FORMULA},
        user=BOB,
        name="Bob",
    )
    await decide(bot, APPROVE, {"approvalId": await announce(bot, 21)})
    return bot


@pytest.mark.slow
async def test_only_the_bearer_of_the_metrics_token_reads_the_audit(start_bot):
    bot = await with_trail(start_bot, RELEASEBOT_METRICS_TOKEN=TOKEN)

    anonymous = await get(bot)
    forged = await get(bot, {"Authorization": "Bearer wrong"})
    status, body, headers = await get(bot, AUTH)

    assert (anonymous[0], forged[0]) == (401, 401)
    assert anonymous[1] == {"error": "missing or wrong metrics token"}
    assert status == 200
    assert headers["Content-Type"].startswith("application/json")
    assert [(e["event"], e["version"]) for e in body["entries"]] == [
        ("requested", "20"),
        ("rejected", "20"),
        ("requested", "21"),
        ("approved", "21"),
    ]
    rejected = body["entries"][1]
    assert (rejected["actor_name"], rejected["detail"], rejected["model"]) == (
        "Bob",
        FORMULA,
        MODEL,
    )
    assert rejected["actor_id"] == BOB
    assert rejected["at"].endswith("Z")
    assert body["entries"][0]["required_approvals"] == 1
    assert body["next"] is None


async def test_without_a_token_only_the_host_itself_reads_the_audit(start_bot):
    bot = await start_bot()

    local = await get(bot)
    proxied = [
        await get(bot, {"X-Forwarded-For": "203.0.113.9"}),
        await get(bot, {"Forwarded": "for=203.0.113.9"}),
    ]

    assert local[:2] == (200, {"entries": [], "next": None})
    assert [status for status, _, _ in proxied] == [403, 403]
    assert "RELEASEBOT_METRICS_TOKEN" in proxied[0][1]["error"]


@pytest.mark.slow
@pytest.mark.parametrize("how", [{"format": "csv"}, {"accept": "text/csv"}])
async def test_csv_has_a_header_row_and_escapes_formulas(start_bot, how):
    bot = await with_trail(start_bot, RELEASEBOT_METRICS_TOKEN=TOKEN)
    headers = AUTH | ({"Accept": how["accept"]} if "accept" in how else {})
    params = {"format": how["format"]} if "format" in how else {}

    status, text, response_headers = await get(bot, headers, model=MODEL, version="20", **params)

    assert status == 200
    assert response_headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [row["event"] for row in rows] == ["requested", "rejected"]
    assert rows[1]["detail"] == "'" + FORMULA
    assert rows[1]["actor_name"] == "Bob"


@pytest.mark.slow
async def test_pages_continue_with_next_and_time_filters_apply(start_bot):
    bot = await with_trail(start_bot, RELEASEBOT_METRICS_TOKEN=TOKEN)

    first = await get(bot, AUTH, limit="3")
    second = await get(bot, AUTH, limit="3", cursor=first[1]["next"])
    later = await get(bot, AUTH, **{"from": "2999-01-01"})
    until_today = await get(bot, AUTH, to="2999-01-01T00:00:00+01:00")

    assert [len(first[1]["entries"]), len(second[1]["entries"])] == [3, 1]
    assert second[1]["next"] is None
    assert first[2]["Link"] == f'</api/audit?limit=3&cursor={first[1]["next"]}>; rel="next"'
    assert later[1]["entries"] == []
    assert len(until_today[1]["entries"]) == 4


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"from": "yesterday"}, "'from' must be an ISO 8601 date or time"),
        ({"to": "2026-13-01"}, "'to' must be an ISO 8601 date or time"),
        ({"from": "2026-12-02", "to": "2026-12-01"}, "'from' must be before 'to'"),
        ({"limit": "0"}, "limit must be a whole number from 1 to 10000"),
        ({"limit": "10001"}, "limit must be a whole number from 1 to 10000"),
        ({"limit": "ten"}, "limit must be a whole number from 1 to 10000"),
        ({"model": "fraud*"}, "model must be a model's exact name"),
        ({"version": "1/2"}, "version must be a version"),
        ({"cursor": "not-a-cursor"}, "the cursor is not one this endpoint gave"),
        ({"format": "xml"}, "format must be json or csv"),
        ({"form": "csv"}, "unknown parameter 'form'"),
    ],
)
async def test_malformed_parameters_are_refused_with_the_reason(start_bot, params, reason):
    bot = await start_bot(RELEASEBOT_METRICS_TOKEN=TOKEN)

    status, body, _ = await get(bot, AUTH, **params)

    assert status == 400
    assert body["error"].startswith(reason)


async def test_a_parameter_given_twice_is_refused(start_bot):
    bot = await start_bot(RELEASEBOT_METRICS_TOKEN=TOKEN)
    url = bot.server.make_url("/api/audit?model=a&model=b")

    async with bot.session.get(url, headers=AUTH) as response:
        assert response.status == 400
        assert "'model' is given more than once" in (await response.json())["error"]


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+49 30 1234", "'+49 30 1234"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tTAB", "'\tTAB"),
        ("Bob", "Bob"),
        ("a=b", "a=b"),
        (None, ""),
        (2, "2"),
        (["bob@contoso.com", "=x"], "bob@contoso.com =x"),
    ],
)
def test_csv_cells_never_start_a_formula(value, cell):
    assert csv_cell(value) == cell


@settings(max_examples=300, deadline=None)
@given(
    params=st.dictionaries(st.sampled_from(sorted(PARAMETERS)), st.text(max_size=40)),
    accept=st.sampled_from(["", "text/csv", "application/json"]),
)
def test_any_parameters_are_a_query_or_a_reason(params, accept):
    asked = parse_request(MultiDict(params), accept)

    assert isinstance(asked, str) or isinstance(asked[0], AuditQuery)


def forged(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        forged("0001-01-01T00:00:00+14:00|0|1"),
        forged("2026-01-01T00:00:00|0|1"),
        forged(f"2026-01-01T00:00:00+00:00|0|{2**64}"),
        forged("2026-01-01T00:00:00+00:00|9|1"),
        forged("2026-01-01T00:00:00+00:00|0"),
        "%%%",
    ],
)
def test_a_forged_cursor_is_refused(cursor):
    assert parse_request(MultiDict(cursor=cursor), "") == "the cursor is not one this endpoint gave"
