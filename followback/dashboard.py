"""What the brand home shows: followers over time, what waits, today's work, the approval rate and the syncs.

Every read is set-based and the page runs a constant number of queries whatever the brand's size:
- follower history comes from the followers sync runs' counters (new, came back, unfollowed per pass), not from
  the follow events, which would mean reading a million rows for a big account; an account's first complete pass
  is its starting point, not a day of new followers;
- queue counts stop at the nav badge's limit ("1,000+"), an index range that stops early;
- today's decisions, follows and the 30-day approval rate are one grouped query each.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db.models import Count, Exists, F, Min, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts.models import AccountStatus, AuditEvent, Brand, ConnectedAccount, SyncKind, SyncRun
from followback.audit import verb_label
from followback.models import Decision, DecisionKind, FollowAction, FollowState
from followback.templatetags.queue_tags import capped_count
from rules.models import Suggestion, SuggestionStatus
from rules.services import current_policy

HISTORY_DAYS = 30
RECENT_EVENTS = 8


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


@dataclass(frozen=True)
class Day:
    day: date
    followers: int  # at the end of the day
    new: int  # followed, or came back
    unfollowed: int


def follower_history(account_ids: list[int], followers_now: int, today: date) -> list[Day]:
    """Followers at the end of each of the last HISTORY_DAYS days, with new and unfollowed per day: two queries.

    Counted back from today's total: the day before had today's total less today's new plus today's unfollowed.
    The history starts on the day of the first complete followers pass: before it we knew nothing.
    """
    passes = SyncRun.objects.filter(account_id__in=account_ids, kind=SyncKind.FOLLOWERS)
    started = passes.filter(complete=True).aggregate(first=Min("finished_at"))["first"]
    if started is None:
        return []
    first = max(today - timedelta(days=HISTORY_DAYS - 1), started.astimezone(UTC).date())
    earlier_complete = passes.filter(account_id=OuterRef("account_id"), complete=True, pk__lt=OuterRef("pk"))
    per_day = (
        passes.filter(finished_at__gte=day_start(first))
        .annotate(day=TruncDate("finished_at", tzinfo=UTC), starting_point=~Exists(earlier_complete))
        .values("day")
        .order_by()
        .annotate(
            new=Sum(F("created") + F("refollowed"), filter=Q(starting_point=False), default=0),
            unfollowed=Sum("unfollowed", default=0),
        )
    )
    changes = {row["day"]: (row["new"], row["unfollowed"]) for row in per_day}
    days: list[Day] = []
    followers = followers_now
    for offset in range((today - first).days + 1):
        day = today - timedelta(days=offset)
        new, unfollowed = changes.get(day, (0, 0))
        days.append(Day(day, max(followers, 0), new, unfollowed))
        followers = followers - new + unfollowed
    days.reverse()
    return days


@dataclass(frozen=True)
class Point:
    x: float
    y: float


@dataclass(frozen=True)
class Bar:
    day: Day
    x: float
    width: float
    new_y: float
    new_height: float
    unfollowed_y: float
    unfollowed_height: float


@dataclass(frozen=True)
class Tick:
    x: float
    y: float
    label: str


@dataclass(frozen=True)
class Chart:
    """The two pictures of the follower history, laid out in SVG user units (viewBox 0 0 WIDTH HEIGHT)."""

    days: list[Day]
    line: str  # polyline points
    area: str  # polygon points under the line
    dots: list[tuple[Point, Day]]
    high: int
    low: int
    high_y: float
    low_y: float
    bars: list[Bar]
    baseline_y: float
    most_new: int
    most_unfollowed: int
    ticks: list[Tick]
    total_new: int
    total_unfollowed: int

    @property
    def has_history(self) -> bool:
        """Two days or more: a line needs two points."""
        return len(self.days) >= 2

    WIDTH = 960
    LINE_HEIGHT = 220
    BAR_HEIGHT = 170
    LEFT = 64
    RIGHT = 12
    TOP = 14
    BOTTOM = 26


def chart(days: list[Day]) -> Chart:
    """Where every point and bar goes; the template only draws them."""
    c = Chart
    if len(days) < 2:
        return Chart(days, "", "", [], 0, 0, 0, 0, [], 0, 0, 0, [], sum(d.new for d in days),
                     sum(d.unfollowed for d in days))  # fmt: skip
    plot_width = c.WIDTH - c.LEFT - c.RIGHT
    step = plot_width / len(days)
    centre = [c.LEFT + step * (i + 0.5) for i in range(len(days))]

    values = [d.followers for d in days]
    high, low = max(values), min(values)
    pad = max(1, round((high - low) * 0.1))
    top_value, bottom_value = high + pad, max(0, low - pad)
    plot_height = c.LINE_HEIGHT - c.TOP - c.BOTTOM

    def y_of(value: int) -> float:
        return round(c.TOP + plot_height * (top_value - value) / (top_value - bottom_value), 1)

    points = [Point(round(x, 1), y_of(d.followers)) for x, d in zip(centre, days, strict=True)]
    line = " ".join(f"{p.x},{p.y}" for p in points)
    floor = c.LINE_HEIGHT - c.BOTTOM
    area = f"{points[0].x},{floor} {line} {points[-1].x},{floor}"

    most_new = max(d.new for d in days)
    most_unfollowed = max(d.unfollowed for d in days)
    bar_plot = c.BAR_HEIGHT - c.TOP - c.BOTTOM
    scale = bar_plot / max(most_new + most_unfollowed, 1)
    baseline = c.TOP + (most_new * scale if most_new + most_unfollowed else bar_plot / 2)
    width = round(step * 0.7, 1)
    bars = [
        Bar(
            day=d,
            x=round(x - width / 2, 1),
            width=width,
            new_y=round(baseline - d.new * scale, 1),
            new_height=round(d.new * scale, 1),
            unfollowed_y=round(baseline, 1),
            unfollowed_height=round(d.unfollowed * scale, 1),
        )
        for x, d in zip(centre, days, strict=True)
    ]
    ticks = [
        Tick(round(centre[i], 1), 0, f"{days[i].day:%-d %b}") for i in (0, len(days) // 2, len(days) - 1)
    ]
    return Chart(
        days=days,
        line=line,
        area=area,
        dots=list(zip(points, days, strict=True)),
        high=high,
        low=low,
        high_y=y_of(high),
        low_y=y_of(low),
        bars=bars,
        baseline_y=round(baseline, 1),
        most_new=most_new,
        most_unfollowed=most_unfollowed,
        ticks=ticks,
        total_new=sum(d.new for d in days),
        total_unfollowed=sum(d.unfollowed for d in days),
    )


def accounts_with_last_sync(brand: Brand) -> QuerySet[ConnectedAccount]:
    """The brand's connected accounts, each with its newest sync run's kind, status, end and error: one query."""
    newest = SyncRun.objects.filter(account_id=OuterRef("pk")).order_by("-id")
    return (
        ConnectedAccount.objects.filter(brand=brand)
        .connected()
        .annotate(
            run_kind=Subquery(newest.values("kind")[:1]),
            run_status=Subquery(newest.values("status")[:1]),
            run_finished_at=Subquery(newest.values("finished_at")[:1]),
            run_error=Subquery(newest.values("last_error")[:1]),
        )
        .order_by("platform", "handle")
    )


@dataclass(frozen=True)
class PersonToday:
    name: str
    approved: int
    rejected: int
    later: int
    total: int


def decisions_today(brand: Brand, since: datetime) -> list[PersonToday]:
    """Each person's decisions since `since`, most active first: one grouped query."""
    approving = [DecisionKind.APPROVE, DecisionKind.PROPOSE]
    rows = (
        Decision.objects.for_brand(brand)
        .filter(created_at__gte=since)
        .values("actor_id", "actor__name", "actor__email")
        .order_by()
        .annotate(
            approved=Count("id", filter=Q(kind__in=approving)),
            rejected=Count("id", filter=Q(kind=DecisionKind.REJECT)),
            later=Count("id", filter=Q(kind=DecisionKind.LATER)),
            total=Count("id"),
        )
    )
    people = [
        PersonToday(
            name=row["actor__name"] or row["actor__email"] or "A former member",
            approved=row["approved"],
            rejected=row["rejected"],
            later=row["later"],
            total=row["total"],
        )
        for row in rows
    ]
    return sorted(people, key=lambda p: (-p.total, p.name.lower()))


