"""`make bench`: the measures of issue 6 in one run, each figure a median and each speed against a same-run reference.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/fb_bench .venv/bin/python bench/run.py            # 1,000,000
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/fb_bench2 .venv/bin/python bench/run.py --scale 0.01

In priority order: (a) the ingest ceiling, a full sync and a re-sync through the real sync task, peak RSS at two sizes
(bench/sync_followers.py, fresh processes); (b) signals, scoring and the queue build (bench/queue_build.py); (c) the
queue page through a real gunicorn server on loopback, p50/p95 and its query count; (d) decisions through the htmx
endpoint; (e) the policy preview. `--scale` shrinks every size (0.01: 10,000 followers, 2,000 pending suggestions,
50 requests). The brand (`acme-coffee`, the demo's) is seeded and synced first when it is missing, so a fresh
database works. Prints a table and writes bench/results/<date>.json (or `--out`).
"""

from __future__ import annotations

import argparse
import http.cookies
import json
import os
import platform
import secrets
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import platform_sync
import queue_build
import sync_followers
from sync_followers import ROOT, setup_django

FULL_FOLLOWERS = 1_000_000
FULL_PENDING = 200_000
FULL_REQUESTS = 500
FULL_HTTP_FOLLOWERS = 100_000
FULL_FOLLOWS = 1_000
NEIGHBOURS = 5
MEASURES = ("sync", "http_sync", "pacing", "queue_build", "queue_page", "decisions", "follows", "preview")
REVIEWER = "reviewer@demo.test"


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def timings(values: list[float]) -> dict[str, float]:
    """Milliseconds: median, 95th percentile and the number of samples."""
    ms = [value * 1000 for value in values]
    return {"p50_ms": statistics.median(ms), "p95_ms": p95(ms), "n": len(ms)}


# --- the brand under test -------------------------------------------------------------------------------------


def drive_sync_runs(account_id: int) -> None:
    """Run every queued sync of the account in this process (followers, then the profiles and engagement it asks
    for), as a worker would."""
    from accounts.jobs import claim_job
    from accounts.models import SyncRun
    from accounts.tasks import run_sync

    while run := SyncRun.objects.filter(account_id=account_id).active().order_by("pk").first():
        SyncRun.objects.filter(pk=run.pk).update(run_after=datetime.now(UTC))
        if claim_job(SyncRun, run.pk) is not None:
            SyncRun.objects.filter(pk=run.pk).update(status="queued", attempts=0)
        run_sync.run(run.pk)


def ensure_brand(slug: str, followers: int) -> None:
    """The demo brand with `followers` synced followers: seeded (as `manage.py seed_demo`) when it is missing."""
    from django.core.management import call_command

    from accounts import connections
    from accounts.models import ConnectedAccount, Follower

    if Follower.objects.filter(account__brand__slug=slug).exists():
        return
    connections.send_jobs = lambda *args, **kwargs: None  # this process drives the jobs itself
    call_command("seed_demo", followers=followers, stdout=open(os.devnull, "w"))  # noqa: SIM115
    for account in ConnectedAccount.objects.filter(brand__slug=slug):
        drive_sync_runs(account.pk)


