"""Workflows over a brand's policy: numbered, audited versions, and a preview of what a draft would suggest."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from celery import current_app
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import Brand, ConnectedAccount, Follower, User
from accounts.services import record
from rules.models import PolicyVersion
from rules.policy import PolicySettings, Verdict, diff
from rules.population import (
    FOLLOWER_FIELDS,
    IN_FLIGHT,
    NOT_KEPT_OUT,
    brand_context,
    decide_followers,
    follower_batch,
    follower_rows,
    kept_out,
    recent_engagement,
)
from rules.signals import Reason, explain

REBUILD_TASK = "rules.tasks.build_queue"
PREVIEW_SAMPLE_SIZE = 10_000
PREVIEW_EXAMPLES = 5
ACCOUNT, PLATFORM_ID = FOLLOWER_FIELDS.index("account_id"), FOLLOWER_FIELDS.index("platform_id")


def current_policy(brand: Brand) -> PolicyVersion:
    """The brand's newest policy version; the first call creates version 1 with the default settings."""
    versions = PolicyVersion.objects.for_brand(brand).select_related("created_by")
    version = versions.current()
    if version is None:
        # get_or_create recovers from the unique constraint when two first visits race to create version 1.
        PolicyVersion.objects.get_or_create(
            brand=brand, number=1, defaults={"settings": PolicySettings().to_dict()}
        )
        version = versions.latest("number")
    return version


def _lock_newest_version(brand: Brand) -> PolicyVersion:
    """Lock the brand's newest version: every writer holds this lock while it adds the next number.

    PostgreSQL picks the newest row before waiting for its lock, so after the wait another writer may have added
    a newer one; look again, and lock that, until the version held is the newest.
    """
    versions = PolicyVersion.objects.for_brand(brand)
    current_policy(brand)
    while True:
        locked = versions.select_for_update().latest("number")
        if versions.latest("number").pk == locked.pk:
            return locked


def _add_version(
    brand: Brand, settings: PolicySettings, *, by: User, note: str, reverted_from: PolicyVersion | None
) -> PolicyVersion:
    errors = settings.validate()
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        newest = _lock_newest_version(brand)
        changes = diff(newest.policy, settings)
        if not changes:
            return newest
        version = PolicyVersion.objects.create(
            brand=brand,
            number=newest.number + 1,
            settings=settings.to_dict(),
            created_by=by,
            note=note,
            reverted_from=reverted_from,
        )
        # Today's queue follows the new version at once rather than at tomorrow's build.
        transaction.on_commit(lambda: current_app.send_task(REBUILD_TASK, args=[brand.pk]))
        if reverted_from is None:
            record(
                brand,
                "policy.changed",
                f"{by} saved policy version {version.number}",
                actor=by,
                target=version,
                version=version.number,
                changes=changes,
            )
        else:
            record(
                brand,
                "policy.reverted",
                f"{by} restored policy version {reverted_from.number} as version {version.number}",
                actor=by,
                target=version,
                version=version.number,
                reverted_from=reverted_from.number,
                changes=changes,
            )
    return version


def save_policy(brand: Brand, settings: PolicySettings, by: User, note: str = "") -> PolicyVersion:
    """Save `settings` as the brand's next policy version, audited with what changed, and rebuild today's
    queue with it (a task, once the transaction commits).

    Settings identical to the newest version add nothing and return that version; invalid ones raise
    ValidationError with `PolicySettings.validate()`'s messages.
    """
    return _add_version(brand, settings, by=by, note=note, reverted_from=None)


def revert_policy(brand: Brand, version: PolicyVersion, by: User) -> PolicyVersion:
    """Make an older version's settings current again, as a new version that remembers where they came from."""
    return _add_version(brand, version.policy, by=by, note="", reverted_from=version)


@dataclass(frozen=True)
class PreviewRow:
    handle: str
    rule: str  # why the follower is sorted where they are, as the queue's held tab says it
    reasons: list[Reason]  # the signal reasons the queue shows for them


@dataclass(frozen=True)
class PreviewGroup:
    """The sampled followers a draft sorts one way: suggested, below the threshold, or held by a rule."""

    key: str
    title: str
    count: int
    estimate: int  # the count scaled from the sample to every current follower
    examples: list[PreviewRow]


