from __future__ import annotations

import secrets
from typing import Any, ClassVar, Self

from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.jobs import DurableJob, DurableJobQuerySet, JobStatus


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


def new_salt() -> str:
    return secrets.token_hex(32)


class Brand(models.Model):
    """The tenant: everything a team sees belongs to exactly one brand."""

    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60, unique=True)
    sync_hour = models.PositiveSmallIntegerField(
        default=5, validators=[MaxValueValidator(23)], help_text="Hour of the day (UTC) of the daily sync"
    )
    customer_salt = models.CharField(max_length=64, default=new_salt, editable=False)
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
    Role.VIEWER: "sees the queue and the dashboard",
    Role.REVIEWER: "approves, rejects or postpones suggestions",
    Role.APPROVER: "gives the second, final approval where the policy asks for one, and reads the audit log",
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


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def for_brand(self, brand: Brand) -> Self:
        return self.filter(brand=brand)

    def newest_first(self) -> Self:
        return self.order_by("-created_at", "-id")

    def older_than(self, created_at: Any, pk: int) -> Self:
        """Keyset paging: the events after (created_at, pk) in newest-first order.

        The plain `created_at <= x` bound lets PostgreSQL walk the (brand, -created_at, -id) index from x on.
        """
        return self.filter(created_at__lte=created_at).filter(
            models.Q(created_at__lt=created_at) | models.Q(pk__lt=pk)
        )


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

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["brand", "-created_at", "-id"], name="audit_brand_recent")]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.verb}: {self.summary}"


class Platform(models.TextChoices):
    MASTODON = "mastodon", "Mastodon"
    BLUESKY = "bluesky", "Bluesky"
    DEMO = "demo", "Demo"


class AccountStatus(models.TextChoices):
    ACTIVE = "active", "Connected"
    AUTH_EXPIRED = "auth_expired", "Needs reconnecting"
    DISCONNECTED = "disconnected", "Disconnected"


class MastodonApp(models.Model):
    """Our OAuth application on one Mastodon server, registered once and reused for every brand there."""

    instance_url = models.URLField(unique=True)
    redirect_uri = models.URLField()
    client_id = models.CharField(max_length=200)
    client_secret_ciphertext = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.instance_url


class ConnectedAccountQuerySet(models.QuerySet["ConnectedAccount"]):
    def connected(self) -> Self:
        return self.exclude(status=AccountStatus.DISCONNECTED)


