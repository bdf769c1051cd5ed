"""Oversized posts on every form: a plain-words 400 page or the form's own message, never a 500, nothing saved.

The forms are every POST in the permission table (tests/test_permission_table.py, which fails when a URL is
missing) plus the pages that post to themselves. Each is sent, with CSRF checks on as in a browser, a body above
DATA_UPLOAD_MAX_MEMORY_SIZE, then more fields than DATA_UPLOAD_MAX_NUMBER_FIELDS; then the large values a form
can still read: a megabyte of comment, reason, note or e-mail, and a blocklist of 100,000 lines.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEvent, ConnectedAccount, Customer, Invitation, Membership, SyncRun
from followback.models import Comment, Decision, FollowAction
from rules.models import PolicyVersion, Suggestion
from tests.rules.test_policy_views import policy_form_data
from tests.test_permission_table import TABLE, World

pytestmark = pytest.mark.django_db
SELF_POSTING = ["rules:policy", "accounts:customer_list", "accounts:connect_bluesky", "login", "password_change",
                "password_reset", "accounts:accept_invitation", "password_reset_confirm"]  # fmt: skip
FORMS = sorted({name for name, entry in TABLE.items() if entry.method == "POST"} | set(SELF_POSTING))
TOO_BIG = settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1024
MEGABYTE = 1_000_000


def snapshot() -> tuple[Any, ...]:
    return (
        sorted(Membership.objects.values_list("pk", "role")),
        sorted(Invitation.objects.values_list("pk", "email", "revoked_at", "accepted_at")),
        sorted(ConnectedAccount.objects.values_list("pk", "status")),
        sorted(Suggestion.objects.values_list("pk", "status")),
        sorted(FollowAction.objects.values_list("pk", "state")),
        SyncRun.objects.count(), AuditEvent.objects.count(), Decision.objects.count(), Comment.objects.count(),
        PolicyVersion.objects.count(), Customer.objects.count(),
    )  # fmt: skip


def browser_client(world: World) -> Client:
    """A signed-in admin whose posts carry the CSRF token as the pages' htmx does, with the checks on."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.users["admin"])
    client.get(reverse("brand_home", kwargs={"brand": world.brand.slug}))
    client.defaults["HTTP_X_CSRFTOKEN"] = client.cookies["csrftoken"].value
    return client


def form_url(name: str, world: World) -> str:
    return reverse(name, kwargs=TABLE[name].kwargs(world))


def assert_refused_in_plain_words(response: Any) -> None:
    assert response.status_code == 400
    assert "That was too much at once" in response.content.decode()
    assert "Nothing was changed." in response.content.decode()


@pytest.mark.parametrize("name", FORMS)
def test_a_body_above_the_memory_limit_is_refused_in_plain_words(name: str, world: World) -> None:
    client, url = browser_client(world), form_url(name, world)
    before = snapshot()

    response = client.post(url, {"body": "x" * TOO_BIG, "reason": "y"})

    assert_refused_in_plain_words(response)
    assert snapshot() == before


@pytest.mark.parametrize("name", FORMS)
def test_more_fields_than_allowed_are_refused_in_plain_words(name: str, world: World) -> None:
    client, url = browser_client(world), form_url(name, world)
    before = snapshot()

    fields = {f"f{index}": "1" for index in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1)}
    response = client.post(url, fields)

    assert_refused_in_plain_words(response)
    assert snapshot() == before


def test_a_huge_text_field_beside_an_upload_is_refused_and_stores_no_customer(world: World) -> None:
    client, url = browser_client(world), form_url("accounts:customer_list", world)
    upload = SimpleUploadedFile("customers.csv", b"handle\nalice\n", content_type="text/csv")
    before = snapshot()

    response = client.post(url, {"file": upload, "note": "x" * TOO_BIG})

    assert_refused_in_plain_words(response)
    assert snapshot() == before


def _suggestion(world: World) -> dict[str, Any]:
    return TABLE["queue_decide"].kwargs(world)


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_a_megabyte_comment_is_refused_with_the_limit_in_words(world: World, htmx: bool) -> None:
    client = browser_client(world)
    url = reverse("suggestion_comment", kwargs=_suggestion(world))
    before = snapshot()

    response = client.post(
        url,
        {"body": "long " * (MEGABYTE // 5)},
        follow=not htmx,
        **({"HTTP_HX_REQUEST": "true"} if htmx else {}),
    )

    assert response.status_code == (422 if htmx else 200)
    assert "at most 2000 characters" in response.content.decode()
    assert snapshot() == before


@pytest.mark.parametrize("name", ["queue_decide", "queue_bulk"])
def test_a_megabyte_reason_decides_nothing_and_says_so(world: World, name: str) -> None:
    client = browser_client(world)
    kwargs = _suggestion(world)
    url = reverse(name, kwargs=kwargs if name == "queue_decide" else {"brand": world.brand.slug})
    before = snapshot()

    data = {"kind": "reject", "reason": "r" * MEGABYTE, "ids": [str(kwargs["suggestion_id"])]}
    response = client.post(url, data, follow=True)

    assert response.status_code == 200
    assert any(words in response.content.decode() for words in ("nothing changed", "Tick the suggestions"))
    assert snapshot() == before


def test_a_blocklist_of_100000_lines_is_refused_with_its_size_and_saves_nothing(world: World) -> None:
    client = browser_client(world)
    before = snapshot()

    lines = "\n".join(f"word{index}" for index in range(100_000))
    response = client.post(form_url("rules:policy", world), policy_form_data(blocklist=lines))

    assert response.status_code == 422
    assert "Keep the blocklist to 500 entries or fewer (it has 100,000)." in response.content.decode()
    assert snapshot() == before


@pytest.mark.parametrize(
    ("name", "field", "message"),
    [
        ("rules:policy", "note", "Ensure this value has at most 300 characters"),
        (
            "accounts:member_invite",
            "email",
            "Ensure this value has at most 320 characters|Enter a valid email address.",
        ),
        ("accounts:connect_bluesky", "handle", "Ensure this value has at most 253 characters"),
        ("accounts:connect_mastodon", "instance", "Ensure this value has at most 200 characters"),
        ("login", "username", "Ensure this value has at most|Please enter a correct"),
    ],
)
def test_a_megabyte_in_a_short_field_gets_the_fields_own_message(
    world: World, name: str, field: str, message: str
) -> None:
    client = browser_client(world)
    before = snapshot()
    data: dict[str, Any] = (
        policy_form_data()
        if name == "rules:policy"
        else {"role": "viewer", "password": "x", "app_password": "x"}
    )
    data[field] = "a" * MEGABYTE

    response = client.post(form_url(name, world), data, follow=True)

    assert response.status_code in (200, 422)
    page = response.content.decode()
    assert any(part.replace("'", "&#x27;") in page or part in page for part in message.split("|")), page[
        :2000
    ]
    assert snapshot() == before
