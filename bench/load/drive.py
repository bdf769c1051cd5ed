"""`make bench-load`: simulated reviewers deciding suggestions against gunicorn, PostgreSQL, Redis and a worker.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/fb_load_bench CELERY_BROKER_URL=redis://127.0.0.1:6379/11 \
        .venv/bin/python bench/load/drive.py                          # 50 users for 10 minutes
    ... bench/load/drive.py --users 10 --minutes 1

Creates and migrates the database if needed, drops the previous load world and seeds a new one (bench/load/world.py:
5 brands of 20,000 synced demo followers, 2,000 pending suggestions each, every text marked per brand), starts
gunicorn (DEBUG off, on a free loopback port) and a Celery worker on a broker queue of this run's own, then runs
locust headless (bench/load/locustfile.py). Afterwards it waits for the approved follows to run through the demo
connector, compares every decision locust saw confirmed with the database's Decision rows, counts server errors and
leaks, computes p50/p95/p99 per endpoint and overall, prints a table and writes bench/results/<date>-load.json. Exits 1
when a target is missed: p95 under 300 ms, no server error, no cross-brand leak, no lost (or extra) decision.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import resource
import secrets
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import run as bench  # bench/run.py: prepare_database, free_port
import world

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
BIN = Path(sys.executable).parent
PERCENTILES = (50, 95, 99)
SIGN_IN = "sign in: the form"


def percentile(values: list[float], q: float) -> float:
    """Nearest rank: the smallest value with at least q% of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def summary(times: list[float]) -> dict[str, float]:
    return {"n": len(times), **{f"p{q}_ms": percentile(times, q) for q in PERCENTILES}, "max_ms": max(times)}


# --- the servers ----------------------------------------------------------------------------------------------


def server_env(queue: str, undo_seconds: int) -> dict[str, str]:
    """As in production: DEBUG off, persistent database connections; the run's own broker queue; the undo window
    (and so the wait before a follow runs) of --undo-seconds."""
    return {**os.environ, "DEBUG": "False", "CONN_MAX_AGE": "600", "CELERY_QUEUE": queue,
            "REVIEW_UNDO_SECONDS": str(undo_seconds), "FOLLOWBACK_UNDO_SECONDS": str(undo_seconds)}  # fmt: skip


