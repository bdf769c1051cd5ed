"""The daily digest: one e-mail a day per person and brand, after the brand's queue is built, saying what waits.

Reviewers hear how many suggestions wait for review; approvers and admins also how many proposals wait for their
second approval (not counting their own, which they may not approve) and how many follows failed and can be
retried. Someone with nothing waiting gets no e-mail (and may get one later that day if something arrives).

Sending is recorded as a `digest.sent` audit event per person, written in the same transaction that holds the
brand's row lock and checks who already had today's digest, so two beat ticks or a duplicated task message
never send twice. An e-mail the server refuses is not recorded, and goes out at the next tick.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from itertools import groupby

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.db.models import CharField, Count, Exists, OuterRef, QuerySet
from django.db.models.functions import Cast
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent, Brand, Membership, Role, User
from accounts.services import record
from followback.models import FollowAction, FollowState
from rules.models import QueueBuild, Suggestion, SuggestionStatus

log = logging.getLogger(__name__)

DIGEST_VERB = "digest.sent"
RECIPIENT_ROLES = (Role.REVIEWER, Role.APPROVER, Role.ADMIN)
USER_TARGET = User._meta.label_lower
ROLE_PHRASES = {Role.REVIEWER: "a reviewer", Role.APPROVER: "an approver", Role.ADMIN: "an admin"}


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _sent_today(day: date) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(
        verb=DIGEST_VERB, target_type=USER_TARGET, created_at__gte=_day_start(day)
    )


def due_memberships(day: date) -> QuerySet[Membership]:
    """Reviewers and up, in brands whose queue was built today, who have not had today's digest: one query."""
    start = _day_start(day)
    built_today = QueueBuild.objects.filter(brand_id=OuterRef("brand_id"), built_at__gte=start)
    had_it = _sent_today(day).filter(
        brand_id=OuterRef("brand_id"), target_id=Cast(OuterRef("user_id"), CharField())
    )
    return (
        Membership.objects.filter(role__in=RECIPIENT_ROLES, user__is_active=True)
        .exclude(user__email="")
        .filter(Exists(built_today))
        .exclude(Exists(had_it))
        .select_related("user", "brand")
        .order_by("brand_id", "user_id")
    )


@dataclass(frozen=True)
class Waiting:
    """What waits for one person in one brand."""

    pending: int
    awaiting: int = 0  # proposals waiting for a second approver other than their proposer
    failed_follows: int = 0

    @property
    def anything(self) -> bool:
        return bool(self.pending or self.awaiting or self.failed_follows)


@dataclass
class BrandCounts:
    pending: int = 0
    awaiting_total: int = 0
    awaiting_by_proposer: dict[int | None, int] | None = None
    failed_follows: int = 0

    def for_member(self, membership: Membership) -> Waiting:
        if not membership.has_role(Role.APPROVER):
            return Waiting(pending=self.pending)
        own = (self.awaiting_by_proposer or {}).get(membership.user_id, 0)
        return Waiting(self.pending, self.awaiting_total - own, self.failed_follows)


def brand_counts(brand_ids: list[int]) -> dict[int, BrandCounts]:
    """Pending, awaiting (by proposer) and failed follows for these brands: two grouped queries in all."""
    counts: dict[int, BrandCounts] = defaultdict(lambda: BrandCounts(awaiting_by_proposer={}))
    waiting = (
        Suggestion.objects.filter(
            brand_id__in=brand_ids, status__in=[SuggestionStatus.PENDING, SuggestionStatus.AWAITING_APPROVAL]
        )
        .exclude(status=SuggestionStatus.PENDING, expires_at__lte=timezone.now())  # out of the queue already
        .values_list("brand_id", "status", "proposed_by_id")
        .order_by()
        .annotate(n=Count("id"))
    )
    for brand_id, status, proposer, n in waiting:
        brand = counts[brand_id]
        if status == SuggestionStatus.PENDING:
            brand.pending += n
        else:
            brand.awaiting_total += n
            assert brand.awaiting_by_proposer is not None
            brand.awaiting_by_proposer[proposer] = brand.awaiting_by_proposer.get(proposer, 0) + n
    failed = (
        FollowAction.objects.filter(brand_id__in=brand_ids, state=FollowState.FAILED)
        .values_list("brand_id")
        .order_by()
        .annotate(n=Count("id"))
    )
    for brand_id, n in failed:
        counts[brand_id].failed_follows = n
    return counts


