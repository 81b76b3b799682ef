"""What a refused delivery means for the workers that keep their count in memory."""

from __future__ import annotations

from bot.channel import DeliveryError
from bot.delivery import MAX_REFUSALS, FailuresInARow


def refused(status: int | None, retry_after: float | None = None) -> DeliveryError:
    return DeliveryError(status, retry_after, "refused")


def test_a_conversation_that_is_gone_is_given_up_at_once():
    verdict = FailuresInARow().judge(1, refused(404))

    assert verdict.given_up == "the connector answered 404"


def test_a_refused_token_is_tried_again_until_the_last_of_its_tries():
    failures = FailuresInARow()

    verdicts = [failures.judge(1, refused(401)) for _ in range(MAX_REFUSALS)]

    assert [verdict.given_up is None for verdict in verdicts] == [True] * (MAX_REFUSALS - 1) + [
        False
    ]
    assert "app registration" in (verdicts[-1].given_up or "")


def test_throttling_waits_as_long_as_teams_asks_and_a_delivery_starts_the_count_anew():
    failures = FailuresInARow()
    for _ in range(MAX_REFUSALS - 1):
        failures.judge(1, refused(401))

    failures.delivered(1)

    assert failures.judge(1, refused(401)).given_up is None
    assert failures.judge(2, refused(429, 7.5)).delay == 7.5
