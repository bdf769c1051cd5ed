"""Reading a brand's followers from the database into the columns that signals and policies work on."""

from __future__ import annotations

import json
import operator
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import reduce
from typing import Any

import numpy as np
from django.db import connection, transaction
from django.db.models import DateTimeField, F, FloatField, Func, Q, QuerySet, TextField, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast

from accounts.models import AccountStatus, Brand, ConnectedAccount, Follower, Interaction
from rules.models import PolicyVersion, Suggestion, SuggestionStatus
from rules.policy import FLAGS, Decisions, PolicySettings, Verdict, decide
from rules.signals import (
    AGE_COLUMNS,
    COUNT_COLUMNS,
    DAY,
    ENGAGEMENT_DECAY_DAYS,
    ENGAGEMENT_WINDOW_DAYS,
    FLAG_COLUMNS,
    KIND_WEIGHTS,
    Bools,
    BrandContext,
    FollowerColumns,
    Ints,
    SignalResult,
    compute_signals,
    engagement_weight,
)

FOLLOWER_FIELDS = (
    "id", "account_id", "platform_id", "handle", "display_name", "bio", "avatar_is_default", "is_bot",
    "is_locked", "is_group", "moved", "suspended", "limited", "is_following", "is_customer", "brand_follows", "followers_count",
    "following_count", "posts_count", "verified_links", "follow_count", "unfollow_count",
    "shortest_follow_seconds", "labels_text", *AGE_COLUMNS,
)  # fmt: skip
# The Follower field each age column counts the seconds since.
AGE_SOURCES = {
    "created_ago": "created_at",
    "last_post_ago": "last_post_at",
    "first_followed_ago": "first_followed_at",
    "last_followed_ago": "last_followed_at",
}
# The policy's names for the signals of rules/signals.py.
POLICY_SIGNAL_OF = {
    "bot": "bot_likelihood",
    "churn": "churn",
    "engagement": "engagement",
    "customer": "customer",
    "harmful": "harmful",
    "activity": "genuine_activity",
}


class SecondsBefore(Func):
    """Seconds from a datetime column to `now`, worked out by the database: reading a million timestamps into
    Python datetimes costs more than everything the signals then do with them."""

    output_field = FloatField()

    def __init__(self, column: str, now: datetime) -> None:
        super().__init__(Value(now, output_field=DateTimeField()), F(column))

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(compiler, connection, template="EXTRACT(EPOCH FROM (%(expressions)s))::float8",
                           arg_joiner=" - ", **extra)  # fmt: skip

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(compiler, connection, template="((julianday(%(expressions)s)) * 86400.0)",
                           arg_joiner=") - julianday(", **extra)  # fmt: skip


def follower_rows(
    followers: QuerySet[Follower], now: datetime, *first: str
) -> QuerySet[Follower, tuple[Any, ...]]:
    """The followers as `values_list(*first, *FOLLOWER_FIELDS)` rows, ages in seconds before `now`."""
    ages = {name: SecondsBefore(source, now) for name, source in AGE_SOURCES.items()}
    # Labels as text: decoding a million JSON values, nearly all "[]", costs seconds.
    labels = Cast("labels", TextField())
    return followers.annotate(labels_text=labels, **ages).values_list(*first, *FOLLOWER_FIELDS)


@dataclass(frozen=True)
class Engagement:
    weighted: float = 0.0
    counts: Mapping[str, int] | None = None


NO_ENGAGEMENT = Engagement()


def brand_context(brand: Brand, settings: PolicySettings) -> BrandContext:
    """The brand as signals see it: the handles of all its accounts (connected ones first, then any it
    disconnected, which are still its own), its name, the policy's lists."""
    accounts = ConnectedAccount.objects.filter(brand=brand).order_by("pk").values_list("handle", "status")
    ordered = sorted(accounts, key=lambda account: account[1] == AccountStatus.DISCONNECTED)
    handles = list(dict.fromkeys(handle for handle, _ in ordered))
    return BrandContext(
        handle=handles[0] if handles else brand.slug,
        other_handles=tuple(handles[1:]),
        display_name=brand.name,
        blocklist=settings.blocklist,
        always_follow=frozenset(settings.always_follow),
        never_follow=frozenset(settings.never_follow),
    )