def _link(name: str, brand: Brand, query: str = "") -> str:
    return settings.SITE_URL.rstrip("/") + reverse(name, kwargs={"brand": brand.slug}) + query


def build_message(membership: Membership, waiting: Waiting) -> EmailMultiAlternatives:
    brand, user = membership.brand, membership.user
    context = {
        "brand": brand,
        "user": user,
        "role": ROLE_PHRASES[membership.role_enum],
        "waiting": waiting,
        "queue_url": _link("queue", brand),
        "awaiting_url": _link("queue", brand, "?tab=awaiting"),
        "follows_url": _link("follows", brand, "?show=failed"),
        "home_url": _link("brand_home", brand),
    }
    parts = []
    if waiting.pending:
        parts.append(f"{waiting.pending:,} to review")
    if waiting.awaiting:
        parts.append(f"{waiting.awaiting:,} to approve")
    if waiting.failed_follows:
        parts.append(f"{waiting.failed_follows:,} failed follow{'s' if waiting.failed_follows != 1 else ''}")
    message = EmailMultiAlternatives(
        subject=f"{brand}: {', '.join(parts)} today",
        body=render_to_string("followback/email/digest.txt", context),
        to=[user.email],
    )
    message.attach_alternative(render_to_string("followback/email/digest.html", context), "text/html")
    return message


def send_brand_digests(brand: Brand, members: list[tuple[Membership, Waiting]], day: date) -> int:
    """Send the day's digest to these members of one brand who have not had it; record each one sent."""
    sent = 0
    with transaction.atomic():
        # Serialise senders per brand, then look again: another sender may have finished while we waited.
        Brand.objects.select_for_update(no_key=True).filter(pk=brand.pk).exists()
        had_it = set(_sent_today(day).filter(brand=brand).values_list("target_id", flat=True))
        connection = get_connection()
        for membership, waiting in members:
            if str(membership.user_id) in had_it:
                continue
            try:
                connection.send_messages([build_message(membership, waiting)])
            except OSError as error:  # smtplib's errors are OSErrors too
                log.warning("digest for %s in %s not sent: %s", membership.user_id, brand.slug, error)
                continue
            record(
                brand,
                DIGEST_VERB,
                f"Daily digest e-mailed to {membership.user}: {waiting.pending:,} to review"
                + (f", {waiting.awaiting:,} to approve" if membership.has_role(Role.APPROVER) else "")
                + (f", {waiting.failed_follows:,} failed follows" if waiting.failed_follows else ""),
                actor=None,
                target=membership.user,
                day=day.isoformat(),
                pending=waiting.pending,
                awaiting=waiting.awaiting,
                failed_follows=waiting.failed_follows,
            )
            sent += 1
    return sent


def send_due_digests(now: datetime | None = None) -> int:
    """Every digest due today, brand by brand; returns how many e-mails went out."""
    day = (now or timezone.now()).astimezone(UTC).date()
    due = list(due_memberships(day))
    if not due:
        return 0
    counts = brand_counts(sorted({m.brand_id for m in due}))
    sent = 0
    for _, group in groupby(due, key=lambda m: m.brand_id):
        members = [(m, counts[m.brand_id].for_member(m)) for m in group]
        members = [(m, waiting) for m, waiting in members if waiting.anything]
        if members:
            sent += send_brand_digests(members[0][0].brand, members, day)
    if sent:
        log.info("sent %d daily digests", sent)
    return sent
