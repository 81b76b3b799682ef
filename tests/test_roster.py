"""The approvers of a policy resolved to Teams members from the conversation's roster: matched by
object id or UPN as a click is checked, read page by page until all are found, remembered for a
while and boundedly, and "unknown" (never a guess) when the roster cannot be read."""

from __future__ import annotations

import logging

import pytest

from bot.channel import DeliveryError
from bot.roster import Roster
from domain.records import Member

ALICE = Member(
    "29:alice", "00000000-0000-0000-0000-00000000a11c", "Alice Example", "alice@contoso.com"
)
BOB = Member("29:bob", "00000000-0000-0000-0000-000000000b0b", "Bob Example", "bob@contoso.com")
CAROL = Member("29:carol", "00000000-0000-0000-0000-0000000ca401", "Carol Example", None)
BYSTANDERS = [Member(f"29:m{i}", f"oid-{i}", f"Member {i}", f"m{i}@contoso.com") for i in range(6)]
APPROVERS = frozenset({ALICE.object_id or "", "bob@contoso.com"})
REFERENCE = '{"conversation": {"id": "19:c@thread.tacv2"}}'


class PagedRoster:
    """A RosterSource of ``members`` in pages of ``size``; it can refuse the next reads."""

    def __init__(self, members: list[Member], size: int = 2) -> None:
        self.members = members
        self.size = size
        self.reads: list[str | None] = []
        self.refusals: list[int | None] = []

    async def members_page(
        self, reference: str, continuation: str | None
    ) -> tuple[list[Member], str | None]:
        assert reference == REFERENCE
        self.reads.append(continuation)
        if self.refusals:
            raise DeliveryError(self.refusals.pop(0), None, "the connector answered 503")
        start = int(continuation or 0)
        end = start + self.size
        return self.members[start:end], str(end) if end < len(self.members) else None


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_approvers_named_by_object_id_or_upn_are_found_and_nobody_else():
    source = PagedRoster([BYSTANDERS[0], BOB, CAROL, ALICE, BYSTANDERS[1]])
    roster = Roster(source)

    members = await roster.approver_members(REFERENCE, APPROVERS | {"carol@contoso.com"})

    assert members == [ALICE, BOB]  # Carol has no UPN in the roster: not named, not guessed


async def test_the_roster_is_read_until_every_approver_is_found():
    source = PagedRoster([BOB, BYSTANDERS[0], ALICE, *BYSTANDERS[1:]], size=2)

    await Roster(source).approver_members(REFERENCE, APPROVERS)

    assert source.reads == [None, "2"]  # the third page and later are not read


async def test_at_most_max_pages_are_read():
    crowd = [Member(f"29:x{i}", f"x-{i}", f"X {i}", None) for i in range(Roster.MAX_PAGES)]
    source = PagedRoster([*crowd, ALICE], size=1)

    members = await Roster(source).approver_members(REFERENCE, APPROVERS)

    assert len(source.reads) == Roster.MAX_PAGES
    assert members == []  # Alice is beyond the pages read


async def test_a_policy_without_approvers_calls_nobody_and_reads_nothing():
    source = PagedRoster([ALICE, BOB])

    assert await Roster(source).approver_members(REFERENCE, None) == []
    assert source.reads == []


async def test_the_answer_is_remembered_until_its_time_runs_out():
    source, clock = PagedRoster([ALICE, BOB]), Clock()
    roster = Roster(source, clock=clock)

    await roster.approver_members(REFERENCE, APPROVERS)
    clock.now += Roster.TTL_SECONDS - 1
    await roster.approver_members(REFERENCE, APPROVERS)
    reads_while_fresh = len(source.reads)
    clock.now += 2
    await roster.approver_members(REFERENCE, APPROVERS)

    assert (reads_while_fresh, len(source.reads)) == (1, 2)


async def test_the_memory_is_bounded():
    class Small(Roster):
        MAX_ENTRIES = 2

    source = PagedRoster([ALICE, BOB])
    roster = Small(source)
    for approvers in ({"a"}, {"b"}, {"c"}, {"a"}):
        await roster.approver_members(REFERENCE, frozenset(approvers))

    assert len(source.reads) == 4  # {"a"} was forgotten to make room for {"c"}


async def test_a_failed_read_is_unknown_logged_once_and_read_again_later(caplog):
    source, clock = PagedRoster([ALICE, BOB]), Clock()
    source.refusals = [503, 503]
    roster = Roster(source, clock=clock)

    with caplog.at_level(logging.WARNING, logger="bot.roster"):
        first = await roster.approver_members(REFERENCE, APPROVERS)
        clock.now += Roster.UNKNOWN_TTL_SECONDS + 1
        second = await roster.approver_members(REFERENCE, APPROVERS)
        clock.now += Roster.UNKNOWN_TTL_SECONDS + 1
        third = await roster.approver_members(REFERENCE, APPROVERS)

    assert (first, second, third) == (None, None, [ALICE, BOB])
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "could not be read (the connector answered 503)" in warnings[0]


@pytest.mark.parametrize("approvers", [frozenset({"alice@contoso.com"}), frozenset({"ALICE"})])
async def test_only_lower_case_ids_of_the_policy_match(approvers):
    # Policies keep their approvers lower-cased (dialogs.policy); a member is matched the same way.
    source = PagedRoster([ALICE])
    members = await Roster(source).approver_members(REFERENCE, approvers)
    assert members == ([ALICE] if "alice@contoso.com" in approvers else [])