@contextmanager
def process(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as output:
        child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
        try:
            yield child
        finally:
            child.terminate()
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def wait_for_server(base: str, server: subprocess.Popen[bytes]) -> None:
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError("gunicorn did not start; see its log in the work directory")


def drop_broker_queue(name: str) -> None:
    """Delete a broker queue: the seeding's messages (the policy change asks for a queue rebuild) go nowhere."""
    from django.conf import settings

    if settings.CELERY_BROKER_URL.startswith("redis://"):
        import redis

        redis.Redis.from_url(settings.CELERY_BROKER_URL).delete(name)


# --- where the CPU went -----------------------------------------------------------------------------------------


def _cpu_of(pids: list[int]) -> dict[int, float]:
    """CPU seconds (user + system) of each process and its children, by pid; gone processes are left out."""
    import psutil

    seconds: dict[int, float] = {}
    for pid in pids:
        try:
            parent = psutil.Process(pid)
            for proc in [parent, *parent.children(recursive=True)]:
                times = proc.cpu_times()
                seconds[proc.pid] = times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return seconds


def _database_backends() -> list[int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return [pid for (pid,) in cursor.fetchall()]


@dataclass
class CpuMeter:
    """CPU used during the run by the server, the worker, their database backends and locust, and how busy the
    whole machine was (it is shared: other work slows the run down without showing in the server's own figure)."""

    server: int
    worker: int
    started: dict[str, Any] = field(default_factory=dict)

    def snapshot(self) -> dict[str, Any]:
        import psutil

        return {"server": _cpu_of([self.server]), "worker": _cpu_of([self.worker]),
                "database": _cpu_of(_database_backends()), "locust": resource.getrusage(resource.RUSAGE_CHILDREN),
                "machine": psutil.cpu_times(), "load": os.getloadavg()[0]}  # fmt: skip

    def start(self) -> None:
        self.started = self.snapshot()

    def used(self) -> dict[str, Any]:
        end, start = self.snapshot(), self.started
        used = {
            group: sum(seconds - start[group].get(pid, 0.0) for pid, seconds in end[group].items())
            for group in ("server", "worker", "database")
        }
        child, before = end["locust"], start["locust"]
        used["locust"] = child.ru_utime + child.ru_stime - before.ru_utime - before.ru_stime
        total = sum(end["machine"]) - sum(start["machine"])
        idle = end["machine"].idle - start["machine"].idle
        return {**{f"{group}_s": round(value, 1) for group, value in used.items()},
                "machine_busy": round(1 - idle / total, 3) if total else 0.0,
                "load_average": [round(start["load"], 2), round(end["load"], 2)]}  # fmt: skip


# --- the checks afterwards ------------------------------------------------------------------------------------


def wait_for_follows(seconds: float) -> None:
    """Until no follow of the load brands is waiting or running (the worker runs each after the undo window)."""
    from followback.models import FollowAction, FollowState

    deadline = time.monotonic() + seconds
    actions = FollowAction.objects.filter(brand__slug__startswith=world.SLUG_PREFIX)
    while actions.filter(state__in=FollowState.in_flight()).exists() and time.monotonic() < deadline:
        time.sleep(1)


def compare_decisions(record: dict[str, list[Any]]) -> dict[str, Any]:
    """The decisions locust saw confirmed against the Decision rows, as (person, suggestion, kind) multisets."""
    from followback.models import Decision

    seen = Counter((d["user"], d["suggestion"], d["kind"]) for d in record["decisions"])
    rows = Decision.objects.filter(brand__slug__startswith=world.SLUG_PREFIX)
    stored = Counter(rows.values_list("actor__email", "suggestion_id", "kind"))
    lost, extra = seen - stored, stored - seen
    unknown = {(u["user"], u["suggestion"]) for u in record["unknown"]}
    return {
        "confirmed": sum(seen.values()),
        "in_database": sum(stored.values()),
        "by_kind": dict(Counter(kind for _, _, kind in seen.elements())),
        "lost": sum(lost.values()),
        "extra": sum(extra.values()),
        "unknown_outcome": len(record["unknown"]),
        "extra_after_unknown_outcome": sum(n for (u, s, _), n in extra.items() if (u, s) in unknown),
        "lost_examples": [list(key) for key in list(lost)[:10]],
        "extra_examples": [list(key) for key in list(extra)[:10]],
        "refused": len(record["refused"]),
        "refused_by_message": dict(Counter(_gist(r["message"]) for r in record["refused"]).most_common(12)),
    }


def _gist(message: str) -> str:
    """A refusal's words with the handle and the person taken out, so alike refusals count together."""
    message = re.sub(r"@\S+?(?=[ ,.;]|$)", "@…", message)
    return re.sub(r"(Reviewer|Approver|Admin) \d+ of qzm\d+x|Admin of qzm\d+x", "someone", message)


def database_state() -> dict[str, Any]:
    """What the database holds after the run: suggestions whose status is not what their last decision left, the
    follows of approved suggestions, and what is left to review per brand."""
    from django.db.models import F, OuterRef, Subquery

    from followback.models import Decision, FollowAction, FollowState
    from rules.models import Suggestion, SuggestionStatus

    suggestions = Suggestion.objects.filter(brand__slug__startswith=world.SLUG_PREFIX)
    last = Decision.objects.filter(suggestion=OuterRef("pk")).order_by("-id").values("to_status")[:1]
    decided = suggestions.annotate(last=Subquery(last)).exclude(last=None)
    actions = FollowAction.objects.filter(brand__slug__startswith=world.SLUG_PREFIX)
    approved = suggestions.filter(status=SuggestionStatus.APPROVED)
    return {
        "suggestions_decided": decided.count(),
        "status_not_left_by_last_decision": decided.exclude(status=F("last")).count(),
        "approved": approved.count(),
        "approved_and_followed": actions.filter(suggestion__in=approved, state=FollowState.DONE).count(),
        "follows_by_state": dict(Counter(actions.values_list("state", flat=True))),
        "followed_without_approval": actions.exclude(suggestion__in=approved)
        .exclude(state=FollowState.CANCELLED)
        .count(),
        "pending_left": dict(
            Counter(suggestions.filter(status=SuggestionStatus.PENDING).values_list("brand__slug", flat=True))
        ),
    }


def timings(requests: list[list[Any]]) -> dict[str, Any]:
    """Per endpoint and overall; and overall once everyone has signed in, for telling the ramp-up (every sign-in
    hashes a password) from the steady state."""
    by_name: dict[str, list[float]] = {}
    for name, ms, *_ in requests:
        by_name.setdefault(name, []).append(ms)
    signed_in = max((start + ms / 1000 for name, ms, _, start in requests if name == SIGN_IN), default=0.0)
    steady = [ms for _, ms, _, start in requests if start >= signed_in]
    return {
        "overall": summary([ms for _, ms, *_ in requests]),
        "after_everyone_signed_in": summary(steady) if steady else None,
        "endpoints": {name: summary(times) for name, times in sorted(by_name.items())},
    }


def checks(result: dict[str, Any], p95_ms: float) -> list[dict[str, Any]]:
    decisions, state = result["decisions"], result["database"]
    overall = result["timings"]["overall"]["p95_ms"]
    errors = result["errors"]
    brands = [brand["slug"] for brand in result["world"]["brands"]]
    left = min(state["pending_left"].get(slug, 0) for slug in brands)
    rows = [
        ("p95 over all requests", f"{overall:.0f} ms", f"< {p95_ms:.0f} ms", overall < p95_ms),
        ("server errors (5xx or no answer)", errors["server"], "0", errors["server"] == 0),
        ("unexpected answers (another status, no message)", errors["unexpected"], "0", errors["unexpected"] == 0),
        ("cross-brand leaks", errors["leaks"], "0", errors["leaks"] == 0),
        ("lost decisions (confirmed, not in the database)", decisions["lost"], "0", decisions["lost"] == 0),
        ("extra decisions (in the database, not confirmed)", decisions["extra"], "0", decisions["extra"] == 0),
        ("suggestions whose status is not their last decision's", state["status_not_left_by_last_decision"], "0",
         state["status_not_left_by_last_decision"] == 0),
        ("approved suggestions followed through the demo connector",
         f"{state['approved_and_followed']:,} of {state['approved']:,}", "all",
         state["approved_and_followed"] == state["approved"]),
        ("follows without a standing approval", state["followed_without_approval"], "0",
         state["followed_without_approval"] == 0),
        ("pending suggestions left (the brand with fewest)", f"{left:,}", "> 0", left > 0),
    ]  # fmt: skip
    return [{"check": name, "value": value, "target": target, "ok": ok} for name, value, target, ok in rows]


def render(result: dict[str, Any]) -> str:
    lines = ["| endpoint | n | p50 ms | p95 ms | p99 ms | max ms |", "|---|---|---|---|---|---|"]
    t = result["timings"]
    rows = [*t["endpoints"].items(), ("all requests", t["overall"])]
    if t["after_everyone_signed_in"]:
        rows.append(("all requests once everyone had signed in", t["after_everyone_signed_in"]))
    for name, s in rows:
        lines.append(f"| {name} | {s['n']:,} | {s['p50_ms']:.0f} | {s['p95_ms']:.0f} | {s['p99_ms']:.0f} | "
                     f"{s['max_ms']:.0f} |")  # fmt: skip
    lines += ["", "| check | value | target | |", "|---|---|---|---|"]
    lines += [f"| {c['check']} | {c['value']} | {c['target']} | {'ok' if c['ok'] else 'MISSED'} |"
              for c in result["checks"]]  # fmt: skip
    return "\n".join(lines)


# --- the run --------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50, help="simulated people, one locust user each")
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--brands", type=int, default=5)
    parser.add_argument("--followers", type=int, default=20_000, help="demo followers per brand")
    parser.add_argument(
        "--queue-size", type=int, default=world.QUEUE_SIZE, help="pending suggestions per brand"
    )
    parser.add_argument("--think", default="2,8", help="seconds between a user's steps: low,high")
    parser.add_argument("--spawn-rate", type=float, default=2, help="users started per second")
    parser.add_argument("--gunicorn-workers", type=int, default=4)
    parser.add_argument(
        "--undo-seconds", type=int, default=30, help="the undo window, and the wait before a follow"
    )
    parser.add_argument("--p95-ms", type=float, default=300)
    parser.add_argument(
        "--work-dir", type=Path, default=ROOT / "var" / "bench-load", help="world, logs, record"
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    brands = min(args.brands, args.users)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    queue = f"load-{secrets.token_hex(4)}"

    bench.prepare_database()
    from celery import current_app

    current_app.conf.task_default_queue = f"{queue}-seeding"
    started = datetime.now(UTC)
    print(f"Seeding {brands} brands for {args.users} users ({args.followers:,} demo followers each)")
    seeded = world.build_world(world.Spec(brands, args.users, args.followers, args.queue_size))
    drop_broker_queue(f"{queue}-seeding")
    world_file = args.work_dir / "world.json"
    world_file.write_text(json.dumps(seeded))
    record_file = args.work_dir / "record.json"
    record_file.unlink(missing_ok=True)

    env = server_env(queue, args.undo_seconds)
    port = bench.free_port()
    base = f"http://127.0.0.1:{port}"
    seconds = round(args.minutes * 60)
    with ExitStack() as stack:
        worker = stack.enter_context(process(
            [str(BIN / "celery"), "-A", "followback", "worker", "--concurrency=1", "--loglevel=WARNING",
             "--without-heartbeat", "--without-mingle", "--without-gossip"], env, args.work_dir / "worker.log"))  # fmt: skip
        server = stack.enter_context(process(
            [str(BIN / "gunicorn"), "followback.wsgi", "--bind", f"127.0.0.1:{port}", "--workers",
             str(args.gunicorn_workers), "--log-level", "warning"], env, args.work_dir / "gunicorn.log"))  # fmt: skip
        wait_for_server(base, server)
        meter = CpuMeter(server.pid, worker.pid)
        meter.start()
        print(
            f"Running {args.users} users for {seconds} s against {base} (gunicorn, {args.gunicorn_workers} workers)"
        )
        locust_env = {**os.environ, "LOAD_WORLD": str(world_file), "LOAD_OUT": str(record_file),
                      "LOAD_THINK": args.think, "LOAD_UNDO_SECONDS": str(args.undo_seconds)}  # fmt: skip
        with (args.work_dir / "locust.log").open("wb") as log:
            subprocess.run(
                [str(BIN / "locust"), "-f", str(HERE / "locustfile.py"), "--headless", "--users", str(args.users),
                 "--spawn-rate", str(args.spawn_rate), "--run-time", f"{seconds}s", "--stop-timeout", "30",
                 "--host", base, "--only-summary", "--loglevel", "WARNING"],
                cwd=ROOT, env=locust_env, stdout=log, stderr=subprocess.STDOUT, timeout=seconds + 120, check=False,
            )  # fmt: skip
        cpu = meter.used()
        if not record_file.exists():
            raise RuntimeError(f"locust wrote no record; see {args.work_dir / 'locust.log'}")
        print("Waiting for the approved follows to run")
        wait_for_follows(args.undo_seconds + 120)

    record = json.loads(record_file.read_text())
    requests = record["requests"]
    result: dict[str, Any] = {
        "date": started.isoformat(),
        "machine": f"{platform.node()}: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}",
        "settings": {"users": args.users, "seconds": seconds, "brands": brands, "followers_per_brand": args.followers,
                     "think_seconds": args.think, "spawn_rate": args.spawn_rate,
                     "gunicorn_workers": args.gunicorn_workers, "undo_seconds": args.undo_seconds},
        "world": {"brands": [{key: brand[key] for key in ("slug", "second_approver", "followers", "pending", "held",
                                                          "role_counts")} for brand in seeded["brands"]]},
        "requests": len(requests),
        "requests_per_s": len(requests) / seconds,
        "timings": timings(requests),
        "cpu": {**cpu, "server_ms_per_request": round(cpu["server_s"] * 1000 / max(1, len(requests)), 1)},
        "decisions": compare_decisions(record),
        "database": database_state(),
        "errors": {"server": sum(1 for _, _, status, _ in requests if status == 0 or status >= 500),
                   "unexpected": len(record["unexpected"]), "leaks": len(record["leaks"]),
                   "examples": (record["server_errors"] + record["unexpected"] + record["leaks"])[:20]},
    }  # fmt: skip
    result["checks"] = checks(result, args.p95_ms)
    result["passed"] = all(check["ok"] for check in result["checks"])
    result["table"] = render(result)
    print(f"{result['machine']}, {started:%Y-%m-%d %H:%M} UTC: {args.users} users, {seconds} s, {brands} brands, "
          f"{len(requests):,} requests ({result['requests_per_s']:.1f}/s), "
          f"{result['decisions']['confirmed']:,} decisions confirmed, {result['decisions']['refused']:,} refused")  # fmt: skip
    print(f"CPU seconds: server {cpu['server_s']}, its database backends {cpu['database_s']}, worker "
          f"{cpu['worker_s']}, locust {cpu['locust_s']}; the machine was {cpu['machine_busy']:.0%} busy, load "
          f"average {cpu['load_average'][0]} at the start and {cpu['load_average'][1]} at the end")  # fmt: skip
    print(result["table"])
    out = args.out or ROOT / "bench" / "results" / f"{started:%Y-%m-%d}-load.json"
    out.write_text(json.dumps(result, indent=2))
    print(f"written to {out}")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
