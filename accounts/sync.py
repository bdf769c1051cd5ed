"""Bringing followers, whom the brand follows, profiles and engagement in from a platform, a page per transaction.

A followers pass writes each page with set-based SQL: the page is staged (COPY on PostgreSQL), then one
INSERT … ON CONFLICT DO UPDATE touches only new, returning or changed followers and records the follow events of
the new and returning ones, followers from before the pass are marked seen, and the run's cursor moves on, all in
one transaction. Re-running a page changes nothing. Only after a complete pass are followers who were not seen
marked as unfollowed, with one UPDATE. docs/sync.md tells the whole story.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

from django import db
from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper
from django.utils import timezone

from accounts.connections import connector_for, mark_auth_expired, request_sync
from accounts.crypto import CredentialsUnreadable
from accounts.customers import match_customers
from accounts.db import refresh_planner_statistics
from accounts.jobs import JobStatus, defer_job, fail_job, finish_job
from accounts.models import (
    AccountStatus,
    ConnectedAccount,
    Follower,
    FollowEventKind,
    Interaction,
    Platform,
    SeenFollower,
    SyncKind,
    SyncRun,
)
from accounts.platforms.base import (
    AuthExpired,
    FollowerPage,
    FollowingPage,
    InteractionData,
    PlatformError,
    ProfileData,
    RateLimited,
)
from accounts.services import record

PROFILE_COLUMNS = (
    "platform_id", "handle", "uri", "display_name", "bio", "avatar_url", "avatar_is_default", "profile_url",
    "created_at", "followers_count", "following_count", "posts_count", "last_post_at", "is_bot", "is_locked",
    "is_group", "moved", "suspended", "limited", "verified_links", "labels",
)  # fmt: skip
_COLUMN_TYPES = (
    "text", "text", "text", "text", "text", "text", "boolean", "text", "timestamptz", "bigint", "bigint", "bigint",
    "timestamptz", "boolean", "boolean", "boolean", "boolean", "boolean", "boolean", "smallint", "jsonb",
)  # fmt: skip
_COLUMNS = ", ".join(PROFILE_COLUMNS)
_STORED = [name for name in PROFILE_COLUMNS if name != "platform_id"]
_SECONDS_SINCE_LAST_FOLLOW = {
    "postgresql": "CAST(EXTRACT(EPOCH FROM (%(now)s - last_followed_at)) AS bigint)",
    "sqlite": "CAST((julianday(%(now)s) - julianday(last_followed_at)) * 86400 AS integer)",
}
_SMALLER = {"postgresql": "LEAST", "sqlite": "MIN"}
BIGGEST = 2**62


@dataclass(frozen=True)
class PageResult:
    seen: int
    created: int
    updated: int
    refollowed: int


def _profile_row(profile: ProfileData, adapt: Any) -> tuple[Any, ...]:
    return (
        profile.platform_id, profile.handle[:255], profile.uri[:500], profile.display_name[:255], profile.bio,
        profile.avatar_url[:500], profile.avatar_is_default, profile.profile_url[:500], adapt(profile.created_at),
        profile.followers_count, profile.following_count, profile.posts_count, adapt(profile.last_post_at),
        profile.is_bot, profile.is_locked, profile.is_group, profile.moved, profile.suspended, profile.limited,
        min(profile.verified_links, 32767), json.dumps(list(profile.labels)) if profile.labels else "[]",
    )  # fmt: skip


def _vendor() -> str:
    return connection.vendor


def _follower_column_of_staged_row(column: str, staged: str = "s") -> str:
    """One index lookup on (account_id, platform_id) per staged row.

    A correlated subquery on purpose: as a join, PostgreSQL plans from table statistics, which lag far behind
    during a first sync of a big account, and it would then hash every follower of the account for each page.
    """
    return (
        f"SELECT {column} FROM accounts_follower f"
        f" WHERE f.account_id = %(account)s AND f.platform_id = {staged}.platform_id"
    )


def _stage(
    cursor: CursorWrapper, profiles: Iterable[ProfileData], *, commit_asynchronously: bool = False
) -> int:
    """Load one page into the per-connection staging table, keeping the last copy of any duplicated id.

    `commit_asynchronously` lets PostgreSQL skip the transaction's fsync: for a followers page, whose run cursor
    commits with it, so a crash that loses the last commits only repeats pages."""
    unique = {profile.platform_id: profile for profile in profiles}
    adapt = connection.ops.adapt_datetimefield_value
    if _vendor() == "postgresql":
        defs = ", ".join(f"{name} {kind}" for name, kind in zip(PROFILE_COLUMNS, _COLUMN_TYPES, strict=True))
        # One round trip; the table is empty already, unless an outer transaction holds earlier pages.
        cursor.execute(
            ("SET LOCAL synchronous_commit = off; " if commit_asynchronously else "")
            + f"CREATE TEMP TABLE IF NOT EXISTS fb_stage ({defs}, follower_id bigint) ON COMMIT DELETE ROWS;"
            " DELETE FROM fb_stage"
        )
        with cursor.cursor.copy(f"COPY fb_stage ({_COLUMNS}) FROM STDIN") as copy:
            for profile in unique.values():
                copy.write_row(_profile_row(profile, adapt))
    else:
        cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS fb_stage ({_COLUMNS}, follower_id)")
        cursor.execute("DELETE FROM fb_stage")
        placeholders = ", ".join(["%s"] * len(PROFILE_COLUMNS))
        cursor.executemany(
            f"INSERT INTO fb_stage ({_COLUMNS}) VALUES ({placeholders})",
            [_profile_row(profile, adapt) for profile in unique.values()],
        )
    return len(unique)


def _write_recording_follow_events(
    cursor: CursorWrapper, write: str, params: dict[str, Any]
) -> tuple[int, int, int]:
    """Run `write`, an INSERT or UPDATE of followers, and record a follow event of `params["kind"]` for each row it
    touched that `came` (its RETURNING columns are id, created, came); returns (rows written, created, came).

    On PostgreSQL the events are written by the same statement; on SQLite the ids make one round trip.
    """
    if _vendor() == "postgresql":
        cursor.execute(
            f"""
            WITH written AS ({write}),
            events AS (INSERT INTO accounts_followevent (follower_id, kind, at, sync_run_id)
                       SELECT id, %(kind)s, %(now)s, %(run)s FROM written WHERE came)
            SELECT COUNT(*), COUNT(*) FILTER (WHERE created), COUNT(*) FILTER (WHERE came) FROM written
            """,
            params,
        )
        written, created, came = cursor.fetchone()
        return int(written), int(created), int(came)
    cursor.execute(write, params)
    rows = cursor.fetchall()
    cursor.executemany(
        "INSERT INTO accounts_followevent (follower_id, kind, at, sync_run_id) VALUES (%s, %s, %s, %s)",
        [
            (follower_id, params["kind"], params["now"], params["run"])
            for follower_id, _, came in rows
            if came
        ],
    )
    return len(rows), sum(1 for row in rows if row[1]), sum(1 for row in rows if row[2])


def _upsert_followers(cursor: CursorWrapper, params: dict[str, Any]) -> PageResult:
    """Insert new followers and rewrite changed or returning ones, with a follow event for each new or returning
    one; unchanged rows are not touched. A new row is one first followed now, a returning one last followed now."""
    select_columns = _COLUMNS.replace("labels", "labels::jsonb") if _vendor() == "postgresql" else _COLUMNS
    stored = ", ".join(f"accounts_follower.{name}" for name in _STORED)
    incoming = ", ".join(f"excluded.{name}" for name in _STORED)
    changed = (
        f"({stored}) IS DISTINCT FROM ({incoming})"
        if _vendor() == "postgresql"
        else f"({stored}) IS NOT ({incoming})"
    )
    written, created, came = _write_recording_follow_events(
        cursor,
        f"""
        INSERT INTO accounts_follower (account_id, {_COLUMNS}, is_following, first_followed_at, last_followed_at,
                                       follow_count, unfollow_count, is_customer, profile_refreshed_at)
        SELECT %(account)s, {select_columns}, TRUE, %(now)s, %(now)s, 1, 0, FALSE, %(refreshed)s
        FROM fb_stage WHERE TRUE
        ON CONFLICT (account_id, platform_id) DO UPDATE SET
            {", ".join(f"{name} = excluded.{name}" for name in _STORED)},
            is_following = TRUE,
            profile_refreshed_at = COALESCE(excluded.profile_refreshed_at, accounts_follower.profile_refreshed_at),
            last_followed_at = CASE WHEN accounts_follower.is_following
                                    THEN accounts_follower.last_followed_at ELSE excluded.last_followed_at END,
            follow_count = accounts_follower.follow_count
                           + CASE WHEN accounts_follower.is_following THEN 0 ELSE 1 END
        WHERE NOT accounts_follower.is_following OR {changed}
        RETURNING id, first_followed_at = %(now)s AS created, last_followed_at = %(now)s AS came
        """,
        params,
    )
    return PageResult(seen=0, created=created, updated=written - came, refollowed=came - created)


def _mark_seen(cursor: CursorWrapper, params: dict[str, Any]) -> None:
    """Note the staged followers who were already following before this pass, for finish_follower_pass; those
    who started (again) during the pass were last followed after it started."""
    cursor.execute(
        f"""
        INSERT INTO accounts_seenfollower (sync_run_id, follower_id)
        SELECT %(run)s, id FROM (
            SELECT ({_follower_column_of_staged_row("id")} AND f.last_followed_at < %(started)s) AS id FROM fb_stage s
        ) AS seen WHERE id IS NOT NULL
        ON CONFLICT DO NOTHING
        """,
        params,
    )


def apply_follower_page(
    run: SyncRun, page: FollowerPage, *, full_profiles: bool = True, platform_pages: int = 1
) -> PageResult:
    """Write one page of followers (joined from `platform_pages` of the platform's) and move the run's cursor past
    it, in one transaction.

    `full_profiles` says the page carries complete profiles (Mastodon, demo), so they count as refreshed;
    Bluesky's follower pages lack counts, which a profiles pass fills in.
    """
    now = timezone.now()
    if run.started_at is None:
        run.started_at = now
        run.save(update_fields=["started_at"])
    adapt = connection.ops.adapt_datetimefield_value
    db_now = adapt(now)
    params = {
        "account": run.account_id, "run": run.pk, "now": db_now, "started": adapt(run.started_at),
        "refreshed": db_now if full_profiles else None, "kind": FollowEventKind.FOLLOW.value,
    }  # fmt: skip
    with transaction.atomic(), connection.cursor() as cursor:
        seen = _stage(cursor, page.profiles, commit_asynchronously=True)
        result = replace(_upsert_followers(cursor, params), seen=seen)
        if seen > result.created + result.refollowed:
            _mark_seen(cursor, params)
        _advance_run(run, page, result, platform_pages)
    return result


def _advance_run(run: SyncRun, page: FollowerPage, result: PageResult, platform_pages: int) -> None:
    run.cursor = page.next_cursor or ""
    run.pages += platform_pages
    run.seen += result.seen
    run.created += result.created
    run.updated += result.updated
    run.refollowed += result.refollowed
    run.bad_records += page.bad_records
    run.lease_expires_at = timezone.now() + timedelta(seconds=run.lease_seconds)
    run.save(update_fields=["cursor", "pages", "seen", "created", "updated", "refollowed", "bad_records",
                            "lease_expires_at"])  # fmt: skip


def finish_follower_pass(run: SyncRun) -> int:
    """After a complete pass: everyone following since before it started but not seen in it has unfollowed."""
    now = timezone.now()
    adapt = connection.ops.adapt_datetimefield_value
    vendor = _vendor()
    followed_for = _SECONDS_SINCE_LAST_FOLLOW[vendor]
    started = run.started_at or now
    params = {"now": adapt(now), "started": adapt(started), "account": run.account_id, "run": run.pk,
              "kind": FollowEventKind.UNFOLLOW.value}  # fmt: skip
    with transaction.atomic(), connection.cursor() as cursor:
        _, _, unfollowed = _write_recording_follow_events(
            cursor,
            f"""
            UPDATE accounts_follower SET is_following = FALSE, unfollowed_at = %(now)s,
                unfollow_count = unfollow_count + 1,
                shortest_follow_seconds = {_SMALLER[vendor]}(COALESCE(shortest_follow_seconds, {BIGGEST}),
                                                             {followed_for})
            WHERE account_id = %(account)s AND is_following AND last_followed_at < %(started)s AND NOT EXISTS (
                SELECT 1 FROM accounts_seenfollower s
                WHERE s.sync_run_id = %(run)s AND s.follower_id = accounts_follower.id)
            RETURNING id, FALSE AS created, TRUE AS came
            """,
            params,
        )
        cursor.execute("DELETE FROM accounts_seenfollower WHERE sync_run_id = %s", [run.pk])
        run.unfollowed = unfollowed
        run.complete = True
        run.save(update_fields=["unfollowed", "complete"])
        following = run.account.followers.filter(is_following=True).count()
        ConnectedAccount.objects.filter(pk=run.account_id).update(
            last_synced_at=now, followers_count=following
        )
    return unfollowed


def apply_profiles(account: ConnectedAccount, profiles: Sequence[ProfileData]) -> int:
    """Refresh stored profiles of existing followers (no follow events: this is not a followers pass)."""
    if not profiles:
        return 0
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    labels = "s.labels::jsonb" if _vendor() == "postgresql" else "s.labels"
    assignments = ", ".join(f"{name} = s.{name}" for name in _STORED).replace("s.labels", labels)
    with transaction.atomic(), connection.cursor() as cursor:
        _stage(cursor, profiles)
        cursor.execute(
            f"UPDATE fb_stage SET follower_id = ({_follower_column_of_staged_row('id', 'fb_stage')})",
            {"account": account.pk},
        )
        cursor.execute(
            f"""
            UPDATE accounts_follower SET {assignments}, profile_refreshed_at = %s
            FROM fb_stage s WHERE accounts_follower.id = s.follower_id
            """,
            [now],
        )
        return cursor.rowcount


def store_interactions(account: ConnectedAccount, interactions: Iterable[InteractionData]) -> int:
    """Store engagement in batches; an event already stored (same platform id) is skipped."""
    received = 0
    items = iter(interactions)
    while batch := list(islice(items, 500)):
        Interaction.objects.bulk_create(
            [
                Interaction(
                    account=account,
                    actor_platform_id=item.actor.platform_id,
                    actor_handle=item.actor.handle[:255],
                    kind=item.kind.value,
                    at=item.created_at,
                    platform_event_id=item.platform_event_id[:255],
                )
                for item in batch
            ],
            ignore_conflicts=True,
        )
        received += len(batch)
    return received


def _waiting_for_rate_limit(connector: object) -> datetime | None:
    """When the platform says no requests are left in this window, the time the window resets."""
    state = getattr(connector, "rate_limit", None)
    if state is None or state.remaining is None or state.remaining > 0 or state.reset_at is None:
        return None
    return state.reset_at


class PassPaused(Exception):
    """The pass stopped early on purpose: its time budget ran out or the rate limit is spent."""

    def __init__(self, until: datetime, reason: str) -> None:
        super().__init__(reason)
        self.until = until
        self.reason = reason


WRITE_AT_LEAST = 1000


@contextmanager
def _reading_ahead(
    pages: Iterator[FollowerPage], connector: object
) -> Iterator[Iterator[tuple[FollowerPage, int]]]:
    """The pages of `pages`, fetched by a thread while earlier ones are written, so the platform's answers,
    parsing them and our database work overlap; small pages are joined into one of at least WRITE_AT_LEAST
    followers, with the number of platform pages it holds. The thread asks for no page once the platform's rate
    limit is spent, and ends with a PassPaused until it resets; errors arrive after the pages before them."""
    handoff: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def hand_over(kind: str, value: Any) -> None:
        while not stop.is_set():
            try:
                handoff.put((kind, value), timeout=0.1)
                return
            except queue.Full:
                continue

    def fetch() -> None:
        try:
            for page in pages:
                hand_over("page", page)
                if page.next_cursor is None or stop.is_set():
                    break
                if (reset_at := _waiting_for_rate_limit(connector)) is not None:
                    hand_over("error", PassPaused(reset_at, "waiting for the platform's rate limit to reset"))
                    return
        except Exception as error:  # handed to the writer, which raises it
            hand_over("error", error)
            return
        finally:
            db.connections.close_all()  # this thread's own, opened if the connector stored a refreshed session
        hand_over("end", None)

    def joined() -> Iterator[tuple[FollowerPage, int]]:
        pending: list[FollowerPage] = []
        followers = 0
        while True:
            kind, value = handoff.get()
            if kind == "page":
                pending.append(value)
                followers += len(value.profiles)
                if value.next_cursor is not None and followers < WRITE_AT_LEAST:
                    continue
            if pending:
                yield _joined_page(pending), len(pending)
                pending, followers = [], 0
            if kind == "error":
                raise value
            if kind == "end":
                return

    fetcher = threading.Thread(target=fetch, name="follower-pages", daemon=True)
    fetcher.start()
    try:
        yield joined()
    finally:
        stop.set()
        fetcher.join(timeout=60)


def _joined_page(pages: list[FollowerPage]) -> FollowerPage:
    if len(pages) == 1:
        return pages[0]
    return FollowerPage(
        profiles=[profile for page in pages for profile in page.profiles],
        next_cursor=pages[-1].next_cursor,
        bad_records=sum(page.bad_records for page in pages),
    )


def sync_follower_pages(run: SyncRun, connector: Any, deadline: datetime) -> None:
    """Page through followers from the run's saved cursor to the end, or until paused."""
    if run.complete:
        return  # a worker died after the pass ended: only the run's own ending is left
    if run.pages and not run.cursor:
        # A worker died after writing the last page (whose empty cursor means "no more"), before the pass ended:
        # without this, the empty cursor would read as "not started" and page through everyone again.
        finish_follower_pass(run)
        return
    full_profiles = run.account.platform != Platform.BLUESKY
    with _reading_ahead(connector.iter_follower_pages(run.cursor or None), connector) as pages:
        for page, platform_pages in pages:
            apply_follower_page(run, page, full_profiles=full_profiles, platform_pages=platform_pages)
            if page.next_cursor is None:
                break
            if timezone.now() >= deadline:
                raise PassPaused(timezone.now(), "continuing in a fresh task")
    finish_follower_pass(run)


def sync_following_pages(run: SyncRun, connector: Any, deadline: datetime) -> None:
    """Mark the followers the brand follows back, from the platform's list of whom it follows, page by page from
    the run's saved cursor; after a complete pass, those no longer on the list are no longer followed back."""
    if run.complete:
        return
    if not (run.pages and not run.cursor):  # else a worker died after the last page, before the pass ended
        for page in connector.iter_following_pages(run.cursor or None):
            _mark_followed_back(run, page)
            if page.next_cursor is None:
                break
            if (reset_at := _waiting_for_rate_limit(connector)) is not None:
                raise PassPaused(reset_at, "waiting for the platform's rate limit to reset")
            if timezone.now() >= deadline:
                raise PassPaused(timezone.now(), "continuing in a fresh task")
    with transaction.atomic():
        followers = run.account.followers
        run.unfollowed = (
            followers.filter(brand_follows=True)
            .exclude(pk__in=SeenFollower.objects.filter(sync_run=run).values("follower_id"))
            .update(brand_follows=False)
        )
        SeenFollower.objects.filter(sync_run=run).delete()
        run.complete = True
        run.save(update_fields=["unfollowed", "complete"])


def _mark_followed_back(run: SyncRun, page: FollowingPage) -> None:
    with transaction.atomic():
        listed = list(
            run.account.followers.filter(platform_id__in=page.ids).values_list("pk", "brand_follows")
        )
        newly = [pk for pk, follows in listed if not follows]
        Follower.objects.filter(pk__in=newly).update(brand_follows=True)
        SeenFollower.objects.bulk_create(
            [SeenFollower(sync_run=run, follower_id=pk) for pk, _ in listed], ignore_conflicts=True
        )
        run.cursor = page.next_cursor or ""
        run.pages += 1
        run.seen += len(page.ids)
        run.created += len(newly)
        run.lease_expires_at = timezone.now() + timedelta(seconds=run.lease_seconds)
        run.save(update_fields=["cursor", "pages", "seen", "created", "lease_expires_at"])


PROFILE_BATCH = 1000
PROFILE_STALE_AFTER = timedelta(days=7)


def refresh_profile_batches(run: SyncRun, connector: Any, deadline: datetime) -> None:
    """Look up new and stale profiles in batches; the cursor is the last follower id handled."""
    account = run.account
    stale_before = timezone.now() - PROFILE_STALE_AFTER
    while True:
        after = int(run.cursor or 0)
        batch = list(
            account.followers.needing_profile(stale_before)
            .filter(pk__gt=after)
            .order_by("pk")
            .values_list("pk", "platform_id")[:PROFILE_BATCH]
        )
        if not batch:
            return
        apply_profiles(account, connector.get_profiles([platform_id for _, platform_id in batch]))
        run.cursor = str(batch[-1][0])
        run.pages += 1
        run.seen += len(batch)
        run.save(update_fields=["cursor", "pages", "seen"])
        if (reset_at := _waiting_for_rate_limit(connector)) is not None:
            raise PassPaused(reset_at, "waiting for the platform's rate limit to reset")
        if timezone.now() >= deadline:
            raise PassPaused(timezone.now(), "continuing in a fresh task")


def sync_interaction_pages(run: SyncRun, connector: Any) -> None:
    """Store engagement since the last complete run (90 days back on the first)."""
    account = run.account
    started = timezone.now()
    since_text = account.settings.get("interactions_synced_at")
    since = datetime.fromisoformat(since_text) if since_text else started - timedelta(days=90)
    run.created = store_interactions(account, connector.iter_interactions(since))
    run.save(update_fields=["created"])
    if run.created:
        refresh_planner_statistics(Interaction)
    account.settings["interactions_synced_at"] = started.isoformat()
    account.save(update_fields=["settings"])


TASK_BUDGET = timedelta(minutes=4)
RETRY_BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1))