class ConnectedAccount(models.Model):
    """A brand's own account on a platform; its followers are the people we suggest following back."""

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="connected_accounts")
    platform = models.CharField(max_length=16, choices=Platform.choices)
    platform_user_id = models.CharField(max_length=255)
    handle = models.CharField(max_length=255)
    display_name = models.CharField(max_length=255, blank=True)
    server_url = models.URLField(blank=True, help_text="Mastodon server or Bluesky PDS")
    profile_url = models.URLField(blank=True)
    status = models.CharField(max_length=16, choices=AccountStatus.choices, default=AccountStatus.ACTIVE)
    status_reason = models.CharField(max_length=300, blank=True)
    credentials_ciphertext = models.TextField(blank=True, editable=False)
    settings = models.JSONField(default=dict, blank=True)
    followers_count = models.PositiveIntegerField(default=0)
    following_count = models.PositiveIntegerField(default=0)
    connected_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    connected_at = models.DateTimeField(default=timezone.now)
    last_synced_at = models.DateTimeField(null=True, blank=True)

    objects = ConnectedAccountQuerySet.as_manager()

    class Meta:
        ordering = ["platform", "handle"]
        constraints = [
            models.UniqueConstraint(
                fields=["brand", "platform", "platform_user_id"], name="one_connection_per_brand_account"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_platform_display()} {self.handle}"

    def __repr__(self) -> str:
        return f"<ConnectedAccount {self.pk} {self.platform} {self.handle}>"


# A fixed pseudo-random order of followers (a multiplicative hash of the id, small enough to stay in a bigint):
# the first N of an account's followers in this order are an even sample of all of them, read from an index.
SAMPLE_HASH_MODULUS = 2**31
SAMPLE_HASH_MULTIPLIER = 1_103_515_245


def sample_order() -> models.Expression:
    return models.ExpressionWrapper(
        (models.F("id") % SAMPLE_HASH_MODULUS) * SAMPLE_HASH_MULTIPLIER % SAMPLE_HASH_MODULUS,
        output_field=models.BigIntegerField(),
    )


class FollowerQuerySet(models.QuerySet["Follower"]):
    def following(self) -> Self:
        return self.filter(is_following=True)

    def in_sample_order(self) -> Self:
        """Ordered by `sample_order()` (annotated as `sample_rank`); for one account's current followers the
        `follower_sample` index answers the first N without reading the rest."""
        return self.annotate(sample_rank=sample_order()).order_by("sample_rank", "id")

    def needing_profile(self, stale_before: Any) -> Self:
        return self.filter(
            models.Q(profile_refreshed_at__isnull=True) | models.Q(profile_refreshed_at__lt=stale_before)
        )


class Follower(models.Model):
    """Someone who follows (or followed) one connected account, with their latest profile.

    Follow history lives in FollowEvent; the counters here summarise it so signals need no joins.
    """

    # The unique (account, platform_id) index serves every lookup by account; a second index on account alone
    # would cost every write and, with a big account's stale statistics, lure the planner away from the unique one.
    account = models.ForeignKey(
        ConnectedAccount, on_delete=models.CASCADE, related_name="followers", db_index=False
    )
    platform_id = models.CharField(max_length=255)
    handle = models.CharField(max_length=255)
    uri = models.CharField(max_length=500, blank=True)
    display_name = models.CharField(max_length=255, blank=True)
    bio = models.TextField(blank=True)
    avatar_url = models.CharField(max_length=500, blank=True)
    avatar_is_default = models.BooleanField(default=True)
    profile_url = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(null=True, blank=True)
    followers_count = models.BigIntegerField(default=0)
    following_count = models.BigIntegerField(default=0)
    posts_count = models.BigIntegerField(default=0)
    last_post_at = models.DateTimeField(null=True, blank=True)
    is_bot = models.BooleanField(default=False)
    is_locked = models.BooleanField(default=False)
    is_group = models.BooleanField(default=False)
    moved = models.BooleanField(default=False)
    suspended = models.BooleanField(default=False)
    limited = models.BooleanField(default=False)
    verified_links = models.PositiveSmallIntegerField(default=0)
    labels = models.JSONField(default=list, blank=True)
    is_following = models.BooleanField(default=True)
    first_followed_at = models.DateTimeField(default=timezone.now)
    last_followed_at = models.DateTimeField(default=timezone.now)
    unfollowed_at = models.DateTimeField(null=True, blank=True)
    follow_count = models.PositiveIntegerField(default=1)
    unfollow_count = models.PositiveIntegerField(default=0)
    shortest_follow_seconds = models.BigIntegerField(null=True, blank=True)
    profile_refreshed_at = models.DateTimeField(null=True, blank=True)
    is_customer = models.BooleanField(default=False)
    # The connected account follows this follower back: read from the platform's following list at each sync,
    # and set when Followback's own follow is done.
    brand_follows = models.BooleanField(db_default=False)

    objects = FollowerQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "platform_id"], name="one_follower_row_per_account"),
        ]
        indexes = [
            models.Index(fields=["account", "handle"], name="follower_account_handle"),
            models.Index(
                models.F("account"), sample_order(), models.F("id"),
                condition=models.Q(is_following=True), name="follower_sample",
            ),
            models.Index(fields=["account"], condition=models.Q(brand_follows=True), name="follower_followed_back"),
        ]  # fmt: skip

    def __str__(self) -> str:
        return self.handle


class FollowEventKind(models.TextChoices):
    FOLLOW = "follow", "Followed"
    UNFOLLOW = "unfollow", "Unfollowed"


class FollowEvent(models.Model):
    # No database-level foreign keys: a sync writes an event per new follower, and checking a million deferred
    # constraints at commit was a third of a first sync's database time. The sync writes them from the rows it
    # has just written; the ORM cascades deletes.
    follower = models.ForeignKey(
        Follower, on_delete=models.CASCADE, related_name="events", db_index=False, db_constraint=False
    )
    kind = models.CharField(max_length=8, choices=FollowEventKind.choices)
    at = models.DateTimeField()
    sync_run = models.ForeignKey(
        "SyncRun", on_delete=models.SET_NULL, null=True, related_name="+", db_constraint=False
    )

    class Meta:
        indexes = [models.Index(fields=["follower", "at"], name="follow_event_follower_at")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.at:%Y-%m-%d %H:%M}"


