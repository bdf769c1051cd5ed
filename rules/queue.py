"""Building a brand's daily review queue: every current follower scored under the current policy.

The queue keeps what people have not decided yet. Each build refreshes the open suggestions (pending, or left for
later) with today's score and reasons, withdraws those the policy no longer suggests, expires those that waited
longer than the policy allows, and fills the queue up to its size with the best-scoring new followers.

Nobody kept out is dropped silently: followers a hard rule keeps out, and those people's decisions keep out
(already followed, approved, rejected or left to expire under this policy version), are recorded as held with the
rule that holds them, their score, signals and reasons; a held row is rewritten only when its rule, score or
policy version changes. The one exception is a follower whose approval waits for a second approver: the
follower already has that suggestion, on its own tab.

Followers are streamed in batches of columns (``rules.population.follower_batch``), so memory stays flat; held
rows are written with COPY on PostgreSQL.
"""

from __future__ import annotations

import heapq
import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice

import numpy as np
from django.db import connection, transaction
from django.utils import timezone

from accounts.jobs import JobStatus
from accounts.models import Brand, ConnectedAccount, SyncRun
from accounts.services import record
from rules.models import PolicyVersion, QueueBuild, Suggestion, SuggestionStatus
from rules.policy import Decisions, Verdict
from rules.population import (
    NOT_KEPT_OUT,
    POLICY_SIGNAL_OF,
    Engagement,
    FollowerBatch,
    KeptOut,
    brand_context,
    current_followers,
    decide_followers,
    follower_batch,
    follower_rows,
    kept_out,
    recent_engagement,
)
from rules.services import current_policy
from rules.signals import BrandContext, Ints, SignalResult, explain

CHUNK = 50_000
DELETE_CHUNK = 5_000  # ids per DELETE: SQLite takes at most 32,766 parameters
OPEN = (SuggestionStatus.PENDING, SuggestionStatus.LATER)
HELD_COLUMNS = (
    "brand_id", "account_id", "follower_id", "policy_version_id", "status", "score", "rule", "reasons", "signals",
    "created_at", "expires_at",
)  # fmt: skip


def _follower_batches(
    brand: Brand, engagement: dict[tuple[int, str], Engagement], now: datetime
) -> Iterator[FollowerBatch]:
    """The brand's current followers in batches, streamed from one query (a server-side cursor on PostgreSQL)."""
    rows = follower_rows(current_followers(brand), now).iterator(chunk_size=CHUNK)
    while chunk := list(islice(rows, CHUNK)):
        yield follower_batch(chunk, engagement)


@dataclass
class _Scored:
    """One batch of followers with their signals and verdicts."""

    batch: FollowerBatch
    decisions: Decisions
    results: dict[str, SignalResult]

    def signals(self, index: int) -> dict[str, float]:
        return {
            name: round(float(self.results[signal].values[index]), 3)
            for name, signal in POLICY_SIGNAL_OF.items()
        }

    def reasons(self, index: int) -> list[dict[str, str]]:
        return [
            {"signal": reason.signal, "text": reason.text, "polarity": reason.polarity.value}
            for reason in explain(self.results, index)
        ]

    def refresh(self, suggestion: Suggestion, index: int, version: PolicyVersion) -> None:
        suggestion.policy_version = version
        suggestion.status = (
            SuggestionStatus.PENDING if suggestion.status == SuggestionStatus.LATER else suggestion.status
        )
        suggestion.score = int(self.decisions.score[index])
        suggestion.rule = self.decisions.rule_text(index)[:300]
        suggestion.signals = self.signals(index)
        suggestion.reasons = self.reasons(index)


