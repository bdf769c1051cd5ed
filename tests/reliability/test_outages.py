"""The broker and the database go away under real workers, and nothing is lost or done twice.

Redis and PostgreSQL here are private servers on free loopback ports (`private_services.py`): the shared ones
serve other runs and are never stopped. Redis runs like the shared one, without persistence, so a kill loses every
message it held; the database is the source of truth and the sweeper (called here every second, as beat would
call it every minute) sends again what is due but was never picked up. Moments and outage lengths are seeded.
"""

from __future__ import annotations

import math
import os
import random
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from celery import current_app
from django.conf import settings
from django.utils import timezone
from kombu.exceptions import OperationalError

from accounts.connections import request_sync
from accounts.jobs import JobStatus
from accounts.models import AuditEvent, Brand, SyncKind, SyncRun, User
from accounts.sync import WRITE_AT_LEAST
from followback.models import FollowAction, FollowState
from followback.tasks import sweep_jobs
from tests.fakes.mastodon import BRAND_ID, FakeMastodon, LoggedRequest, follower_id
from tests.followback.test_execution import approved_suggestion, follow_action, mastodon_account, set_policy
from tests.integration.test_sync_worker import assert_followers_are_exactly, syncs_settled
from tests.reliability.private_services import (
    PrivatePostgres,
    PrivateRedis,
    Workers,
    broker_of_this_process,
)
from tests.reliability.test_follow_faults import CountingFake
from tests.workers import ROOT, wait_until

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

FOLLOWERS_PATH = f"/api/v1/accounts/{BRAND_ID}/followers"


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path / "redis")
    server.start()
    try:
        with broker_of_this_process(server.url):
            yield server
    finally:
        server.kill()


def beat(
    workers: Workers, until: Callable[[], bool], seconds: float, *, outage_over: datetime | None = None
) -> int:
    """Every second until `until()` holds: start again any worker that exited (the deployment's restart policy)
    and run the sweeper (beat's job); returns how many jobs the sweeper sent again.

    Once Redis is back (`outage_over`), the sweeper's grace (two minutes) passes at once for due jobs whose message
    was sent before: those messages died with the server.
    """
    deadline = time.monotonic() + seconds
    sent = 0
    while not until():
        if time.monotonic() > deadline:
            raise AssertionError(f"not settled within {seconds}s")
        workers.revive()
        if outage_over is not None:
            now = timezone.now()
            passed = now - timedelta(seconds=settings.JOB_REDELIVERY_GRACE_SECONDS + 1)
            for model in (SyncRun, FollowAction):
                lost = model.objects.filter(
                    status=JobStatus.QUEUED, enqueued_at__lt=outage_over, run_after__lte=now
                )
                lost.update(run_after=passed, enqueued_at=passed)
        sent += sweep_jobs()
        time.sleep(1)
    return sent


def page_requests(requests: list[LoggedRequest]) -> list[str]:
    """The followers pages the fake answered, each named by its `max_id` ("" for the first page)."""
    return [
        request.query.get("max_id", [""])[0]
        for request in requests
        if request.path == FOLLOWERS_PATH and request.outcome == 200
    ]


# Redis killed and restarted.


def pages_saved(run: SyncRun) -> int:
    return SyncRun.objects.values_list("pages", flat=True).get(pk=run.pk)


def follows_done(ids: list[int]) -> int:
    return FollowAction.objects.filter(pk__in=ids, state=FollowState.DONE).count()


@pytest.mark.timeout(400)
def test_a_sync_keeps_every_page_once_when_redis_is_killed_twice_under_it(
    brand: Brand, private_redis: PrivateRedis, workers: Workers, worker_env: dict[str, str], queue: str
) -> None:
    worker_env["CELERY_BROKER_URL"] = private_redis.url
    outages = random.Random(41)
    followers = 4_800  # 60 pages of 80, then the empty page that ends the pass
    # Ten requests per two-second window: the run pauses at each window's end, so its next message waits in Redis.
    with FakeMastodon(follower_count=followers, rate_limit=10, rate_window=2) as fake:
        account = mastodon_account(brand, fake, followers_count=0)
        workers.start()
        run = request_sync(account, SyncKind.FOLLOWERS, by=None)
        lost, resent, outage_over = [], 0, None
        for _ in range(2):
            target = pages_saved(run) + outages.randint(8, 20)
            resent += beat(workers, lambda: pages_saved(run) >= target, 120, outage_over=outage_over)  # noqa: B023
            lost.append(private_redis.messages_held(queue))
            private_redis.restart(down_for=outages.uniform(0.5, 2.0))
            outage_over = timezone.now()
        resent += beat(workers, lambda: syncs_settled(account), 240, outage_over=outage_over)
        pages = page_requests(fake.requests)

    run.refresh_from_db()
    assert (run.status, run.complete, run.seen, run.created) == (JobStatus.DONE, True, followers, followers)
    assert_followers_are_exactly(account, {follower_id(position) for position in range(1, followers + 1)})
    assert len(pages) == len(set(pages)) == run.pages == followers // 80 + 1  # each page fetched once
    assert AuditEvent.objects.filter(verb="sync.finished", target_id=str(run.pk)).count() == 1
    print(f"sync of {followers:,} followers through {private_redis.restarts} Redis kills (messages lost: {lost}):"
          f" {run.pages} pages, each fetched once; {resent} jobs sent again by the sweeper; {workers.revived}"
          f" crashed workers restarted")  # fmt: skip


