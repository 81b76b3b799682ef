"""When a pending approval reminds its approvers (dialogs/reminders.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dialogs.reminders import due_now, first_reminder, reminder_after, reminder_times

ASKED = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


def hours(n: float) -> datetime:
    return ASKED + timedelta(hours=n)


@pytest.mark.parametrize(
    ("expiry", "expected"),
    [
        (72, [hours(36), hours(71)]),
        (3, [hours(1.5), hours(2)]),
        (2, [hours(1)]),  # an hour before the end would be half the expiry: one reminder
        (1, [hours(0.5)]),
        (1 / 12, []),  # five minutes: over before anyone would miss it
    ],
)
def test_half_the_expiry_and_an_hour_before_it(expiry, expected):
    assert reminder_times(ASKED, hours(expiry)) == expected


def test_the_next_reminder_follows_the_one_sent_and_the_last_has_none():
    assert first_reminder(ASKED, hours(72)) == hours(36)
    assert reminder_after(ASKED, hours(72), hours(36)) == hours(71)
    assert reminder_after(ASKED, hours(72), hours(71)) is None
    assert first_reminder(ASKED, ASKED + timedelta(minutes=5)) is None


def test_a_bot_that_was_down_sends_only_the_latest_reminder_due_and_none_after_the_expiry():
    assert due_now(ASKED, hours(72), hours(36), hours(40)) == hours(36)
    assert due_now(ASKED, hours(72), hours(36), hours(71.5)) == hours(71)
    assert due_now(ASKED, hours(72), hours(36), hours(72)) is None
