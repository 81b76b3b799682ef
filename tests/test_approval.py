"""The approval policy and state machine: every rule, every transition, nothing else allowed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.i18n import LANGUAGES, Translator
from dialogs.approval import (
    TRANSITIONS,
    Approval,
    Approve,
    Expire,
    Person,
    Reject,
    decide,
    expires_at,
)
from domain.policy import Policy, Refused
from domain.statuses import ApprovalState

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
ADA = Person("00000000-0000-0000-0000-0000000000a1", "ada@contoso.com", "Ada")
GRACE = Person("00000000-0000-0000-0000-0000000000b2", "grace@contoso.com", "Grace")
LINUS = Person("00000000-0000-0000-0000-0000000000c3", "linus@contoso.com", "Linus")


def pending(creator: str | None = "ada@contoso.com") -> Approval:
    return Approval(ApprovalState.PENDING, requested_at=T0, creator=creator)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def test_one_approval_approves_by_default():
    outcome = decide(pending(), Approve(GRACE, at(1)), Policy())

    assert isinstance(outcome, Approval)
    assert outcome.state is ApprovalState.APPROVED
    assert outcome.approvals == ((GRACE, at(1)),)
    assert outcome.decided_at == at(1)


def test_n_of_m_needs_n_different_people():
    policy = Policy(required_approvals=2)

    first = decide(pending(), Approve(GRACE, at(1)), policy)
    again = decide(first, Approve(GRACE, at(2)), policy)
    second = decide(first, Approve(LINUS, at(3)), policy)

    assert first.state is ApprovalState.PENDING
    assert again == Refused("approval.already_approved_by_you")
    assert second.state is ApprovalState.APPROVED
    assert [person for person, _ in second.approvals] == [GRACE, LINUS]


def test_the_same_person_by_another_id_counts_once():
    policy = Policy(required_approvals=2)
    first = decide(pending(), Approve(GRACE, at(1)), policy)

    assert decide(first, Approve(Person("other-id", GRACE.upn), at(2)), policy) == Refused(
        "approval.already_approved_by_you"
    )


@pytest.mark.parametrize("creator", ["ada@contoso.com", "ADA@contoso.com", ADA.object_id])
def test_the_creator_may_not_approve_their_own_version(creator):
    assert decide(pending(creator), Approve(ADA, at(1)), Policy()) == Refused(
        "approval.no_self_approval"
    )


def test_self_approval_can_be_allowed_by_policy():
    outcome = decide(pending(), Approve(ADA, at(1)), Policy(forbid_self_approval=False))

    assert outcome.state is ApprovalState.APPROVED


def test_the_creator_may_withdraw_their_version():
    outcome = decide(pending(), Reject(ADA, "wrong training data", at(1)), Policy())

    assert outcome.state is ApprovalState.REJECTED


def test_only_listed_approvers_decide_when_there_is_a_list():
    policy = Policy(approvers=frozenset({"grace@contoso.com", LINUS.object_id}))

    assert decide(pending(), Approve(Person("someone"), at(1)), policy) == Refused(
        "approval.not_an_approver"
    )
    assert decide(pending(), Reject(Person("someone"), "no", at(1)), policy) == Refused(
        "approval.not_an_approver"
    )
    assert decide(pending(), Approve(GRACE, at(1)), policy).state is ApprovalState.APPROVED
    assert decide(pending(), Approve(LINUS, at(1)), policy).state is ApprovalState.APPROVED


def test_a_rejection_needs_a_reason_and_keeps_it():
    assert decide(pending(), Reject(GRACE, "   ", at(1)), Policy()) == Refused(
        "approval.reason_required"
    )

    outcome = decide(pending(), Reject(GRACE, "  AUC dropped  ", at(1)), Policy())

    assert (outcome.state, outcome.rejected_by, outcome.reason) == (
        ApprovalState.REJECTED,
        GRACE,
        "AUC dropped",
    )


def test_after_the_expiry_any_click_finds_it_expired():
    policy = Policy(expiry=timedelta(hours=72))

    late = decide(pending(), Approve(GRACE, at(72)), policy)

    assert late.state is ApprovalState.EXPIRED
    assert decide(late, Approve(GRACE, at(73)), policy) == Refused("approval.already_expired")
    assert expires_at(pending(), policy) == at(72)


def test_an_expiry_before_its_time_changes_nothing():
    assert decide(pending(), Expire(at(71)), Policy()).key == "approval.not_expired_yet"
    assert decide(pending(), Expire(at(72)), Policy()).state is ApprovalState.EXPIRED


@pytest.mark.parametrize(
    "state", [ApprovalState.APPROVED, ApprovalState.REJECTED, ApprovalState.EXPIRED]
)
@pytest.mark.parametrize(
    "event", [Approve(GRACE, at(1)), Reject(GRACE, "no", at(1)), Expire(at(100))]
)
def test_a_decided_approval_refuses_every_event_with_its_state(state, event):
    decided = Approval(state, requested_at=T0)

    assert decide(decided, event, Policy()) == Refused(f"approval.already_{state.value}")


def test_only_a_pending_approval_has_transitions():
    assert {state for state, _ in TRANSITIONS} == {ApprovalState.PENDING}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_refusal_has_a_message_in_every_language(language):
    keys = {
        f"approval.already_{state.value}"
        for state in ApprovalState
        if state is not ApprovalState.PENDING
    }
    keys |= {
        "approval.already_approved_by_you",
        "approval.reason_required",
        "approval.not_an_approver",
        "approval.no_self_approval",
        "approval.not_expired_yet",
    }
    catalog = Translator(language).catalog()

    assert keys <= catalog.keys()
