"""Proactive messages to Teams through the Agents SDK, with the connector's answer made usable."""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from typing import Protocol

from aiohttp import ClientError, ClientResponseError
from microsoft_agents.activity import Activity, Attachment, ConversationReference
from microsoft_agents.hosting.aiohttp import CloudAdapter
from microsoft_agents.hosting.core import MessageFactory, TurnContext
from multidict import MultiMapping

from bot.cards import CARD_CONTENT_TYPE, Card
from bot.ratelimit import RateLimiter
from bot.store.repository import utcnow


def card_message(card: Card) -> Activity:
    """A message activity carrying one Adaptive Card."""
    activity: Activity = MessageFactory.attachment(
        Attachment(content_type=CARD_CONTENT_TYPE, content=card)
    )
    return activity


class DeliveryError(Exception):
    """The connector did not take the message: its status (None: no answer) and Retry-After."""

    def __init__(self, status: int | None, retry_after: float | None, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.retry_after = retry_after


class Channel(Protocol):
    """Where cards go: Teams, through the Bot Connector."""

    async def send_card(self, reference: str, card: Card) -> str:
        """Post ``card`` to the conversation of the stored ``reference``; the new activity id.

        Raises :class:`DeliveryError` when the connector refuses or does not answer.
        """
        ...


class AgentsChannel:
    """The Channel on the Agents SDK: a proactive turn per message (continue_conversation),
    each message within Teams' rate limits."""

    def __init__(self, adapter: CloudAdapter, app_id: str, limiter: RateLimiter) -> None:
        self._adapter = adapter
        self._app_id = app_id
        self._limiter = limiter

    async def send_card(self, reference: str, card: Card) -> str:
        """Post ``card`` into the conversation; a channel gets it as a new thread."""
        continuation = ConversationReference.model_validate_json(
            reference
        ).get_continuation_activity()
        # Without an id to reply to, the card is a new message: in a channel, a new thread.
        continuation.id = None
        sent: list[str] = []

        async def send(context: TurnContext) -> None:
            # Booked as late as possible, so that calls reach Teams as evenly as they were booked.
            await self._limiter.acquire(continuation.conversation.id)
            response = await context.send_activity(card_message(card))
            sent.append(response.id if response and response.id else "")

        try:
            await self._adapter.continue_conversation(self._app_id, continuation, send)
        except ClientResponseError as error:
            raise DeliveryError(
                error.status, retry_after(error.headers), f"the connector answered {error.status}"
            ) from None
        except (ClientError, TimeoutError) as error:
            raise DeliveryError(
                None, None, f"no answer from the connector ({type(error).__name__})"
            ) from None
        return sent[0] if sent else ""


def retry_after(headers: MultiMapping[str] | None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), if there is one."""
    value = headers.get("Retry-After") if headers else None
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        return max(0.0, (parsedate_to_datetime(value) - utcnow()).total_seconds())
    except (TypeError, ValueError):
        return None
