"""The production pieces point at things that exist: compose services, their commands, the Dockerfile."""

import importlib
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_runs_every_part_of_followback_with_a_healthcheck():
    services = COMPOSE["services"]
    assert set(services) == {"postgres", "redis", "web", "worker", "beat"}
    for name, service in services.items():
        assert "healthcheck" in service, f"{name} has no healthcheck"


@pytest.mark.parametrize("name", ["web", "worker", "beat"])
def test_every_compose_command_points_at_something_in_the_project(name):
    command = COMPOSE["services"][name]["command"]
    if command[0] == "celery":
        app = command[command.index("-A") + 1]
        module = importlib.import_module(app)
        assert module.celery_app.main == "followback"
        assert command[command.index("-A") + 2] in {"worker", "beat"}
    else:
        script = ROOT / command[0]
        assert script.is_file()
        assert script.stat().st_mode & 0o111, f"{script} is not executable"
        assert "followback.wsgi:application" in script.read_text()


def test_the_dockerfile_copies_every_app_and_the_web_entrypoint():
    dockerfile = (ROOT / "Dockerfile").read_text()
    for folder in ("followback", "accounts", "rules", "templates", "static", "docker"):
        assert f"COPY {folder} {folder}" in dockerfile
        assert (ROOT / folder).is_dir()
    assert 'CMD ["docker/web"]' in dockerfile


def test_the_beat_schedule_names_registered_tasks():
    from followback.celery import app

    app.loader.import_default_modules()
    for entry in app.conf.beat_schedule.values():
        assert entry["task"] in app.tasks


def test_production_settings_refuse_to_start_without_a_secret_key():
    env = {"FOLLOWBACK_ENV": "production", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; import os; "
            "os.environ['DJANGO_SETTINGS_MODULE']='followback.settings'; django.setup()",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_the_security_check_fails_production_without_csp_secure_cookies_or_hsts(settings):
    from followback.checks import check_production_security

    settings.PRODUCTION = True
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    settings.SECURE_HSTS_SECONDS = 31536000
    assert check_production_security(None) == []
    settings.SESSION_COOKIE_SECURE = False
    settings.SECURE_HSTS_SECONDS = 0
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "csp" not in m]
    assert {error.id for error in check_production_security(None)} == {
        "followback.E001",
        "followback.E002",
        "followback.E003",
    }
