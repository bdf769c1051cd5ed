"""Sign-in lockouts: django-axes pauses signing in with an e-mail address after repeated wrong passwords.

A brand's admin lets a member of that brand try again from the Members page (`services.unlock_member`); site
staff can also delete the attempt in the Django admin (Axes → Access attempts). The pause also ends by itself
after `AXES_COOLOFF_HOURS`.
"""

from __future__ import annotations

from collections.abc import Collection

from axes.helpers import get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.utils import timezone


def locked_out(emails: Collection[str]) -> set[str]:
    """Which of these addresses cannot sign in now, in one query."""
    attempts = AccessAttempt.objects.filter(
        username__in=list(emails), failures_since_start__gte=settings.AXES_FAILURE_LIMIT
    )
    cool_off = get_cool_off()
    if cool_off is not None:
        attempts = attempts.filter(attempt_time__gte=timezone.now() - cool_off)
    return set(attempts.values_list("username", flat=True))
