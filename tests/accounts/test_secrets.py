"""No credential leaves its ciphertext: not in logs, output, pages, errors, reprs, audit rows or plain columns.

Every secret the fakes hand out here carries one marker; each test connects and syncs through the real
services against the fakes, makes things fail, renders the pages, and then looks for the marker everywhere.
"""

from __future__ import annotations

import itertools
import json
import logging
import sys
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography.fernet import Fernet
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import connections, crypto, tasks
from accounts.jobs import JobStatus
from accounts.models import (
    AccountStatus,
    AuditEvent,
    Brand,
    ConnectedAccount,
    MastodonApp,
    Platform,
    SyncKind,
    SyncRun,
    User,
)
from accounts.platforms.base import PlatformError
from tests.conftest import client_for
from tests.factories import UserFactory
from tests.fakes.bluesky import FakeBluesky
from tests.fakes.mastodon import FakeMastodon

MARKER = "7f3a9c2e51d84b60"
ACCESS_TOKEN = f"MARKER-TOKEN-{MARKER}"
CLIENT_SECRET = f"MARKER-CLIENT-SECRET-{MARKER}"
APP_PASSWORD = f"MARKER-APP-PASSWORD-{MARKER}"
WRONG_APP_PASSWORD = f"MARKER-WRONG-APP-PASSWORD-{MARKER}"
ACCESS_JWT = f"MARKER-ACCESS-JWT-{MARKER}"
REFRESH_JWT = f"MARKER-REFRESH-JWT-{MARKER}"
SITE_URL = "http://testserver"
REDIRECT_URI = SITE_URL + "/connect/mastodon/callback/"
WATCHED_LOGGERS = ("", "accounts", "followback", "httpx", "httpcore", "django", "celery", "tests")


class MarkedMastodon(FakeMastodon):
    """A fake Mastodon whose OAuth client secret and access tokens are the markers."""

    def _register_app(self, **kwargs: Any) -> Any:
        reply = super()._register_app(**kwargs)
        payload = json.loads(reply.body)
        self.apps[payload["client_id"]] = replace(
            self.apps[payload["client_id"]], client_secret=CLIENT_SECRET
        )
        reply.body = json.dumps({**payload, "client_secret": CLIENT_SECRET}).encode()
        return reply

    def _issue_token(self, **kwargs: Any) -> Any:
        reply = super()._issue_token(**kwargs)
        payload = json.loads(reply.body)
        if reply.status == 200:
            self.tokens.discard(payload["access_token"])
            self.tokens.add(ACCESS_TOKEN)
            reply.body = json.dumps({**payload, "access_token": ACCESS_TOKEN}).encode()
        return reply


class MarkedBluesky(FakeBluesky):
    """A fake Bluesky whose access and refresh JWTs carry the marker (numbered, so refreshes differ)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sessions_issued = itertools.count(1)

    def _issue_tokens(self, did: str) -> tuple[str, str]:
        access, refresh = super()._issue_tokens(did)
        number = next(self.sessions_issued)
        marked_access, marked_refresh = f"{ACCESS_JWT}-{number}", f"{REFRESH_JWT}-{number}"
        self._access[marked_access] = self._access.pop(access)
        self._refresh[marked_refresh] = self._refresh.pop(refresh)
        return marked_access, marked_refresh


@dataclass
class Evidence:
    """Everything a secret could leak into, gathered during one test and searched at its end."""

    caplog: pytest.LogCaptureFixture
    capfd: pytest.CaptureFixture[str]
    places: list[tuple[str, str]] = field(default_factory=list)

    def add(self, where: str, text: object) -> None:
        self.places.append((where, str(text)))

    def exception(self, error: BaseException) -> None:
        self.add(f"str({type(error).__name__})", error)
        self.add(f"repr({type(error).__name__})", repr(error))
        self.add(f"traceback of {type(error).__name__}", "".join(traceback.format_exception(error)))

    def response(self, where: str, response: Any) -> None:
        assert response.status_code < 500, f"{where} answered {response.status_code}"
        self.add(f"{where} body", response.content.decode())
        self.add(f"{where} headers", response.headers)

    def rows(self) -> None:
        """The audit log and the runs' errors, and the reprs of every account and run."""
        for event in AuditEvent.objects.all():
            self.add(f"audit event {event.verb}", f"{event.summary} {event.data} {event.target_id}")
        for run in SyncRun.objects.all():
            self.add(f"sync run {run.pk}", f"{run.last_error} {run.cursor} {run!r} {run}")
        for account in ConnectedAccount.objects.all():
            self.add(
                f"account {account.pk}", f"{account!r} {account} {account.status_reason} {account.settings}"
            )

    def assert_clean(self) -> None:
        self.rows()
        output = self.capfd.readouterr()
        self.add("stdout", output.out)
        self.add("stderr", output.err)
        self.add("log", self.caplog.text)
        for record in self.caplog.records:
            self.add(
                f"log record of {record.name}", f"{record.getMessage()} {record.args!r} {record.__dict__!r}"
            )
        leaks = [where for where, text in self.places if MARKER in text]
        assert leaks == [], f"a credential leaked into: {leaks}"
        assert columns_containing(MARKER) == []


