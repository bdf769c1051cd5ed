"""Two brands whose every text field carries a marker of its own brand, for the tenant isolation tests.

Brand A's markers start with ``markera-`` and brand B's with ``markerb-`` (lower case, because e-mail addresses
and handles are stored lower case), followed by a random part; `Markers` remembers what each one was written
into, so a leak names the field it came from. `BRAND_ROWS` says which rows of every model belong to a brand and
`UNMARKED_FIELDS` which text fields cannot carry a marker, and why: `unmarked_text_fields` checks that the world
really marks everything else, so a new model or text field fails until it is covered here.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from axes.models import AccessAttempt, AccessAttemptExpiration, AccessFailureLog, AccessLog
from django.apps import apps
from django.conf import settings
from django.db import models
from django.db.models import QuerySet
from django.utils import timezone

from accounts import crypto
from accounts.jobs import JobStatus
from accounts.models import (
    AccountStatus,
    AuditEvent,
    Brand,
    ConnectedAccount,
    Customer,
    Follower,
    FollowEvent,
    FollowEventKind,
    Interaction,
    InteractionKind,
    Invitation,
    Membership,
    Platform,
    Role,
    SeenFollower,
    SyncKind,
    SyncRun,
    User,
)
from followback.models import AccountRateLimit, Comment, Decision, DecisionKind, FollowAction, FollowState
from rules.models import PolicyVersion, QueueBuild, Suggestion, SuggestionStatus
from rules.policy import PolicySettings
from tests.factories import PASSWORD

ROLES = {"viewer": Role.VIEWER, "reviewer": Role.REVIEWER, "approver": Role.APPROVER, "admin": Role.ADMIN}


class Markers:
    """Unique marker strings of one brand, each remembered with what it was written into."""

    def __init__(self, tag: str) -> None:
        self.prefix = f"marker{tag}-"
        self.written: dict[str, str] = {}

    def __call__(self, what: str) -> str:
        marker = f"{self.prefix}{uuid.uuid4().hex[:12]}"
        self.written[marker] = what
        return marker

    def found_in(self, text: str) -> list[str]:
        """What each marker of this brand found in ``text`` was written into (case-insensitive)."""
        lowered = text.lower()
        found, start = [], lowered.find(self.prefix)
        while start != -1:
            marker = lowered[start : start + len(self.prefix) + 12]
            found.append(f"{marker} ({self.written.get(marker, 'unknown')})")
            start = lowered.find(self.prefix, start + 1)
        return found


@dataclass
class Side:
    """One brand of the world, with the objects its URLs point at."""

    tag: str
    markers: Markers
    brand: Brand
    users: dict[str, User]
    target_member: Membership
    locked_member: Membership
    invitation: Invitation
    account: ConnectedAccount
    pending: Suggestion
    failed_follow: FollowAction
    # What an invitation link shows to whoever holds it: the brand, the inviter and the invited address.
    invitation_page_markers: set[str] = field(default_factory=set)


@dataclass
class World:
    a: Side
    b: Side
    outsider: User

    def sides(self) -> tuple[Side, Side]:
        return (self.a, self.b)

    def other(self, side: Side) -> Side:
        return self.b if side is self.a else self.a


def _user(m: Markers, slug: str, what: str) -> User:
    return User.objects.create_user(
        f"{m(f'{what} e-mail')}@{slug}.test", PASSWORD, name=f"{what.title()} {m(f'{what} name')}"
    )


def _member(brand: Brand, m: Markers, what: str, role: Role) -> Membership:
    return Membership.objects.create(user=_user(m, brand.slug, what), brand=brand, role=role)


def _policy(m: Markers) -> dict[str, Any]:
    settings = PolicySettings(
        blocklist=(m("policy blocklist word"),),
        always_follow=(m("policy always-follow handle"),),
        never_follow=(m("policy never-follow handle"),),
    )
    return settings.to_dict()


def _follower(account: ConnectedAccount, m: Markers, what: str) -> Follower:
    now = timezone.now()
    follower = Follower.objects.create(
        account=account,
        platform_id=m(f"{what} platform id"),
        handle=f"{m(f'{what} handle')}@social.example",
        uri=f"https://social.example/users/{m(f'{what} uri')}",
        display_name=f"Display {m(f'{what} display name')}",
        bio=f"Coffee lover {m(f'{what} bio')}",
        avatar_url=f"https://social.example/avatars/{m(f'{what} avatar url')}.png",
        avatar_is_default=False,
        profile_url=f"https://social.example/@{m(f'{what} profile url')}",
        created_at=now - timedelta(days=900),
        followers_count=300,
        following_count=250,
        posts_count=1200,
        labels=[m(f"{what} label")],
    )
    FollowEvent.objects.create(follower=follower, kind=FollowEventKind.FOLLOW, at=now - timedelta(days=30))
    return follower


def _suggestion(
    account: ConnectedAccount, version: PolicyVersion, m: Markers, what: str, status: SuggestionStatus
) -> Suggestion:
    now = timezone.now()
    return Suggestion.objects.create(
        brand=account.brand,
        account=account,
        follower=_follower(account, m, what),
        policy_version=version,
        status=status,
        score=70,
        rule=f"score 70 reaches the threshold {m(f'{what} suggestion rule')}",
        reasons=[{"signal": "engagement", "text": m(f"{what} suggestion reason"), "polarity": "suggest"}],
        signals={"engagement": 0.5, "customer": 0.0, "bot": 0.1},
        expires_at=now + timedelta(days=14),
        decided_at=None if status == SuggestionStatus.PENDING else now,
    )


def _decision(
    suggestion: Suggestion, actor: User, m: Markers, kind: DecisionKind, from_status: str
) -> Decision:
    return Decision.objects.create(
        brand=suggestion.brand, suggestion=suggestion, actor=actor, kind=kind, from_status=from_status,
        to_status=suggestion.status, reason=m(f"{kind} decision reason"), policy_version=suggestion.policy_version,
        score=suggestion.score, signals=suggestion.signals,
    )  # fmt: skip


def _sign_in_records(user: User, m: Markers) -> None:
    """A lockout after wrong passwords, as django-axes writes it, and the sign-ins it logs."""
    request = {
        "user_agent": f"Browser {m('sign-in user agent')}", "ip_address": "127.0.0.1", "username": user.email,
        "http_accept": f"text/html {m('sign-in accept header')}", "path_info": f"/account/login/{m('sign-in path')}",
    }  # fmt: skip
    attempt = AccessAttempt.objects.create(
        **request,
        get_data=m("sign-in query"),
        post_data=f"username={user.email} {m('sign-in form')}",
        failures_since_start=settings.AXES_FAILURE_LIMIT,
    )
    AccessAttemptExpiration.objects.create(
        access_attempt=attempt, expires_at=timezone.now() + timedelta(hours=1)
    )
    AccessFailureLog.objects.create(**request, locked_out=True)
    AccessLog.objects.create(**request, session_hash="")


def build_side(tag: str, slug: str, name: str) -> Side:
    m = Markers(tag)
    now = timezone.now()
    brand = Brand.objects.create(name=f"{name} {m('brand name')}", slug=slug)
    users = {persona: _member(brand, m, persona, role).user for persona, role in ROLES.items()}
    _member(brand, m, "second admin", Role.ADMIN)
    target = _member(brand, m, "target member", Role.VIEWER)
    locked = _member(brand, m, "locked-out member", Role.VIEWER)
    _sign_in_records(locked.user, m)
    admin = users["admin"]
    invitation = Invitation.objects.create(
        brand=brand, email=f"{m('invitation e-mail')}@invited.test", role=Role.VIEWER, invited_by=admin,
        status=JobStatus.FAILED, last_error=f"e-mail not sent: {m('invitation error')}",
    )  # fmt: skip
    account = ConnectedAccount.objects.create(
        brand=brand, platform=Platform.DEMO, platform_user_id=m("account platform id"),
        handle=f"{m('account handle')}.demo", display_name=f"{name} {m('account display name')}",
        server_url=f"https://{m('account server url')}.example", profile_url=f"https://demo.example/{m('account profile url')}",
        status=AccountStatus.ACTIVE, status_reason=m("account status reason"),
        credentials_ciphertext=crypto.encrypt_json({}),
        settings={"seed": 1, "size": 100, "sync_number": 1, "note": m("account settings")},
        followers_count=1000, following_count=100, connected_by=admin, last_synced_at=now,
    )  # fmt: skip
    first = PolicyVersion.objects.create(
        brand=brand, number=1, settings=_policy(m), note=m("policy note v1"), created_by=admin
    )
    version = PolicyVersion.objects.create(
        brand=brand, number=2, settings={**_policy(m), "daily_follow_cap": 40}, note=m("policy note v2"),
        created_by=admin, reverted_from=first,
    )  # fmt: skip
    pending = _suggestion(account, version, m, "pending follower", SuggestionStatus.PENDING)
    approved = _suggestion(account, version, m, "approved follower", SuggestionStatus.APPROVED)
    rejected = _suggestion(account, version, m, "rejected follower", SuggestionStatus.REJECTED)
    _decision(approved, users["reviewer"], m, DecisionKind.APPROVE, SuggestionStatus.PENDING)
    _decision(rejected, users["reviewer"], m, DecisionKind.REJECT, SuggestionStatus.PENDING)
    for suggestion in (pending, rejected):
        Comment.objects.create(
            brand=brand, suggestion=suggestion, author=users["reviewer"], body=m("comment body")
        )
    failed = FollowAction.objects.create(
        brand=brand, account=account, follower=approved.follower, suggestion=approved, approved_by=users["approver"],
        state=FollowState.FAILED, status=JobStatus.FAILED, attempts=5, waiting_reason=m("follow waiting reason"),
        platform_reason=m("follow platform reason"), last_error=m("follow error"),
    )  # fmt: skip
    Interaction.objects.create(
        account=account, actor_platform_id=m("interaction actor id"), actor_handle=m("interaction actor handle"),
        kind=InteractionKind.REPLY, at=now - timedelta(days=2), platform_event_id=m("interaction event id"),
    )  # fmt: skip
    Customer.objects.create(brand=brand, handle=m("customer handle"))
    AccountRateLimit.objects.create(account=account, remaining=250, reset_at=now + timedelta(minutes=5))
    run = SyncRun.objects.create(
        account=account, kind=SyncKind.FOLLOWERS, requested_by=admin, status=JobStatus.DONE,
        cursor=m("sync cursor"), last_error=m("sync error"), started_at=now, finished_at=now, complete=True,
        seen=3, created=3, pages=1,
    )  # fmt: skip
    SeenFollower.objects.create(sync_run=run, follower=pending.follower)
    QueueBuild.objects.create(brand=brand, policy_version=version, considered=3, suggested=1)
    for verb in ("member.invited", "suggestion.approved", "follow.failed", "sync.finished"):
        AuditEvent.objects.create(
            brand=brand, actor=admin, verb=verb, summary=f"{admin} did {m(f'{verb} audit summary')}",
            target_type="accounts.brand", target_id=str(brand.pk), data={"detail": m(f"{verb} audit data")},
        )  # fmt: skip
    side = Side(tag, m, brand, users, target, locked, invitation, account, pending, failed)
    side.invitation_page_markers = {
        marker
        for marker, what in m.written.items()
        if what in ("brand name", "invitation e-mail", "admin name", "admin e-mail")
    }
    return side


def build_world() -> World:
    outsider = User.objects.create_user("outsider@nowhere.test", PASSWORD, name="Olive Outsider")
    return World(build_side("a", "acme", "Acme"), build_side("b", "globex", "Globex"), outsider)


# Which rows of each model belong to a brand; every model of the project must be here or in GLOBAL_MODELS.
BrandRows = Callable[[Brand], QuerySet[Any]]


def _member_emails(brand: Brand) -> QuerySet[Any]:
    return User.objects.filter(memberships__brand=brand).values("email")


BRAND_ROWS: dict[str, BrandRows] = {
    "accounts.user": lambda brand: User.objects.filter(memberships__brand=brand),
    "accounts.brand": lambda brand: Brand.objects.filter(pk=brand.pk),
    "accounts.membership": lambda brand: Membership.objects.filter(brand=brand),
    "accounts.invitation": lambda brand: Invitation.objects.filter(brand=brand),
    "accounts.auditevent": lambda brand: AuditEvent.objects.filter(brand=brand),
    "accounts.connectedaccount": lambda brand: ConnectedAccount.objects.filter(brand=brand),
    "accounts.follower": lambda brand: Follower.objects.filter(account__brand=brand),
    "accounts.followevent": lambda brand: FollowEvent.objects.filter(follower__account__brand=brand),
    "accounts.interaction": lambda brand: Interaction.objects.filter(account__brand=brand),
    "accounts.customer": lambda brand: Customer.objects.filter(brand=brand),
    "accounts.syncrun": lambda brand: SyncRun.objects.filter(account__brand=brand),
    "accounts.seenfollower": lambda brand: SeenFollower.objects.filter(sync_run__account__brand=brand),
    "rules.policyversion": lambda brand: PolicyVersion.objects.filter(brand=brand),
    "rules.suggestion": lambda brand: Suggestion.objects.filter(brand=brand),
    "rules.queuebuild": lambda brand: QueueBuild.objects.filter(brand=brand),
    "followback.decision": lambda brand: Decision.objects.filter(brand=brand),
    "followback.comment": lambda brand: Comment.objects.filter(brand=brand),
    "followback.followaction": lambda brand: FollowAction.objects.filter(brand=brand),
    "followback.accountratelimit": lambda brand: AccountRateLimit.objects.filter(account__brand=brand),
    "axes.accessattempt": lambda brand: AccessAttempt.objects.filter(username__in=_member_emails(brand)),
    "axes.accessattemptexpiration": lambda brand: AccessAttemptExpiration.objects.filter(
        access_attempt__username__in=_member_emails(brand)
    ),
    "axes.accessfailurelog": lambda brand: AccessFailureLog.objects.filter(
        username__in=_member_emails(brand)
    ),
    "axes.accesslog": lambda brand: AccessLog.objects.filter(username__in=_member_emails(brand)),
}
# Rows that belong to no brand.
GLOBAL_MODELS = {
    "accounts.mastodonapp": "our OAuth app on a Mastodon server, shared by every brand there",
    "admin.logentry": "site staff's Django admin history",
    "auth.group": "Django's permission groups (unused)",
    "auth.permission": "Django's permission names",
    "contenttypes.contenttype": "Django's model names",
    "sessions.session": "sign-in sessions, one per browser",
}
UNMARKED_FIELDS = {
    "accounts.user.password": "a password hash",
    "accounts.brand.slug": "part of every URL of the brand, so whoever asks has typed it",
    "accounts.brand.customer_salt": "random hex",
    "accounts.connectedaccount.credentials_ciphertext": "ciphertext (test_secrets_scan.py looks inside)",
    "accounts.customer.email_hash": "a salted SHA-256 in hex",
    "accounts.auditevent.verb": "a code from followback/audit.py",
    "accounts.auditevent.target_type": "a model name",
    "accounts.auditevent.target_id": "a row id",
    "rules.suggestion.signals": "numbers keyed by signal name",
    "followback.decision.signals": "numbers keyed by signal name",
    "followback.decision.from_status": "a status code",
    "followback.decision.to_status": "a status code",
    "axes.accesslog.session_hash": "a hash",
}


def text_fields(model: type[models.Model]) -> list[models.Field[Any, Any]]:
    """The free-text fields of a model: characters, text and JSON, without fixed choices."""
    return [
        f
        for f in model._meta.concrete_fields
        if isinstance(f, models.CharField | models.TextField | models.JSONField) and not f.choices
    ]


def unmarked_text_fields(world: World) -> list[str]:
    """Every (brand, model, field) where some row of that brand lacks the brand's marker; empty when all carry one."""
    missing = []
    for model in apps.get_models():
        label = model._meta.label_lower
        if label in GLOBAL_MODELS:
            continue
        if label not in BRAND_ROWS:
            missing.append(f"{label}: not in BRAND_ROWS or GLOBAL_MODELS")
            continue
        for side in world.sides():
            rows = list(BRAND_ROWS[label](side.brand))
            if not rows:
                missing.append(f"{label}: brand {side.tag} has no rows")
            for text_field in text_fields(model):
                if f"{label}.{text_field.name}" in UNMARKED_FIELDS:
                    continue
                for row in rows:
                    if side.markers.prefix not in str(getattr(row, text_field.attname)).lower():
                        missing.append(f"{label}.{text_field.name} of brand {side.tag}, row {row.pk}")
    return missing
