"""Review services on PostgreSQL: every transition, refusals, the second approver, undo, bulk, comments, races."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta

import pytest
from django.db import close_old_connections, connection
from django.utils import timezone

from accounts.models import AuditEvent, Role
from followback import review
from followback.models import Comment, Decision, DecisionKind, FollowAction, FollowState
from rules import services
from rules.models import SuggestionStatus
from rules.policy import PolicySettings
from tests.factories import MembershipFactory
from tests.followback.queue_data import connected_account, make_suggestion, require_second_approver

S = SuggestionStatus
K = DecisionKind


@pytest.fixture
def account(brand):
    return connected_account(brand)


@pytest.fixture
def suggestion(account):
    return make_suggestion(account, "ann_fan")


def status_of(suggestion) -> str:
    suggestion.refresh_from_db()
    return suggestion.status


# --- the table --------------------------------------------------------------------------------------------------


def test_the_transition_table_covers_every_status():
    moves_from = {status for status, _ in review.TRANSITIONS}
    assert moves_from | review.NO_DECISIONS == set(SuggestionStatus)
    assert moves_from.isdisjoint(review.NO_DECISIONS)
    assert {kind for _, kind in review.TRANSITIONS} == set(DecisionKind) - {K.UNDO}


def _user_kind(kind: DecisionKind) -> DecisionKind:
    return K.APPROVE if kind == K.PROPOSE else kind


@pytest.mark.parametrize(("found", "kind"), sorted(review.TRANSITIONS))
def test_every_allowed_transition_records_a_decision_and_an_audit_event(
    found, kind, brand, owner, reviewer, approver, account
):
    if kind == K.PROPOSE:
        require_second_approver(brand, owner)
    proposer = reviewer if found == S.AWAITING_APPROVAL else None
    suggestion = make_suggestion(account, "someone", status=found, proposed_by=proposer)
    decision = review.decide(brand, suggestion.pk, approver, _user_kind(kind), reason="not for us")
    expected = review.TRANSITIONS[(found, kind)]
    assert status_of(suggestion) == expected
    assert (decision.kind, decision.from_status, decision.to_status) == (kind, found, expected)
    assert decision.reason == ("not for us" if kind == K.REJECT else "")
    assert (decision.score, decision.signals, decision.policy_version_id) == (
        suggestion.score,
        suggestion.signals,
        suggestion.policy_version_id,
    )
    event = AuditEvent.objects.get(brand=brand, verb=review.VERBS[kind][0])
    assert event.actor == approver
    assert event.data["decision"] == decision.pk
    assert FollowAction.objects.filter(suggestion=suggestion).exists() == (expected == S.APPROVED)


@pytest.mark.parametrize("found", sorted(review.NO_DECISIONS))
@pytest.mark.parametrize("kind", [K.APPROVE, K.REJECT, K.LATER, K.SEND_BACK])
def test_nobody_decides_a_held_decided_or_expired_suggestion(found, kind, brand, approver, account):
    suggestion = make_suggestion(account, "someone", status=found)
    with pytest.raises(review.DecisionRefused):
        review.decide(brand, suggestion.pk, approver, kind)
    assert status_of(suggestion) == found
    assert not Decision.objects.exists()
    assert not AuditEvent.objects.filter(verb__startswith="suggestion.").exists()


def test_later_cannot_be_left_for_later_again(brand, reviewer, account):
    suggestion = make_suggestion(account, "someone", status=S.LATER, decided_by=reviewer)
    with pytest.raises(review.DecisionRefused, match="You already left this for later"):
        review.decide(brand, suggestion.pk, reviewer, K.LATER)


def test_a_viewer_cannot_decide(brand, viewer, suggestion):
    with pytest.raises(review.DecisionRefused, match="role"):
        review.decide(brand, suggestion.pk, viewer, K.APPROVE)
    assert status_of(suggestion) == S.PENDING


def test_another_brands_suggestion_is_not_found(other_brand, outsider, suggestion):
    with pytest.raises(review.DecisionRefused, match="no longer in the queue"):
        review.decide(other_brand, suggestion.pk, outsider, K.APPROVE)
    assert status_of(suggestion) == S.PENDING


def test_approving_without_a_second_approver_queues_the_follow(brand, reviewer, suggestion):
    decision = review.decide(brand, suggestion.pk, reviewer, K.APPROVE)
    assert decision.kind == K.APPROVE
    action = FollowAction.objects.get(suggestion=suggestion)
    assert (action.state, action.approved_by) == (FollowState.QUEUED, reviewer)
    suggestion.refresh_from_db()
    assert (suggestion.decided_by, suggestion.proposed_by) == (reviewer, None)


def test_a_refused_follow_refuses_the_approval_with_the_guards_words(brand, reviewer, account):
    account.followers_count, account.following_count = 10, 15
    account.save()
    suggestion = make_suggestion(account, "someone")
    with pytest.raises(review.DecisionRefused, match="cannot follow anyone else now"):
        review.decide(brand, suggestion.pk, reviewer, K.APPROVE)
    assert status_of(suggestion) == S.PENDING
    assert not Decision.objects.exists()
    assert not FollowAction.objects.exists()


def test_a_final_approval_over_the_daily_cap_is_accepted_and_its_follow_waits_for_tomorrow(
    brand, owner, reviewer, account
):
    services.save_policy(brand, replace(PolicySettings(), daily_follow_cap=1), by=owner)
    first, second = make_suggestion(account, "first"), make_suggestion(account, "second")
    review.decide(brand, first.pk, reviewer, K.APPROVE)

    decision = review.decide(brand, second.pk, reviewer, K.APPROVE)

    assert (decision.kind, status_of(second)) == (K.APPROVE, S.APPROVED)
    action = FollowAction.objects.get(suggestion=second)
    assert action.state == FollowState.QUEUED
    assert action.waiting_reason == "Waiting for tomorrow: today's cap of 1 follow is reached"
    assert decision.suggestion.follow_action == action  # what the toast reads, without a query
    assert FollowAction.objects.get(suggestion=first).waiting_reason == ""


@pytest.mark.parametrize("found", [S.PENDING, S.LATER])
@pytest.mark.parametrize("kind", [K.APPROVE, K.REJECT, K.LATER])
def test_nobody_decides_a_suggestion_whose_time_ran_out_before_the_build_expires_it(
    found, kind, brand, reviewer, account
):
    suggestion = make_suggestion(account, "someone", status=found, expires_at=timezone.now())
    with pytest.raises(review.DecisionRefused):
        review.decide(brand, suggestion.pk, reviewer, kind)
    assert status_of(suggestion) == found
    assert not Decision.objects.exists()


def test_a_suggestion_whose_time_ran_out_says_so(brand, reviewer, account):
    suggestion = make_suggestion(account, "someone", expires_at=timezone.now() - timedelta(minutes=1))
    with pytest.raises(review.DecisionRefused, match=r"^This suggestion expired before anyone decided it\.$"):
        review.decide(brand, suggestion.pk, reviewer, K.APPROVE)


# --- second approver --------------------------------------------------------------------------------------------


def test_with_a_second_approver_a_reviewers_approval_waits_for_an_approver(
    brand, owner, reviewer, approver, suggestion
):
    require_second_approver(brand, owner)
    proposal = review.decide(brand, suggestion.pk, reviewer, K.APPROVE)
    assert (proposal.kind, status_of(suggestion)) == (K.PROPOSE, S.AWAITING_APPROVAL)
    assert not FollowAction.objects.exists()
    final = review.decide(brand, suggestion.pk, approver, K.APPROVE)
    assert (final.kind, status_of(suggestion)) == (K.APPROVE, S.APPROVED)
    suggestion.refresh_from_db()
    assert (suggestion.proposed_by, suggestion.decided_by) == (reviewer, approver)
    assert FollowAction.objects.get(suggestion=suggestion).approved_by == approver


def test_an_approver_cannot_approve_their_own_proposal(brand, owner, approver, suggestion):
    require_second_approver(brand, owner)
    review.decide(brand, suggestion.pk, approver, K.APPROVE)
    with pytest.raises(review.DecisionRefused, match="different person with the approver role"):
        review.decide(brand, suggestion.pk, approver, K.APPROVE)
    assert status_of(suggestion) == S.AWAITING_APPROVAL
    assert not FollowAction.objects.exists()


@pytest.mark.parametrize(
    ("kind", "refusal"),
    [
        (K.APPROVE, "You approved this first; a different person with the approver role decides it now"),
        (K.SEND_BACK, "You approved this first; a different person with the approver role decides it now"),
        (K.REJECT, "You approved this first; a different person with the approver role decides it now"),
        (K.LATER, "cannot be left for later while it is waiting for a second approver"),
    ],
)
def test_an_approver_cannot_decide_their_own_proposal_in_any_way_but_can_undo_it(
    kind, refusal, brand, owner, approver, suggestion
):
    require_second_approver(brand, owner)
    review.decide(brand, suggestion.pk, approver, K.APPROVE)
    with pytest.raises(review.DecisionRefused, match=refusal):
        review.decide(brand, suggestion.pk, approver, kind, reason="changed my mind")
    assert status_of(suggestion) == S.AWAITING_APPROVAL
    assert list(Decision.objects.values_list("kind", flat=True)) == [K.PROPOSE]
    assert not FollowAction.objects.exists()

    review.undo_last(brand, approver)  # the way to take one's own approval back
    assert status_of(suggestion) == S.PENDING


def test_an_admin_cannot_decide_their_own_proposal_in_bulk_either(brand, owner, account):
    require_second_approver(brand, owner)
    rows = [make_suggestion(account, f"fan{n}") for n in range(3)]
    review.decide_many(brand, [r.pk for r in rows], owner, K.APPROVE)
    for kind in (K.APPROVE, K.REJECT):
        outcome = review.decide_many(brand, [r.pk for r in rows], owner, kind)
        assert outcome.decided == []
        assert {why for _, why in outcome.refused} == {
            "You approved this first; a different person with the approver role decides it now. "
            "To take your approval back, use undo."
        }
    assert {status_of(r) for r in rows} == {S.AWAITING_APPROVAL}


def test_a_reviewer_cannot_give_the_final_approval(brand, owner, reviewer, suggestion):
    require_second_approver(brand, owner)
    other = MembershipFactory(brand=brand, role=Role.APPROVER, user__name="Ann Smith").user
    review.decide(brand, suggestion.pk, other, K.APPROVE)
    with pytest.raises(review.DecisionRefused, match="Ann Smith already approved this; it waits"):
        review.decide(brand, suggestion.pk, reviewer, K.APPROVE)
    assert status_of(suggestion) == S.AWAITING_APPROVAL


@pytest.mark.parametrize("kind", [K.SEND_BACK, K.REJECT])
def test_only_an_approver_sends_back_or_rejects_a_proposal(
    kind, brand, owner, reviewer, approver, suggestion
):
    require_second_approver(brand, owner)
    review.decide(brand, suggestion.pk, reviewer, K.APPROVE)
    with pytest.raises(review.DecisionRefused, match="approver role"):
        review.decide(brand, suggestion.pk, reviewer, kind)
    review.decide(brand, suggestion.pk, approver, kind)
    assert status_of(suggestion) == (S.PENDING if kind == K.SEND_BACK else S.REJECTED)


def test_send_back_is_refused_for_a_pending_suggestion(brand, approver, suggestion):
    with pytest.raises(review.DecisionRefused, match="nothing to send back"):
        review.decide(brand, suggestion.pk, approver, K.SEND_BACK)


def test_the_loser_is_told_who_decided_first(brand, reviewer, suggestion):
    ann = MembershipFactory(brand=brand, role=Role.REVIEWER, user__name="Ann Smith").user
    review.decide(brand, suggestion.pk, ann, K.APPROVE)
    with pytest.raises(review.DecisionRefused, match=r"^Ann Smith already approved this\.$"):
        review.decide(brand, suggestion.pk, reviewer, K.REJECT)
    with pytest.raises(review.DecisionRefused, match=r"^You already approved this\.$"):
        review.decide(brand, suggestion.pk, ann, K.APPROVE)
    assert Decision.objects.count() == 1


# --- undo -------------------------------------------------------------------------------------------------------


def test_undo_puts_a_rejection_back(brand, reviewer, suggestion):
    rejected = review.decide(brand, suggestion.pk, reviewer, K.REJECT, reason="spam")
    undo = review.undo_last(brand, reviewer)
    assert (undo.kind, undo.undoes, undo.from_status, undo.to_status) == (
        K.UNDO,
        rejected,
        S.REJECTED,
        S.PENDING,
    )
    suggestion.refresh_from_db()
    assert (suggestion.status, suggestion.decided_by, suggestion.decided_at) == (S.PENDING, None, None)
    assert AuditEvent.objects.filter(verb="suggestion.undone", actor=reviewer).count() == 1


def test_undo_of_a_final_approval_cancels_the_follow(brand, reviewer, suggestion):
    review.decide(brand, suggestion.pk, reviewer, K.APPROVE)
    review.undo_last(brand, reviewer)
    assert status_of(suggestion) == S.PENDING
    assert FollowAction.objects.get(suggestion=suggestion).state == FollowState.CANCELLED


def test_undo_is_refused_once_the_follow_has_started(brand, reviewer, suggestion):
    review.decide(brand, suggestion.pk, reviewer, K.APPROVE)
    FollowAction.objects.filter(suggestion=suggestion).update(state=FollowState.EXECUTING)
    with pytest.raises(review.DecisionRefused, match="already started"):
        review.undo_last(brand, reviewer)
    assert status_of(suggestion) == S.APPROVED


def test_undo_of_a_proposal_clears_the_proposer(brand, owner, reviewer, suggestion):
    require_second_approver(brand, owner)
    review.decide(brand, suggestion.pk, reviewer, K.APPROVE)
    review.undo_last(brand, reviewer)
    suggestion.refresh_from_db()
    assert (suggestion.status, suggestion.proposed_by) == (S.PENDING, None)


def test_undo_of_a_final_approval_returns_it_to_the_approver(brand, owner, reviewer, approver, suggestion):
    require_second_approver(brand, owner)
    review.decide(brand, suggestion.pk, reviewer, K.APPROVE)
    review.decide(brand, suggestion.pk, approver, K.APPROVE)
    review.undo_last(brand, approver)
    suggestion.refresh_from_db()
    assert (suggestion.status, suggestion.proposed_by, suggestion.decided_by) == (
        S.AWAITING_APPROVAL,
        reviewer,
        reviewer,
    )


def test_undo_only_within_the_window(brand, reviewer, suggestion, settings):
    settings.REVIEW_UNDO_SECONDS = 120
    review.decide(brand, suggestion.pk, reviewer, K.LATER, now=timezone.now() - timedelta(seconds=121))
    with pytest.raises(review.DecisionRefused, match="last 2 minutes"):
        review.undo_last(brand, reviewer)
    assert status_of(suggestion) == S.LATER


def test_undo_is_refused_when_someone_acted_since(brand, owner, reviewer, approver, suggestion):
    require_second_approver(brand, owner)
    review.decide(brand, suggestion.pk, reviewer, K.APPROVE)
    review.decide(brand, suggestion.pk, approver, K.SEND_BACK)
    with pytest.raises(review.DecisionRefused, match=f"{approver} changed @ann_fan since"):
        review.undo_last(brand, reviewer)
    assert status_of(suggestion) == S.PENDING


def test_undo_takes_back_ones_own_last_decision_once(brand, reviewer, approver, account):
    first = make_suggestion(account, "first")
    second = make_suggestion(account, "second")
    other = make_suggestion(account, "other")
    review.decide(brand, first.pk, reviewer, K.LATER)
    review.decide(brand, second.pk, reviewer, K.REJECT)
    review.decide(brand, other.pk, approver, K.REJECT)
    assert review.undo_last(brand, reviewer).undoes.suggestion_id == second.pk
    with pytest.raises(review.DecisionRefused, match="on @second, is already undone"):
        review.undo_last(brand, reviewer)
    assert (status_of(first), status_of(second), status_of(other)) == (S.LATER, S.PENDING, S.REJECTED)


# --- bulk and comments ------------------------------------------------------------------------------------------


def test_bulk_records_each_decision_as_the_actors_own_and_reports_refusals(brand, reviewer, account):
    ann = MembershipFactory(brand=brand, role=Role.REVIEWER, user__name="Ann Smith").user
    rows = [make_suggestion(account, f"fan{n}") for n in range(4)]
    review.decide(brand, rows[3].pk, ann, K.REJECT)
    outcome = review.decide_many(brand, [r.pk for r in rows] + [rows[0].pk, 999_999], reviewer, K.APPROVE)
    assert [d.suggestion_id for d in outcome.decided] == [r.pk for r in rows[:3]]
    assert outcome.refused == [
        (rows[3].pk, "Ann Smith already rejected this."),
        (999_999, "This suggestion is no longer in the queue."),
    ]
    assert Decision.objects.filter(actor=reviewer, kind=K.APPROVE).count() == 3
    assert AuditEvent.objects.filter(verb="suggestion.approved", actor=reviewer).count() == 3
    assert FollowAction.objects.count() == 3


def test_comments_are_recorded_and_audited(brand, reviewer, suggestion):
    comment = review.add_comment(brand, suggestion.pk, reviewer, "  Runs the local café  ")
    assert (comment.body, comment.author, comment.suggestion_id) == (
        "Runs the local café",
        reviewer,
        suggestion.pk,
    )
    event = AuditEvent.objects.get(verb="suggestion.commented")
    assert event.data == {"comment": comment.pk}


def test_empty_comments_and_viewers_comments_are_refused(brand, viewer, reviewer, suggestion):
    with pytest.raises(review.DecisionRefused, match="Write something"):
        review.add_comment(brand, suggestion.pk, reviewer, "   ")
    with pytest.raises(review.DecisionRefused, match="role"):
        review.add_comment(brand, suggestion.pk, viewer, "hello")
    assert not Comment.objects.exists()


def test_held_suggestions_take_no_comments_because_each_build_rewrites_them(brand, reviewer, suggestion):
    type(suggestion).objects.filter(pk=suggestion.pk).update(status=SuggestionStatus.HELD)
    with pytest.raises(review.DecisionRefused, match="held followers take no comments"):
        review.add_comment(brand, suggestion.pk, reviewer, "Why held?")
    assert not Comment.objects.exists()


# --- races on real connections ----------------------------------------------------------------------------------


def at_once(*calls):
    """Run each call in its own thread and database connection, released together; return results/errors."""
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait()
            results[index] = call()
        except Exception as error:  # the test inspects what each thread met
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    close_old_connections()
    return results


@pytest.mark.django_db(transaction=True)
def test_two_approvers_at_once_exactly_one_final_approval_wins(brand, owner, reviewer, approver, suggestion):
    require_second_approver(brand, owner)
    second = MembershipFactory(brand=brand, role=Role.APPROVER, user__name="Bea Jones").user
    review.decide(brand, suggestion.pk, reviewer, K.APPROVE)
    results = at_once(
        lambda: review.decide(brand, suggestion.pk, approver, K.APPROVE),
        lambda: review.decide(brand, suggestion.pk, second, K.APPROVE),
    )
    won = [r for r in results if isinstance(r, Decision)]
    lost = [r for r in results if isinstance(r, review.DecisionRefused)]
    assert (len(won), len(lost)) == (1, 1), results
    assert lost[0].message == f"{won[0].actor} already approved this."
    assert Decision.objects.filter(kind=K.APPROVE).count() == 1
    assert FollowAction.objects.filter(suggestion=suggestion).count() == 1
    assert AuditEvent.objects.filter(verb="suggestion.approved").count() == 1


@pytest.mark.django_db(transaction=True)
def test_an_approve_and_a_reject_at_once_leave_one_decision(brand, reviewer, approver, suggestion):
    results = at_once(
        lambda: review.decide(brand, suggestion.pk, reviewer, K.APPROVE),
        lambda: review.decide(brand, suggestion.pk, approver, K.REJECT),
    )
    assert sum(isinstance(r, Decision) for r in results) == 1, results
    assert Decision.objects.count() == 1
    assert status_of(suggestion) == Decision.objects.get().to_status


@pytest.mark.django_db(transaction=True)
def test_a_double_submit_records_one_decision(brand, reviewer, suggestion):
    results = at_once(*[lambda: review.decide(brand, suggestion.pk, reviewer, K.APPROVE)] * 3)
    assert sum(isinstance(r, Decision) for r in results) == 1, results
    assert {r.message for r in results if isinstance(r, review.DecisionRefused)} == {
        "You already approved this."
    }
    assert Decision.objects.count() == 1
    assert FollowAction.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_double_undo_undoes_once(brand, reviewer, suggestion):
    review.decide(brand, suggestion.pk, reviewer, K.REJECT)
    results = at_once(lambda: review.undo_last(brand, reviewer), lambda: review.undo_last(brand, reviewer))
    assert sum(isinstance(r, Decision) for r in results) == 1, results
    assert Decision.objects.filter(kind=K.UNDO).count() == 1
    assert status_of(suggestion) == S.PENDING