def columns_containing(text: str) -> list[str]:
    """Every text, varchar or JSON column of every table in the database whose value contains ``text``."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT table_name, column_name FROM information_schema.columns
            WHERE table_schema = current_schema() AND data_type IN ('text', 'character varying', 'json', 'jsonb')
            """
        )
        columns = cursor.fetchall()
        found = []
        for table, column in columns:
            quoted_table, quoted_column = connection.ops.quote_name(table), connection.ops.quote_name(column)
            cursor.execute(
                f"SELECT count(*) FROM {quoted_table} WHERE {quoted_column}::text LIKE %s", [f"%{text}%"]
            )
            if cursor.fetchone()[0]:
                found.append(f"{table}.{column}")
    assert len(columns) > 50, "the scan should see every text column of the schema"
    return found


@pytest.fixture
def evidence(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> Iterator[Evidence]:
    """Logs at DEBUG everywhere, and the console handler of LOGGING writing into the captured stderr."""
    for name in WATCHED_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    consoles = [
        handler for handler in logging.getLogger().handlers
        if type(handler) is logging.StreamHandler  # LOGGING's console, not pytest's capturing handlers
    ]  # fmt: skip
    streams = [console.stream for console in consoles]
    for console in consoles:
        console.stream = sys.stderr
    yield Evidence(caplog, capfd)
    for console, stream in zip(consoles, streams, strict=True):
        console.stream = stream


@pytest.fixture
def superuser_client(db: None) -> Client:
    return client_for(UserFactory(email="root@followback.test", is_staff=True, is_superuser=True))


def run_sync_now(account: ConnectedAccount, kind: SyncKind = SyncKind.FOLLOWERS) -> SyncRun:
    """The account's sync of this kind, made due and run by the Celery task in this process."""
    run = connections.request_sync(account, kind, by=None)
    SyncRun.objects.filter(pk=run.pk).update(run_after=timezone.now())
    tasks.run_sync(run.pk)
    run.refresh_from_db()
    return run


def connector_repr(account: ConnectedAccount) -> str:
    """The repr of the account's connector and of the session it holds, if any."""
    connector: Any = connections.connector_for(account)
    try:
        return f"{connector!r} {getattr(connector, 'session', None)!r}"
    finally:
        connector.close()


def render_every_page(
    evidence: Evidence, client: Client, superuser_client: Client, account: ConnectedAccount
) -> None:
    brand = account.brand.slug
    on_brand = {"brand": brand}
    on_account = {"brand": brand, "account_id": account.pk}
    admin_pages = {
        "admin account list": reverse("admin:accounts_connectedaccount_changelist"),
        "admin account change": reverse("admin:accounts_connectedaccount_change", args=[account.pk]),
        "admin audit log": reverse("admin:accounts_auditevent_changelist"),
    }
    pages = {
        "account list": reverse("accounts:account_list", kwargs=on_brand),
        "account detail": reverse("accounts:account_detail", kwargs=on_account),
        "customers": reverse("accounts:customer_list", kwargs=on_brand),
        "bluesky connect": reverse("accounts:connect_bluesky", kwargs=on_brand),
        "brand home": reverse("brand_home", kwargs=on_brand),
    }
    for where, path in pages.items():
        evidence.response(where, client.get(path))
    progress = reverse("accounts:account_progress", kwargs=on_account)
    evidence.response("progress", client.get(progress, headers={"HX-Request": "true"}))
    sync_now = reverse("accounts:account_sync", kwargs=on_account)
    evidence.response("sync now", client.post(sync_now, follow=True))
    evidence.response("sync now (htmx)", client.post(sync_now, headers={"HX-Request": "true"}))
    for where, path in admin_pages.items():
        response = superuser_client.get(path)
        assert response.status_code == 200
        evidence.response(where, response)


def assert_stored_only_encrypted(account: ConnectedAccount, *secrets: str) -> None:
    account.refresh_from_db()
    credentials = " ".join(str(value) for value in connections.credentials_of(account).values())
    for secret in secrets:
        assert secret in credentials, "the marker is stored, encrypted"
    assert MARKER not in account.credentials_ciphertext


def test_a_mastodon_token_and_client_secret_are_stored_only_encrypted_and_never_shown(
    brand: Brand, owner: User, settings: Any, evidence: Evidence, superuser_client: Client
) -> None:
    settings.SITE_URL = SITE_URL
    with MarkedMastodon(follower_count=200) as fake:
        authorization = connections.start_mastodon_authorization(fake.url, REDIRECT_URI)
        code = parse_qs(urlsplit(httpx.get(authorization.url).headers["Location"]).query)["code"][0]
        with pytest.raises(PlatformError) as refused:
            connections.finish_mastodon_authorization(
                brand, authorization.instance_url, "a-code-that-was-never-issued", authorization.code_verifier,
                by=owner,
            )  # fmt: skip
        evidence.exception(refused.value)
        account = connections.finish_mastodon_authorization(
            brand, authorization.instance_url, code, authorization.code_verifier, by=owner
        )
        app = MastodonApp.objects.get()
        assert crypto.decrypt_json(app.client_secret_ciphertext) == {"secret": CLIENT_SECRET}
        assert MARKER not in app.client_secret_ciphertext
        assert_stored_only_encrypted(account, ACCESS_TOKEN)

        fake.fail_next(status=500, error=f"upstream broke while handling {ACCESS_TOKEN}", path="/followers")
        failed = run_sync_now(account)
        assert (failed.status, failed.last_error) == (JobStatus.QUEUED, "127.0.0.1 answered HTTP 500: upstream "
                                                      "broke while handling [redacted]")  # fmt: skip
        fake.fail_next(
            status=429, error="Too many requests", headers={"Retry-After": "30"}, path="/followers"
        )
        assert run_sync_now(account).last_error.startswith("127.0.0.1 rate limit reached")
        assert run_sync_now(account).status == JobStatus.DONE
        assert run_sync_now(account, SyncKind.INTERACTIONS).status == JobStatus.DONE
        evidence.add("connector repr", connector_repr(account))
        evidence.add("authorization repr", repr(authorization))

        fake.fail_next(
            status=401, path="/followers",
            body={"error": "invalid_token", "error_description": f"The access token {ACCESS_TOKEN} was revoked"},
        )  # fmt: skip
        expired = run_sync_now(account)
        account.refresh_from_db()
        assert (expired.status, account.status) == (JobStatus.FAILED, AccountStatus.AUTH_EXPIRED)
        assert "[redacted]" in account.status_reason

        render_every_page(evidence, client_for(owner), superuser_client, account)
        assert_stored_only_encrypted(account, ACCESS_TOKEN)
    evidence.assert_clean()


# Committed data: a session refreshed while follower pages are read ahead is stored by that thread's connection.
@pytest.mark.django_db(transaction=True)
def test_a_bluesky_app_password_and_session_tokens_are_stored_only_encrypted_and_never_shown(
    brand: Brand, owner: User, settings: Any, evidence: Evidence, superuser_client: Client
) -> None:
    with MarkedBluesky(follower_count=150, app_password=APP_PASSWORD) as fake:
        settings.BLUESKY_SERVICE_URL = settings.BLUESKY_PLC_URL = fake.url
        with pytest.raises(PlatformError) as refused:
            connections.connect_bluesky(
                brand, "brand.test", WRONG_APP_PASSWORD, by=owner, service_url=fake.url, plc_url=fake.url
            )
        evidence.exception(refused.value)
        connect_url = reverse("accounts:connect_bluesky", kwargs={"brand": brand.slug})
        wrong = client_for(owner).post(
            connect_url, {"handle": "brand.test", "app_password": WRONG_APP_PASSWORD}
        )
        assert wrong.status_code == 422
        evidence.response("refused connect", wrong)

        account = connections.connect_bluesky(
            brand, "brand.test", APP_PASSWORD, by=owner, service_url=fake.url, plc_url=fake.url
        )
        assert_stored_only_encrypted(account, f"{ACCESS_JWT}-1", f"{REFRESH_JWT}-1")
        assert run_sync_now(account).status == JobStatus.DONE
        assert run_sync_now(account, SyncKind.PROFILES).status == JobStatus.DONE
        assert run_sync_now(account, SyncKind.INTERACTIONS).status == JobStatus.DONE

        fake.expire_access_tokens()
        assert run_sync_now(account).status == JobStatus.DONE
        assert_stored_only_encrypted(account, f"{ACCESS_JWT}-2", f"{REFRESH_JWT}-2")

        fake.fail_next(
            status=500, message=f"could not verify {ACCESS_JWT}-2", nsid="app.bsky.graph.getFollowers"
        )
        failed = run_sync_now(account)
        assert failed.status == JobStatus.QUEUED
        assert failed.last_error.endswith("could not verify [redacted]")
        fake.fail_next(status=429, error="RateLimitExceeded", message="Rate Limit Exceeded")
        assert run_sync_now(account).status == JobStatus.QUEUED
        evidence.add("connector repr", connector_repr(account))

        fake.refresh_fails = True
        fake.expire_access_tokens()
        assert run_sync_now(account).status == JobStatus.FAILED
        account.refresh_from_db()
        assert account.status == AccountStatus.AUTH_EXPIRED

        render_every_page(evidence, client_for(owner), superuser_client, account)
        assert_stored_only_encrypted(account, f"{ACCESS_JWT}-2", f"{REFRESH_JWT}-2")
    evidence.assert_clean()
    assert not any(APP_PASSWORD in text for _, text in evidence.places)


def test_disconnecting_leaves_no_copy_of_the_credentials_anywhere(
    brand: Brand, owner: User, settings: Any, evidence: Evidence
) -> None:
    settings.SITE_URL = SITE_URL
    with MarkedMastodon(follower_count=10) as fake:
        authorization = connections.start_mastodon_authorization(fake.url, REDIRECT_URI)
        code = parse_qs(urlsplit(httpx.get(authorization.url).headers["Location"]).query)["code"][0]
        account = connections.finish_mastodon_authorization(
            brand, authorization.instance_url, code, authorization.code_verifier, by=owner
        )
        assert run_sync_now(account).status == JobStatus.DONE
    connections.disconnect(account, by=owner)

    account.refresh_from_db()
    assert account.credentials_ciphertext == ""
    with pytest.raises(crypto.CredentialsUnreadable):
        connections.credentials_of(account)
    evidence.assert_clean()


# Keys: a wrong key never yields plaintext, and rotation moves credentials to the new key.


@pytest.fixture
def use_keys(settings: Any) -> Iterator[Callable[..., None]]:
    def use(*keys: bytes) -> None:
        settings.FIELD_ENCRYPTION_KEYS = [key.decode() for key in keys]
        crypto.reset_key_cache()

    yield use
    crypto.reset_key_cache()


def test_credentials_encrypted_under_another_key_are_unreadable_never_plaintext(
    use_keys: Callable[..., None],
) -> None:
    key_a, key_b = Fernet.generate_key(), Fernet.generate_key()
    use_keys(key_a)
    token = crypto.encrypt_json({"access_token": ACCESS_TOKEN})
    use_keys(key_b)

    with pytest.raises(crypto.CredentialsUnreadable) as unreadable:
        crypto.decrypt_json(token)
    with pytest.raises(crypto.CredentialsUnreadable):
        crypto.rotate(token)

    assert MARKER not in f"{unreadable.value} {unreadable.value!r}"
    assert unreadable.value.__cause__ is None
    assert unreadable.value.__suppress_context__


@pytest.mark.parametrize(
    "stored",
    ['{"access_token": "MARKER-TOKEN-7f3a9c2e51d84b60"}', "", "gAAAAAB-not-really-fernet"],
    ids=["plaintext json", "empty", "damaged ciphertext"],
)
def test_a_value_that_is_not_our_ciphertext_is_unreadable(stored: str) -> None:
    with pytest.raises(crypto.CredentialsUnreadable) as unreadable:
        crypto.decrypt_json(stored)

    assert MARKER not in str(unreadable.value)


def test_rotating_to_a_new_first_key_leaves_credentials_readable_with_the_new_key_alone(
    use_keys: Callable[..., None],
) -> None:
    key_a, key_b = Fernet.generate_key(), Fernet.generate_key()
    use_keys(key_a)
    old = crypto.encrypt_json({"access_token": ACCESS_TOKEN})

    use_keys(key_b, key_a)
    assert crypto.decrypt_json(old) == {"access_token": ACCESS_TOKEN}
    rotated = crypto.rotate(old)
    use_keys(key_b)

    assert rotated != old
    assert crypto.decrypt_json(rotated) == {"access_token": ACCESS_TOKEN}
    with pytest.raises(crypto.CredentialsUnreadable):
        crypto.decrypt_json(old)


def test_a_sync_whose_credentials_no_key_opens_asks_for_reconnecting_without_revealing_them(
    brand: Brand, use_keys: Callable[..., None], evidence: Evidence
) -> None:
    use_keys(Fernet.generate_key())
    account = ConnectedAccount.objects.create(
        brand=brand, platform=Platform.MASTODON, platform_user_id="1", handle="acme@example.social",
        server_url="https://example.social", credentials_ciphertext=crypto.encrypt_json({"access_token": ACCESS_TOKEN}),
    )  # fmt: skip
    use_keys(Fernet.generate_key())

    run = run_sync_now(account)

    account.refresh_from_db()
    assert run.status == JobStatus.FAILED
    assert account.status == AccountStatus.AUTH_EXPIRED
    assert account.status_reason == "stored credentials cannot be decrypted with the configured keys"
    assert AuditEvent.objects.filter(verb="account.auth_expired").count() == 1
    evidence.assert_clean()
