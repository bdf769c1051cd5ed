"""Building a brand's daily review queue: every current follower scored under the current policy.

The best-scoring followers the policy suggests become pending suggestions (at most the policy's queue size),
and followers a hard rule keeps out are recorded as held with that rule, never silently dropped. Suggestions
nobody has acted on yet are rebuilt each day; a pending suggestion keeps its first day, and expires once it has
waited longer than the policy allows.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

import numpy as np
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import Brand
from accounts.services import record
from rules.models import (
    DECIDED_OR_DECIDING,
    MACHINE_MADE,
    PolicyVersion,
    QueueBuild,
    Suggestion,
    SuggestionStatus,
)
from rules.policy import Decisions, Verdict
from rules.population import (
    FOLLOWER_FIELDS,
    POLICY_SIGNAL_OF,
    brand_context,
    current_followers,
    decide_followers,
    follower_columns,
    recent_engagement,
)
from rules.services import current_policy
from rules.signals import SignalResult, explain

CHUNK = 50_000

Candidate = tuple[
    float, int, Suggestion
]  # (score, -follower id, the unsaved suggestion): a min-heap keeps the best


def _follower_chunks(brand: Brand) -> Iterator[list[dict[str, object]]]:
    after = 0
    followers = current_followers(brand).order_by("id").values(*FOLLOWER_FIELDS)
    while chunk := list(followers.filter(id__gt=after)[:CHUNK]):
        yield chunk
        after = int(chunk[-1]["id"])


def _not_to_suggest(brand: Brand, version: PolicyVersion) -> set[int]:
    """Followers with a decision in flight or done, or rejected (or left to expire) under this policy version."""
    return set(
        Suggestion.objects.for_brand(brand)
        .filter(
            Q(status__in=DECIDED_OR_DECIDING)
            | Q(status__in=[SuggestionStatus.REJECTED, SuggestionStatus.EXPIRED], policy_version=version)
        )
        .values_list("follower_id", flat=True)
    )


@dataclass
class _Chunk:
    """One chunk of followers with their signals and verdicts, able to make suggestions for any of its rows."""

    rows: list[dict[str, object]]
    decisions: Decisions
    results: dict[str, SignalResult]
    brand: Brand
    version: PolicyVersion
    first_suggested: dict[int, datetime]
    now: datetime
    ttl: timedelta

    def follower_id(self, index: int) -> int:
        return int(self.rows[index]["id"])  # type: ignore[call-overload]

    def suggestion(self, index: int, status: SuggestionStatus) -> Suggestion:
        created = self.first_suggested.get(self.follower_id(index), self.now)
        return Suggestion(
            brand=self.brand, account_id=int(self.rows[index]["account_id"]),  # type: ignore[call-overload]
            follower_id=self.follower_id(index),
            policy_version=self.version, status=status, score=int(self.decisions.score[index]),
            rule=self.decisions.rule_text(index)[:300],
            signals={name: round(float(self.results[signal].values[index]), 3)
                     for name, signal in POLICY_SIGNAL_OF.items()},
            created_at=created, expires_at=created + self.ttl,
        )  # fmt: skip


def build_daily_queue(brand: Brand, now: datetime | None = None) -> QueueBuild:
    now = now or timezone.now()
    with transaction.atomic():
        # One build per brand at a time; NO KEY keeps rows that reference the brand (audit events) writable.
        Brand.objects.select_for_update(no_key=True).get(pk=brand.pk)
        return _build(brand, now)


def _build(brand: Brand, now: datetime) -> QueueBuild:
    version = current_policy(brand)
    settings = version.policy
    context = brand_context(brand, settings)
    engagement = recent_engagement(brand, now)
    excluded = _not_to_suggest(brand, version)
    first_suggested = dict(
        Suggestion.objects.for_brand(brand)
        .filter(status__in=[SuggestionStatus.PENDING, SuggestionStatus.LATER])
        .values_list("follower_id", "created_at")
    )
    build = QueueBuild(brand=brand, policy_version=version, built_at=now)
    best: list[Candidate] = []
    Suggestion.objects.for_brand(brand).filter(status__in=MACHINE_MADE).delete()
    for rows in _follower_chunks(brand):
        decisions, results = decide_followers(follower_columns(rows, engagement, now), context, settings)
        chunk = _Chunk(rows, decisions, results, brand, version, first_suggested, now,
                       timedelta(days=settings.suggestion_ttl_days))  # fmt: skip
        allowed = np.array([chunk.follower_id(i) not in excluded for i in range(len(rows))], dtype=bool)
        build.considered += len(rows)
        held = np.flatnonzero(allowed & (decisions.verdict == Verdict.NEVER))
        Suggestion.objects.bulk_create(
            [chunk.suggestion(int(index), SuggestionStatus.HELD) for index in held], batch_size=5000
        )
        build.held += len(held)
        suggested = np.flatnonzero(allowed & (decisions.verdict == Verdict.SUGGEST))
        for index in suggested[np.argsort(-decisions.score[suggested], kind="stable")][: settings.queue_size]:
            candidate = chunk.suggestion(int(index), SuggestionStatus.PENDING)
            candidate.reasons = [asdict(reason) for reason in explain(results, int(index))]
            entry = (float(decisions.score[index]), -chunk.follower_id(int(index)), candidate)
            if len(best) < settings.queue_size:
                heapq.heappush(best, entry)
            elif entry[:2] > best[0][:2]:
                heapq.heapreplace(best, entry)
    chosen = [candidate for _, _, candidate in best]
    for candidate in chosen:
        if candidate.expires_at <= now:
            candidate.status = SuggestionStatus.EXPIRED
    Suggestion.objects.bulk_create(chosen, batch_size=5000)
    build.expired = sum(1 for candidate in chosen if candidate.status == SuggestionStatus.EXPIRED)
    build.suggested = len(chosen) - build.expired
    build.save()
    record(brand, "queue.built",
           f"Daily queue built under policy version {version.number}: {build.suggested:,} suggested, "
           f"{build.held:,} held by rules", actor=None, target=build,
           suggested=build.suggested, held=build.held, expired=build.expired)  # fmt: skip
    return build


def brands_due_for_queue(now: datetime | None = None) -> list[Brand]:
    """Brands whose queue hour has come today and whose queue has not been built since."""
    now = now or timezone.now()
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    due = []
    for brand in Brand.objects.all():
        hour = current_policy(brand).policy.queue_hour
        since = today + timedelta(hours=hour)
        if now >= since and not QueueBuild.objects.filter(brand=brand, built_at__gte=since).exists():
            due.append(brand)
    return due
