"""Suggestions approved by two people at the same instant, on PostgreSQL: exactly one decision each, one follow
each, and nobody gives the final approval to their own proposal.

Each race is two threads, each with its own database connection, released together by a barrier. Several pairs
of threads race side by side, each pair on its own share of the suggestions, so the races also contend for the
connected account's row, which every final approval locks to check the daily cap.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import timedelta

import pytest
from django.db import close_old_connections, connection
from django.db.models import Count
from django.utils import timezone

from accounts.models import AuditEvent, Brand, ConnectedAccount, Follower, Role, User
from followback import review
from followback.models import Decision, DecisionKind, FollowAction
from rules import services
from rules.models import Suggestion, SuggestionStatus
from rules.policy import PolicySettings
from tests.factories import MembershipFactory
from tests.followback.queue_data import ENGAGED_REASON, connected_account

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("queue")]

LANES = 4
K = DecisionKind


def in_lanes(rounds: Sequence[Sequence[Callable[[], object]]], lanes: int = LANES) -> list[list[object]]:
    """Run each round's calls at the same instant, one thread and one database connection per call.

    `lanes` groups of threads work side by side; a group takes every `lanes`-th round and meets at a barrier
    before each one. Returns what each call returned or raised.
    """
    width = len(rounds[0])
    results: list[list[object]] = [[None] * width for _ in rounds]

    def side(lane: int, place: int, barrier: threading.Barrier) -> None:
        try:
            for index in range(lane, len(rounds), lanes):
                barrier.wait(timeout=60)
                try:
                    results[index][place] = rounds[index][place]()
                except Exception as error:  # the test inspects what each call met
                    results[index][place] = error
        finally:
            connection.close()

    threads = []
    for lane in range(lanes):
        barrier = threading.Barrier(width)
        threads += [threading.Thread(target=side, args=(lane, place, barrier)) for place in range(width)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(600)
    assert not any(thread.is_alive() for thread in threads)
    close_old_connections()
    return results


def pending_suggestions(account: ConnectedAccount, count: int) -> list[int]:
    now = timezone.now()
    followers = Follower.objects.bulk_create(
        Follower(account=account, platform_id=f"fan{n}", handle=f"fan{n}", display_name=f"Fan {n}")
        for n in range(count)
    )
    version = services.current_policy(account.brand)
    suggestions = Suggestion.objects.bulk_create(
        Suggestion(
            brand=account.brand,
            account=account,
            follower=follower,
            status=SuggestionStatus.PENDING,
            policy_version=version,
            score=70,
            rule="score 70 reaches the threshold of 60",
            reasons=[ENGAGED_REASON],
            expires_at=now + timedelta(days=14),
        )
        for follower in followers
    )
    return [suggestion.pk for suggestion in suggestions]


def member(brand: Brand, role: Role, name: str) -> User:
    return MembershipFactory(brand=brand, role=role, user__name=name).user


def approve(brand: Brand, suggestion_id: int, actor: User) -> Callable[[], object]:
    return lambda: review.decide(brand, suggestion_id, actor, K.APPROVE)


def set_policy(brand: Brand, by: User, *, second_approver: bool) -> None:
    services.save_policy(
        brand, replace(PolicySettings(), second_approver=second_approver, daily_follow_cap=1000), by=by
    )


def one_winner_each(results: list[list[object]]) -> list[tuple[Decision, review.DecisionRefused]]:
    pairs = []
    for first, second in results:
        won = [result for result in (first, second) if isinstance(result, Decision)]
        lost = [result for result in (first, second) if isinstance(result, review.DecisionRefused)]
        assert (len(won), len(lost)) == (1, 1), (first, second)
        pairs.append((won[0], lost[0]))
    return pairs


def assert_one_final_approval_and_one_follow_each(ids: list[int]) -> None:
    approvals = Decision.objects.filter(suggestion_id__in=ids, kind=K.APPROVE)
    assert approvals.count() == len(ids)
    assert not approvals.values("suggestion").annotate(n=Count("id")).filter(n__gt=1).exists()
    assert Suggestion.objects.filter(pk__in=ids, status=SuggestionStatus.APPROVED).count() == len(ids)
    follows = FollowAction.objects.filter(suggestion_id__in=ids)
    assert follows.count() == len(ids)
    winners = dict(approvals.values_list("suggestion_id", "actor_id"))
    assert {action.suggestion_id: action.approved_by_id for action in follows} == winners
    assert AuditEvent.objects.filter(verb="suggestion.approved").count() == len(ids)
    assert AuditEvent.objects.filter(verb="follow.queued").count() == len(ids)


def check_second_approvals(brand: Brand, owner: User, reviewer: User, count: int) -> None:
    """A reviewer or an approver proposes; then two approvers, the proposer among them half the time, race."""
    set_policy(brand, owner, second_approver=True)
    ann = member(brand, Role.APPROVER, "Ann Smith")
    bea = member(brand, Role.APPROVER, "Bea Jones")
    ids = pending_suggestions(connected_account(brand, followers_count=1_000_000), count)
    proposer = {pk: ann if n % 2 == 0 else reviewer for n, pk in enumerate(ids)}
    proposals = in_lanes([[approve(brand, pk, proposer[pk])] for pk in ids])
    assert all(isinstance(decision, Decision) and decision.kind == K.PROPOSE for [decision] in proposals)

    results = in_lanes([[approve(brand, pk, ann), approve(brand, pk, bea)] for pk in ids])

    for pk, (won, lost) in zip(ids, one_winner_each(results), strict=True):
        assert won.actor_id != proposer[pk].pk
        if proposer[pk] == ann:  # Ann is refused her own proposal, before or after Bea approves it
            assert won.actor_id == bea.pk
            assert (
                lost.message.startswith("You approved this first")
                or lost.message == f"{bea} already approved this."
            )
        else:
            assert lost.message == f"{won.actor} already approved this."
    assert_one_final_approval_and_one_follow_each(ids)
    approved = Suggestion.objects.filter(pk__in=ids)
    assert not [
        s.pk for s in approved.only("proposed_by_id", "decided_by_id") if s.proposed_by_id == s.decided_by_id
    ]
    assert Decision.objects.filter(suggestion_id__in=ids, kind=K.PROPOSE).count() == count
    wins = Counter(str(won.actor) for won, _ in one_winner_each(results))
    print(f"{count} final approvals raced by two approvers: {dict(wins)} won, 0 self-approvals, "
          f"{count} follows queued")  # fmt: skip


def check_single_approvals(brand: Brand, owner: User, reviewer: User, count: int) -> None:
    """No second approver: two reviewers approve each pending suggestion at once."""
    set_policy(brand, owner, second_approver=False)
    cal = member(brand, Role.REVIEWER, "Cal Brown")
    ids = pending_suggestions(connected_account(brand, followers_count=1_000_000), count)

    results = in_lanes([[approve(brand, pk, reviewer), approve(brand, pk, cal)] for pk in ids])

    for won, lost in one_winner_each(results):
        assert lost.message == f"{won.actor} already approved this."
    assert_one_final_approval_and_one_follow_each(ids)
    assert Decision.objects.filter(suggestion_id__in=ids).count() == count
    wins = Counter(str(won.actor) for won, _ in one_winner_each(results))
    print(f"{count} approvals raced by two reviewers: {dict(wins)} won, {count} follows queued")


def test_100_second_approvals_raced_by_two_approvers_record_one_decision_each(brand, owner, reviewer) -> None:
    check_second_approvals(brand, owner, reviewer, 100)


def test_100_approvals_raced_by_two_reviewers_record_one_decision_each(brand, owner, reviewer) -> None:
    check_single_approvals(brand, owner, reviewer, 100)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_1000_second_approvals_raced_by_two_approvers_record_one_decision_each(
    brand, owner, reviewer
) -> None:
    check_second_approvals(brand, owner, reviewer, 1000)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_1000_approvals_raced_by_two_reviewers_record_one_decision_each(brand, owner, reviewer) -> None:
    check_single_approvals(brand, owner, reviewer, 1000)