@dataclass
class _Build:
    brand: Brand
    version: PolicyVersion
    context: BrandContext
    now: datetime
    ttl: timedelta
    queue_size: int
    kept_out: KeptOut
    open: dict[int, Suggestion]
    held_before: dict[
        int, tuple[int, str, int, int]
    ]  # follower id → (suggestion id, rule, score, version id)
    record: QueueBuild
    refreshed: list[Suggestion] = field(default_factory=list)
    best: list[tuple[float, int, Suggestion]] = field(default_factory=list)  # a min-heap of the best new ones

    def add(self, scored: _Scored) -> None:
        batch, decisions = scored.batch, scored.decisions
        self.record.considered += len(batch)
        is_open = np.isin(batch.ids, np.fromiter(self.open, dtype=np.int64, count=len(self.open)))
        kept_out = self.kept_out.codes(batch)
        allowed = kept_out == NOT_KEPT_OUT
        withdrawn: dict[str, list[int]] = defaultdict(list)
        for index in np.flatnonzero(is_open).tolist():
            suggestion = self.open.pop(int(batch.ids[index]))
            if allowed[index] and decisions.verdict[index] == Verdict.SUGGEST:
                scored.refresh(suggestion, index, self.version)
                self.refreshed.append(suggestion)
            else:
                withdrawn[self.kept_out.rule_text(int(kept_out[index]), decisions, index)].append(
                    suggestion.pk
                )
        self.withdraw(withdrawn)
        held = np.flatnonzero((kept_out >= 0) | (allowed & (decisions.verdict == Verdict.NEVER)))
        self._hold(scored, held, kept_out)
        new = np.flatnonzero(allowed & ~is_open & (decisions.verdict == Verdict.SUGGEST))
        for index in new[np.argsort(-decisions.score[new], kind="stable")][: self.queue_size]:
            key = (float(decisions.score[index]), -int(batch.ids[index]))
            if len(self.best) < self.queue_size or key > self.best[0][:2]:
                entry = (*key, self._new_suggestion(scored, int(index)))
                if len(self.best) < self.queue_size:
                    heapq.heappush(self.best, entry)
                else:
                    heapq.heapreplace(self.best, entry)

    def _hold(self, scored: _Scored, held: Ints, kept_out: Ints) -> None:
        """Record these followers as held; a follower held yesterday by the same rule, score and policy version
        keeps its row, so a quiet day writes next to nothing."""
        stale, rows = [], []
        for index in held.tolist():
            follower_id = int(scored.batch.ids[index])
            rule = self.kept_out.rule_text(int(kept_out[index]), scored.decisions, index)
            score = int(scored.decisions.score[index])
            before = self.held_before.pop(follower_id, None)
            if before is not None and before[1:] == (rule, score, self.version.pk):
                continue
            if before is not None:
                stale.append(before[0])
            rows.append(self._held_row(scored, index, rule))
        _delete_suggestions(stale)
        _insert_held(rows)
        self.record.held += len(held)

    def withdraw(self, ids_by_rule: dict[str, list[int]]) -> None:
        """Expire open suggestions the policy no longer makes, each noting the rule that withdrew it."""
        for rule, ids in ids_by_rule.items():
            self.record.expired += Suggestion.objects.filter(pk__in=ids, status__in=OPEN).update(
                status=SuggestionStatus.EXPIRED, rule=rule
            )

    def _new_suggestion(self, scored: _Scored, index: int) -> Suggestion:
        suggestion = Suggestion(
            brand=self.brand, account_id=int(scored.batch.account_ids[index]),
            follower_id=int(scored.batch.ids[index]), created_at=self.now, expires_at=self.now + self.ttl,
        )  # fmt: skip
        scored.refresh(suggestion, index, self.version)
        suggestion.status = SuggestionStatus.PENDING
        return suggestion

    def _held_row(self, scored: _Scored, index: int, rule: str) -> tuple[object, ...]:
        return (
            self.brand.pk, int(scored.batch.account_ids[index]), int(scored.batch.ids[index]), self.version.pk,
            SuggestionStatus.HELD.value, int(scored.decisions.score[index]), rule,
            json.dumps(scored.reasons(index), ensure_ascii=False), json.dumps(scored.signals(index)), self.now,
            self.now,
        )  # fmt: skip


