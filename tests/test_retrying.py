"""The Retry-After header, as Azure DevOps and the Bot Connector send it."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.retrying import retry_after


def test_retry_after_in_seconds():
    assert retry_after("17") == 17
    assert retry_after(" 0 ") == 0


def test_retry_after_as_an_http_date():
    now = datetime(2026, 11, 24, 10, 0, 0, tzinfo=UTC)
    assert retry_after("Tue, 24 Nov 2026 10:00:30 GMT", now=now) == 30
    assert retry_after("Tue, 24 Nov 2026 09:00:00 GMT", now=now) == 0
    assert retry_after("soon", now=now) is None
    assert retry_after(None) is None
