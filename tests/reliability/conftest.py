"""Fixtures of the reliability suite: real Celery workers for the fault tests, and the permission table's brand,
whose forms the oversized-input tests post to (the session's Chromium comes from tests/chromium.py)."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from tests.reliability.private_services import Workers
from tests.test_permission_table import world
from tests.workers import test_database_url

__all__ = ["world"]


@pytest.fixture
def worker_env(queue: str, mail_dir: Path) -> dict[str, str]:
    """The environment of a real worker on the test database and this test's queue; a test may change it before
    it starts workers (another broker, another database, a shorter platform timeout)."""
    return {
        "DATABASE_URL": test_database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_QUEUE": queue,
        "FOLLOWBACK_TEST_HTTP_TIMEOUT": "15",
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(mail_dir),
    }


@pytest.fixture
def workers(worker_env: dict[str, str], tmp_path: Path) -> Iterator[Workers]:
    pool = Workers(worker_env, tmp_path / "workers")
    yield pool
    pool.stop_all()