def _insert_held(rows: list[tuple[object, ...]]) -> None:
    if not rows:
        return
    if connection.vendor != "postgresql":
        Suggestion.objects.bulk_create(
            [Suggestion(**dict(zip(HELD_COLUMNS, row, strict=True))) for row in rows], batch_size=5000
        )
        return
    with connection.cursor() as cursor:
        columns = ", ".join(HELD_COLUMNS)
        with cursor.cursor.copy(f"COPY {Suggestion._meta.db_table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


def _delete_suggestions(ids: list[int]) -> None:
    """Delete held rows, the build's own output that nobody acts on, without Django's cascade collector, which
    would read every one of them first."""
    table = Suggestion._meta.db_table
    with connection.cursor() as cursor:
        for start in range(0, len(ids), DELETE_CHUNK):
            chunk = ids[start : start + DELETE_CHUNK]
            placeholders = ", ".join(["%s"] * len(chunk))
            cursor.execute(f"DELETE FROM {table} WHERE status = 'held' AND id IN ({placeholders})", chunk)


def build_daily_queue(brand: Brand, now: datetime | None = None) -> QueueBuild:
    now = now or timezone.now()
    with transaction.atomic():
        # One build per brand at a time; NO KEY keeps rows that reference the brand (audit events) writable.
        Brand.objects.select_for_update(no_key=True).get(pk=brand.pk)
        return _build(brand, now)


def _build(brand: Brand, now: datetime) -> QueueBuild:
    version = current_policy(brand)
    settings = version.policy
    open_suggestions = Suggestion.objects.for_brand(brand).filter(status__in=OPEN)
    build = _Build(
        brand=brand, version=version, context=brand_context(brand, settings), now=now,
        ttl=timedelta(days=settings.suggestion_ttl_days), queue_size=settings.queue_size,
        kept_out=kept_out(brand, version),
        open={suggestion.follower_id: suggestion for suggestion in open_suggestions},
        held_before={
            follower: (pk, rule, score, version_id)
            for pk, follower, rule, score, version_id in Suggestion.objects.for_brand(brand)
            .held()
            .values_list("pk", "follower_id", "rule", "score", "policy_version_id")
            .iterator(chunk_size=CHUNK)
        },
        record=QueueBuild(brand=brand, policy_version=version, built_at=now),
    )  # fmt: skip
    engagement = recent_engagement(brand, now)
    for batch in _follower_batches(brand, engagement, now):
        decisions, results = decide_followers(batch.columns, build.context, settings)
        build.add(_Scored(batch, decisions, results))
    _save(build)
    record(brand, "queue.built",
           f"Daily queue built under policy version {version.number}: {build.record.suggested:,} suggested, "
           f"{build.record.held:,} held by rules", actor=None, target=build.record,
           suggested=build.record.suggested, held=build.record.held, expired=build.record.expired)  # fmt: skip
    return build.record


def _save(build: _Build) -> None:
    """Write the build's outcome: open suggestions refreshed or expired, withdrawn ones, the best new ones."""
    build.withdraw({"no longer a current follower": [suggestion.pk for suggestion in build.open.values()]})
    _delete_suggestions([pk for pk, *_ in build.held_before.values()])
    expired = [suggestion for suggestion in build.refreshed if suggestion.expires_at <= build.now]
    for suggestion in expired:
        suggestion.status = SuggestionStatus.EXPIRED
    # Only rows still open: a person may have decided one while the build ran (the build locks the brand, a
    # decision locks its suggestion), and that decision wins.
    Suggestion.objects.filter(status__in=OPEN).bulk_update(
        build.refreshed, ["policy_version", "status", "score", "rule", "signals", "reasons"], batch_size=1000
    )
    slots = max(0, build.queue_size - (len(build.refreshed) - len(expired)))
    chosen = [suggestion for *_, suggestion in heapq.nlargest(slots, build.best, key=lambda entry: entry[:2])]
    Suggestion.objects.bulk_create(chosen, batch_size=5000)
    build.record.expired += len(expired)
    build.record.suggested = len(build.refreshed) - len(expired) + len(chosen)
    build.record.save()


def brands_due_for_queue(now: datetime | None = None) -> list[Brand]:
    """Brands whose queue hour has come today and whose queue has not been built since, and brands whose first
    syncs have all finished but whose queue has never held anyone (a new brand waits for no clock)."""
    now = now or timezone.now()
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    due = []
    for brand in Brand.objects.all():
        builds = QueueBuild.objects.filter(brand=brand)
        hour = current_policy(brand).policy.queue_hour
        since = today + timedelta(hours=hour)
        if (now >= since and not builds.filter(built_at__gte=since).exists()) or (
            not builds.filter(considered__gt=0).exists() and _first_syncs_done(brand)
        ):
            due.append(brand)
    return due


def _first_syncs_done(brand: Brand) -> bool:
    accounts = ConnectedAccount.objects.connected().filter(brand=brand)
    return (
        accounts.filter(last_synced_at__isnull=False).exists()
        and not SyncRun.objects.filter(
            account__in=accounts, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]
        ).exists()
    )
