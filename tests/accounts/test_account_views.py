"""The connected-account pages through the test client: listing, connecting, progress, syncing, disconnecting."""

from __future__ import annotations

import html
import re
import socket
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.http import HttpResponse
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts import connections, crypto, jobs
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
from tests.conftest import client_for
from tests.fakes.bluesky import FakeBluesky
from tests.fakes.mastodon import BRAND_ACCT, FakeMastodon, pkce_s256

HTMX = {"HX-Request": "true"}
SITE_URL = "http://testserver"
CALLBACK_PATH = "/connect/mastodon/callback/"


def url(name: str, brand: Brand, **kwargs: Any) -> str:
    return reverse(f"accounts:{name}", kwargs={"brand": brand.slug, **kwargs})


def account_url(name: str, account: ConnectedAccount) -> str:
    return url(name, account.brand, account_id=account.pk)


def make_account(brand: Brand, number: int = 1, **fields: Any) -> ConnectedAccount:
    defaults: dict[str, Any] = {
        "platform": Platform.MASTODON,
        "platform_user_id": f"10{number}",
        "handle": f"acme{number}@example.social",
        "server_url": "https://example.social",
        "credentials_ciphertext": crypto.encrypt_json({"access_token": f"token-{number}"}),
        "followers_count": 1000,
    }
    return ConnectedAccount.objects.create(brand=brand, **{**defaults, **fields})


def page_messages(response: HttpResponse) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]  # type: ignore[attr-defined]


@pytest.fixture
def sent_jobs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[Any]]]:
    """Broker messages the code sends, recorded instead of reaching Redis."""
    sent: list[tuple[str, list[Any]]] = []

    def send_task(name: str, args: list[Any], eta: object = None) -> None:
        sent.append((name, args))

    monkeypatch.setattr(jobs, "current_app", SimpleNamespace(send_task=send_task))
    return sent


# The list of accounts.


def test_a_viewer_sees_the_brands_accounts_but_no_way_to_connect_one(brand: Brand, viewer: User) -> None:
    make_account(brand, handle="acme@example.social")

    response = client_for(viewer).get(url("account_list", brand))

    page = response.content.decode()
    assert response.status_code == 200
    assert "acme@example.social" in page
    assert "Connect an account" not in page
    assert url("connect_demo", brand) not in page
    assert url("connect_mastodon", brand) not in page


def test_a_viewer_of_a_brand_without_accounts_is_told_an_admin_can_connect_one(
    brand: Brand, viewer: User
) -> None:
    page = client_for(viewer).get(url("account_list", brand)).content.decode()

    assert "No account is connected yet." in page
    assert "An admin of Acme Coffee can connect one." in page


def test_an_admin_sees_the_mastodon_bluesky_and_demo_connect_options(brand: Brand, owner: User) -> None:
    page = client_for(owner).get(url("account_list", brand)).content.decode()

    assert "Connect an account" in page
    assert f'action="{url("connect_mastodon", brand)}"' in page
    assert f'href="{url("connect_bluesky", brand)}"' in page
    assert f'action="{url("connect_demo", brand)}"' in page


def test_disconnected_accounts_are_left_off_the_list(brand: Brand, viewer: User) -> None:
    make_account(brand, 1, handle="still@example.social")
    make_account(brand, 2, handle="gone@example.social", status=AccountStatus.DISCONNECTED)

    page = client_for(viewer).get(url("account_list", brand)).content.decode()

    assert "still@example.social" in page
    assert "gone@example.social" not in page


def test_someone_outside_the_brand_gets_not_found_for_its_accounts(brand: Brand, outsider: User) -> None:
    account = make_account(brand)
    client = client_for(outsider)

    assert client.get(url("account_list", brand)).status_code == 404
    assert client.get(account_url("account_detail", account)).status_code == 404
    assert client.get(account_url("account_progress", account)).status_code == 404


# Connecting a demo account.


