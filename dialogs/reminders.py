"""When an approval request reminds its approvers: pure.

A request is reminded of at half its expiry and an hour before it ends. When those two would
come close (an expiry of two hours or less), only the reminder at half the expiry is kept; a
request that stands for less than :data:`MIN_EXPIRY` is reminded of never (it ends before anyone
would miss it). A bot that was down while a reminder fell due sends only the latest one due, and
none after the expiry.
"""

from __future__ import annotations

from datetime import datetime, timedelta

BEFORE_END = timedelta(hours=1)
BOTH_ABOVE = timedelta(hours=2)
"""The shortest expiry that has both reminders: above it, an hour before the end comes later
than half the expiry."""
MIN_EXPIRY = timedelta(minutes=10)


def reminder_times(requested_at: datetime, expires_at: datetime) -> list[datetime]:
    """The moments a request asked for at ``requested_at`` reminds its approvers, in order."""
    expiry = expires_at - requested_at
    if expiry < MIN_EXPIRY:
        return []
    half = requested_at + expiry / 2
    if expiry <= BOTH_ABOVE:
        return [half]
    return [half, expires_at - BEFORE_END]


def first_reminder(requested_at: datetime, expires_at: datetime) -> datetime | None:
    """The first reminder of a new request; None: it has none."""
    times = reminder_times(requested_at, expires_at)
    return times[0] if times else None


def reminder_after(requested_at: datetime, expires_at: datetime, sent: datetime) -> datetime | None:
    """The reminder that follows the one due at ``sent``; None: that was the last."""
    later = [at for at in reminder_times(requested_at, expires_at) if at > sent]
    return later[0] if later else None


def due_now(
    requested_at: datetime, expires_at: datetime, scheduled: datetime, now: datetime
) -> datetime | None:
    """The reminder to send at ``now`` when the one ``scheduled`` fell due: the latest one due
    (those a stopped bot missed are skipped), None when the request has expired meanwhile."""
    if now >= expires_at:
        return None
    due = [at for at in reminder_times(requested_at, expires_at) if scheduled <= at <= now]
    return due[-1] if due else scheduled
