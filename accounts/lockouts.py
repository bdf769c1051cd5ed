"""Sign-in lockouts: django-axes pauses signing in with an e-mail address after repeated wrong passwords.

A brand's admin lets a member of that brand try again from the Members page (`services.unlock_member`); site
staff can also delete the attempt in the Django admin (Axes → Access attempts). The pause also ends by itself
after `AXES_COOLOFF_HOURS`.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from axes.helpers import get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone

USERNAME_LENGTH = AccessAttempt._meta.get_field("username").max_length or 255


def attempted_username(request: HttpRequest, credentials: dict[str, Any] | None) -> str | None:
    """The address a sign-in tried, as axes records it (`AXES_USERNAME_CALLABLE`): cut to its column's length, so
    a megabyte typed into the form is a wrong password like any other, not a server error. E-mail addresses are
    at most 254 characters, so none is changed."""
    field = settings.AXES_USERNAME_FORM_FIELD
    username = credentials.get(field) if credentials else request.POST.get(field)
    return username[:USERNAME_LENGTH] if isinstance(username, str) else None


def locked_out(emails: Collection[str]) -> set[str]:
    """Which of these addresses cannot sign in now, in one query."""
    attempts = AccessAttempt.objects.filter(
        username__in=list(emails), failures_since_start__gte=settings.AXES_FAILURE_LIMIT
    )
    cool_off = get_cool_off()
    if cool_off is not None:
        attempts = attempts.filter(attempt_time__gte=timezone.now() - cool_off)
    return set(attempts.values_list("username", flat=True))
