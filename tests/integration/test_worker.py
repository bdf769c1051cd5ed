"""A real Celery worker process on the real Redis broker, working against the test database."""

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from celery import current_app
from django.conf import settings
from django.db import connection

from accounts import services
from accounts.jobs import JobStatus
from accounts.models import Invitation, Role
from followback.tasks import sweep_jobs

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


def wait_until(condition: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"condition not met within {seconds}s")


def _database_url() -> str:
    db = connection.settings_dict
    return (
        f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    )


@pytest.fixture
def queue(settings) -> Iterator[str]:
    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        pytest.fail("the worker tests need CELERY_BROKER_URL=redis://… (make test sets it)")
    name = f"test-{uuid.uuid4().hex[:8]}"
    previous = current_app.conf.task_default_queue
    current_app.conf.task_default_queue = name
    yield name
    current_app.conf.task_default_queue = previous
    redis.Redis.from_url(settings.CELERY_BROKER_URL).delete(name)


@pytest.fixture
def mail_dir(tmp_path) -> Path:
    return tmp_path / "mail"


@pytest.fixture
def start_worker(queue, mail_dir) -> Iterator[Callable[[], subprocess.Popen]]:
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_QUEUE": queue,
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(mail_dir),
    }
    processes: list[subprocess.Popen] = []

    def start() -> subprocess.Popen:
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "followback",
            "worker",
            "--pool=solo",
            "--concurrency=1",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
            "--loglevel=WARNING",
        ]
        processes.append(subprocess.Popen(command, cwd=ROOT, env=env))
        return processes[-1]

    yield start
    for process in processes:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _status(invitation: Invitation) -> str:
    invitation.refresh_from_db()
    return invitation.status


def test_a_real_worker_sends_the_invitation_email(brand, owner, start_worker, mail_dir):
    start_worker()
    invitation = services.invite(brand, "worker-test@example.com", Role.REVIEWER, by=owner)
    wait_until(lambda: _status(invitation) == JobStatus.DONE)
    sent = "".join(path.read_text() for path in mail_dir.iterdir())
    assert "worker-test@example.com" in sent
    assert "/invitations/" in sent


def test_the_sweeper_resends_a_job_whose_broker_message_was_lost(brand, owner, start_worker, queue, settings):
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    invitation = services.invite(brand, "lost@example.com", Role.REVIEWER, by=owner)
    assert broker.llen(queue) == 1
    broker.delete(queue)  # what a Redis restart without persistence does to every queued message
    start_worker()
    assert _status(invitation) == JobStatus.QUEUED
    settings.JOB_REDELIVERY_GRACE_SECONDS = 0
    assert sweep_jobs() == 1
    wait_until(lambda: _status(invitation) == JobStatus.DONE)
    assert invitation.attempts == 1
