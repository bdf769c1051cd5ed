"""Where tests/accounts/test_secrets.py does not look: follows, broker messages, the 500 page, more of the admin.

That file connects and syncs Mastodon and Bluesky accounts whose every secret carries one marker, fails syncs
and expires sessions, and searches logs, output, pages and text columns. Reusing its marked fakes and its
`Evidence`, these tests add: follows through both platforms, one of them refused with the token in the
platform's answer (logs at DEBUG, every htmx fragment of the follows page); every column of every table whatever
its type, plus each session decoded; every key of the Redis broker after connecting, syncing and following,
message bodies decoded; the 500 page under DEBUG=False when a view crashes holding a token; the Django admin's
search, history, delete and save pages for a connected account; and a wrong password typed at the login page.
The marker is looked for as it is and base64-encoded at each alignment.
"""

from __future__ import annotations

import base64
import json
import logging
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import redis
from django.conf import settings as django_settings
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import connections
from accounts.models import AccountStatus, Brand, ConnectedAccount, Follower, User
from accounts.platforms import mastodon
from followback import tasks as followback_tasks
from followback.execution import queue_follow
from followback.models import FollowAction, FollowState
from rules.models import Suggestion, SuggestionStatus
from rules.services import current_policy
from tests.accounts import test_secrets
from tests.accounts.test_secrets import (
    ACCESS_JWT,
    ACCESS_TOKEN,
    APP_PASSWORD,
    MARKER,
    REDIRECT_URI,
    SITE_URL,
    Evidence,
    MarkedBluesky,
    MarkedMastodon,
    run_sync_now,
)
from tests.conftest import client_for
from tests.factories import UserFactory

HTMX = {"HX-Request": "true"}
evidence = (
    test_secrets.evidence
)  # the fixture: every logger at DEBUG, the console handler into captured stderr


