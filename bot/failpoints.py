"""Crash points for the crash tests: with ``RELEASEBOT_TEST_CRASH_AT=<step>`` in its environment,
the process dies right after that step, as if killed (no cleanup, nothing flushed). Never set in
production: then :func:`reached` is one comparison with an empty string.

Not among the steps, because a crash there does repeat something: between Teams accepting a card
(or a result reply) and the bot recording it; Teams has no idempotent post."""

from __future__ import annotations

import os

CRASH_AT = os.environ.get("RELEASEBOT_TEST_CRASH_AT", "")
STEPS = (
    "event_received",
    "version_stored",  # the version and its announcements: one transaction
    "announcement_queued",  # queued and claimed, its card drawn, not sent yet
    "card_sent",
    "approval_recorded",
    "quorum",
    "devops_called",
    "run_recorded",
    "result_posted",
)


def reached(step: str) -> None:
    """The flow has just done ``step``: die here if the crash test asks for it."""
    if step == CRASH_AT:
        os._exit(137)  # what a SIGKILL leaves: exit code 128 + 9
