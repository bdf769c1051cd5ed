from __future__ import annotations

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