def execute_sync(run: SyncRun) -> None:
    """Carry a claimed run forward: to its end, to a pause (rate limit, time budget), or to a failure."""
    account = run.account
    if account.status != AccountStatus.ACTIVE:
        _finish_run(run, failed=f"{account} is {account.get_status_display().lower()}")
        return
    if run.started_at is None:
        run.started_at = timezone.now()
        run.save(update_fields=["started_at"])
    deadline = timezone.now() + TASK_BUDGET
    connector: Any = None
    try:
        connector = connector_for(account)
        if run.kind == SyncKind.FOLLOWERS:
            sync_follower_pages(run, connector, deadline)
        elif run.kind == SyncKind.PROFILES:
            refresh_profile_batches(run, connector, deadline)
        elif run.kind == SyncKind.FOLLOWING:
            sync_following_pages(run, connector, deadline)
        else:
            sync_interaction_pages(run, connector)
    except PassPaused as pause:
        defer_job(run, pause.until, pause.reason)
        return
    except RateLimited as limited:
        defer_job(run, timezone.now() + timedelta(seconds=limited.retry_after), str(limited))
        return
    except (AuthExpired, CredentialsUnreadable) as error:
        mark_auth_expired(account, str(error))
        _finish_run(run, failed=str(error))
        return
    except PlatformError as error:
        if run.attempts >= run.max_attempts:
            # The last attempt: the failure and its audit event commit together.
            _finish_run(run, failed=str(error))
        else:
            fail_job(run, str(error), retry_in=RETRY_BACKOFF[min(run.attempts, len(RETRY_BACKOFF)) - 1])
        return
    finally:
        if hasattr(connector, "close"):
            connector.close()  # its HTTP connections; the demo connector has none
    _finish_run(run)


