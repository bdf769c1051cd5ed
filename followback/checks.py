"""A deploy check of our own: production must never run with CSP, secure cookies or HSTS switched off."""

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.security, deploy=True)
def check_production_security(app_configs: Sequence[Any] | None, **kwargs: Any) -> list[Error]:
    if not settings.PRODUCTION:
        return []
    errors = []
    if "csp.middleware.CSPMiddleware" not in settings.MIDDLEWARE or not settings.CONTENT_SECURITY_POLICY:
        errors.append(Error("Content Security Policy is off in production.", id="followback.E001"))
    if not (settings.SESSION_COOKIE_SECURE and settings.CSRF_COOKIE_SECURE):
        errors.append(Error("Session and CSRF cookies must be secure in production.", id="followback.E002"))
    if settings.SECURE_HSTS_SECONDS < 60 * 60 * 24 * 180:
        errors.append(Error("HSTS must be on for at least 180 days in production.", id="followback.E003"))
    return errors
