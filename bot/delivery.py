"""What a refused delivery to Teams means: try again later, or stop (the bot was removed, the
conversation is gone, the connector keeps refusing the bot's token)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.channel import DeliveryError
from bot.retrying import backoff

# No answer (None), throttling, and server or gateway trouble pass: try again later.
RETRYABLE = {None, 401, 408, 412, 429, 500, 502, 503, 504}
GONE = {403, 404}
# The connector refused the bot's token: worth a few tries (a token being renewed), not more.
REFUSED = {401}
MAX_REFUSALS = 5


def refused_for_good(error: DeliveryError, tries: int) -> str | None:
    """Why to stop trying, when ``error`` refused the bot on its ``tries``-th try and that was the
    last of MAX_REFUSALS."""
    if error.status not in REFUSED or tries < MAX_REFUSALS:
        return None
    return (
        f"Teams refused the bot {tries} times ({error.status}): the connector does not accept "
        "the bot's token; check the app registration (client id, secret, tenant) and the cloud"
    )


@dataclass(frozen=True)
class Verdict:
    """What to do after a failed delivery: stop (``given_up`` says why) or try again in
    ``delay`` seconds."""

    given_up: str | None
    delay: float


class FailuresInARow:
    """How often each item's delivery failed in a row, for workers that keep no count in the
    store (a restart starts counting anew)."""

    def __init__(self) -> None:
        self._counts: dict[int, int] = {}

    def judge(self, item: int, error: DeliveryError) -> Verdict:
        """Count this failure of ``item``'s delivery and say whether to try again, and when."""
        failures = self._counts.get(item, 0) + 1
        given_up = refused_for_good(error, failures)
        if given_up is None and error.status in GONE:
            given_up = f"the connector answered {error.status}"
        if given_up is not None:
            self._counts.pop(item, None)
            return Verdict(given_up, 0.0)
        self._counts[item] = failures
        return Verdict(None, backoff(failures, error.retry_after))

    def delivered(self, item: int) -> None:
        """``item`` went through: its count starts anew."""
        self._counts.pop(item, None)