def recent_engagement(
    brand: Brand, now: datetime, actors_of: Mapping[int, Sequence[str]] | None = None
) -> dict[tuple[int, str], Engagement]:
    """Each actor's engagement with the brand's accounts in the last 90 days, keyed by (account, actor id).

    `actors_of` narrows it to some actors of each account (actor ids by account id); by default it covers
    everyone. On PostgreSQL the database sums the weights (`_ENGAGEMENT_SQL`, the same formula as
    `rules.signals.engagement_weight`), so a million interactions come back as one row per actor.
    """
    since = now - timedelta(days=ENGAGEMENT_WINDOW_DAYS)
    accounts = list(ConnectedAccount.objects.filter(brand=brand).values_list("pk", flat=True))
    if connection.vendor != "postgresql":
        return _engagement_in_python(brand, now, since, actors_of)
    engagement = {}
    params: list[Any]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")  # compiling costs more than these queries take
        for account_id in accounts if actors_of is None else list(actors_of):
            if actors_of is None:
                source, params = (
                    "accounts_interaction i WHERE i.account_id = %s AND i.at >= %s",
                    [account_id, since],
                )
            else:
                # Each actor looked up through the (account, actor, at) index: as a join or an IN list the
                # planner scans every interaction instead; OFFSET 0 keeps the lookup per actor.
                source = """unnest(%s::text[]) AS actor(id), LATERAL (
                    SELECT actor_platform_id, kind, at FROM accounts_interaction
                    WHERE account_id = %s AND actor_platform_id = actor.id AND at >= %s OFFSET 0) i"""
                params = [list(actors_of[account_id]), account_id, since]
            cursor.execute(_ENGAGEMENT_SQL.format(source=source), [*_engagement_params(now), *params])
            for actor, weighted, *counts in cursor.fetchall():
                engagement[(account_id, actor)] = Engagement(
                    weighted, dict(zip(KIND_WEIGHTS, counts, strict=True))
                )
    return engagement


_ENGAGEMENT_SQL = (
    "SELECT i.actor_platform_id, SUM(CASE i.kind "
    + " ".join("WHEN %s THEN %s::float8" for _ in KIND_WEIGHTS)
    + " ELSE 0 END * EXP(-GREATEST(EXTRACT(EPOCH FROM (%s - i.at))::float8, 0) / %s)), "
    + ", ".join("COUNT(*) FILTER (WHERE i.kind = %s)" for _ in KIND_WEIGHTS)
    + " FROM {source} GROUP BY i.actor_platform_id"
)


def _engagement_params(now: datetime) -> list[Any]:
    weights = [value for pair in KIND_WEIGHTS.items() for value in pair]
    return [*weights, now, DAY * ENGAGEMENT_DECAY_DAYS, *KIND_WEIGHTS]