def test_connecting_a_demo_account_creates_it_with_a_queued_sync_and_an_audit_event(
    brand: Brand, owner: User, sent_jobs: list[tuple[str, list[Any]]], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(owner).post(url("connect_demo", brand), {"size": "1000"})

    account = ConnectedAccount.objects.get(brand=brand)
    assert response.status_code == 302
    assert response["Location"] == account_url("account_detail", account)
    assert (account.platform, account.handle, account.status) == (Platform.DEMO, "acme.demo", "active")
    assert account.settings["size"] == 1000
    run = SyncRun.objects.get(account=account)
    assert (run.kind, run.status, run.expected_total, run.requested_by) == (
        "followers",
        "queued",
        1000,
        owner,
    )
    assert sent_jobs == [("accounts.tasks.run_sync", [run.pk])]
    event = AuditEvent.objects.get(brand=brand, verb="account.connected")
    assert (event.actor, event.target_id) == (owner, str(account.pk))
    assert page_messages(response) == ["Connected Demo acme.demo. The first sync has started."]


def test_a_demo_size_that_is_not_offered_is_refused_with_a_message(brand: Brand, owner: User) -> None:
    response = client_for(owner).post(url("connect_demo", brand), {"size": "7"})

    assert response.status_code == 302
    assert response["Location"] == url("account_list", brand)
    assert page_messages(response) == ["Choose how many followers to simulate."]
    assert not ConnectedAccount.objects.exists()


@pytest.mark.parametrize("persona", ["viewer", "reviewer", "approver"])
def test_only_an_admin_may_connect_an_account(
    brand: Brand, persona: str, request: pytest.FixtureRequest
) -> None:
    client = client_for(request.getfixturevalue(persona))

    assert client.post(url("connect_demo", brand), {"size": "100"}).status_code == 403
    assert client.post(url("connect_mastodon", brand), {"instance": "mastodon.social"}).status_code == 403
    assert client.get(url("connect_bluesky", brand)).status_code == 403
    assert not ConnectedAccount.objects.exists()
    assert not MastodonApp.objects.exists()


def test_connecting_is_post_only(brand: Brand, owner: User) -> None:
    client = client_for(owner)

    assert client.get(url("connect_demo", brand)).status_code == 405
    assert client.get(url("connect_mastodon", brand)).status_code == 405


# Connecting a Mastodon account: the OAuth round trip against a fake server on loopback.


@pytest.fixture
def mastodon(settings: Any) -> Iterator[FakeMastodon]:
    settings.SITE_URL = SITE_URL
    with FakeMastodon(follower_count=5) as fake:
        yield fake


def start_mastodon(client: Client, brand: Brand, instance: str) -> HttpResponse:
    return client.post(url("connect_mastodon", brand), {"instance": instance})


def authorization_url_of(response: HttpResponse) -> str:
    """Where the "continue" page sends the person: its refresh and its button both lead there."""
    assert response.status_code == 200
    page = response.content.decode()
    [refresh] = re.findall(r'<meta http-equiv="refresh" content="0; url=([^"]+)">', page)
    [button] = re.findall(r'<a role="button" href="([^"]+)">', page)
    assert refresh == button
    return html.unescape(button)


def authorize_on(location: str) -> str:
    """What the person's browser does at the server: it auto-approves and sends them back to our callback."""
    answer = httpx.get(location, follow_redirects=False)
    assert answer.status_code == 302
    return answer.headers["Location"]


def test_mastodon_connect_sends_the_person_to_the_server_to_authorize_with_pkce(
    brand: Brand, owner: User, mastodon: FakeMastodon
) -> None:
    client = client_for(owner)

    response = start_mastodon(client, brand, mastodon.url)

    location = urlsplit(authorization_url_of(response))
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{mastodon.url}/oauth/authorize"
    query = {key: values[0] for key, values in parse_qs(location.query).items()}
    app = MastodonApp.objects.get(instance_url=mastodon.url)
    pending = client.session["mastodon_oauth"]
    assert query["response_type"] == "code"
    assert query["client_id"] == app.client_id
    assert query["redirect_uri"] == SITE_URL + CALLBACK_PATH == app.redirect_uri
    assert query["code_challenge_method"] == "S256"
    assert query["code_challenge"] == pkce_s256(pending["verifier"])
    assert query["state"] == pending["state"]
    assert set(query["scope"].split()) >= {"read:follows", "write:follows"}
    assert pending["verifier"] not in response.content.decode()


def test_the_continue_page_is_a_plain_link_because_csp_form_action_blocks_redirects_after_a_post(
    brand: Brand, owner: User, mastodon: FakeMastodon
) -> None:
    response = start_mastodon(client_for(owner), brand, mastodon.url)

    page = response.content.decode()
    assert "form-action 'self'" in response["Content-Security-Policy"]
    assert "<script" not in page
    assert "style=" not in page
    assert f"Continue on {urlsplit(mastodon.url).netloc}" in page


def test_the_mastodon_app_is_registered_once_per_server(
    brand: Brand, owner: User, mastodon: FakeMastodon
) -> None:
    client = client_for(owner)

    start_mastodon(client, brand, mastodon.url)
    start_mastodon(client, brand, mastodon.url)

    assert MastodonApp.objects.count() == 1
    assert len(mastodon.calls("/api/v1/apps", method="POST")) == 1


def test_the_mastodon_round_trip_saves_the_account_with_an_encrypted_token(
    brand: Brand, owner: User, mastodon: FakeMastodon, sent_jobs: list[tuple[str, list[Any]]],
    django_capture_on_commit_callbacks: Any,
) -> None:  # fmt: skip
    client = client_for(owner)
    back = authorize_on(authorization_url_of(start_mastodon(client, brand, mastodon.url)))
    assert back.startswith(SITE_URL + CALLBACK_PATH + "?")

    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(back.removeprefix(SITE_URL))

    account = ConnectedAccount.objects.get(brand=brand)
    assert response.status_code == 302
    assert response["Location"] == account_url("account_detail", account)
    assert (account.platform, account.handle, account.server_url) == (
        Platform.MASTODON,
        BRAND_ACCT,
        mastodon.url,
    )
    token = connections.credentials_of(account)["access_token"]
    assert token in mastodon.tokens
    assert token not in account.credentials_ciphertext
    assert SyncRun.objects.filter(account=account, status=JobStatus.QUEUED).count() == 1
    assert [name for name, _ in sent_jobs] == ["accounts.tasks.run_sync"]
    assert AuditEvent.objects.filter(brand=brand, verb="account.connected").count() == 1
    assert "mastodon_oauth" not in client.session


@pytest.mark.parametrize("state", ["not-the-state-we-sent", ""], ids=["wrong state", "missing state"])
def test_a_mastodon_callback_whose_state_does_not_match_is_refused_and_saves_nothing(
    brand: Brand, owner: User, mastodon: FakeMastodon, state: str
) -> None:
    client = client_for(owner)
    back = authorize_on(authorization_url_of(start_mastodon(client, brand, mastodon.url)))
    code = parse_qs(urlsplit(back).query)["code"][0]
    query = {"code": code, "state": state} if state else {"code": code}

    response = client.get(CALLBACK_PATH, query)

    assert response.status_code == 403
    assert not ConnectedAccount.objects.exists()
    assert not mastodon.calls("/oauth/token", method="POST")
    assert client.get(back.removeprefix(SITE_URL)).status_code == 403  # the pending sign-in is used up


def test_a_mastodon_callback_nobody_started_is_refused(brand: Brand, owner: User) -> None:
    response = client_for(owner).get(CALLBACK_PATH, {"code": "abc", "state": "xyz"})

    assert response.status_code == 403
    assert not ConnectedAccount.objects.exists()


def test_a_person_who_declines_on_mastodon_comes_back_to_a_clear_message(
    brand: Brand, owner: User, mastodon: FakeMastodon
) -> None:
    client = client_for(owner)
    start_mastodon(client, brand, mastodon.url)
    state = client.session["mastodon_oauth"]["state"]

    response = client.get(CALLBACK_PATH, {"error": "access_denied", "state": state})

    assert response.status_code == 302
    assert response["Location"] == url("account_list", brand)
    assert page_messages(response) == ["Mastodon did not grant access, so nothing was connected."]
    assert not ConnectedAccount.objects.exists()


def test_a_code_mastodon_refuses_to_exchange_comes_back_to_a_clear_message(
    brand: Brand, owner: User, mastodon: FakeMastodon
) -> None:
    client = client_for(owner)
    start_mastodon(client, brand, mastodon.url)
    state = client.session["mastodon_oauth"]["state"]

    response = client.get(CALLBACK_PATH, {"code": "made-up-code", "state": state})

    assert response.status_code == 302
    assert response["Location"] == url("account_list", brand)
    [message] = page_messages(response)
    assert message.startswith("Mastodon refused the connection: 127.0.0.1 answered HTTP 400: invalid_grant")
    assert "made-up-code" not in message
    assert not ConnectedAccount.objects.exists()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_mastodon_server_that_cannot_be_reached_is_reported_on_the_accounts_page(
    brand: Brand, owner: User, settings: Any
) -> None:
    settings.SITE_URL = SITE_URL

    response = start_mastodon(client_for(owner), brand, f"http://127.0.0.1:{closed_port()}")

    assert response.status_code == 302
    assert response["Location"] == url("account_list", brand)
    [message] = page_messages(response)
    assert message.startswith("127.0.0.1 could not be reached")
    assert message.endswith("Check the address, or try again later.")
    assert not MastodonApp.objects.exists()


@pytest.mark.parametrize("instance", ["not a server address", "ftp://mastodon.social", "https://"])
def test_an_instance_that_is_not_a_server_address_is_refused_before_any_request(
    brand: Brand, owner: User, instance: str
) -> None:
    response = start_mastodon(client_for(owner), brand, instance)

    assert response.status_code == 302
    assert page_messages(response) == ["That does not look like a Mastodon server address."]
    assert not MastodonApp.objects.exists()


def test_an_empty_instance_is_refused_with_the_form_error(brand: Brand, owner: User) -> None:
    response = start_mastodon(client_for(owner), brand, "")

    assert page_messages(response) == ["This field is required."]


def test_the_accounts_page_shows_the_mastodon_error_after_the_redirect(brand: Brand, owner: User) -> None:
    response = client_for(owner).post(url("connect_mastodon", brand), {"instance": "ftp://x"}, follow=True)

    assert response.redirect_chain == [(url("account_list", brand), 302)]
    assert "That does not look like a Mastodon server address." in response.content.decode()


# Connecting a Bluesky account with an app password.

APP_PASSWORD = "wxyz-2345-abcd-6789"


@pytest.fixture
def bluesky(settings: Any) -> Iterator[FakeBluesky]:
    with FakeBluesky(follower_count=5, app_password=APP_PASSWORD) as fake:
        settings.BLUESKY_SERVICE_URL = fake.url
        settings.BLUESKY_PLC_URL = fake.url
        yield fake


def connect_bluesky(client: Client, brand: Brand, password: str, handle: str = "brand.test") -> HttpResponse:
    return client.post(url("connect_bluesky", brand), {"handle": handle, "app_password": password})


def stored_text(account: ConnectedAccount) -> str:
    """Every stored column of the account, as one string."""
    values = ConnectedAccount.objects.filter(pk=account.pk).values().get()
    return " ".join(str(value) for value in values.values())


def test_the_bluesky_page_asks_for_a_handle_and_an_app_password(brand: Brand, owner: User) -> None:
    response = client_for(owner).get(url("connect_bluesky", brand))

    page = response.content.decode()
    assert response.status_code == 200
    assert 'name="handle"' in page
    assert 'type="password" name="app_password"' in page


def test_bluesky_connects_with_a_handle_and_app_password(
    brand: Brand, owner: User, bluesky: FakeBluesky
) -> None:
    response = connect_bluesky(client_for(owner), brand, APP_PASSWORD, handle="@brand.test")

    account = ConnectedAccount.objects.get(brand=brand)
    assert response.status_code == 302
    assert response["Location"] == account_url("account_detail", account)
    assert (account.platform, account.handle, account.platform_user_id) == (
        Platform.BLUESKY, "brand.test", bluesky.brand_did,
    )  # fmt: skip
    assert account.server_url == bluesky.url
    assert set(connections.credentials_of(account)) == {
        "did",
        "handle",
        "pds_url",
        "access_jwt",
        "refresh_jwt",
    }
    assert SyncRun.objects.filter(account=account, status=JobStatus.QUEUED).count() == 1
    assert AuditEvent.objects.filter(brand=brand, verb="account.connected").count() == 1
    assert APP_PASSWORD not in stored_text(account)


def test_a_wrong_app_password_answers_422_with_a_clear_error_and_saves_nothing(
    brand: Brand, owner: User, bluesky: FakeBluesky
) -> None:
    wrong = "zzzz-9999-yyyy-8888"

    response = connect_bluesky(client_for(owner), brand, wrong)

    page = response.content.decode()
    assert response.status_code == 422
    assert "Bluesky did not accept these details" in page
    assert "Invalid identifier or password" in page
    assert wrong not in page
    assert 'value="brand.test"' in page
    assert not ConnectedAccount.objects.exists()
    assert not AuditEvent.objects.exists()


def test_a_handle_bluesky_cannot_resolve_answers_422(brand: Brand, owner: User, bluesky: FakeBluesky) -> None:
    response = connect_bluesky(client_for(owner), brand, APP_PASSWORD, handle="nobody.test")

    assert response.status_code == 422
    assert "Unable to resolve handle" in response.content.decode()
    assert not ConnectedAccount.objects.exists()


def test_a_missing_app_password_answers_422_without_asking_bluesky(
    brand: Brand, owner: User, bluesky: FakeBluesky
) -> None:
    response = connect_bluesky(client_for(owner), brand, "")

    assert response.status_code == 422
    assert "This field is required." in response.content.decode()
    assert bluesky.requests == []


def test_the_app_password_never_appears_in_a_response_or_the_database(
    brand: Brand, owner: User, bluesky: FakeBluesky
) -> None:
    client = client_for(owner)
    refused = connect_bluesky(client, brand, APP_PASSWORD, handle="nobody.test")
    connected = connect_bluesky(client, brand, APP_PASSWORD)
    account = ConnectedAccount.objects.get(brand=brand)
    pages = [
        refused,
        connected,
        client.get(url("account_list", brand)),
        client.get(account_url("account_detail", account)),
        client.get(account_url("account_progress", account)),
    ]

    for response in pages:
        assert APP_PASSWORD not in response.content.decode()  # type: ignore[attr-defined]
        assert APP_PASSWORD not in str(response.headers)
    assert APP_PASSWORD not in stored_text(account)
    assert all(APP_PASSWORD not in event.summary for event in AuditEvent.objects.all())


# The detail page and its progress partial.


def progress_of(client: Client, account: ConnectedAccount) -> str:
    response = client.get(account_url("account_progress", account), headers=HTMX)
    assert response.status_code == 200
    return response.content.decode()


def test_the_detail_page_polls_for_progress_while_a_run_is_queued(brand: Brand, viewer: User) -> None:
    account = make_account(brand)
    SyncRun.objects.create(account=account, expected_total=1000)

    page = client_for(viewer).get(account_url("account_detail", account)).content.decode()

    assert f'hx-get="{account_url("account_progress", account)}"' in page
    assert 'hx-trigger="every 1s"' in page
    assert "Followers sync: waiting for a worker" in page


def test_a_page_left_open_on_a_disconnected_account_stops_polling_instead_of_failing(
    brand: Brand, owner: User, viewer: User
) -> None:
    account = make_account(brand)
    SyncRun.objects.create(account=account, expected_total=1000)
    connections.disconnect(account, by=owner)

    partial = progress_of(client_for(viewer), account)

    assert "hx-trigger" not in partial


def test_the_progress_partial_shows_seen_of_expected_while_a_run_is_running(
    brand: Brand, viewer: User
) -> None:
    account = make_account(brand)
    SyncRun.objects.create(account=account, status=JobStatus.RUNNING, seen=2500, expected_total=10_000)

    partial = progress_of(client_for(viewer), account)

    assert partial.lstrip().startswith('<section id="sync-progress"')
    assert "<html" not in partial
    assert "Followers sync: 2,500 of about 10,000" in partial
    assert 'value="25" max="100"' in partial
    assert 'hx-trigger="every 1s"' in partial


def test_a_run_waiting_for_a_rate_limit_says_why(brand: Brand, viewer: User) -> None:
    account = make_account(brand)
    SyncRun.objects.create(account=account, last_error="waiting for the platform's rate limit to reset")

    partial = progress_of(client_for(viewer), account)

    assert "Followers sync: waiting for the platform&#x27;s rate limit to reset" in partial


def test_polling_stops_once_no_run_is_queued_or_running(brand: Brand, viewer: User) -> None:
    account = make_account(brand)
    SyncRun.objects.create(account=account, status=JobStatus.DONE, complete=True, pages=3, created=240)
    SyncRun.objects.create(account=account, kind=SyncKind.INTERACTIONS, status=JobStatus.FAILED,
                           last_error="127.0.0.1 answered HTTP 500")  # fmt: skip
    client = client_for(viewer)

    page = client.get(account_url("account_detail", account)).content.decode()
    partial = progress_of(client, account)

    for text in (page, partial):
        assert "hx-trigger" not in text
        assert account_url("account_progress", account) not in text
        assert "No sync is running." in text
        assert "127.0.0.1 answered HTTP 500" in text
        assert '<span class="status status-done">Done</span>' in text
        assert '<span class="status status-failed">Failed</span>' in text


def test_a_disconnected_account_has_no_detail_page(brand: Brand, viewer: User) -> None:
    account = make_account(brand, status=AccountStatus.DISCONNECTED, credentials_ciphertext="")

    assert client_for(viewer).get(account_url("account_detail", account)).status_code == 404


def test_an_account_that_needs_reconnecting_says_so_and_offers_no_sync(brand: Brand, owner: User) -> None:
    account = make_account(brand, status=AccountStatus.AUTH_EXPIRED, status_reason="the token was revoked")

    page = client_for(owner).get(account_url("account_detail", account)).content.decode()

    assert "Needs reconnecting." in page
    assert "the token was revoked" in page
    assert "Sync now" not in page


def test_a_viewer_sees_progress_but_no_sync_or_disconnect_buttons(brand: Brand, viewer: User) -> None:
    account = make_account(brand)

    page = client_for(viewer).get(account_url("account_detail", account)).content.decode()

    assert "Recent syncs" in page
    assert "Sync now" not in page
    assert "Disconnect" not in page


# Syncing now.


def test_a_reviewer_starts_a_sync_without_javascript_and_returns_to_the_account(
    brand: Brand,
    reviewer: User,
    sent_jobs: list[tuple[str, list[Any]]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    account = make_account(brand)

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(reviewer).post(account_url("account_sync", account))

    run = SyncRun.objects.get(account=account)
    assert response.status_code == 302
    assert response["Location"] == account_url("account_detail", account)
    assert (run.kind, run.status, run.requested_by) == ("followers", "queued", reviewer)
    assert sent_jobs == [("accounts.tasks.run_sync", [run.pk])]
    assert page_messages(response) == ["Syncing Mastodon acme1@example.social."]


def test_a_reviewer_starts_a_sync_with_htmx_and_gets_the_polling_progress_with_a_toast(
    brand: Brand, reviewer: User
) -> None:
    account = make_account(brand)

    response = client_for(reviewer).post(account_url("account_sync", account), headers=HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="sync-progress"')
    assert 'hx-trigger="every 1s"' in html
    assert "Followers sync: waiting for a worker" in html
    assert '<div id="toasts" hx-swap-oob="beforeend">' in html
    assert "Syncing Mastodon acme1@example.social." in html
    assert "HX-Request" in response["Vary"]
    assert SyncRun.objects.filter(account=account).count() == 1


def test_a_viewer_may_not_start_a_sync(brand: Brand, viewer: User) -> None:
    account = make_account(brand)
    client = client_for(viewer)

    assert client.post(account_url("account_sync", account)).status_code == 403
    assert client.post(account_url("account_sync", account), headers=HTMX).status_code == 403
    assert not SyncRun.objects.exists()


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["plain", "htmx"])
def test_a_second_click_while_a_run_is_active_starts_no_second_run(
    brand: Brand, reviewer: User, headers: dict[str, str]
) -> None:
    account = make_account(brand)
    client = client_for(reviewer)

    client.post(account_url("account_sync", account), headers=headers)
    run = SyncRun.objects.get(account=account)
    SyncRun.objects.filter(pk=run.pk).update(status=JobStatus.RUNNING)
    client.post(account_url("account_sync", account), headers=headers)

    assert list(SyncRun.objects.filter(account=account).values_list("pk", flat=True)) == [run.pk]


def test_syncing_an_account_that_needs_reconnecting_starts_nothing(brand: Brand, reviewer: User) -> None:
    account = make_account(brand, status=AccountStatus.AUTH_EXPIRED)

    response = client_for(reviewer).post(account_url("account_sync", account))

    assert page_messages(response) == ["Mastodon acme1@example.social needs reconnecting before it can sync."]
    assert not SyncRun.objects.exists()


def test_sync_now_is_post_only(brand: Brand, reviewer: User) -> None:
    account = make_account(brand)

    assert client_for(reviewer).get(account_url("account_sync", account)).status_code == 405


# Disconnecting.


def test_disconnecting_deletes_the_credentials_fails_active_runs_and_records_it(
    brand: Brand, owner: User
) -> None:
    account = make_account(brand)
    active = SyncRun.objects.create(account=account, status=JobStatus.RUNNING)
    finished = SyncRun.objects.create(account=account, kind=SyncKind.PROFILES, status=JobStatus.DONE)
    client = client_for(owner)

    response = client.post(account_url("account_disconnect", account))

    account.refresh_from_db()
    active.refresh_from_db()
    finished.refresh_from_db()
    assert response.status_code == 302
    assert response["Location"] == url("account_list", brand)
    assert (account.status, account.credentials_ciphertext) == (AccountStatus.DISCONNECTED, "")
    assert (active.status, active.last_error) == (JobStatus.FAILED, "account disconnected")
    assert finished.status == JobStatus.DONE
    event = AuditEvent.objects.get(brand=brand, verb="account.disconnected")
    assert (event.actor, event.target_id) == (owner, str(account.pk))
    assert page_messages(response) == [
        "Disconnected Mastodon acme1@example.social; its credentials are deleted."
    ]
    assert client.get(account_url("account_detail", account)).status_code == 404


def test_only_an_admin_may_disconnect(brand: Brand, approver: User) -> None:
    account = make_account(brand)

    response = client_for(approver).post(account_url("account_disconnect", account))

    account.refresh_from_db()
    assert response.status_code == 403
    assert account.status == AccountStatus.ACTIVE
    assert account.credentials_ciphertext
    assert not AuditEvent.objects.exists()


def test_another_brands_account_cannot_be_disconnected(brand: Brand, other_brand: Brand, owner: User) -> None:
    theirs = make_account(other_brand)

    response = client_for(owner).post(url("account_disconnect", brand, account_id=theirs.pk))

    theirs.refresh_from_db()
    assert response.status_code == 404
    assert theirs.status == AccountStatus.ACTIVE


# Query counts do not grow with the data.


def queries_for(client: Client, path: str, headers: dict[str, str] | None = None) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path, headers=headers or {})
    assert response.status_code == 200
    return len(captured)


def test_the_account_list_makes_the_same_queries_for_one_account_or_many(brand: Brand, owner: User) -> None:
    make_account(brand, 0)
    client = client_for(owner)
    one = queries_for(client, url("account_list", brand))

    for number in range(1, 8):
        account = make_account(brand, number, last_synced_at="2026-01-01T00:00:00Z")
        SyncRun.objects.create(account=account, status=JobStatus.DONE)

    assert queries_for(client, url("account_list", brand)) == one


def test_the_detail_page_and_progress_make_the_same_queries_for_one_run_or_many(
    brand: Brand, reviewer: User
) -> None:
    account = make_account(brand)
    SyncRun.objects.create(account=account, status=JobStatus.RUNNING, seen=10, expected_total=100)
    client = client_for(reviewer)
    detail = queries_for(client, account_url("account_detail", account))
    progress = queries_for(client, account_url("account_progress", account), HTMX)

    SyncRun.objects.bulk_create(
        SyncRun(account=account, kind=SyncKind.INTERACTIONS, status=JobStatus.DONE, requested_by=reviewer)
        for _ in range(15)
    )
    SyncRun.objects.create(account=account, kind=SyncKind.PROFILES, status=JobStatus.QUEUED)
    for number in range(2, 6):
        make_account(brand, number)

    assert queries_for(client, account_url("account_detail", account)) == detail
    assert queries_for(client, account_url("account_progress", account), HTMX) == progress


# The customer list.


def test_the_customer_upload_reports_rejected_rows_by_line(brand: Brand, owner: User) -> None:
    upload = ("customers.csv", b"handle,email\nalice,\n,not-an-email\nbob,bob@example.com\n", "text/csv")
    response = client_for(owner).post(url("customer_list", brand), {"file": SimpleUploadedFile(*upload)})

    page = response.content.decode()
    assert response.status_code == 200
    assert "<strong>2</strong> new customers added" in page
    assert "Line 3: \u201cnot-an-email\u201d is not an e-mail address" in page
    assert "2 customers on file." in page


def test_only_an_admin_sees_the_customer_list(brand: Brand, approver: User) -> None:
    assert client_for(approver).get(url("customer_list", brand)).status_code == 403