def ensure_neighbours(slug: str, count: int) -> None:
    """`count` other brands as big as `slug` (`neighbour-1`…), each a copy of its followers under a demo account
    of its own, so the measured brand shares every table and index with others of its size."""
    from django.db import connection, transaction

    from accounts import connections
    from accounts.models import Brand, Follower, User

    source = Brand.objects.get(slug=slug)
    source_accounts = list(source.connected_accounts.values_list("pk", flat=True))
    columns = [
        field.column for field in Follower._meta.concrete_fields if field.column not in ("id", "account_id")
    ]
    owner = User.objects.get(email="admin@demo.test")
    connections.send_jobs = lambda *args, **kwargs: None
    for number in range(1, count + 1):
        neighbour, _ = Brand.objects.get_or_create(
            slug=f"neighbour-{number}", defaults={"name": f"Neighbour {number}"}
        )
        if Follower.objects.filter(account__brand=neighbour).exists():
            continue
        account = connections.connect_demo(neighbour, 0, by=owner)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"""INSERT INTO accounts_follower (account_id, {", ".join(columns)})
                    SELECT %s, {", ".join(columns)} FROM accounts_follower WHERE account_id = ANY(%s)
                    ON CONFLICT DO NOTHING""",
                [account.pk, source_accounts],
            )
        make_pending_suggestions(neighbour.slug, Follower.objects.filter(account=account).count() // 5)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) accounts_follower, rules_suggestion")


def make_pending_suggestions(slug: str, count: int) -> None:
    from queue_page import make_pending

    make_pending(slug, count)


# --- a real server --------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def gunicorn() -> Iterator[str]:
    """gunicorn serving the project on loopback, one sync worker (requests are sequential), DEBUG off and
    persistent database connections as in production; yields its base URL."""
    import httpx

    port = free_port()
    env = {**os.environ, "DEBUG": "False", "CONN_MAX_AGE": "600"}
    command = [str(Path(sys.executable).parent / "gunicorn"), "followback.wsgi", "--bind", f"127.0.0.1:{port}",
               "--workers", "1", "--log-level", "warning", *os.environ.get("BENCH_GUNICORN_ARGS", "").split()]  # fmt: skip
    server = subprocess.Popen(command, cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise RuntimeError("gunicorn did not start")
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def signed_in(base: str, email: str) -> Any:
    """An httpx client carrying a session of `email` (made in the database, as force_login does) and a CSRF
    token from the queue page."""
    import httpx
    from django.conf import settings
    from django.test import Client

    from accounts.models import User

    client = Client()
    client.force_login(User.objects.get(email=email))
    session: http.cookies.Morsel[str] = client.cookies[settings.SESSION_COOKIE_NAME]
    http_client = httpx.Client(
        base_url=base, cookies={settings.SESSION_COOKIE_NAME: session.value}, timeout=30
    )
    return http_client


def time_requests(send: Callable[[int], Any], count: int, warmup: int = 5) -> list[float]:
    for number in range(warmup):
        send(number)
    times = []
    for number in range(count):
        started = time.perf_counter()
        response = send(number)
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, (response.status_code, response.text[:300])
    return times


def count_queries(path: str, email: str, **headers: str) -> int:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from accounts.models import User

    client = Client()
    client.force_login(User.objects.get(email=email))
    client.get(path, headers=headers)
    with CaptureQueriesContext(connection) as captured:
        assert client.get(path, headers=headers).status_code == 200
    return len(captured)


# --- the measures ---------------------------------------------------------------------------------------------


def measure_sync(followers: int, repeat: int) -> dict[str, Any]:
    ceiling = [sync_followers.run_child("ceiling", followers)["rows_per_s"] for _ in range(repeat)]
    large = [sync_followers.run_child("sync", followers) for _ in range(repeat)]
    small = sync_followers.run_child("sync", max(1, followers // 10))
    reference = statistics.median(ceiling)

    def median_pass(number: int) -> dict[str, Any]:
        passes = sorted((run["passes"][number] for run in large), key=lambda one: one["followers_per_s"])
        return {**passes[len(passes) // 2], "runs": [one["followers_per_s"] for one in passes]}

    first, second = median_pass(0), median_pass(1)
    largest_rss = max(run["peak_rss_mb"] for run in large)
    return {
        "followers": followers,
        "ceiling_rows_per_s": reference,
        "ceiling_runs": ceiling,
        "first_sync": first,
        "resync": second,
        "first_sync_ratio": first["followers_per_s"] / reference,
        "resync_ratio": second["followers_per_s"] / reference,
        "peak_rss_mb": {
            "small": small["peak_rss_mb"],
            "large": largest_rss,
            "small_followers": max(1, followers // 10),
        },
        "rss_ratio": largest_rss / small["peak_rss_mb"],
    }


def measure_http_sync(followers: int, repeat: int) -> dict[str, Any]:
    runs = sorted((platform_sync.run_child("http", followers) for _ in range(repeat)),
                  key=lambda run: run["followers_per_s"])  # fmt: skip
    return {**runs[len(runs) // 2], "runs": [run["followers_per_s"] for run in runs]}


def measure_pacing(followers: int, repeat: int) -> dict[str, Any]:
    runs = [platform_sync.run_child("pacing", followers) for _ in range(repeat)]
    result = {}
    for position, name in enumerate(platform_sync.LIMITS):
        ordered = sorted((run[position] for run in runs), key=lambda one: one["ratio"])
        result[name] = {**ordered[len(ordered) // 2], "ratios": [one["ratio"] for one in ordered],
                            "most_429_in_a_window": max(one["most_429_in_a_window"] for one in ordered)}  # fmt: skip
    return result


def measure_follows(follows: int, repeat: int) -> dict[str, Any]:
    runs = sorted((platform_sync.run_child("follows", follows) for _ in range(repeat)),
                  key=lambda run: run["follows_per_s"])  # fmt: skip
    return {**runs[len(runs) // 2], "runs": [run["follows_per_s"] for run in runs]}


def measure_queue_build(slug: str, repeat: int) -> dict[str, Any]:
    first = [queue_build.run_child("first-build", slug, 1) for _ in range(max(1, repeat - 1))]
    rebuild = [queue_build.run_child("build", slug, 1) for _ in range(max(1, repeat - 1))]

    def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "seconds": statistics.median(run["seconds"] for run in runs),
            "followers_per_s": statistics.median(run["followers_per_s"] for run in runs),
            "peak_rss_mb": max(run["peak_rss_mb"] for run in runs),
            "considered": runs[0]["considered"],
            "suggested": runs[0]["suggested"],
            "held": runs[0]["held"],
            "runs": [run["seconds"] for run in runs],
        }

    return {"first_build": summary(first), "next_build": summary(rebuild)}


def measure_queue_page(base: str, slug: str, pending: int, requests: int) -> dict[str, Any]:
    from django.urls import reverse

    from accounts.models import Brand
    from rules.models import Suggestion

    make_pending_suggestions(slug, pending)
    queue = reverse("queue", kwargs={"brand": slug})
    deep = Suggestion.objects.filter(brand__slug=slug, status="pending").order_by("-score", "id")[
        pending // 4
    ]
    client = signed_in(base, REVIEWER)
    htmx = {"HX-Request": "true", "HX-Target": "queue-list"}
    few = max(10, requests // 10)
    reference = time_requests(lambda n: client.get("/healthz"), requests)
    first = time_requests(lambda n: client.get(queue), requests)
    pages = {
        "first page": timings(first),
        "keyset page deep in": timings(time_requests(lambda n: client.get(f"{queue}?after={deep.score}.{deep.pk}"), few)),
        "search by handle": timings(time_requests(lambda n: client.get(f"{queue}?q=fan"), few)),
        "htmx filter (list only)": timings(time_requests(lambda n: client.get(queue, headers=htmx), few)),
    }  # fmt: skip
    return {
        "pending": Suggestion.objects.filter(brand__slug=slug, status="pending").count(),
        "reference": timings(reference),
        "pages": pages,
        "p95_ratio": pages["first page"]["p95_ms"] / timings(reference)["p95_ms"],
        "neighbours": Brand.objects.filter(slug__startswith="neighbour-").count(),
        "queries": count_queries(queue, REVIEWER),
        "queries_deep": count_queries(f"{queue}?after={deep.score}.{deep.pk}", REVIEWER),
    }


def measure_decisions(base: str, slug: str, requests: int) -> dict[str, Any]:
    from django.urls import reverse

    from rules.models import Suggestion

    client = signed_in(base, REVIEWER)
    queue = reverse("queue", kwargs={"brand": slug})
    client.get(queue)
    token = client.cookies.get("csrftoken") or secrets.token_hex(16)
    headers = {
        "HX-Request": "true",
        "HX-Target": "suggestion-0",
        "X-CSRFToken": token,
        "Referer": base + queue,
    }
    ids = list(
        Suggestion.objects.filter(brand__slug=slug, status="pending")
        .order_by("-score", "id")
        .values_list("pk", flat=True)[: requests + 5]
    )

    def decide(number: int) -> Any:
        url = reverse("queue_decide", kwargs={"brand": slug, "suggestion_id": ids[number]})
        kind = "approve" if number % 2 else "reject"
        return client.post(url, data={"kind": kind, "tab": "pending", "next": queue}, headers=headers)

    warm = 5
    time_requests(decide, warm, warmup=0)
    times = time_requests(lambda n: decide(n + warm), requests, warmup=0)
    reference = time_requests(lambda n: client.get("/healthz"), requests)
    return {"decisions": timings(times), "reference": timings(reference),
            "p95_ratio": timings(times)["p95_ms"] / timings(reference)["p95_ms"]}  # fmt: skip


def measure_preview(slug: str, repeat: int) -> dict[str, Any]:
    from dataclasses import replace

    from accounts.models import Brand
    from rules.services import current_policy, preview_policy

    brand = Brand.objects.get(slug=slug)
    settings = current_policy(brand).policy
    preview_policy(brand, settings)
    times, sampled = [], 0
    for step in range(repeat):
        draft = replace(settings, suggest_threshold=40 + step % 40)
        started = time.perf_counter()
        sampled = preview_policy(brand, draft).sampled
        times.append(time.perf_counter() - started)
    return {**timings(times), "sampled": sampled}


# --- the table ------------------------------------------------------------------------------------------------


def table_rows(result: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(measure, value, vs reference, target) rows."""
    rows: list[tuple[str, str, str, str]] = []
    if sync := result.get("sync"):
        n = sync["followers"]
        rss = sync["peak_rss_mb"]
        rows += [
            ("ingest ceiling: COPY + INSERT … ON CONFLICT", f"{sync['ceiling_rows_per_s']:,.0f} rows/s", "1.00", "reference"),
            (f"first sync, {n:,} followers (real task)", f"{sync['first_sync']['followers_per_s']:,.0f} followers/s",
             f"{sync['first_sync_ratio']:.2f}", "≥ 0.5"),
            (f"re-sync ({sync['resync']['updated']:,} changed, {sync['resync']['unfollowed']:,} unfollowed)",
             f"{sync['resync']['followers_per_s']:,.0f} followers/s", f"{sync['resync_ratio']:.2f}", "≥ 0.5"),
            (f"peak RSS at {rss['small_followers']:,} / {n:,}", f"{rss['small']:.0f} / {rss['large']:.0f} MB",
             f"{sync['rss_ratio']:.2f}x", "≤ 1.3x"),
        ]  # fmt: skip
    if http := result.get("http_sync"):
        rows.append((f"sync over HTTP from the fake Mastodon, {http['followers']:,} followers, 80 a page",
                     f"{http['followers_per_s']:,.0f} followers/s", "", "≥ 10,000/s"))  # fmt: skip
    for name, pacing in result.get("pacing", {}).items():
        rows.append((f"{name.title()} sync of {pacing['followers']:,} at {pacing['limit']}: {pacing['requests']:,} "
                     f"requests, simulated clock", f"{pacing['elapsed_s']:,.0f} s (floor {pacing['floor_s']:,.0f} s), "
                     f"at most {pacing['most_429_in_a_window']} 429 a window", f"{pacing['ratio']:.3f}",
                     "≤ 1.05, ≤ 1 429 a window"))  # fmt: skip
    if build := result.get("queue_build"):
        first, nxt = build["first_build"], build["next_build"]
        ceiling = result.get("sync", {}).get("ceiling_rows_per_s")
        ratio = (lambda b: f"{b['followers_per_s'] / ceiling:.2f}") if ceiling else (lambda b: "")
        rows += [
            (f"signals + scoring + first queue build, {first['considered']:,}",
             f"{first['seconds']:.1f} s, {first['followers_per_s']:,.0f}/s, {first['peak_rss_mb']:.0f} MB",
             ratio(first), "< 60 s, < 1 GB"),
            ("next day's build", f"{nxt['seconds']:.1f} s, {nxt['followers_per_s']:,.0f}/s, {nxt['peak_rss_mb']:.0f} MB",
             ratio(nxt), "< 60 s, < 1 GB"),
        ]  # fmt: skip
    if page := result.get("queue_page"):
        ref = page["reference"]
        rows.append(("reference: GET /healthz (same server)", f"p50 {ref['p50_ms']:.1f} / p95 {ref['p95_ms']:.1f} ms",
                     "1.00", "reference"))  # fmt: skip
        for name, t in page["pages"].items():
            target = "p95 < 50 ms" if name == "first page" else ""
            rows.append((f"queue page, {page['pending']:,} pending, {page['neighbours']} brands beside: {name} (n={t['n']})",
                         f"p50 {t['p50_ms']:.1f} / p95 {t['p95_ms']:.1f} ms",
                         f"{t['p95_ms'] / ref['p95_ms']:.1f}", target))  # fmt: skip
        rows.append(("queue page queries (first / deep page)", f"{page['queries']} / {page['queries_deep']}", "",
                     "constant"))  # fmt: skip
    if decisions := result.get("decisions"):
        t = decisions["decisions"]
        rows.append((f"decision via htmx endpoint (n={t['n']})", f"p50 {t['p50_ms']:.1f} / p95 {t['p95_ms']:.1f} ms",
                     f"{decisions['p95_ratio']:.1f}", "p95 < 50 ms"))  # fmt: skip
    if follows := result.get("follows"):
        rows.append((f"follow execution against the fake Mastodon, no rate limit ({follows['follows']:,} follows)",
                     f"{follows['follows_per_s']:,.1f} follows/s, {follows['followed_on_the_platform']:,} "
                     "followed on the platform", "", ""))  # fmt: skip
    if preview := result.get("preview"):
        rows.append((f"policy preview ({preview['sampled']:,} sampled, n={preview['n']})",
                     f"p50 {preview['p50_ms']:.0f} / p95 {preview['p95_ms']:.0f} ms", "", "p95 < 1 s"))  # fmt: skip
    return rows


def render_table(rows: list[tuple[str, str, str, str]]) -> str:
    lines = ["| measure | value | vs reference | target |", "|---|---|---|---|"]
    lines += [f"| {name} | {value} | {ratio} | {target} |" for name, value, ratio, target in rows]
    return "\n".join(lines)


def prepare_database() -> None:
    """Create the PostgreSQL database DATABASE_URL names when it does not exist yet, then migrate it."""
    import environ
    import psycopg
    from psycopg import sql

    db = environ.Env.db_url_config(os.environ["DATABASE_URL"])
    params = {"host": db.get("HOST") or "127.0.0.1", "port": db.get("PORT") or 5432, "user": db.get("USER"),
              "password": db.get("PASSWORD") or None}  # fmt: skip
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as admin:
        if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]).fetchone() is None:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db["NAME"])))
    setup_django()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full sizes (0.01 is quick)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure, for the median")
    parser.add_argument("--brand", default="acme-coffee")
    parser.add_argument(
        "--only", default=",".join(MEASURES), help=f"comma-separated subset of {', '.join(MEASURES)}"
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    prepare_database()
    followers = max(100, int(FULL_FOLLOWERS * args.scale))
    pending = max(20, int(FULL_PENDING * args.scale))
    requests = max(50, int(FULL_REQUESTS * min(1.0, args.scale * 10)))
    http_followers = max(1000, int(FULL_HTTP_FOLLOWERS * args.scale))
    follows = max(20, int(FULL_FOLLOWS * args.scale))
    started = datetime.now(UTC)
    result: dict[str, Any] = {
        "date": started.isoformat(),
        "machine": f"{platform.node()}: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}",
        "scale": args.scale,
        "sizes": {"followers": followers, "pending": pending, "requests": requests, "neighbours": NEIGHBOURS,
                  "http_followers": http_followers, "follows": follows},
    }  # fmt: skip
    ensure_brand(args.brand, followers)
    ensure_neighbours(args.brand, NEIGHBOURS)
    if "sync" in only:
        result["sync"] = measure_sync(followers, args.repeat)
    if "http_sync" in only:
        result["http_sync"] = measure_http_sync(http_followers, args.repeat)
    if "pacing" in only:
        result["pacing"] = measure_pacing(http_followers, args.repeat)
    if "queue_build" in only:
        result["queue_build"] = measure_queue_build(args.brand, args.repeat)
    if only & {"queue_page", "decisions"}:
        with gunicorn() as base:
            result["queue_page"] = measure_queue_page(base, args.brand, pending, requests)
            if "decisions" in only:
                result["decisions"] = measure_decisions(base, args.brand, requests)
    if "follows" in only:
        result["follows"] = measure_follows(follows, args.repeat)
    if "preview" in only:
        result["preview"] = measure_preview(args.brand, max(args.repeat, min(20, requests // 5)))
    result["seconds"] = (datetime.now(UTC) - started).total_seconds()
    table = render_table(table_rows(result))
    result["table"] = table
    print(f"{result['machine']}, {started:%Y-%m-%d %H:%M} UTC, scale {args.scale}")
    print(table)
    out = args.out or ROOT / "bench" / "results" / f"{started:%Y-%m-%d}.json"
    out.write_text(json.dumps(result, indent=2))
    print(f"written to {out}")
    return result


if __name__ == "__main__":
    main()
