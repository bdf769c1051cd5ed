"""`make bench` at 1% scale, so the benchmarks never rot: it completes and writes every measure (no timing asserts)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]
MEASURES = {"sync", "http_sync", "pacing", "queue_build", "queue_page", "decisions", "follows", "preview"}

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the benchmarks measure PostgreSQL (COPY, EXPLAIN)"
)


def database_url() -> str:
    """The test database, for the benchmark's own processes (it commits, so the test is transactional)."""
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.mark.timeout(900)
@pytest.mark.django_db(transaction=True)
def test_the_small_benchmark_runs_every_measure_and_writes_its_result(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    env = {**os.environ, "DATABASE_URL": database_url()}
    command = [sys.executable, "bench/run.py", "--scale", "0.01", "--repeat", "1", "--out", str(out)]
    completed = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=800)
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result.keys() >= MEASURES
    assert {"date", "machine", "scale", "sizes", "table"} <= result.keys()
    assert result["sync"]["first_sync"]["seen"] == result["sizes"]["followers"]
    assert result["queue_page"]["pending"] == result["sizes"]["pending"]
    assert result["queue_page"]["queries"] == result["queue_page"]["queries_deep"]
    assert result["decisions"]["decisions"]["n"] == result["sizes"]["requests"]
    assert result["http_sync"]["followers"] == result["sizes"]["http_followers"]
    assert {"mastodon", "bluesky"} == result["pacing"].keys()
    assert all(pacing["requests"] > 0 for pacing in result["pacing"].values())
    assert (
        result["follows"]["done"]
        == result["follows"]["followed_on_the_platform"]
        == result["sizes"]["follows"]
    )
    assert result["queue_page"]["neighbours"] == result["sizes"]["neighbours"]
    assert "| queue page" in completed.stdout
