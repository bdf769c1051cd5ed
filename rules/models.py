from __future__ import annotations

from datetime import datetime
from typing import Self

from django.db import models
from django.utils import timezone

from accounts.models import Brand, User
from rules.policy import PolicySettings


class PolicyVersionQuerySet(models.QuerySet["PolicyVersion"]):
    def for_brand(self, brand: Brand) -> Self:
        return self.filter(brand=brand)

    def current(self) -> PolicyVersion | None:
        """The newest version among these (use after `for_brand`)."""
        return self.order_by("-number").first()


class PolicyVersion(models.Model):
    """One saved state of a brand's policy; a change adds a version, so the history is never rewritten."""

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="policy_versions")
    number = models.PositiveIntegerField()
    settings = models.JSONField(help_text="PolicySettings.to_dict()")
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    note = models.CharField(max_length=300, blank=True)
    reverted_from = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = PolicyVersionQuerySet.as_manager()

    class Meta:
        ordering = ["brand", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["brand", "number"], name="one_policy_version_number_per_brand"),
            models.CheckConstraint(condition=models.Q(number__gte=1), name="policy_version_number_from_one"),
        ]

    def __str__(self) -> str:
        return f"{self.brand} policy version {self.number}"

    @property
    def policy(self) -> PolicySettings:
        return PolicySettings.from_dict(self.settings)


class SuggestionStatus(models.TextChoices):
    PENDING = "pending", "Waiting for review"
    LATER = "later", "Left for later"
    HELD = "held", "Held by a rule"
    AWAITING_APPROVAL = "awaiting_approval", "Waiting for a second approver"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    EXPIRED = "expired", "Expired"


# Suggestions the daily build may replace: nobody has decided them yet ("later" comes back as pending).
MACHINE_MADE = (SuggestionStatus.PENDING, SuggestionStatus.LATER, SuggestionStatus.HELD)
# A follower with a suggestion in one of these has a person's decision in flight or done: never suggest again.
DECIDED_OR_DECIDING = (SuggestionStatus.AWAITING_APPROVAL, SuggestionStatus.APPROVED)


class SuggestionQuerySet(models.QuerySet["Suggestion"]):
    def for_brand(self, brand: Brand) -> Self:
        return self.filter(brand=brand)

    def pending(self) -> Self:
        return self.filter(status=SuggestionStatus.PENDING)

    def held(self) -> Self:
        return self.filter(status=SuggestionStatus.HELD)

    def unexpired(self, now: datetime | None = None) -> Self:
        """Those whose time has not run out: past `expires_at` a pending or later suggestion only waits for the
        next daily build to mark it expired, and the queue no longer shows it."""
        return self.filter(expires_at__gt=now or timezone.now())

    def keeping_out(self, version: PolicyVersion | None) -> Self:
        """Suggestions whose follower must not be suggested again: a person's decision done or in flight, or
        (under `version`, when given) a rejection or a suggestion left to expire."""
        kept_out = models.Q(status__in=DECIDED_OR_DECIDING)
        if version is not None:
            kept_out |= models.Q(
                status__in=[SuggestionStatus.REJECTED, SuggestionStatus.EXPIRED], policy_version=version
            )
        return self.filter(kept_out)


class Suggestion(models.Model):
    """A follower put before the team by the daily build (pending), or kept out of it by a hard rule (held).

    It records the policy version that produced it, the score, the rule, the reasons and the signal values shown,
    so later decisions can be read against exactly what people saw.
    """

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey("accounts.ConnectedAccount", on_delete=models.CASCADE, related_name="+")
    follower = models.ForeignKey("accounts.Follower", on_delete=models.CASCADE, related_name="suggestions")
    policy_version = models.ForeignKey(PolicyVersion, on_delete=models.PROTECT, related_name="suggestions")
    status = models.CharField(max_length=20, choices=SuggestionStatus.choices)
    score = models.PositiveSmallIntegerField()
    rule = models.CharField(max_length=300, help_text="the rule that decided, in words")
    reasons = models.JSONField(default=list, help_text="[{signal, text, polarity}] as shown to reviewers")
    signals = models.JSONField(default=dict, help_text="signal values when suggested")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    proposed_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        help_text="the reviewer whose approval waits for a second approver",
    )  # fmt: skip
    decided_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)

    objects = SuggestionQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["follower"],
                condition=models.Q(status__in=["pending", "later", "held", "awaiting_approval"]),
                name="one_open_suggestion_per_follower",
            ),
            models.CheckConstraint(condition=models.Q(score__lte=100), name="suggestion_score_at_most_100"),
        ]
        indexes = [
            models.Index(fields=["brand", "status", "-score", "id"], name="suggestion_queue_order"),
            models.Index(fields=["brand", "-decided_at"], name="suggestion_recently_decided"),
        ]

    def __str__(self) -> str:
        return f"{self.get_status_display()}: follower {self.follower_id} ({self.score})"


class QueueBuild(models.Model):
    """One run of the daily queue build for a brand, with what it produced."""

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="+")
    policy_version = models.ForeignKey(PolicyVersion, on_delete=models.PROTECT, related_name="+")
    built_at = models.DateTimeField(default=timezone.now)
    considered = models.PositiveIntegerField(default=0)
    suggested = models.PositiveIntegerField(default=0)
    held = models.PositiveIntegerField(default=0)
    expired = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["brand", "-built_at"], name="queue_build_recent")]

    def __str__(self) -> str:
        return f"{self.brand} queue built {self.built_at:%Y-%m-%d %H:%M}"
