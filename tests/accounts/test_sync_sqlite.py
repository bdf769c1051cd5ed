"""The embedded defaults (SQLite) run the same set-based sync SQL: a first pass and a re-sync on a demo account."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import json, django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from accounts import connections, sync
from accounts.jobs import claim_job
from accounts.models import Brand, Follower, FollowEvent, SyncKind, User
connections.send_jobs = lambda *args, **kwargs: None
owner = User.objects.create_user("owner@example.com", "a-long-password")
account = connections.connect_demo(Brand.objects.create(name="Acme", slug="acme"), 3000, by=owner)
passes = []
for _ in range(2):
    run = connections.request_sync(account, SyncKind.FOLLOWERS, by=None)
    sync.execute_sync(claim_job(type(run), run.pk))
    run.refresh_from_db()
    passes.append([run.status, run.seen, run.created, run.unfollowed])
    account.refresh_from_db()
print(json.dumps({"passes": passes, "followers": Follower.objects.count(),
                  "following": Follower.objects.filter(is_following=True).count(),
                  "events": FollowEvent.objects.count()}))
"""


def test_a_demo_account_syncs_twice_on_sqlite(tmp_path):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "DJANGO_SETTINGS_MODULE":
           "followback.settings", "CELERY_BROKER_URL": "memory://"}  # fmt: skip
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                            check=False, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    (first_status, first_seen, first_created, _), (second_status, second_seen, second_created, unfollowed) = (
        outcome["passes"]
    )
    assert (first_status, first_seen, first_created) == ("done", 3000, 3000)
    assert second_status == "done"
    assert unfollowed > 0
    assert outcome["followers"] == 3000 + second_created
    assert outcome["following"] == second_seen
    assert outcome["events"] == outcome["followers"] + unfollowed