@dataclass(frozen=True)
class PolicyPreview:
    """How a draft policy would sort the brand's followers, from a deterministic sample of them.

    The groups use the queue's words: "suggested" followers go to the review queue (at most `queue_size` a
    day, best first), those "below the threshold" score too low to be suggested, and those "held by a rule" are
    kept out by a never-rule or by people's earlier decisions and show on the queue's "Held by rules" tab."""

    sampled: int
    is_everyone: (
        bool  # the sample holds every follower (there are fewer than PREVIEW_SAMPLE_SIZE): no estimate
    )
    followers: int  # the brand's current followers: all sampled, or as counted at their accounts' last syncs
    queue_size: int
    in_flight: int  # sampled followers whose approval waits for a second approver, left as they are
    groups: list[PreviewGroup]

    def group(self, key: str) -> PreviewGroup:
        return next(group for group in self.groups if group.key == key)


SUGGESTED, BELOW_THRESHOLD, HELD_BY_RULE = "suggested", "below_threshold", "held_by_rule"
GROUP_TITLES = {
    SUGGESTED: "Suggested",
    BELOW_THRESHOLD: "Below the threshold",
    HELD_BY_RULE: "Held by a rule",
}


def _preview_sample(brand: Brand, now: datetime) -> list[tuple[Any, ...]]:
    """The first PREVIEW_SAMPLE_SIZE of the brand's current followers in sample order: per account from the
    `follower_sample` index, then merged, so a million followers cost no more to sample than a thousand."""
    rows: list[tuple[Any, ...]] = []
    for account_id in ConnectedAccount.objects.connected().filter(brand=brand).values_list("pk", flat=True):
        followers = Follower.objects.following().filter(account_id=account_id).in_sample_order()
        rows.extend(follower_rows(followers, now, "sample_rank")[:PREVIEW_SAMPLE_SIZE])
    rows.sort(key=lambda row: (row[0], row[1]))
    return [row[1:] for row in rows[:PREVIEW_SAMPLE_SIZE]]


def preview_policy(brand: Brand, settings: PolicySettings) -> PolicyPreview:
    """How many of the brand's followers `settings` would suggest, leave below the threshold and hold by a
    rule, with a few examples of each and the reasons the queue would show for them.

    Reads at most PREVIEW_SAMPLE_SIZE of the brand's current followers (always the same ones, spread over the
    whole table by a hash of their id, see `accounts.models.sample_order`), computes every trust signal for
    them, applies the draft and, as the daily build does, keeps out those people's decisions keep out. Saving
    a draft that changes anything makes a new policy version, under which earlier rejections no longer hold.
    """
    now = timezone.now()
    rows = _preview_sample(brand, now)
    actors_of: dict[int, list[str]] = defaultdict(list)
    for row in rows:
        actors_of[row[ACCOUNT]].append(row[PLATFORM_ID])
    batch = follower_batch(rows, recent_engagement(brand, now, actors_of))
    decisions, results = decide_followers(batch.columns, brand_context(brand, settings), settings)
    current = PolicyVersion.objects.for_brand(brand).current()
    applied = current if current is not None and not diff(current.policy, settings) else None
    kept = kept_out(brand, applied, batch.ids.tolist())
    codes = kept.codes(batch)
    free = codes == NOT_KEPT_OUT
    members = {
        SUGGESTED: free & (decisions.verdict == Verdict.SUGGEST),
        BELOW_THRESHOLD: free & (decisions.verdict == Verdict.BELOW_THRESHOLD),
        HELD_BY_RULE: (codes >= 0) | (free & (decisions.verdict == Verdict.NEVER)),
    }
    is_everyone = len(rows) < PREVIEW_SAMPLE_SIZE
    synced = (
        ConnectedAccount.objects.connected().filter(brand=brand).values_list("followers_count", flat=True)
    )
    followers = len(rows) if is_everyone else max(sum(synced), len(rows))

    def group(key: str) -> PreviewGroup:
        found = np.flatnonzero(members[key])
        examples = [
            PreviewRow(
                batch.columns.handles[index],
                kept.rule_text(int(codes[index]), decisions, index),
                explain(results, index),
            )
            for index in found[:PREVIEW_EXAMPLES].tolist()
        ]
        estimate = round(len(found) * followers / len(rows)) if rows else 0
        return PreviewGroup(key, GROUP_TITLES[key], len(found), estimate, examples)

    return PolicyPreview(
        sampled=len(rows),
        is_everyone=is_everyone,
        followers=followers,
        queue_size=settings.queue_size,
        in_flight=int(np.count_nonzero(codes == IN_FLIGHT)),
        groups=[group(key) for key in GROUP_TITLES],
    )
