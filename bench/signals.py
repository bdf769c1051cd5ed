"""Benchmark: the six trust signals over N demo followers, pure computation (no database).

.venv/bin/python bench/signals.py 1000000
"""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from accounts.platforms.base import ProfileData
from accounts.platforms.demo import BLOCKLISTED_TERMS, DemoConnector
from rules.signals import SIGNALS, BrandContext, FollowerColumns, seconds_before

NOW = datetime(2025, 6, 1, tzinfo=UTC)
THIRTY_DAYS = 30 * 86_400.0


def demo_columns(profiles: list[ProfileData]) -> FollowerColumns:
    """Profiles as columns; follow history and engagement are left neutral (they are separate signals)."""
    n = len(profiles)

    def values(name: str) -> list:
        return [getattr(profile, name) for profile in profiles]

    flags: dict[str, Any] = {
        name: np.array(values(name), dtype=bool)
        for name in ("avatar_is_default", "is_bot", "is_locked", "is_group", "moved", "suspended", "limited")
    }
    counts: dict[str, Any] = {
        name: np.array(values(name), dtype=float)
        for name in ("followers_count", "following_count", "posts_count", "verified_links")
    }
    neutral: dict[str, Any] = {
        name: np.zeros(n)
        for name in (
            "unfollow_count",
            "engagement_weighted",
            "reply_count",
            "mention_count",
            "repost_count",
            "like_count",
            "quote_count",
        )
    }
    return FollowerColumns(
        handles=values("handle"), display_names=values("display_name"), bios=values("bio"), labels=values("labels"),
        is_following=np.ones(n, bool), is_customer=np.zeros(n, bool), follow_count=np.ones(n),
        shortest_follow_seconds=np.full(n, np.nan), created_ago=seconds_before(values("created_at"), NOW),
        last_post_ago=seconds_before(values("last_post_at"), NOW), first_followed_ago=np.full(n, THIRTY_DAYS),
        last_followed_ago=np.full(n, THIRTY_DAYS), **flags, **counts, **neutral,
    )  # fmt: skip


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    demo = DemoConnector(seed=7, follower_count=n, brand_handle="acme", now=NOW, page_size=10_000)
    cols = demo_columns([profile for page in demo.iter_follower_pages(None) for profile in page.profiles])
    ctx = BrandContext(handle="acme", display_name="Acme", blocklist=BLOCKLISTED_TERMS)
    print(f"{len(cols):,} demo followers; load average {os.getloadavg()[0]:.1f}")
    wall, cpu = time.perf_counter(), time.process_time()
    for name, signal in SIGNALS.items():
        started, started_cpu = time.perf_counter(), time.process_time()
        signal(cols, ctx)
        print(
            f"  {name:17s} wall {time.perf_counter() - started:6.2f}s  cpu {time.process_time() - started_cpu:6.2f}s"
        )
    print(f"all six signals: wall {time.perf_counter() - wall:.2f}s  cpu {time.process_time() - cpu:.2f}s")


if __name__ == "__main__":
    main()
