"""Reading a brand's followers from the database into the columns that signals and policies work on."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from django.db.models import QuerySet

from accounts.models import Brand, ConnectedAccount, Follower, Interaction
from rules.policy import FLAGS, Decisions, PolicySettings, decide
from rules.signals import (
    ENGAGEMENT_WINDOW_DAYS,
    BrandContext,
    FollowerColumns,
    SignalResult,
    compute_signals,
    engagement_weight,
)

FOLLOWER_FIELDS = (
    "id", "account_id", "platform_id", "handle", "display_name", "bio", "labels", "avatar_is_default", "is_bot",
    "is_locked", "is_group", "moved", "suspended", "limited", "is_following", "is_customer", "followers_count",
    "following_count", "posts_count", "verified_links", "follow_count", "unfollow_count",
    "shortest_follow_seconds", "created_at", "last_post_at", "first_followed_at", "last_followed_at",
)  # fmt: skip
# The policy's names for the signals of rules/signals.py.
POLICY_SIGNAL_OF = {
    "bot": "bot_likelihood",
    "churn": "churn",
    "engagement": "engagement",
    "customer": "customer",
    "harmful": "harmful",
    "activity": "genuine_activity",
}


@dataclass(frozen=True)
class Engagement:
    weighted: float = 0.0
    counts: Mapping[str, int] | None = None


def brand_context(brand: Brand, settings: PolicySettings) -> BrandContext:
    """The brand as signals see it: its first connected account's handle, its name, the policy's lists."""
    account = ConnectedAccount.objects.connected().filter(brand=brand).order_by("pk").first()
    return BrandContext(
        handle=account.handle if account else brand.slug,
        display_name=brand.name,
        blocklist=settings.blocklist,
        always_follow=frozenset(settings.always_follow),
        never_follow=frozenset(settings.never_follow),
    )


def recent_engagement(
    brand: Brand, now: datetime, actors: Collection[str] | None = None
) -> dict[tuple[int, str], Engagement]:
    """Each actor's engagement with the brand's accounts in the last 90 days, keyed by (account, actor id);
    only of the given actors when `actors` names them."""
    since = now - timedelta(days=ENGAGEMENT_WINDOW_DAYS)
    interactions = Interaction.objects.filter(account__brand=brand, at__gte=since)
    if actors is not None:
        interactions = interactions.filter(actor_platform_id__in=list(actors))
    rows = interactions.values_list("account_id", "actor_platform_id", "kind", "at")
    weighted: dict[tuple[int, str], float] = defaultdict(float)
    counts: dict[tuple[int, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for account_id, actor, kind, at in rows.iterator(chunk_size=5000):
        weighted[(account_id, actor)] += engagement_weight(kind, (now - at).total_seconds() / 86_400)
        counts[(account_id, actor)][kind] += 1
    return {key: Engagement(weighted[key], counts[key]) for key in weighted}


def follower_columns(
    rows: Sequence[Mapping[str, object]], engagement: Mapping[tuple[int, str], Engagement], now: datetime
) -> FollowerColumns:
    """Columns for follower rows (dicts of FOLLOWER_FIELDS) with their engagement."""
    records = []
    for row in rows:
        found = engagement.get((row["account_id"], row["platform_id"]), Engagement())  # type: ignore[arg-type]
        counts = found.counts or {}
        records.append(
            {**row, "engagement_weighted": found.weighted,
             **{f"{kind}_count": counts.get(kind, 0) for kind in ("reply", "mention", "repost", "like", "quote")}}
        )  # fmt: skip
    return FollowerColumns.from_records(records, now)


def current_followers(brand: Brand) -> QuerySet[Follower]:
    return Follower.objects.following().filter(
        account__in=ConnectedAccount.objects.connected().filter(brand=brand)
    )


def decide_followers(
    cols: FollowerColumns, ctx: BrandContext, settings: PolicySettings
) -> tuple[Decisions, dict[str, SignalResult]]:
    """Every signal for these followers, and the policy's verdict on each."""
    results = compute_signals(cols, ctx)
    values = {name: results[signal].values for name, signal in POLICY_SIGNAL_OF.items()}
    flags = {flag: results["harmful"].parts[flag] > 0 for flag in FLAGS}
    churn_cycles = np.nan_to_num(cols.unfollow_count, nan=0.0).astype(np.int64)
    return decide(values, flags, churn_cycles, cols.handles, settings), results
