from __future__ import annotations

from typing import Any, ClassVar, Self

from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.jobs import DurableJob, DurableJobQuerySet


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class User(AbstractUser):
    """A person who signs in with an e-mail address; brands are reached through memberships."""

    username = None  # type: ignore[assignment]
    first_name = None  # type: ignore[assignment]
    last_name = None  # type: ignore[assignment]
    email = models.EmailField("e-mail address", unique=True)
    name = models.CharField(max_length=150, blank=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    objects = UserManager()  # type: ignore[misc,assignment]

    def __str__(self) -> str:
        return self.name or self.email

    def get_full_name(self) -> str:
        return self.name

    def get_short_name(self) -> str:
        return self.name or self.email.split("@")[0]


class Brand(models.Model):
    """The tenant: everything a team sees belongs to exactly one brand."""

    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    REVIEWER = "reviewer", "Reviewer"
    APPROVER = "approver", "Approver"
    ADMIN = "admin", "Admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    @property
    def description(self) -> str:
        return ROLE_DESCRIPTIONS[self]

    def at_least(self, other: Role) -> bool:
        return self.rank >= other.rank


ROLE_DESCRIPTIONS = {
    Role.VIEWER: "sees the queue, the dashboard and the audit log",
    Role.REVIEWER: "approves, rejects or postpones suggestions",
    Role.APPROVER: "gives the second, final approval where the policy asks for one",
    Role.ADMIN: "also sets the policy, manages members and connects accounts",
}


class MembershipQuerySet(models.QuerySet["Membership"]):
    def for_user(self, user: Any) -> Self:
        return self.filter(user=user)

    def admins(self) -> Self:
        return self.filter(role=Role.ADMIN)


class Membership(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(default=timezone.now)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "brand"], name="one_membership_per_user_and_brand"),
            models.CheckConstraint(condition=models.Q(role__in=Role.values), name="membership_role_is_known"),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.brand} · {self.role}"

    @property
    def role_enum(self) -> Role:
        return Role(self.role)

    def has_role(self, need: Role) -> bool:
        return self.role_enum.at_least(need)


class InvitationQuerySet(DurableJobQuerySet):
    def open(self) -> Self:
        return self.filter(accepted_at__isnull=True, revoked_at__isnull=True)


class Invitation(DurableJob):
    """An invitation to join a brand; sending its e-mail is a durable job run by a worker."""

    task_name = "accounts.tasks.send_invitation"

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.REVIEWER)
    invited_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = InvitationQuerySet.as_manager()  # type: ignore[misc]

    class Meta:
        constraints = [
            models.UniqueConstraint(
                "brand",
                Lower("email"),
                condition=models.Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="one_open_invitation_per_email_and_brand",
            ),
        ]
        indexes = [models.Index(fields=["status", "run_after"], name="invitation_job_due")]

    def __str__(self) -> str:
        return f"{self.email} → {self.brand}"


class AuditEvent(models.Model):
    """One human or machine step, written in the same transaction as the change it records."""

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="audit_events")
    actor = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    verb = models.CharField(max_length=64)
    summary = models.CharField(max_length=300)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["brand", "-created_at", "-id"], name="audit_brand_recent")]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.verb}: {self.summary}"
