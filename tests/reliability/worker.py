"""`python -m tests.reliability.worker [celery worker options]`: a real Celery worker of the project whose Mastodon
connector gives up on a silent server after FOLLOWBACK_TEST_HTTP_TIMEOUT seconds (default 1) instead of 15, so
that a fault test's timeouts cost seconds, not minutes. Everything else is `celery -A followback worker`."""

import os
import sys

import httpx
from celery.bin.celery import main

from accounts.platforms import mastodon

if __name__ == "__main__":
    seconds = float(os.environ.get("FOLLOWBACK_TEST_HTTP_TIMEOUT", "1"))
    mastodon.DEFAULT_TIMEOUT = httpx.Timeout(seconds, connect=seconds)
    sys.argv = ["celery", "-A", "followback", "worker", *sys.argv[1:]]
    main()