def _finish_run(run: SyncRun, failed: str = "") -> None:
    account = run.account
    with transaction.atomic():
        run.finished_at = timezone.now()
        run.save(update_fields=["finished_at"])
        if failed:
            if run.status != JobStatus.FAILED:
                fail_job(run, failed)
            summary = f"{run.get_kind_display()} sync of {account} failed: {failed}"
        else:
            finish_job(run)
            summary = f"{run.get_kind_display()} sync of {account} finished: " + run_summary(run)
        record(
            account.brand,
            "sync.failed" if failed else "sync.finished",
            summary,
            actor=None,
            target=run,
            pages=run.pages,
            created=run.created,
            updated=run.updated,
            unfollowed=run.unfollowed,
        )
        if not failed and run.kind == SyncKind.FOLLOWERS:
            _after_follower_pass(account)


def _after_follower_pass(account: ConnectedAccount) -> None:
    if account.platform == Platform.DEMO:
        account.settings["sync_number"] = account.settings.get("sync_number", 0) + 1
        account.save(update_fields=["settings"])
    match_customers(account.brand)
    if account.followers.needing_profile(timezone.now() - PROFILE_STALE_AFTER).exists():
        request_sync(account, SyncKind.PROFILES, by=None)
    request_sync(account, SyncKind.INTERACTIONS, by=None)
    request_sync(account, SyncKind.FOLLOWING, by=None)


def run_summary(run: SyncRun) -> str:
    if run.kind == SyncKind.FOLLOWERS:
        return (
            f"{run.seen:,} followers seen, {run.created:,} new, {run.updated:,} changed, "
            f"{run.refollowed:,} came back, {run.unfollowed:,} unfollowed"
        )
    if run.kind == SyncKind.PROFILES:
        return f"{run.seen:,} profiles looked up"
    if run.kind == SyncKind.FOLLOWING:
        return (
            f"{run.seen:,} accounts you follow listed, {run.created:,} more followers followed back, "
            f"{run.unfollowed:,} no longer followed back"
        )
    return f"{run.created:,} interactions received"