@pytest.mark.timeout(400)
def test_each_follow_is_asked_once_when_redis_is_killed_twice_while_follows_run(
    brand: Brand,
    approver: User,
    private_redis: PrivateRedis,
    workers: Workers,
    worker_env: dict[str, str],
    queue: str,
) -> None:
    worker_env["CELERY_BROKER_URL"] = private_redis.url
    outages = random.Random(43)
    count = 200
    set_policy(brand, approver, daily_follow_cap=1000)
    fake = CountingFake(follower_count=0, rate_limit=1_000_000)
    with fake:
        account = mastodon_account(brand, fake, followers_count=10_000)
        targets = [fake.add_account(f"person{n}@remote.example") for n in range(count)]
        ids = [
            follow_action(approved_suggestion(account, target, f"person{n}@remote.example"), approver).pk
            for n, target in enumerate(targets)
        ]
        workers.start()
        assert sweep_jobs() == count  # approved earlier, never sent: the first sweep sends them all
        lost, resent, outage_over = [], 0, None
        for _ in range(2):
            target = follows_done(ids) + outages.randint(40, 70)
            resent += beat(workers, lambda: follows_done(ids) >= target, 120, outage_over=outage_over)  # noqa: B023
            lost.append(private_redis.messages_held(queue))
            private_redis.restart(down_for=outages.uniform(0.5, 2.0))
            outage_over = timezone.now()
        resent += beat(workers, lambda: follows_done(ids) == count, 240, outage_over=outage_over)
        asked = Counter(
            request.path.split("/")[4] for request in fake.requests if request.path.endswith("/follow")
        )

    assert sorted(fake.follows_done) == sorted(targets)
    assert asked == Counter(targets)  # every follow asked of the platform exactly once
    assert not fake.redundant_follows
    assert AuditEvent.objects.filter(verb="follow.executed").count() == count
    assert sum(lost) > 0
    assert resent > 0
    print(f"{count} follows through {private_redis.restarts} Redis kills (messages lost: {lost}): "
          f"{len(fake.follows_done)} real follows, {sum(asked.values())} follow requests, {resent} jobs sent again "
          f"by the sweeper, {workers.revived} crashed workers restarted")  # fmt: skip


# PostgreSQL stopped and started.


def private_row(database_url: str, sql: str, *params: object) -> tuple[Any, ...]:
    """One row from the private cluster, over a connection of its own (the server may have restarted since)."""
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        row = conn.execute(sql, params).fetchone()
    assert row is not None
    return tuple(row)


def run_row(database_url: str, run_id: int) -> dict[str, Any]:
    names = ("status", "complete", "pages", "seen", "created", "attempts", "cursor")
    values = private_row(
        database_url, f"SELECT {', '.join(names)} FROM accounts_syncrun WHERE id = %s", run_id
    )
    return dict(zip(names, values, strict=True))


def stored_followers(database_url: str) -> int:
    return int(private_row(database_url, "SELECT count(*) FROM accounts_follower")[0])


def private_sync_settled(database_url: str, run_id: int) -> bool:
    done, active = private_row(
        database_url,
        "SELECT count(*) FILTER (WHERE id = %s AND status = 'done'),"
        " count(*) FILTER (WHERE status IN ('queued', 'running')) FROM accounts_syncrun",
        run_id,
    )
    return bool(done == 1 and active == 0)


