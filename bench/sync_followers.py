"""Benchmark: a demo account's followers sync on PostgreSQL, against the database's own ingest ceiling.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/followback_bench .venv/bin/python bench/sync_followers.py \
        --followers 1000000

Each measurement runs in a fresh process so its peak memory (RSS) is its own. Prints a table and writes
bench/results/<date>-sync.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "followback.settings")
    import django

    django.setup()


def peak_rss_mb() -> float:
    """This process's own peak resident memory (VmHWM). Not getrusage's ru_maxrss: Linux carries that across
    exec, so a child of a big driver would report the driver's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_ceiling(followers: int) -> dict[str, float]:
    """Raw psycopg COPY of the follower rows into a staging table plus one INSERT … ON CONFLICT DO UPDATE into the
    real followers table (for a throwaway account, removed afterwards), with its indexes and its other rows."""
    from django.db import connection

    from accounts import connections
    from accounts.platforms.demo import DemoConnector
    from accounts.sync import PROFILE_COLUMNS, _profile_row

    connector = DemoConnector(seed=99, follower_count=followers, brand_handle="ceiling")
    adapt = connection.ops.adapt_datetimefield_value
    rows = [_profile_row(p, adapt) for page in connector.iter_follower_pages(None) for p in page.profiles]
    columns = ", ".join(PROFILE_COLUMNS)
    connections.send_jobs = lambda *args, **kwargs: None
    brand, user = bench_brand("ceiling")
    account = connections.connect_demo(brand, followers, by=user)
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_stage")
        cursor.execute(
            "CREATE TEMP TABLE bench_stage AS SELECT " + columns + " FROM accounts_follower LIMIT 0"
        )
        started = time.perf_counter()
        with cursor.cursor.copy(f"COPY bench_stage ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        updates = ", ".join(f"{c} = excluded.{c}" for c in PROFILE_COLUMNS if c != "platform_id")
        cursor.execute(
            f"""INSERT INTO accounts_follower (account_id, {columns}, is_following, first_followed_at,
                    last_followed_at, follow_count, unfollow_count, is_customer)
                SELECT %s, {columns}, TRUE, now(), now(), 1, 0, FALSE FROM bench_stage
                ON CONFLICT (account_id, platform_id) DO UPDATE SET {updates}""",
            [account.pk],
        )
        elapsed = time.perf_counter() - started
        cursor.execute("DROP TABLE bench_stage")
    drop_bench_brands()
    return {"seconds": elapsed, "rows_per_s": followers / elapsed}


def bench_brand(name: str) -> tuple[Any, Any]:
    """A throwaway brand (`bench-…`, removed by drop_bench_brands) and an admin of it to act for it (a sync runs
    only when asked for by its brand's team)."""
    from accounts.models import Brand, Membership, Role, User

    stamp = datetime.now(UTC).strftime("%H%M%S%f")
    brand = Brand.objects.create(name=f"Bench {name} {stamp}", slug=f"bench-{name}-{stamp}")
    user = User.objects.create_user(f"bench-{name}-{stamp}@bench.invalid", None)
    Membership.objects.create(user=user, brand=brand, role=Role.ADMIN)
    return brand, user


BENCH_ROWS = (
    ("accounts_brand", "SELECT id FROM accounts_brand WHERE slug LIKE 'bench-%%'"),
    ("accounts_connectedaccount", "SELECT id FROM accounts_connectedaccount WHERE brand_id IN (SELECT id FROM gone_accounts_brand)"),
    ("accounts_follower", "SELECT id FROM accounts_follower WHERE account_id IN (SELECT id FROM gone_accounts_connectedaccount)"),
    ("accounts_user", "SELECT id FROM accounts_user WHERE email LIKE '%%@bench.invalid'"),
)  # fmt: skip


def drop_bench_brands() -> None:
    """Remove the throwaway brands and users the measures made, with every row that refers to them, set-based
    (the foreign keys are checked at commit, so the order of the deletes does not matter)."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        for table, rows in BENCH_ROWS:
            cursor.execute(f"CREATE TEMP TABLE gone_{table} ON COMMIT DROP AS {rows}")
        for table, _ in BENCH_ROWS:
            cursor.execute(
                """SELECT c.conrelid::regclass::text, a.attname FROM pg_constraint c
                   JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
                   WHERE c.contype = 'f' AND c.confrelid = %s::regclass""",
                [table],
            )
            for referencing, column in cursor.fetchall():
                cursor.execute(f'DELETE FROM {referencing} WHERE "{column}" IN (SELECT id FROM gone_{table})')
            cursor.execute(f"DELETE FROM {table} WHERE id IN (SELECT id FROM gone_{table})")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) accounts_follower, accounts_followevent")


def measure_sync(followers: int, passes: int) -> dict[str, object]:
    """Connect a fresh demo account and run the real sync task in this process, pass after pass."""
    from accounts import connections
    from accounts.jobs import claim_job
    from accounts.models import SyncKind, SyncRun
    from accounts.tasks import run_sync

    brand, user = bench_brand("sync")
    connections.send_jobs = lambda *args, **kwargs: None  # the benchmark drives the task itself
    account = connections.connect_demo(brand, followers, by=user)
    results = []
    for number in range(passes):
        run = connections.request_sync(account, SyncKind.FOLLOWERS, by=None)
        started = time.perf_counter()
        while SyncRun.objects.filter(pk=run.pk, status__in=["queued", "running"]).exists():
            SyncRun.objects.filter(pk=run.pk).update(run_after=datetime.now(UTC))
            if claim_job(SyncRun, run.pk) is not None:
                SyncRun.objects.filter(pk=run.pk).update(status="queued", attempts=0)
            run_sync.run(run.pk)
        elapsed = time.perf_counter() - started
        run.refresh_from_db()
        results.append({"pass": number + 1, "seconds": elapsed, "followers_per_s": run.seen / elapsed,
                        "seen": run.seen, "created": run.created, "updated": run.updated,
                        "unfollowed": run.unfollowed, "refollowed": run.refollowed})  # fmt: skip
        account.refresh_from_db()
    drop_bench_brands()
    return {"passes": results, "peak_rss_mb": peak_rss_mb()}


def child(kind: str, followers: int) -> None:
    setup_django()
    result = measure_ceiling(followers) if kind == "ceiling" else measure_sync(followers, passes=2)
    print(json.dumps(result))


def run_child(kind: str, followers: int) -> dict:
    output = subprocess.run([sys.executable, __file__, "--child", kind, "--followers", str(followers)],
                            check=True, stdout=subprocess.PIPE, text=True, cwd=ROOT).stdout  # fmt: skip
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--followers", type=int, default=1_000_000)
    parser.add_argument(
        "--small", type=int, default=100_000, help="the smaller size for the memory comparison"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of the ceiling, for the median")
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.followers)
        return
    ceiling = statistics.median(
        run_child("ceiling", args.followers)["rows_per_s"] for _ in range(args.repeat)
    )
    large = run_child("sync", args.followers)
    small = run_child("sync", args.small)
    first, second = large["passes"]
    table = [
        ("ingest ceiling (COPY + INSERT … ON CONFLICT)", f"{ceiling:,.0f} rows/s", "1.00"),
        (f"first sync, {args.followers:,} followers", f"{first['followers_per_s']:,.0f} followers/s",
         f"{first['followers_per_s'] / ceiling:.2f}"),
        (f"re-sync ({second['updated']:,} changed, {second['unfollowed']:,} unfollowed)",
         f"{second['followers_per_s']:,.0f} followers/s", f"{second['followers_per_s'] / ceiling:.2f}"),
        (f"peak RSS at {args.small:,} / {args.followers:,}", f"{small['peak_rss_mb']:.0f} / {large['peak_rss_mb']:.0f} MB",
         f"{large['peak_rss_mb'] / small['peak_rss_mb']:.2f}x"),
    ]  # fmt: skip
    width = max(len(row[0]) for row in table)
    print(f"{'measure':<{width}}  {'value':>26}  vs ceiling")
    for name, value, ratio in table:
        print(f"{name:<{width}}  {value:>26}  {ratio}")
    result = {"date": datetime.now(UTC).isoformat(), "machine": f"{os.cpu_count()} cores", "ceiling": ceiling,
              "sync": large, "small_sync": small}  # fmt: skip
    out = ROOT / "bench" / "results" / f"{datetime.now(UTC):%Y-%m-%d}-sync.json"
    out.write_text(json.dumps(result, indent=2))
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
