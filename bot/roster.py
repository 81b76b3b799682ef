"""Who a policy's approvers are in Teams: their user ids and names, read from the conversation's
roster, for the mentions that call them and for the card's ``refresh.userIds``.

A policy names approvers by Entra object id or UPN; Teams mentions and refreshes by Teams user id
(``29:…``). The roster (Teams' paged members) is read page by page until every approver is found,
at most :attr:`Roster.MAX_PAGES` pages; what was found is remembered per conversation and approver
set for :attr:`Roster.TTL_SECONDS`, at most :attr:`Roster.MAX_ENTRIES` entries. A roster that
cannot be read is "unknown" (None), logged once per conversation until it can be read again, and
remembered as unknown for a minute: callers then mention nobody rather than guess.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from dialogs.approval import Person
from domain.records import Member

log = logging.getLogger(__name__)


class RosterSource(Protocol):
    """Where the roster comes from: the connector's paged members of a conversation."""

    async def members_page(
        self, reference: str, continuation: str | None
    ) -> tuple[list[Member], str | None]:
        """One page of members of the conversation of ``reference``, and the next page's token."""
        ...


def is_approver(member: Member, approvers: frozenset[str]) -> bool:
    """Whether the policy's ``approvers`` name ``member``, by the ids a click is checked by."""
    if not member.object_id:
        return False
    return bool(Person(member.object_id, member.upn).identities() & approvers)


class Roster:
    """The approvers of a policy as members of a conversation, read through a
    :class:`RosterSource` and remembered for a while."""

    TTL_SECONDS = 900.0
    UNKNOWN_TTL_SECONDS = 60.0
    MAX_ENTRIES = 1_000
    MAX_PAGES = 10

    def __init__(
        self, source: RosterSource, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._source = source
        self._clock = clock
        self._known: dict[tuple[str, frozenset[str]], tuple[float, list[Member] | None]] = {}
        self._failing: set[str] = set()

    async def approver_members(
        self, reference: str, approvers: frozenset[str] | None
    ) -> list[Member] | None:
        """The members of the conversation of ``reference`` (a stored conversation reference)
        that ``approvers`` name, by name; [] when the policy names nobody (anyone may approve)
        or none of them is a member; None when the roster could not be read."""
        if not approvers:
            return []
        key = (reference, approvers)
        now = self._clock()
        known = self._known.get(key)
        if known is not None and known[0] > now:
            return known[1]
        members = await self._read(reference, approvers)
        ttl = self.TTL_SECONDS if members is not None else self.UNKNOWN_TTL_SECONDS
        self._known.pop(key, None)
        if len(self._known) >= self.MAX_ENTRIES:
            self._known.pop(next(iter(self._known)))  # the oldest entry
        self._known[key] = (now + ttl, members)
        return members

    async def _read(self, reference: str, approvers: frozenset[str]) -> list[Member] | None:
        found: dict[str, Member] = {}
        continuation: str | None = None
        try:
            for _ in range(self.MAX_PAGES):
                page, continuation = await self._source.members_page(reference, continuation)
                found.update((m.user_id, m) for m in page if is_approver(m, approvers))
                if continuation is None or len(found) >= len(approvers):
                    break
        except Exception as error:  # any failure: unknown, never a guess
            self._log_failure(reference, error)
            return None
        self._failing.discard(reference)
        return sorted(found.values(), key=lambda member: (member.name.casefold(), member.user_id))

    def _log_failure(self, reference: str, error: Exception) -> None:
        if reference in self._failing:
            return
        if len(self._failing) >= self.MAX_ENTRIES:
            self._failing.clear()
        self._failing.add(reference)
        log.warning(
            "the roster of a conversation could not be read (%s): its approvers are not "
            "mentioned until it can be",
            error if str(error) else type(error).__name__,
        )