@dataclass(frozen=True)
class Follows:
    done_today: int
    in_flight: int  # including those waiting for tomorrow
    waiting_for_tomorrow: int  # approved today over the cap, or moved there by it
    failed: int
    cap_per_account: int
    accounts: int

    @property
    def cap(self) -> int:
        """Today's most follows for the brand: the policy's cap applies to each connected account."""
        return self.cap_per_account * max(self.accounts, 1)

    @property
    def cap_percent(self) -> int:
        return min(100, round(100 * self.done_today / self.cap)) if self.cap else 0


def follows_today(brand: Brand, since: datetime, accounts: int) -> Follows:
    """Follow-backs executed since `since` (a midnight) against the daily cap, those still going (and how many of
    them wait for the next day's cap) and those failed: two queries."""
    counts = FollowAction.objects.for_brand(brand).aggregate(
        done_today=Count("id", filter=Q(state=FollowState.DONE, executed_at__gte=since)),
        in_flight=Count("id", filter=Q(state__in=FollowState.in_flight())),
        waiting_for_tomorrow=Count(
            "id", filter=Q(state__in=FollowState.in_flight(), run_after__gte=since + timedelta(days=1))
        ),
        failed=Count("id", filter=Q(state=FollowState.FAILED)),
    )
    cap = current_policy(brand).policy.daily_follow_cap
    return Follows(**counts, cap_per_account=cap, accounts=accounts)