def _engagement_in_python(
    brand: Brand, now: datetime, since: datetime, actors_of: Mapping[int, Sequence[str]] | None
) -> dict[tuple[int, str], Engagement]:
    interactions = Interaction.objects.filter(account__brand=brand, at__gte=since)
    if actors_of is not None:
        narrowed = [
            Q(account_id=account, actor_platform_id__in=actors) for account, actors in actors_of.items()
        ]
        interactions = interactions.filter(reduce(operator.or_, narrowed, Q(pk__in=[])))
    rows = interactions.annotate(age=SecondsBefore("at", now)).values_list(
        "account_id", "actor_platform_id", "kind", "age"
    )
    weighted: dict[tuple[int, str], float] = defaultdict(float)
    counts: dict[tuple[int, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for account_id, actor, kind, age in rows.iterator(chunk_size=5000):
        weighted[(account_id, actor)] += engagement_weight(kind, age / DAY)
        counts[(account_id, actor)][kind] += 1
    return {key: Engagement(weighted[key], counts[key]) for key in weighted}


@dataclass(frozen=True, eq=False)
class FollowerBatch:
    """Followers read as columns: their ids and accounts, whether the brand follows them already, and what
    signals need to know about them."""

    ids: Ints
    account_ids: Ints
    brand_follows: Bools
    columns: FollowerColumns

    def __len__(self) -> int:
        return len(self.ids)


def follower_batch(
    rows: Sequence[tuple[Any, ...]], engagement: Mapping[tuple[int, str], Engagement]
) -> FollowerBatch:
    """Columns for follower rows read with `follower_rows`, with their engagement.

    Works column by column (one list per field, never a dict per row): this is the cost that dominates reading
    a million followers.
    """
    column = (
        dict(zip(FOLLOWER_FIELDS, zip(*rows, strict=True), strict=True))
        if rows
        else dict.fromkeys(FOLLOWER_FIELDS, ())
    )
    keys = zip(column["account_id"], column["platform_id"], strict=True)
    found = [engagement.get(key, NO_ENGAGEMENT) for key in keys]
    kinds = {
        f"{kind}_count": np.array([(item.counts or {}).get(kind, 0) for item in found], dtype=np.float64)
        for kind in ("reply", "mention", "repost", "like", "quote")
    }
    ages = {name: np.array(column[name], dtype=np.float64) for name in AGE_COLUMNS}
    values: dict[str, Any] = {
        "handles": list(column["handle"]),
        "display_names": list(column["display_name"]),
        "bios": list(column["bio"]),
        "labels": [() if text == "[]" else tuple(json.loads(text)) for text in column["labels_text"]],
        "engagement_weighted": np.array([item.weighted for item in found], dtype=np.float64),
    }
    values |= {name: np.array(column[name], dtype=np.bool_) for name in FLAG_COLUMNS}
    values |= {name: np.array(column[name], dtype=np.float64) for name in COUNT_COLUMNS if name in column}
    values |= kinds | ages
    columns = FollowerColumns(**values)
    return FollowerBatch(
        ids=np.array(column["id"], dtype=np.int64),
        account_ids=np.array(column["account_id"], dtype=np.int64),
        brand_follows=np.array(column["brand_follows"], dtype=np.bool_),
        columns=columns,
    )


ALREADY_FOLLOWED = "you already follow them"
NOT_KEPT_OUT = -1
IN_FLIGHT = (
    -2
)  # approved by a first reviewer, waiting for a second approver: the suggestion shows on its own tab


@dataclass(frozen=True, eq=False)
class KeptOut:
    """The followers whom people's decisions keep out of the queue whatever the policy says, each with the
    rule that says why in plain words.

    A follower kept out for several reasons gets the first of: a decision in flight (``IN_FLIGHT``, no rule:
    its suggestion stays where it is), the brand already following them (``brand_follows``), an approval, a
    rejection under this policy version, a suggestion left to expire under it."""

    ids: Ints  # sorted follower ids
    reasons: Ints  # per id, an index into `rules` or IN_FLIGHT
    rules: tuple[str, ...]  # the first is ALREADY_FOLLOWED

    def codes(self, batch: FollowerBatch) -> Ints:
        """Per follower of the batch: NOT_KEPT_OUT, IN_FLIGHT, or the index of its rule in `rules`."""
        codes = np.full(len(batch), NOT_KEPT_OUT, dtype=np.int64)
        if len(self.ids):
            at = np.minimum(np.searchsorted(self.ids, batch.ids), len(self.ids) - 1)
            found = self.ids[at] == batch.ids
            codes[found] = self.reasons[at[found]]
        codes[batch.brand_follows & (codes != IN_FLIGHT)] = 0
        return codes

    def rule_text(self, code: int, decisions: Decisions, index: int) -> str:
        """Why follower `index` of `decisions` is not suggested, or is, in words: what people's decisions say
        (`code` from `codes`), then any hard rule that holds them too; or else the policy's verdict."""
        verdict_rule = decisions.rule_text(index)
        if code < 0:
            return verdict_rule[:300]
        if decisions.verdict[index] == Verdict.NEVER:
            return f"{self.rules[code]}; also {verdict_rule}"[:300]
        return self.rules[code][:300]


_KEPT_OUT_ORDER: dict[str, int] = {
    SuggestionStatus.AWAITING_APPROVAL: 0,
    SuggestionStatus.APPROVED: 1,
    SuggestionStatus.REJECTED: 2,
    SuggestionStatus.EXPIRED: 3,
}


def _kept_out_rule(status: str, decided_at: datetime | None, created_at: datetime) -> str | None:
    if status == SuggestionStatus.AWAITING_APPROVAL:
        return None
    if status == SuggestionStatus.EXPIRED:
        return (
            f"suggested under this policy version on {_day(created_at)}, and nobody decided before it expired"
        )
    day = _day(decided_at or created_at)
    if status == SuggestionStatus.APPROVED:
        return f"approved for a follow on {day}"
    return f"rejected under this policy version on {day}"


def _day(moment: datetime) -> str:
    return f"{moment.day} {moment:%b %Y}"


def kept_out(
    brand: Brand, version: PolicyVersion | None, follower_ids: Sequence[int] | None = None
) -> KeptOut:
    """Who people's decisions keep out (see `KeptOut`), among `follower_ids` or every follower; `version` is
    the policy version being applied, None for a draft that would become a new one."""
    suggestions = Suggestion.objects.for_brand(brand).keeping_out(version)
    if follower_ids is not None and connection.vendor == "postgresql":
        # One array parameter: ten thousand placeholders cost more to send and plan than the query takes.
        sample = RawSQL("SELECT unnest(%s::bigint[])", [list(follower_ids)])
        suggestions = suggestions.filter(follower_id__in=sample)
    elif follower_ids is not None:
        suggestions = suggestions.filter(follower_id__in=follower_ids)
    found: dict[int, tuple[int, str | None]] = {}
    rows = suggestions.values_list("follower_id", "status", "decided_at", "created_at")
    for follower_id, status, decided_at, created_at in rows.iterator(chunk_size=50_000):
        order = _KEPT_OUT_ORDER[status]
        if follower_id not in found or order < found[follower_id][0]:
            found[follower_id] = (order, _kept_out_rule(status, decided_at, created_at))
    index_of = {ALREADY_FOLLOWED: 0}
    ids = sorted(found)
    reasons = [
        IN_FLIGHT if (rule := found[follower_id][1]) is None else index_of.setdefault(rule, len(index_of))
        for follower_id in ids
    ]
    return KeptOut(np.array(ids, dtype=np.int64), np.array(reasons, dtype=np.int64), tuple(index_of))


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
