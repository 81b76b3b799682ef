"""A loopback Bot Connector that records what the bot sends and answers like the real one."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from fakes.identity import TENANT_ID


@dataclass
class ConnectorCall:
    """One request the bot made to the connector."""

    method: str
    path: str
    conversation_id: str
    authorization: str | None
    body: dict[str, Any]


class RecordingConnector:
    """A loopback Bot Connector that records every call and answers like the real one."""

    def __init__(self) -> None:
        self.calls: list[ConnectorCall] = []
        self.refusals: list[tuple[int, dict[str, str]]] = []
        """Answers (status, headers) for the next calls, in order, before accepting again."""
        self.refused: list[int] = []
        self._arrived = asyncio.Event()
        self.app = web.Application()
        # Service URLs may carry a path (".../emea/"): accept any prefix before v3/.
        route = "/{prefix:(?:[^/]+/)*}v3/conversations/{conversation_id}/activities"
        self.app.router.add_post(route, self._record)
        self.app.router.add_post(route + "/{activity_id}", self._record)
        self.app.router.add_put(route + "/{activity_id}", self._record)
        members = "/{prefix:(?:[^/]+/)*}v3/conversations/{conversation_id}/members/{member_id}"
        self.app.router.add_get(members, self._member)
        roster = "/{prefix:(?:[^/]+/)*}v3/conversations/{conversation_id}/"
        self.app.router.add_get(roster + "pagedmembers", self._paged_members)
        self.app.router.add_get(roster + "members", self._all_members)
        self.roster: list[dict[str, Any]] = []
        """The conversation's members, as Teams' roster gives them (see :func:`roster_entry`)."""
        self.roster_refusals: list[int] = []
        """Statuses for the next roster reads, in order, before answering again."""
        self.roster_reads: list[dict[str, str]] = []
        """The query of every roster read (pageSize, continuationToken)."""
        self.upns: dict[str, str] = {}
        """The UPN of each member (by Teams user id) the connector tells the bot about."""
        self.emails: dict[str, str] = {}
        """A member's email where it differs from their UPN (a guest's, say)."""
        self.member_refusals: list[int] = []
        """Statuses for the next member look-ups, in order, before answering again."""
        self.server = TestServer(self.app, host="127.0.0.1")

    @property
    def url(self) -> str:
        """The service URL to put in activities."""
        return str(self.server.make_url("/"))

    async def _record(self, request: web.Request) -> web.Response:
        if self.refusals:
            status, headers = self.refusals.pop(0)
            self.refused.append(status)
            return web.json_response({"error": {"code": "Refused"}}, status=status, headers=headers)
        self.calls.append(
            ConnectorCall(
                method=request.method,
                path=request.path,
                conversation_id=request.match_info["conversation_id"],
                authorization=request.headers.get("Authorization"),
                body=await request.json(),
            )
        )
        self._arrived.set()
        return web.json_response({"id": f"activity-{len(self.calls)}"})

    async def _member(self, request: web.Request) -> web.Response:
        member_id = request.match_info["member_id"]
        if self.member_refusals:
            status = self.member_refusals.pop(0)
            return web.json_response({"error": {"code": "Unavailable"}}, status=status)
        if member_id not in self.upns:
            return web.json_response({"error": {"code": "MemberNotFound"}}, status=404)
        upn = self.upns[member_id]
        email = self.emails.get(member_id, upn)
        return web.json_response({"id": member_id, "userPrincipalName": upn, "email": email})

    async def _paged_members(self, request: web.Request) -> web.Response:
        """``GET /v3/conversations/{id}/pagedmembers``: a page of the roster (Teams takes page
        sizes of 50 to 500) and the continuation token of the next, if there is one."""
        self.roster_reads.append(dict(request.query))
        if self.roster_refusals:
            status = self.roster_refusals.pop(0)
            return web.json_response({"error": {"code": "ServiceError"}}, status=status)
        size = min(max(int(request.query.get("pageSize", "200")), 50), 500)
        start = int(request.query.get("continuationToken", "0"))
        page: dict[str, Any] = {"members": self.roster[start : start + size]}
        if start + size < len(self.roster):
            page["continuationToken"] = str(start + size)
        return web.json_response(page)

    async def _all_members(self, request: web.Request) -> web.Response:
        """``GET /v3/conversations/{id}/members``: the whole roster."""
        self.roster_reads.append(dict(request.query))
        return web.json_response(self.roster)

    def cards(self) -> list[dict[str, Any]]:
        """The Adaptive Cards the bot sent, in order."""
        return [
            attachment["content"]
            for call in self.calls
            for attachment in call.body.get("attachments") or []
            if attachment.get("contentType") == "application/vnd.microsoft.card.adaptive"
        ]

    async def wait_for_calls(self, count: int, within: float = 5.0) -> None:
        """Wait until ``count`` calls were accepted (the outbox sends in the background)."""
        try:
            async with asyncio.timeout(within):
                while len(self.calls) < count:
                    self._arrived.clear()
                    await self._arrived.wait()
        except TimeoutError:
            raise AssertionError(f"expected {count} calls, got {len(self.calls)}") from None

    def last_card(self) -> dict[str, Any]:
        """The newest Adaptive Card sent."""
        cards = self.cards()
        assert cards, f"no card was sent; calls: {self.calls}"
        return cards[-1]


def roster_entry(user_id: str, name: str, object_id: str, upn: str) -> dict[str, Any]:
    """A member as Teams' roster gives one (a TeamsChannelAccount)."""
    given, _, surname = name.partition(" ")
    return {
        "id": user_id,
        "name": name,
        "aadObjectId": object_id,
        "givenName": given,
        "surname": surname,
        "email": upn,
        "userPrincipalName": upn,
        "tenantId": TENANT_ID,
        "userRole": "user",
    }