@dataclass(frozen=True)
class ApprovalRate:
    approved: int
    rejected: int

    @property
    def decided(self) -> int:
        return self.approved + self.rejected

    @property
    def percent(self) -> int | None:
        return round(100 * self.approved / self.decided) if self.decided else None


def approval_rate(brand: Brand, since: datetime) -> ApprovalRate:
    """Of the suggestions finally decided since `since`, how many were approved: one query."""
    counts = (
        Suggestion.objects.for_brand(brand)
        .filter(decided_at__gte=since)
        .aggregate(
            approved=Count("id", filter=Q(status=SuggestionStatus.APPROVED)),
            rejected=Count("id", filter=Q(status=SuggestionStatus.REJECTED)),
        )
    )
    return ApprovalRate(**counts)


def queue_counts(brand: Brand) -> dict[str, int]:
    """What waits, each count capped like the nav badge's (three short index range scans)."""
    suggestions = Suggestion.objects.for_brand(brand)
    return {
        "pending": capped_count(suggestions.pending().unexpired()),
        "awaiting": capped_count(suggestions.filter(status=SuggestionStatus.AWAITING_APPROVAL)),
        "held": capped_count(suggestions.held()),
    }


@dataclass(frozen=True)
class RecentEvent:
    event: AuditEvent
    label: str


def brand_dashboard(brand: Brand) -> dict[str, Any]:
    """Everything the brand home shows, for the template context."""
    now = timezone.now()
    today = now.astimezone(UTC).date()
    since_midnight = day_start(today)
    accounts = list(accounts_with_last_sync(brand))
    followers_now = sum(account.followers_count for account in accounts)
    history = follower_history([a.pk for a in accounts], followers_now, today)
    events = AuditEvent.objects.for_brand(brand).newest_first().select_related("actor")[:RECENT_EVENTS]
    return {
        "accounts": accounts,
        "followers_now": followers_now,
        "chart": chart(history),
        "queue_counts": queue_counts(brand),
        "people_today": decisions_today(brand, since_midnight),
        "follows": follows_today(
            brand, since_midnight, sum(a.status == AccountStatus.ACTIVE for a in accounts)
        ),
        "approval": approval_rate(brand, now - timedelta(days=HISTORY_DAYS)),
        "recent_events": [RecentEvent(e, verb_label(e.verb)) for e in events],
    }