def send_sweep() -> None:
    """What beat sends every minute; the worker runs the sweeper against its own (private) database."""
    try:
        current_app.send_task("followback.tasks.sweep_jobs")
    except OperationalError as error:  # pragma: no cover - the shared Redis is up for the whole test
        raise AssertionError(f"the shared broker did not take the sweeper's message: {error}") from error


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    try:
        server.start()
        server.create_database("fb_outage")
        yield server
    finally:
        server.remove()


@pytest.mark.timeout(400)
def test_a_sync_fails_cleanly_when_postgresql_restarts_and_resumes_from_its_saved_page(
    private_postgres: PrivatePostgres, workers: Workers, worker_env: dict[str, str]
) -> None:
    outages = random.Random(47)
    followers = 16_000  # 200 pages of 80, then the empty page that ends the pass
    modes = ("fast", "immediate")  # a clean shutdown, then a crash that the next start recovers from
    database = private_postgres.url("fb_outage")
    worker_env["DATABASE_URL"] = database
    with FakeMastodon(follower_count=followers, rate_limit=1_000_000) as fake:
        seeded = subprocess.run(
            [sys.executable, "-m", "tests.reliability.seed_private_database", fake.url],
            cwd=ROOT, env={**os.environ, **worker_env}, capture_output=True, text=True, check=True, timeout=180,
        )  # fmt: skip
        run_id = int(seeded.stdout.strip())
        workers.start()
        kept: list[tuple[int, int]] = []  # (pages the run had saved, followers stored) after each restart
        for mode in modes:
            target = run_row(database, run_id)["pages"] + outages.randint(25, 60)
            wait_until(lambda: run_row(database, run_id)["pages"] >= target, seconds=120)  # noqa: B023
            private_postgres.restart(mode, down_for=outages.uniform(0.5, 2.0))
            saved = run_row(database, run_id)
            assert saved["status"] == JobStatus.RUNNING
            assert saved["cursor"]
            kept.append((saved["pages"], stored_followers(database)))
            # The worker's task died on its broken connection; once its lease is over, beat's sweeper sends the
            # run again.
            with psycopg.connect(database) as conn:
                conn.execute(
                    "UPDATE accounts_syncrun SET lease_expires_at = now() - interval '1 second' WHERE id = %s",
                    [run_id],
                )
            send_sweep()
            wait_until(lambda: run_row(database, run_id)["pages"] > saved["pages"], seconds=120)  # noqa: B023
        deadline = time.monotonic() + 240
        while not private_sync_settled(database, run_id):
            assert time.monotonic() < deadline, "the sync did not finish"
            send_sweep()
            time.sleep(2)
        pages = page_requests(fake.requests)
    workers.stop_all()

    run = run_row(database, run_id)
    assert (run["status"], run["complete"], run["seen"], run["created"]) == (
        "done",
        True,
        followers,
        followers,
    )
    with psycopg.connect(database) as conn:
        stored = [row[0] for row in conn.execute("SELECT platform_id FROM accounts_follower")]
        events = conn.execute(
            "SELECT count(*), count(DISTINCT follower_id) FROM accounts_followevent"
        ).fetchone()
        finished = conn.execute(
            "SELECT count(*) FROM accounts_auditevent WHERE verb = 'sync.finished' AND target_id = %s",
            [str(run_id)],
        ).fetchone()
    assert len(stored) == len(set(stored)) == followers
    assert set(stored) == {follower_id(position) for position in range(1, followers + 1)}
    assert events == (followers, followers)
    assert finished == (1,)
    for pages_then, followers_then in kept:
        assert followers_then == pages_then * 80  # a page and the cursor past it commit together
    assert run["attempts"] == 1 + len(modes)  # one failed task per restart, each resumed by one new claim
    assert pages.count("") == 1  # the first page was never fetched again: each run resumed from its cursor
    assert len(set(pages)) == run["pages"] == followers // 80 + 1
    repeated = len(pages) - len(set(pages))
    # Only pages not yet committed come again: a write joins up to ceil(WRITE_AT_LEAST / 80) pages, two more wait
    # read ahead, one is in flight, and a crash may lose the last few commits (synchronous_commit is off).
    in_flight = math.ceil(WRITE_AT_LEAST / 80) + 3
    assert repeated <= 3 * in_flight * len(modes)
    print(f"sync of {followers:,} followers through {private_postgres.restarts} PostgreSQL restarts"
          f" ({', '.join(modes)}): {run['pages']} pages, {repeated} fetched again, {run['attempts']} claims,"
          f" resumed at pages {[pages_then for pages_then, _ in kept]}")  # fmt: skip
