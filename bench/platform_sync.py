"""Benchmarks: syncs over real HTTP from the local fake platforms, and rate-limit pacing on a simulated clock.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/fb_bench .venv/bin/python bench/platform_sync.py http 100000
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/fb_bench .venv/bin/python bench/platform_sync.py pacing 100000

`http`: the fake Mastodon server (tests/fakes/mastodon.py, Mastodon's wire format, 80 followers a page) runs in a
process of its own on loopback with no rate limit, and the real sync task pages through its followers: followers/s,
to show that fetching and parsing are not the bottleneck.

`pacing`: the fake Mastodon and Bluesky servers enforce the real limits on a simulated clock (Mastodon: 300 requests
per 15 minutes; Bluesky: 3,000 per 5 minutes), and the real sync tasks run every pass a sync needs (followers, then
the profiles and engagement passes it asks for). Whenever a task defers its run until the limit resets, the clock
jumps to that moment instead of sleeping. The floor is the least time the limits allow for the requests the sync
made, at the speed our own work went (`pacing_floor`): a sync that waits exactly until each window resets, and
never longer, takes the floor.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sync_followers import ROOT, bench_brand, drop_bench_brands, setup_django

LIMITS = {"mastodon": (300, 900), "bluesky": (3000, 300)}  # requests per window of seconds
BRAND_PASSWORD = "bench-app-password"


class SimulatedClock:
    """Real time plus the jumps made so far; starts at the beginning of a rate-limit window."""

    def __init__(self, window: int) -> None:
        self.offset = math.ceil(time.time() / window) * window - time.time()

    def __call__(self) -> float:
        return time.time() + self.offset

    def jump_to(self, moment: float) -> float:
        """Move forward to `moment` (never back); returns the seconds jumped."""
        jump = max(0.0, moment - self())
        self.offset += jump
        return jump


def mastodon_account(url: str) -> Any:
    from accounts import crypto
    from accounts.models import ConnectedAccount, Platform
    from tests.fakes.mastodon import BRAND_ID, DEFAULT_ACCESS_TOKEN

    brand, _ = bench_brand("mastodon")
    return ConnectedAccount.objects.create(
        brand=brand, platform=Platform.MASTODON, platform_user_id=BRAND_ID, handle="acmecoffee@fake.social",
        server_url=url, credentials_ciphertext=crypto.encrypt_json({"access_token": DEFAULT_ACCESS_TOKEN}),
    )  # fmt: skip


def bluesky_account(url: str) -> Any:
    from accounts import connections

    brand, user = bench_brand("bluesky")
    return connections.connect_bluesky(
        brand, "brand.test", BRAND_PASSWORD, by=user, service_url=url, plc_url=url
    )


def run_due_syncs(account_id: int, *, clock: SimulatedClock | None = None) -> dict[str, float]:
    """Run the account's sync runs until none is left, as a worker and beat would; a run deferred to a later
    moment makes the simulated clock jump there. Returns the seconds spent working and jumped."""
    from django.utils import timezone

    from accounts.jobs import JobStatus
    from accounts.models import SyncRun
    from accounts.tasks import run_sync

    busy = jumped = 0.0
    while run := SyncRun.objects.filter(account_id=account_id).active().order_by("pk").first():
        if clock is not None and run.status == JobStatus.QUEUED:
            jumped += clock.jump_to(run.run_after.timestamp())
        SyncRun.objects.filter(pk=run.pk).update(run_after=timezone.now())
        started = time.perf_counter()
        run_sync.run(run.pk)
        busy += time.perf_counter() - started
    return {"busy_s": busy, "jumped_s": jumped}


@contextmanager
def fake_server_process(**options: Any) -> Any:
    """A fake Mastodon server in a process of its own (so it does not share our interpreter); yields its URL."""
    """A fake Mastodon server in a process of its own (so it does not share our interpreter); yields its URL and a
    dict that gets, once the server stops, how many follows it carried out and how many requests it answered."""
    script = (
        "import json, sys; sys.path.insert(0, sys.argv[1]);"
        "from tests.fakes.mastodon import FakeMastodon;"
        "fake = FakeMastodon(**json.loads(sys.argv[2])); print(fake.url, flush=True); sys.stdin.read();"
        "print(json.dumps({'follows_done': len(fake.follows_done), 'requests': len(fake.requests)}))"
    )
    server = subprocess.Popen([sys.executable, "-c", script, str(ROOT), json.dumps(options)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert server.stdin is not None
    assert server.stdout is not None
    counts: dict[str, int] = {}
    try:
        yield server.stdout.readline().strip(), counts
    finally:
        server.stdin.close()
        counts.update(json.loads(server.stdout.readline()))
        server.wait(timeout=30)


def measure_http_sync(followers: int) -> dict[str, Any]:
    from accounts import connections
    from accounts.models import SyncKind, SyncRun

    connections.send_jobs = lambda *args, **kwargs: None  # this process drives the runs itself
    with fake_server_process(follower_count=followers, rate_limit=10**9) as (url, _):
        account = mastodon_account(url)
        run = connections.request_sync(account, SyncKind.FOLLOWERS, by=None)
        started = time.perf_counter()
        run_due_syncs(account.pk)
        seconds = time.perf_counter() - started
    run = SyncRun.objects.get(pk=run.pk)
    drop_bench_brands()
    return {
        "followers": run.seen,
        "pages": run.pages,
        "seconds": seconds,
        "followers_per_s": run.seen / seconds,
    }


def measure_pacing(platform: str, followers: int) -> dict[str, Any]:
    from django.test import override_settings

    from accounts import connections
    from accounts.models import SyncKind, SyncRun
    from tests.fakes.bluesky import FakeBluesky
    from tests.fakes.mastodon import FakeMastodon

    limit, window = LIMITS[platform]
    clock = SimulatedClock(window)
    connections.send_jobs = lambda *args, **kwargs: None
    fake: Any = (
        FakeMastodon(follower_count=followers, rate_limit=limit, rate_window=window, clock=clock)
        if platform == "mastodon"
        else FakeBluesky(follower_count=followers, rate_limit=limit, rate_window=window, clock=clock,
                         app_password=BRAND_PASSWORD, session_limit=10**6)
    )  # fmt: skip
    with fake, override_settings(BLUESKY_SERVICE_URL=fake.url, BLUESKY_PLC_URL=fake.url):
        account = mastodon_account(fake.url) if platform == "mastodon" else bluesky_account(fake.url)
        start = clock()
        fake.requests.clear()
        connections.request_sync(account, SyncKind.FOLLOWERS, by=None)
        spent = run_due_syncs(account.pk, clock=clock)
        elapsed = clock() - start
        outcomes = [(request.outcome, request.at) for request in fake.requests]
    runs = list(SyncRun.objects.filter(account=account).values_list("kind", "status", "seen"))
    drop_bench_brands()
    counted = [at for outcome, at in outcomes if outcome != 429]
    refusals = Counter(int(at // window) for outcome, at in outcomes if outcome == 429)
    floor = pacing_floor(len(counted), limit, window, spent["busy_s"] / max(1, len(counted)))
    return {
        "platform": platform, "followers": followers, "limit": f"{limit} per {window} s", "requests": len(counted),
        "windows": math.ceil(len(counted) / limit), "elapsed_s": elapsed, "floor_s": floor, "ratio": elapsed / floor if floor else 1.0,
        "most_429_in_a_window": max(refusals.values(), default=0), "busy_s": spent["busy_s"], "runs": runs,
    }  # fmt: skip


def pacing_floor(requests: int, limit: int, window: int, seconds_each: float) -> float:
    """The least time `requests` take at `seconds_each`, with at most `limit` of them in each fixed window of
    `window` seconds (the first window starting at 0): each window is used until its limit or its end."""
    moment, left = 0.0, requests
    while left > 0:
        window_end = (math.floor(moment / window) + 1) * window
        now_possible = min(left, limit, max(1, math.ceil((window_end - moment) / seconds_each)))
        moment += now_possible * seconds_each
        left -= now_possible
        if left and now_possible == limit:
            moment = max(moment, window_end)
    return moment


def measure_follow_execution(follows: int) -> dict[str, Any]:
    """Approved follows executed by the real task against the fake Mastodon server, without rate limits."""
    from dataclasses import replace
    from datetime import timedelta

    from django.test import override_settings
    from django.utils import timezone

    from accounts import connections
    from accounts.models import Follower, Membership, Role, SyncKind
    from followback.models import FollowAction, FollowState
    from followback.review import decide
    from followback.tasks import execute_follow
    from rules.models import Suggestion, SuggestionStatus
    from rules.services import current_policy, save_policy

    connections.send_jobs = lambda *args, **kwargs: None
    with (
        fake_server_process(follower_count=follows, rate_limit=10**9) as (url, done),
        override_settings(FOLLOWBACK_UNDO_SECONDS=0),
    ):
        account = mastodon_account(url)
        connections.request_sync(account, SyncKind.FOLLOWERS, by=None)
        run_due_syncs(account.pk)
        brand, reviewer = account.brand, bench_brand("reviewer")[1]
        Membership.objects.create(brand=brand, user=reviewer, role=Role.ADMIN)
        policy = current_policy(brand).policy
        version = save_policy(
            brand, replace(policy, daily_follow_cap=follows, second_approver=False), reviewer
        )
        account.followers_count, account.following_count = follows * 10, 0
        account.save(update_fields=["followers_count", "following_count"])
        Suggestion.objects.bulk_create(
            Suggestion(brand=brand, account=account, follower=follower, policy_version=version,
                       status=SuggestionStatus.PENDING, score=80, rule="bench",
                       expires_at=timezone.now() + timedelta(days=1))
            for follower in Follower.objects.filter(account=account)
        )  # fmt: skip
        for suggestion_id in Suggestion.objects.filter(brand=brand).values_list("pk", flat=True):
            decide(brand, suggestion_id, reviewer, "approve")
        actions = list(FollowAction.objects.filter(brand=brand).values_list("pk", flat=True))
        started = time.perf_counter()
        for action_id in actions:
            execute_follow.run(action_id)
        seconds = time.perf_counter() - started
        states = Counter(FollowAction.objects.filter(brand=brand).values_list("state", flat=True))
    drop_bench_brands()
    return {"follows": len(actions), "seconds": seconds, "follows_per_s": len(actions) / seconds,
            "done": states[FollowState.DONE], "followed_on_the_platform": done["follows_done"]}  # fmt: skip


MEASURES: dict[str, Callable[[int], Any]] = {
    "http": measure_http_sync,
    "follows": measure_follow_execution,
    "pacing": lambda followers: [measure_pacing(platform, followers) for platform in LIMITS],
}


def main() -> None:
    kind, followers = sys.argv[1], int(sys.argv[2])
    setup_django()
    print(json.dumps(MEASURES[kind](followers)))


def run_child(kind: str, followers: int) -> Any:
    output = subprocess.run([sys.executable, __file__, kind, str(followers)], check=True, stdout=subprocess.PIPE,
                            text=True, cwd=ROOT).stdout  # fmt: skip
    return json.loads(output.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
