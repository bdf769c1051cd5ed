"""Benchmark: the daily queue build and the policy preview for one brand's followers on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/followback_bench .venv/bin/python manage.py seed_demo \
        --followers 1000000          # then let a worker (or `make run`) finish the first sync
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/followback_bench .venv/bin/python bench/queue_build.py

The first build (every signal, the policy's verdict and the writes for every current follower, after deleting the
brand's suggestions), the next day's build and the preview each run in a fresh process, so peak memory (RSS) is its own. Prints a table and writes bench/results/<date>-queue.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sync_followers import ROOT, peak_rss_mb, setup_django


def measure_build(slug: str, first: bool) -> dict[str, object]:
    from django.db import connection

    from accounts.models import Brand
    from rules.queue import build_daily_queue

    brand = Brand.objects.get(slug=slug)
    if first:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM rules_suggestion WHERE brand_id = %s", [brand.pk])
    started = time.perf_counter()
    build = build_daily_queue(brand)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "considered": build.considered, "suggested": build.suggested,
            "held": build.held, "followers_per_s": build.considered / seconds,
            "peak_rss_mb": peak_rss_mb()}  # fmt: skip


def measure_preview(slug: str, repeat: int) -> dict[str, object]:
    from dataclasses import replace

    from accounts.models import Brand
    from rules.services import current_policy, preview_policy

    brand = Brand.objects.get(slug=slug)
    settings = current_policy(brand).policy
    times = []
    for step in range(repeat + 1):
        draft = replace(settings, suggest_threshold=50 + step)
        started = time.perf_counter()
        preview = preview_policy(brand, draft)
        times.append(time.perf_counter() - started)
    return {"first_seconds": times[0], "median_seconds": statistics.median(times[1:]), "sampled": preview.sampled,
            "peak_rss_mb": peak_rss_mb()}  # fmt: skip


def run_child(kind: str, slug: str, repeat: int) -> dict:
    command = [sys.executable, __file__, "--child", kind, "--brand", slug, "--repeat", str(repeat)]
    output = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True, cwd=ROOT).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--brand", default="acme-coffee")
    parser.add_argument("--repeat", type=int, default=5, help="previews after the first, for the median")
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.child:
        setup_django()
        if args.child == "preview":
            result = measure_preview(args.brand, args.repeat)
        else:
            result = measure_build(args.brand, first=args.child == "first-build")
        print(json.dumps(result))
        return
    build = run_child("first-build", args.brand, args.repeat)
    rebuild = run_child("build", args.brand, args.repeat)
    preview = run_child("preview", args.brand, args.repeat)
    table = [
        (f"first queue build, {build['considered']:,} followers", f"{build['seconds']:.1f} s",
         f"{build['followers_per_s']:,.0f} followers/s, peak RSS {build['peak_rss_mb']:.0f} MB"),
        ("  of which suggested / held", f"{build['suggested']:,} / {build['held']:,}", ""),
        ("next day's build (same followers)", f"{rebuild['seconds']:.1f} s",
         f"{rebuild['followers_per_s']:,.0f} followers/s, peak RSS {rebuild['peak_rss_mb']:.0f} MB"),
        (f"policy preview ({preview['sampled']:,} sampled)", f"{preview['median_seconds'] * 1000:.0f} ms",
         f"median of {args.repeat}; first {preview['first_seconds'] * 1000:.0f} ms; "
         f"peak RSS {preview['peak_rss_mb']:.0f} MB"),
    ]  # fmt: skip
    width = max(len(row[0]) for row in table)
    for name, value, note in table:
        print(f"{name:<{width}}  {value:>18}  {note}")
    result = {"date": datetime.now(UTC).isoformat(), "machine": f"{os.cpu_count()} cores", "build": build,
              "rebuild": rebuild, "preview": preview}  # fmt: skip
    out = ROOT / "bench" / "results" / f"{datetime.now(UTC):%Y-%m-%d}-queue.json"
    out.write_text(json.dumps(result, indent=2))
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