def marker_forms() -> list[str]:
    """The marker, and what any base64 encoding of a text holding it must contain, at each of the 3 offsets."""
    forms = [MARKER]
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + MARKER.encode()).decode()
        # Only the characters whose six bits all come from the marker, not from the bytes around it.
        inner = encoded[-(-8 * offset // 6) : 8 * (offset + len(MARKER)) // 6]
        forms += [inner, inner.replace("+", "-").replace("/", "_")]
    return forms


def found_in(text: str | bytes) -> list[str]:
    value = text.decode(errors="replace") if isinstance(text, bytes) else text
    return [form for form in marker_forms() if form in value]


def database_leaks() -> list[str]:
    """Every column of every table, whatever its type, whose values hold the marker in any form."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = current_schema()"
        )
        columns = cursor.fetchall()
        leaks = []
        for table, column, kind in columns:
            name = f"{connection.ops.quote_name(table)}.{connection.ops.quote_name(column)}"
            text = f"encode({name}, 'escape')" if kind == "bytea" else f"{name}::text"
            for form in marker_forms():
                cursor.execute(
                    f"SELECT count(*) FROM {connection.ops.quote_name(table)} WHERE strpos({text}, %s) > 0",
                    [form],
                )
                if cursor.fetchone()[0]:
                    leaks.append(f"{table}.{column}")
    assert len(columns) > 150, "the scan should see every column of the schema"
    return leaks


def session_leaks() -> list[str]:
    return [
        f"session {session.pk}"
        for session in Session.objects.all()
        if found_in(json.dumps(session.get_decoded()))
    ]


def stored_values(broker: redis.Redis, key: bytes) -> list[bytes]:
    kind = broker.type(key).decode()
    if kind == "list":
        return broker.lrange(key, 0, -1)
    if kind == "hash":
        return list(broker.hvals(key))
    if kind == "set":
        return list(broker.smembers(key))
    if kind == "zset":
        return broker.zrange(key, 0, -1)
    value = broker.get(key)
    return [value] if isinstance(value, bytes) else []


def broker_leaks(broker: redis.Redis) -> tuple[int, list[str]]:
    """How many messages wait in the broker, and every key holding the marker, message bodies decoded."""
    messages, leaks = 0, []
    for key in broker.scan_iter():
        for value in stored_values(broker, key):
            texts = [value]
            try:
                message = json.loads(value)
            except ValueError:
                message = None
            if isinstance(message, dict) and "body" in message:
                messages += 1
                texts.append(base64.b64decode(message["body"]))
            if any(found_in(text) for text in texts):
                leaks.append(key.decode())
    return messages, leaks


def assert_nothing_anywhere(evidence: Evidence) -> None:
    evidence.assert_clean()
    assert [where for where, text in evidence.places if found_in(text)] == [], (
        "a credential leaked, base64-encoded"
    )
    assert database_leaks() == []
    assert session_leaks() == []


def connect_mastodon(brand: Brand, owner: User, fake: MarkedMastodon) -> ConnectedAccount:
    authorization = connections.start_mastodon_authorization(fake.url, REDIRECT_URI)
    code = parse_qs(urlsplit(httpx.get(authorization.url).headers["Location"]).query)["code"][0]
    return connections.finish_mastodon_authorization(
        brand, authorization.instance_url, code, authorization.code_verifier, by=owner
    )


def connect_bluesky(brand: Brand, owner: User, fake: MarkedBluesky) -> ConnectedAccount:
    return connections.connect_bluesky(
        brand, fake.brand_handle, APP_PASSWORD, by=owner, service_url=fake.url, plc_url=fake.url
    )


def approve(account: ConnectedAccount, platform_id: str, approver: User) -> FollowAction:
    """An approved suggestion of this follower, its follow queued through the real service and due now."""
    follower = Follower.objects.create(
        account=account, platform_id=platform_id, handle=f"{platform_id}.example"
    )
    suggestion = Suggestion.objects.create(
        brand=account.brand, account=account, follower=follower, status=SuggestionStatus.APPROVED,
        policy_version=current_policy(account.brand), score=80, rule="", expires_at=timezone.now() + timedelta(days=1),
    )  # fmt: skip
    action = queue_follow(suggestion, approver)
    FollowAction.objects.filter(pk=action.pk).update(run_after=timezone.now())
    return action


def follows_fragments(evidence: Evidence, client: Client, brand: Brand) -> None:
    follows = reverse("follows", kwargs={"brand": brand.slug})
    evidence.response("follows page", client.get(follows))
    evidence.response("follows page (htmx)", client.get(follows, headers=HTMX))
    for action in FollowAction.objects.filter(state=FollowState.FAILED):
        retry = reverse("follow_retry", kwargs={"brand": brand.slug, "action": action.pk})
        evidence.response(f"retry {action.pk} (htmx)", client.post(retry, headers=HTMX))
    for account in ConnectedAccount.objects.all():
        on_account = {"brand": brand.slug, "account_id": account.pk}
        for name in ("accounts:account_detail", "accounts:account_progress"):
            evidence.response(f"{name} (htmx)", client.get(reverse(name, kwargs=on_account), headers=HTMX))
        sync = reverse("accounts:account_sync", kwargs=on_account)
        evidence.response(f"sync {account.pk} (htmx)", client.post(sync, headers=HTMX))


def test_follows_through_mastodon_and_bluesky_leave_no_secret_in_logs_rows_or_fragments(
    brand, owner, settings, evidence
):
    settings.SITE_URL = SITE_URL
    settings.FOLLOWBACK_UNDO_SECONDS = 0
    with (
        MarkedMastodon(follower_count=5) as social,
        MarkedBluesky(follower_count=5, app_password=APP_PASSWORD) as sky,
    ):
        settings.BLUESKY_SERVICE_URL = settings.BLUESKY_PLC_URL = sky.url
        on_mastodon, on_bluesky = connect_mastodon(brand, owner, social), connect_bluesky(brand, owner, sky)
        ConnectedAccount.objects.update(followers_count=1000, following_count=10)
        done = [
            approve(on_mastodon, social.add_account("friend@remote.example"), owner),
            approve(on_bluesky, sky.add_account("friend.test"), owner),
        ]
        refused = approve(on_mastodon, social.add_account("other@remote.example"), owner)
        for action in done:
            followback_tasks.execute_follow(action.pk)
        social.fail_next(
            status=401, path="/follow",
            body={"error": "invalid_token", "error_description": f"The access token {ACCESS_TOKEN} was revoked"},
        )  # fmt: skip
        followback_tasks.execute_follow(refused.pk)

        assert [FollowAction.objects.get(pk=a.pk).state for a in done] == [FollowState.DONE] * 2
        assert FollowAction.objects.get(pk=refused.pk).state == FollowState.FAILED
        on_mastodon.refresh_from_db()
        assert on_mastodon.status == AccountStatus.AUTH_EXPIRED
        assert len(social.follows_done) == len(sky.follow_records) == 1
        follows_fragments(evidence, client_for(owner), brand)
    assert_nothing_anywhere(evidence)


def test_broker_messages_carry_ids_and_never_a_secret(
    brand, owner, settings, evidence, queue, django_capture_on_commit_callbacks
):
    settings.SITE_URL = SITE_URL
    settings.FOLLOWBACK_UNDO_SECONDS = 0
    broker = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    with (
        MarkedMastodon(follower_count=5) as social,
        MarkedBluesky(follower_count=5, app_password=APP_PASSWORD) as sky,
    ):
        settings.BLUESKY_SERVICE_URL = settings.BLUESKY_PLC_URL = sky.url
        with django_capture_on_commit_callbacks(execute=True):
            on_mastodon, on_bluesky = (
                connect_mastodon(brand, owner, social),
                connect_bluesky(brand, owner, sky),
            )
            for account in (on_mastodon, on_bluesky):
                run_sync_now(account)
            ConnectedAccount.objects.update(followers_count=1000, following_count=10)
            approve(on_mastodon, social.add_account("friend@remote.example"), owner)
            approve(on_bluesky, sky.add_account("friend.test"), owner)
            followback_tasks.sweep_jobs()

    messages, leaks = broker_leaks(broker)
    assert messages >= 6, "connecting, syncing and approving send messages"
    assert leaks == []
    for raw in broker.lrange(queue, 0, -1):
        args, kwargs, _ = json.loads(base64.b64decode(json.loads(raw)["body"]))
        assert kwargs == {}
        assert all(isinstance(arg, int) for arg in args)
    assert_nothing_anywhere(evidence)


def test_a_view_crashing_while_it_holds_a_token_answers_the_plain_500_page(
    brand, owner, settings, evidence, monkeypatch
):
    settings.DEBUG = False
    settings.SITE_URL = SITE_URL
    client = client_for(owner)
    client.raise_request_exception = False

    def crash(instance_url: str, token: str) -> None:
        raise RuntimeError("the profile lookup crashed")

    monkeypatch.setattr(mastodon, "verify_credentials", crash)
    with MarkedMastodon(follower_count=0) as social:
        start = client.post(
            reverse("accounts:connect_mastodon", kwargs={"brand": brand.slug}), {"instance": social.url}
        )
        authorize = start.context["authorization_url"]
        callback = httpx.get(authorize).headers["Location"]
        response = client.get(urlsplit(callback).path + "?" + urlsplit(callback).query)

    assert response.status_code == 500
    assert "Something went wrong on our side" in response.content.decode()
    assert any(record.exc_info for record in evidence.caplog.records), (
        "the crash is logged with its traceback"
    )
    evidence.add("500 page", response.content.decode())
    evidence.add("500 page headers", response.headers)
    assert_nothing_anywhere(evidence)


def test_the_django_admin_never_shows_or_changes_credentials(brand, owner, settings, evidence):
    settings.SITE_URL = SITE_URL
    staff = client_for(UserFactory(email="root@followback.test", is_staff=True, is_superuser=True))
    with MarkedMastodon(follower_count=5) as social:
        account = connect_mastodon(brand, owner, social)
        run_sync_now(account)
    ciphertext = ConnectedAccount.objects.get(pk=account.pk).credentials_ciphertext
    change = reverse("admin:accounts_connectedaccount_change", args=[account.pk])
    pages = {
        "admin search": reverse("admin:accounts_connectedaccount_changelist") + f"?q={account.handle}",
        "admin change": change,
        "admin history": reverse("admin:accounts_connectedaccount_history", args=[account.pk]),
        "admin delete": reverse("admin:accounts_connectedaccount_delete", args=[account.pk]),
        "admin brand": reverse("admin:accounts_brand_change", args=[brand.pk]),
    }
    for where, path in pages.items():
        answer = staff.get(path)
        assert answer.status_code == 200, where
        evidence.response(where, answer)

    saved = staff.post(change, {"handle": account.handle, "display_name": "Renamed", "status": "active",
                                "status_reason": "", "settings": "{}", "followers_count": 5,
                                "following_count": 0})  # fmt: skip

    assert saved.status_code == 302, saved.content.decode()[:2000]
    account.refresh_from_db()
    assert (account.display_name, account.credentials_ciphertext) == ("Renamed", ciphertext)
    assert ACCESS_JWT not in ciphertext
    assert_nothing_anywhere(evidence)


def test_a_wrong_password_typed_at_the_login_page_is_never_logged_or_stored(
    owner, evidence, settings, caplog
):
    caplog.set_level(logging.DEBUG, logger="axes")
    answers = [
        Client().post(reverse("login"), {"username": owner.email, "password": f"wrong-{MARKER}"})
        for _ in range(settings.AXES_FAILURE_LIMIT + 1)
    ]
    assert [answer.status_code for answer in answers][-2:] == [429, 429], "the address is locked out"
    for number, answer in enumerate(answers):
        evidence.add(f"sign-in {number}", f"{answer.content.decode()} {answer.headers}")
    assert_nothing_anywhere(evidence)