class InteractionKind(models.TextChoices):
    REPLY = "reply", "Reply"
    MENTION = "mention", "Mention"
    REPOST = "repost", "Repost"
    LIKE = "like", "Like"
    QUOTE = "quote", "Quote"
    FOLLOW = "follow", "Follow"


class Interaction(models.Model):
    """One engagement with the brand's account, attributed to the person who made it."""

    account = models.ForeignKey(
        ConnectedAccount, on_delete=models.CASCADE, related_name="interactions", db_index=False
    )
    actor_platform_id = models.CharField(max_length=255)
    actor_handle = models.CharField(max_length=255)
    kind = models.CharField(max_length=8, choices=InteractionKind.choices)
    at = models.DateTimeField()
    platform_event_id = models.CharField(max_length=255)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "platform_event_id"], name="one_row_per_platform_event"
            ),
        ]
        indexes = [models.Index(fields=["account", "actor_platform_id", "at"], name="interaction_actor_at")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} by {self.actor_handle}"


class Customer(models.Model):
    """One row of a brand's customer list: a platform handle and/or a salted hash of an e-mail address."""

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="customers")
    handle = models.CharField(max_length=255, blank=True)
    email_hash = models.CharField(max_length=64, blank=True)
    imported_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["brand", "handle"], condition=~models.Q(handle=""), name="one_customer_per_handle"
            ),
            models.UniqueConstraint(
                fields=["brand", "email_hash"],
                condition=~models.Q(email_hash=""),
                name="one_customer_per_email",
            ),
            models.CheckConstraint(
                condition=~models.Q(handle="", email_hash=""), name="customer_has_handle_or_email"
            ),
        ]

    def __str__(self) -> str:
        return self.handle or f"e-mail {self.email_hash[:8]}…"


class SyncKind(models.TextChoices):
    FOLLOWERS = "followers", "Followers"
    PROFILES = "profiles", "Profiles"
    INTERACTIONS = "interactions", "Engagement"
    FOLLOWING = "following", "Following"


class SyncRunQuerySet(DurableJobQuerySet):
    def active(self) -> Self:
        return self.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING])


class SyncRun(DurableJob):
    """One pass over an account's followers, profiles or engagement; resumable from its saved cursor."""

    task_name = "accounts.tasks.run_sync"
    lease_seconds = 5 * 60
    max_attempts = 20

    account = models.ForeignKey(ConnectedAccount, on_delete=models.CASCADE, related_name="sync_runs")
    kind = models.CharField(max_length=16, choices=SyncKind.choices, default=SyncKind.FOLLOWERS)
    requested_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    cursor = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expected_total = models.PositiveIntegerField(default=0)
    pages = models.PositiveIntegerField(default=0)
    seen = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unfollowed = models.PositiveIntegerField(default=0)
    refollowed = models.PositiveIntegerField(default=0)
    bad_records = models.PositiveIntegerField(default=0)
    complete = models.BooleanField(default=False)

    objects = SyncRunQuerySet.as_manager()  # type: ignore[misc]

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "kind"],
                condition=models.Q(status__in=["queued", "running"]),
                name="one_active_sync_per_account_and_kind",
            ),
        ]
        indexes = [models.Index(fields=["status", "run_after"], name="syncrun_job_due")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} sync of {self.account_id} ({self.status})"

    @property
    def percent_done(self) -> int:
        if self.complete or self.status == JobStatus.DONE:
            return 100
        if not self.expected_total:
            return 0
        return min(99, self.seen * 100 // self.expected_total)


class SeenFollower(models.Model):
    """Followers seen during one followers pass; compared at the end to find who unfollowed."""

    # No database-level foreign keys: a first sync writes a row here per follower, and checking a million
    # deferred constraints at commit doubles its cost. Rows live only while their pass runs.
    sync_run = models.ForeignKey(
        SyncRun, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    follower = models.ForeignKey(
        Follower, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["sync_run", "follower"], name="seen_once_per_run"),
        ]

    def __str__(self) -> str:
        return f"follower {self.follower_id} seen in run {self.sync_run_id}"
