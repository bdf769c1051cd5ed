"""Production settings pass Django's deploy checks, and our own check fails when CSP, secure cookies or HSTS is off.

`followback/checks.py` registers the deploy check (`followback.E001` to `E003`). Here each protection is switched
off on its own, in-process through the settings and in a real `manage.py check --deploy` through the environment
variables an operator would set, and the check must name it.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core import checks

from followback.checks import check_production_security
from tests.workers import ROOT

CSP = "followback.E001"
COOKIES = "followback.E002"
HSTS = "followback.E003"


@pytest.fixture
def production(settings: Any) -> Any:
    """These test settings with what FOLLOWBACK_ENV=production switches on."""
    settings.PRODUCTION = True
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    settings.SECURE_HSTS_SECONDS = 60 * 60 * 24 * 365
    return settings


def failing_checks() -> set[str]:
    return {error.id for error in check_production_security(None) if error.id}


def test_production_with_every_protection_on_passes_our_check(production):
    assert failing_checks() == set()


def test_the_check_is_a_deploy_check_that_only_judges_production(production):
    production.SECURE_HSTS_SECONDS = 0
    deploy = {message.id for message in checks.run_checks(include_deployment_checks=True)}
    assert HSTS in deploy
    assert HSTS not in {message.id for message in checks.run_checks()}
    production.PRODUCTION = False
    assert failing_checks() == set()


@pytest.mark.parametrize(
    ("switch_off", "expected"),
    [
        pytest.param(lambda s: setattr(s, "MIDDLEWARE", [m for m in s.MIDDLEWARE if "csp" not in m]), CSP,
                     id="csp middleware removed"),
        pytest.param(lambda s: setattr(s, "CONTENT_SECURITY_POLICY", None), CSP, id="csp policy unset"),
        pytest.param(lambda s: setattr(s, "CONTENT_SECURITY_POLICY", {}), CSP, id="csp policy empty"),
        pytest.param(lambda s: setattr(s, "SESSION_COOKIE_SECURE", False), COOKIES, id="session cookie over http"),
        pytest.param(lambda s: setattr(s, "CSRF_COOKIE_SECURE", False), COOKIES, id="csrf cookie over http"),
        pytest.param(lambda s: setattr(s, "SECURE_HSTS_SECONDS", 0), HSTS, id="hsts off"),
        pytest.param(lambda s: setattr(s, "SECURE_HSTS_SECONDS", 60 * 60 * 24), HSTS, id="hsts for a day"),
    ],
)  # fmt: skip
def test_switching_one_protection_off_fails_the_check_naming_it(production, switch_off, expected):
    switch_off(production)
    assert failing_checks() == {expected}


def manage_check(**env: str) -> subprocess.CompletedProcess[str]:
    """`manage.py check --deploy --fail-level WARNING` under production settings, as `make check` runs it."""
    production_env = {
        "PATH": os.environ["PATH"],
        "FOLLOWBACK_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "followback.example",
        "DATABASE_URL": "sqlite://:memory:",
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/3",
    }
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env={**production_env, **env}, capture_output=True, text=True, check=False,
    )  # fmt: skip


@pytest.mark.slow
def test_production_settings_pass_the_deploy_checks_at_warning_level():
    result = manage_check()
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"SESSION_COOKIE_SECURE": "false"}, COOKIES),
        ({"CSRF_COOKIE_SECURE": "false"}, COOKIES),
        ({"SECURE_HSTS_SECONDS": "0"}, HSTS),
    ],
    ids=["session cookie", "csrf cookie", "hsts"],
)
def test_an_operator_switching_a_protection_off_fails_the_deploy_check(env, expected):
    result = manage_check(**env)
    assert result.returncode != 0
    assert expected in result.stderr
