"""The Celery app. Results are ignored: job state lives in our own models (see accounts.jobs).

Tasks are acknowledged late and rejected back to the queue when a worker dies, so they must be idempotent;
the database sweeper re-sends any due or stuck job whose broker message was lost.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "followback.settings")

app = Celery("followback")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.beat_schedule = {
    "sweep-jobs": {"task": "followback.tasks.sweep_jobs", "schedule": 60.0},
    "daily-syncs": {"task": "accounts.tasks.schedule_daily_syncs", "schedule": 600.0},
    "daily-queues": {"task": "rules.tasks.schedule_queue_builds", "schedule": 60.0},
    "daily-digests": {"task": "followback.tasks.send_daily_digests", "schedule": 600.0},
}
app.autodiscover_tasks()
