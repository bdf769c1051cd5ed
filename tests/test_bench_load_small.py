"""`make bench-load` in miniature, so it never rots: three simulated reviewers for twenty seconds on a small world.

It runs the whole thing (seeding, gunicorn, a Celery worker, locust) on the test database and checks what the run
reports against the database, never its times: the p95 target may be missed on a loaded machine, nothing else.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from followback.models import Decision

ROOT = Path(__file__).resolve().parents[1]
TIMING = "p95 over all requests"

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the load run seeds with PostgreSQL's SQL"),
    pytest.mark.worker,
]


def database_url() -> str:
    """The test database, for the run's own processes (they commit, so the test is transactional)."""
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.mark.django_db(transaction=True)
def test_a_tiny_load_run_finds_every_confirmed_decision_in_the_database_and_no_error_or_leak(
    tmp_path: Path,
) -> None:
    out = tmp_path / "result.json"
    command = [
        sys.executable, "bench/load/drive.py", "--users", "3", "--brands", "2", "--followers", "2000",
        "--queue-size", "200", "--minutes", "0.34", "--think", "0.3,1.5", "--undo-seconds", "10",
        "--gunicorn-workers", "2", "--work-dir", str(tmp_path), "--out", str(out),
    ]  # fmt: skip
    env = {**os.environ, "DATABASE_URL": database_url()}
    completed = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=270)
    assert out.exists(), completed.stdout[-3000:] + completed.stderr[-3000:]
    result = json.loads(out.read_text())
    missed = {check["check"] for check in result["checks"] if not check["ok"]}
    assert missed <= {TIMING}, result["table"]
    assert completed.returncode == (1 if missed else 0), completed.stderr[-3000:]

    decisions = result["decisions"]
    assert decisions["confirmed"] > 0
    assert decisions["confirmed"] == decisions["in_database"] == Decision.objects.count()
    assert decisions["lost"] == decisions["extra"] == decisions["unknown_outcome"] == 0
    assert result["errors"] == {"server": 0, "unexpected": 0, "leaks": 0, "examples": []}
    assert result["database"]["approved"] == result["database"]["approved_and_followed"]
    assert result["requests"] == sum(t["n"] for t in result["timings"]["endpoints"].values())
    assert {"sign in: the form", "queue page", "decide (htmx)"} <= result["timings"]["endpoints"].keys()
    assert [brand["slug"] for brand in result["world"]["brands"]] == ["load-qzm01x", "load-qzm02x"]
    assert "| decide (htmx) |" in completed.stdout
