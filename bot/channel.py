"""Proactive messages to Teams through the Agents SDK, with the connector's answer made usable."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Protocol
from urllib.parse import urlsplit

from aiohttp import ClientError, ClientResponseError
from microsoft_agents.activity import (
    Activity,
    Attachment,
    ChannelAccount,
    ConversationReference,
    PagedMembersResult,
)
from microsoft_agents.hosting.aiohttp import CloudAdapter
from microsoft_agents.hosting.core import MessageFactory, TurnContext
from microsoft_agents.hosting.core.connector import ConnectorClientBase

from bot.cards import CARD_CONTENT_TYPE, Card
from bot.network import network_problem
from bot.ratelimit import CannotBook, Limiter
from bot.retrying import retry_after
from domain.records import Member

CONNECTOR_CLIENT_KEY = "ConnectorClient"
"""Where the SDK leaves a turn's connector client."""
ROSTER_PAGE_SIZE = 500
"""Teams' largest page of members."""
CALL_WEIGHT = 0.1
"""The weight of the latest call in :attr:`AgentsChannel.call_seconds`."""


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

    async def update_card(self, reference: str, activity_id: str, card: Card) -> None:
        """Replace the card of activity ``activity_id`` in place, for everyone who sees it."""
        ...

    async def reply_card(self, reference: str, activity_id: str, card: Card) -> str:
        """Post ``card`` as a reply to ``activity_id`` (in a channel: into its thread)."""
        ...


class AgentsChannel:
    """The Channel on the Agents SDK: a proactive turn per message (continue_conversation),
    each message within Teams' rate limits."""

    def __init__(self, adapter: CloudAdapter, app_id: str, limiter: Limiter) -> None:
        self._adapter = adapter
        self._app_id = app_id
        self._limiter = limiter
        self.call_seconds = 0.0
        """How long Teams has taken lately to answer a call (a moving average)."""

    async def send_card(self, reference: str, card: Card) -> str:
        """Post ``card`` into the conversation; a channel gets it as a new thread."""
        # Without an id to reply to, the card is a new message: in a channel, a new thread.
        return await self._post(reference, None, card)

    async def reply_card(self, reference: str, activity_id: str, card: Card) -> str:
        """Post ``card`` as a reply to ``activity_id``; in a channel, into its thread."""
        return await self._post(reference, activity_id, card)

    async def update_card(self, reference: str, activity_id: str, card: Card) -> None:
        """Replace the card of ``activity_id`` in place."""

        async def update(context: TurnContext) -> None:
            activity = card_message(card)
            activity.id = activity_id
            await context.update_activity(activity)

        await self._continue(reference, None, update)

    async def members_page(
        self, reference: str, continuation: str | None
    ) -> tuple[list[Member], str | None]:
        """One page of the conversation's roster (Teams' paged members), and the token of the
        next page (None: that was the last)."""
        pages: list[PagedMembersResult] = []

        async def read(context: TurnContext) -> None:
            connector = context.turn_state.get(CONNECTOR_CLIENT_KEY)
            conversation = context.activity.conversation
            if not isinstance(connector, ConnectorClientBase) or conversation is None:
                raise DeliveryError(None, None, "no connector client for the roster")
            pages.append(
                await connector.conversations.get_conversation_paged_members(
                    conversation.id, ROSTER_PAGE_SIZE, continuation
                )
            )

        await self._continue(reference, None, read)
        page = pages[0]
        members = [member for account in page.members or () if (member := _member(account))]
        return members, page.continuation_token or None

    async def _post(self, reference: str, reply_to: str | None, card: Card) -> str:
        sent: list[str] = []

        async def send(context: TurnContext) -> None:
            response = await context.send_activity(card_message(card))
            sent.append(response.id if response and response.id else "")

        await self._continue(reference, reply_to, send)
        return sent[0] if sent else ""

    async def _continue(
        self,
        reference: str,
        activity_id: str | None,
        action: Callable[[TurnContext], Awaitable[None]],
    ) -> None:
        """Run ``action`` in a proactive turn, within the rate limits, the connector's refusals
        made a :class:`DeliveryError`."""
        continuation = ConversationReference.model_validate_json(
            reference
        ).get_continuation_activity()
        # The SDK puts a random id here; a turn replies to its activity's id, so set ours or none.
        continuation.id = activity_id

        async def limited(context: TurnContext) -> None:
            # Booked as late as possible, so that calls reach Teams as evenly as they were booked.
            await self._limiter.acquire(continuation.conversation.id)
            started = time.monotonic()
            await action(context)
            self.call_seconds += (time.monotonic() - started - self.call_seconds) * CALL_WEIGHT

        try:
            await self._adapter.continue_conversation(self._app_id, continuation, limited)
        except ClientResponseError as error:
            raise DeliveryError(
                error.status,
                retry_after(error.headers.get("Retry-After") if error.headers else None),
                f"the connector answered {error.status}",
            ) from None
        except CannotBook as refusal:  # not sent: as if Teams had throttled it (or not answered)
            status = 429 if refusal.retry_after is not None else None
            raise DeliveryError(status, refusal.retry_after, str(refusal)) from None
        except (ClientError, TimeoutError) as error:
            problem = network_problem(error, urlsplit(continuation.service_url or "").hostname)
            reason = str(problem) if problem else f"no answer ({type(error).__name__})"
            raise DeliveryError(None, None, f"the connector: {reason}") from None


def _member(account: ChannelAccount) -> Member | None:
    """A roster entry as a :class:`Member`; None for one without a Teams user id."""
    extra = account.model_extra or {}
    object_id = account.aad_object_id or extra.get("objectId")
    upn = extra.get("userPrincipalName")
    if not account.id:
        return None
    return Member(
        user_id=account.id,
        object_id=object_id.lower() if isinstance(object_id, str) and object_id else None,
        name=account.name or account.id,
        upn=upn.lower() if isinstance(upn, str) and upn else None,
    )
