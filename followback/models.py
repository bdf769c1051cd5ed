"""The review domain: people's decisions on suggestions, their comments, and the follows that approvals start."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Self

from django.db import models
from django.utils import timezone

from accounts.jobs import DurableJob, DurableJobQuerySet
from accounts.models import Brand, ConnectedAccount, Follower, User
from rules.models import PolicyVersion, Suggestion


class DecisionKind(models.TextChoices):
    APPROVE = "approve", "Approved"
    PROPOSE = "propose", "Approved, waiting for a second approver"
    REJECT = "reject", "Rejected"
    LATER = "later", "Left for later"
    SEND_BACK = "send_back", "Sent back for review"
    UNDO = "undo", "Undid a decision"


class DecisionQuerySet(models.QuerySet["Decision"]):
    def for_brand(self, brand: Brand) -> Self:
        return self.filter(brand=brand)


class Decision(models.Model):
    """One person's step on one suggestion, with what they saw: the score, the signals and the policy version.

    Never edited: an undo is a decision of its own that names the one it undid.
    """

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="+")
    suggestion = models.ForeignKey(Suggestion, on_delete=models.CASCADE, related_name="decisions")
    actor = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    kind = models.CharField(max_length=16, choices=DecisionKind.choices)
    from_status = models.CharField(max_length=20)
    to_status = models.CharField(max_length=20)
    reason = models.CharField(max_length=500, blank=True)
    undoes = models.OneToOneField(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="undone_by"
    )
    policy_version = models.ForeignKey(PolicyVersion, on_delete=models.PROTECT, related_name="+")
    score = models.PositiveSmallIntegerField()
    signals = models.JSONField(default=dict, help_text="the signal values shown when deciding")
    created_at = models.DateTimeField(default=timezone.now)

    objects = DecisionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["brand", "-created_at"], name="decision_brand_recent"),
            models.Index(fields=["suggestion", "-created_at"], name="decision_suggestion_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} suggestion {self.suggestion_id}"


class Comment(models.Model):
    """A note on a suggestion, visible to the brand's team only."""

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="+")
    suggestion = models.ForeignKey(Suggestion, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    body = models.TextField(max_length=2000)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["suggestion", "created_at"], name="comment_suggestion_order")]

    def __str__(self) -> str:
        return f"Comment on suggestion {self.suggestion_id}"


class FollowState(models.TextChoices):
    QUEUED = "queued", "Queued"
    EXECUTING = "executing", "Following"
    DONE = "done", "Followed"
    FAILED = "failed", "Failed"
    NEEDS_RECONCILE = "needs_reconcile", "Checking with the platform"
    CANCELLED = "cancelled", "Cancelled"

    @classmethod
    def in_flight(cls) -> tuple[FollowState, ...]:
        return (cls.QUEUED, cls.EXECUTING, cls.NEEDS_RECONCILE)

    @classmethod
    def calling(cls) -> tuple[FollowState, ...]:
        """The platform may have been asked already: read the relationship back before asking again."""
        return (cls.EXECUTING, cls.NEEDS_RECONCILE)


class FollowActionQuerySet(DurableJobQuerySet):
    def for_brand(self, brand: Brand) -> Self:
        return self.filter(brand=brand)

    def in_flight(self) -> Self:
        """Approved follows that have not ended: they count as following for the guard."""
        return self.filter(state__in=FollowState.in_flight())

    def newest_first(self) -> Self:
        return self.order_by("-created_at", "-id")


class FollowAction(DurableJob):
    """The follow that one final approval asks for, run by a worker through the platform's connector.

    One per suggestion, so one per approval. `state` is what people see; the DurableJob fields say when a worker
    may (re)try it.
    """

    task_name: ClassVar[str] = "followback.tasks.execute_follow"
    # One platform call (15 s timeout) and two short transactions: a lease this long means a dead worker.
    lease_seconds: ClassVar[int] = 5 * 60
    # Which state may follow which (see followback/execution.py); QUEUED → QUEUED is a wait (rate limit, cap).
    transitions: ClassVar[dict[FollowState, frozenset[FollowState]]] = {
        FollowState.QUEUED: frozenset(
            {
                FollowState.QUEUED,
                FollowState.EXECUTING,
                FollowState.DONE,
                FollowState.FAILED,
                FollowState.CANCELLED,
            }
        ),
        FollowState.EXECUTING: frozenset(
            {FollowState.QUEUED, FollowState.DONE, FollowState.FAILED, FollowState.NEEDS_RECONCILE}
        ),
        FollowState.NEEDS_RECONCILE: frozenset(
            {
                FollowState.QUEUED,
                FollowState.EXECUTING,
                FollowState.DONE,
                FollowState.FAILED,
                FollowState.NEEDS_RECONCILE,
            }
        ),
        FollowState.FAILED: frozenset({FollowState.QUEUED}),
        FollowState.CANCELLED: frozenset({FollowState.QUEUED}),
        FollowState.DONE: frozenset(),
    }

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey(ConnectedAccount, on_delete=models.CASCADE, related_name="follow_actions")
    follower = models.ForeignKey(Follower, on_delete=models.CASCADE, related_name="follow_actions")
    suggestion = models.OneToOneField(Suggestion, on_delete=models.PROTECT, related_name="follow_action")
    approved_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    state = models.CharField(max_length=16, choices=FollowState.choices, default=FollowState.QUEUED)
    waiting_reason = models.CharField(max_length=300, blank=True, help_text="why it waits, in words")
    platform_reason = models.TextField(blank=True, help_text="the platform's answer when it failed")
    created_at = models.DateTimeField(default=timezone.now)
    executed_at = models.DateTimeField(null=True, blank=True)

    objects = FollowActionQuerySet.as_manager()  # type: ignore[misc]

    class Meta:
        indexes = [
            models.Index(fields=["brand", "-created_at"], name="follow_action_brand_recent"),
            models.Index(fields=["account", "executed_at"], name="follow_action_account_day"),
            models.Index(fields=["status", "run_after"], name="follow_action_due"),
        ]

    def __str__(self) -> str:
        return f"Follow {self.follower_id} from {self.account_id}: {self.get_state_display()}"

    def can_move_to(self, state: FollowState) -> bool:
        return state in self.transitions[FollowState(self.state)]


class AccountRateLimitQuerySet(models.QuerySet["AccountRateLimit"]):
    def spent_until(self, account_id: int, now: datetime) -> datetime | None:
        """When the account's request budget comes back, if the platform's latest answer said none is left."""
        return (
            self.filter(account_id=account_id, remaining=0, reset_at__gt=now)
            .values_list("reset_at", flat=True)
            .first()
        )


class AccountRateLimit(models.Model):
    """The platform's latest word on a connected account's request budget, kept from one follow to the next.

    Every follow builds a fresh connector, which knows nothing of the budget until it has asked; this row keeps
    what the last answer said (`connector.rate_limit`), so that once nothing is left the account's next follows
    wait for the reset instead of asking and being refused.
    """

    account = models.OneToOneField(
        ConnectedAccount, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    remaining = models.PositiveIntegerField(null=True, blank=True)
    reset_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = AccountRateLimitQuerySet.as_manager()

    def __str__(self) -> str:
        return f"Rate limit of account {self.account_id}: {self.remaining} left until {self.reset_at}"
