"""Benchmark: the review queue page with 200,000 pending suggestions on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/followback_bench .venv/bin/python bench/queue_page.py

Needs a seeded brand with at least that many followers (see bench/README.md). Makes the brand's open suggestions
exactly N pending ones (deleting its other suggestions), then times the queue page as the demo reviewer renders it
through Django's test client: the first page, a page deep in the keyset, a filtered search, and an htmx decision.
Prints server time (median of the repeats) and the queries each ran, and writes bench/results/<date>-queue-page.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sync_followers import ROOT, setup_django


def make_pending(slug: str, count: int) -> None:
    from django.db import connection, transaction

    from accounts.models import Brand
    from rules.models import Suggestion
    from rules.services import current_policy

    brand = Brand.objects.get(slug=slug)
    version = current_policy(brand)
    expires = datetime.now(UTC) + timedelta(days=7)
    reasons = json.dumps(
        [{"signal": "engagement", "text": "replied to you twice this month", "polarity": "suggest"}]
    )
    signals = json.dumps({"bot": 0.1, "churn": 0.0, "engagement": 0.6, "customer": 0.0, "harmful": 0.0,
                          "activity": 0.8})  # fmt: skip
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM followback_decision WHERE brand_id = %s", [brand.pk])
        cursor.execute("DELETE FROM followback_comment WHERE brand_id = %s", [brand.pk])
        cursor.execute("DELETE FROM followback_followaction WHERE brand_id = %s", [brand.pk])
        cursor.execute("DELETE FROM rules_suggestion WHERE brand_id = %s", [brand.pk])
        cursor.execute(
            f"""
            INSERT INTO {Suggestion._meta.db_table} (brand_id, account_id, follower_id, policy_version_id, status,
                score, rule, reasons, signals, created_at, expires_at)
            SELECT %s, account_id, id, %s, 'pending', 40 + (id * 7919) %% 60, 'suggest: score 60 or more',
                %s::jsonb, %s::jsonb, now(), %s
            FROM accounts_follower f
            WHERE f.account_id IN (SELECT id FROM accounts_connectedaccount WHERE brand_id = %s) AND f.is_following
            ORDER BY id LIMIT %s
            """,
            [brand.pk, version.pk, reasons, signals, expires, brand.pk, count],
        )
        cursor.execute("ANALYZE rules_suggestion")


def time_page(client, path: str, repeat: int, **headers: str) -> dict[str, float]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times, queries = [], 0
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(path, headers=headers)
            times.append(time.perf_counter() - started)
        assert response.status_code == 200, response.status_code
        queries = len(captured)
    return {"median_ms": statistics.median(times) * 1000, "queries": queries}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--brand", default="acme-coffee")
    parser.add_argument("--pending", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    setup_django()
    from django.test import Client
    from django.urls import reverse

    from accounts.models import User
    from rules.models import Suggestion

    make_pending(args.brand, args.pending)
    pending = Suggestion.objects.filter(brand__slug=args.brand, status="pending").count()
    client = Client()
    client.force_login(User.objects.get(email="reviewer@demo.test"))
    queue = reverse("queue", kwargs={"brand": args.brand})
    deep = Suggestion.objects.filter(brand__slug=args.brand, status="pending").order_by("-score", "-id")[
        50_000
    ]
    results = {
        "first page": time_page(client, queue, args.repeat),
        "keyset page 50,000 rows in": time_page(client, f"{queue}?after={deep.score}.{deep.pk}", args.repeat),
        "search by handle": time_page(client, f"{queue}?q=fan", args.repeat),
        "htmx first page": time_page(client, queue, args.repeat, hx_request="true"),
    }
    print(f"queue page with {pending:,} pending suggestions (median of {args.repeat})")
    for name, result in results.items():
        print(f"  {name:<28} {result['median_ms']:8.1f} ms  {result['queries']:3d} queries")
    out = ROOT / "bench" / "results" / f"{datetime.now(UTC):%Y-%m-%d}-queue-page.json"
    out.write_text(json.dumps({"date": datetime.now(UTC).isoformat(), "machine": f"{os.cpu_count()} cores",
                               "pending": pending, "pages": results}, indent=2))  # fmt: skip
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
