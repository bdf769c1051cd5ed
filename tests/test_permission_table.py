"""Every URL pattern, every persona: the expected answer.

The list of patterns comes from the URLconf, so a new URL without an entry here fails the test.
Brand pages answer 404 to people outside the brand and 403 to members whose role is too low;
a refused POST changes nothing.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from accounts import services
from accounts.jobs import JobStatus
from accounts.models import (
    AuditEvent,
    Brand,
    ConnectedAccount,
    Follower,
    Invitation,
    Membership,
    Platform,
    Role,
    SyncRun,
    User,
)
from followback.models import FollowAction, FollowState
from rules.models import Suggestion, SuggestionStatus
from rules.services import current_policy
from tests.factories import MembershipFactory
from tests.rules.test_policy_views import policy_form_data

PERSONAS = ["anonymous", "outsider", "viewer", "reviewer", "approver", "admin"]
ROLE_OF = {"viewer": Role.VIEWER, "reviewer": Role.REVIEWER, "approver": Role.APPROVER, "admin": Role.ADMIN}


@dataclass
class World:
    brand: Brand
    users: dict[str, User]
    target_member: Membership
    invitation: Invitation
    account: ConnectedAccount


Kwargs = Callable[[World], dict[str, Any]]


@dataclass(frozen=True)
class Entry:
    method: str
    expected: dict[str, int]
    kwargs: Kwargs = lambda world: {}
    data: dict[str, str] | None = None


def brand_page(
    need: Role,
    ok: int = 200,
    method: str = "GET",
    kwargs: Kwargs | None = None,
    data: dict[str, str] | None = None,
) -> Entry:
    expected = {"anonymous": 302, "outsider": 404}
    for persona, role in ROLE_OF.items():
        expected[persona] = ok if role.at_least(need) else 403
    return Entry(method, expected, kwargs or (lambda world: {"brand": world.brand.slug}), data)


def everyone(
    status: int, anonymous: int | None = None, method: str = "GET", kwargs: Kwargs | None = None
) -> Entry:
    expected = dict.fromkeys(PERSONAS, status)
    if anonymous is not None:
        expected["anonymous"] = anonymous
    return Entry(method, expected, kwargs or (lambda world: {}))


def _member(world: World) -> dict[str, Any]:
    return {"brand": world.brand.slug, "member_id": world.target_member.pk}


def _account(world: World) -> dict[str, Any]:
    return {"brand": world.brand.slug, "account_id": world.account.pk}


def _failed_follow(world: World) -> dict[str, Any]:
    """A failed follow of the brand's account, with followers enough for the guards to allow a retry."""
    ConnectedAccount.objects.filter(pk=world.account.pk).update(followers_count=1000)
    follower = Follower.objects.create(account=world.account, platform_id="demo-7", handle="seven.demo")
    suggestion = Suggestion.objects.create(
        brand=world.brand, account=world.account, follower=follower, status=SuggestionStatus.APPROVED,
        policy_version=current_policy(world.brand), score=80, rule="", expires_at=timezone.now(),
    )  # fmt: skip
    action = FollowAction.objects.create(
        brand=world.brand, account=world.account, follower=follower, suggestion=suggestion,
        state=FollowState.FAILED, status=JobStatus.FAILED,
    )  # fmt: skip
    return {"brand": world.brand.slug, "action": action.pk}


def _pending_suggestion(world: World) -> dict[str, Any]:
    """A pending suggestion in the review queue, for the queue's per-suggestion URLs."""
    from tests.followback.queue_data import make_suggestion

    suggestion = make_suggestion(world.account, "queued.demo")
    return {"brand": world.brand.slug, "suggestion_id": suggestion.pk}


TABLE: dict[str, Entry] = {
    "home": everyone(302, anonymous=302),
    "brand_home": brand_page(Role.VIEWER),
    "follows": brand_page(Role.VIEWER),
    "follow_retry": brand_page(Role.APPROVER, ok=302, method="POST", kwargs=_failed_follow),
    "audit": brand_page(Role.APPROVER),
    "audit_csv": brand_page(Role.APPROVER),
    "healthz": everyone(200),
    "accounts:members": brand_page(Role.ADMIN),
    "accounts:member_invite": brand_page(
        Role.ADMIN, ok=302, method="POST", data={"email": "x@example.com", "role": "viewer"}
    ),
    "accounts:member_role": brand_page(
        Role.ADMIN, ok=302, method="POST", kwargs=_member, data={"role": "approver"}
    ),
    "accounts:member_remove": brand_page(Role.ADMIN, ok=302, method="POST", kwargs=_member),
    "accounts:member_unlock": brand_page(Role.ADMIN, ok=302, method="POST", kwargs=_member),
    "accounts:invitation_revoke": brand_page(
        Role.ADMIN,
        ok=302,
        method="POST",
        kwargs=lambda world: {"brand": world.brand.slug, "invitation_id": world.invitation.pk},
    ),
    "accounts:accept_invitation": everyone(
        200, kwargs=lambda world: {"token": services.invitation_token(world.invitation)}
    ),
    "accounts:account_list": brand_page(Role.VIEWER),
    "accounts:connect_demo": brand_page(Role.ADMIN, ok=302, method="POST", data={"size": "100"}),
    "accounts:connect_mastodon": brand_page(
        Role.ADMIN, ok=302, method="POST", data={"instance": "not a url"}
    ),
    "accounts:connect_bluesky": brand_page(Role.ADMIN),
    "accounts:account_detail": brand_page(Role.VIEWER, kwargs=_account),
    "accounts:account_progress": brand_page(Role.VIEWER, kwargs=_account),
    "accounts:account_sync": brand_page(Role.REVIEWER, ok=302, method="POST", kwargs=_account),
    "accounts:account_disconnect": brand_page(Role.ADMIN, ok=302, method="POST", kwargs=_account),
    "accounts:customer_list": brand_page(Role.ADMIN),
    "accounts:mastodon_callback": everyone(403, anonymous=302),
    "rules:policy": brand_page(Role.VIEWER),
    "rules:policy_preview": brand_page(Role.ADMIN, method="POST", data=policy_form_data()),
    "rules:policy_history": brand_page(Role.VIEWER),
    "rules:policy_revert": brand_page(
        Role.ADMIN,
        ok=302,
        method="POST",
        kwargs=lambda world: {"brand": world.brand.slug, "number": current_policy(world.brand).number},
    ),
    "queue": brand_page(Role.VIEWER),
    "queue_bulk": brand_page(Role.REVIEWER, ok=302, method="POST", data={"kind": "approve"}),
    "queue_undo": brand_page(Role.REVIEWER, ok=302, method="POST"),
    "suggestion_detail": brand_page(Role.VIEWER, kwargs=_pending_suggestion),
    "queue_decide": brand_page(
        Role.REVIEWER, ok=302, method="POST", kwargs=_pending_suggestion, data={"kind": "later"}
    ),
    "suggestion_comment": brand_page(
        Role.REVIEWER, ok=302, method="POST", kwargs=_pending_suggestion, data={"body": "Looks genuine."}
    ),
    "login": everyone(200),
    "logout": everyone(302, method="POST"),
    "password_change": everyone(200, anonymous=302),
    "password_change_done": everyone(200, anonymous=302),
    "password_reset": everyone(200),
    "password_reset_done": everyone(200),
    "password_reset_confirm": everyone(200, kwargs=lambda world: {"uidb64": "MQ", "token": "set-password"}),
    "password_reset_complete": everyone(200),
}


def url_names(patterns: list[URLPattern | URLResolver] | None = None, prefix: str = "") -> Iterator[str]:
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(pattern, URLResolver):
            namespace = f"{prefix}{pattern.namespace}:" if pattern.namespace else prefix
            yield from url_names(pattern.url_patterns, namespace)
        elif pattern.name:
            yield prefix + pattern.name


def test_every_url_pattern_has_an_entry_in_the_permission_table():
    names = {name for name in url_names() if not name.startswith("admin:")}
    assert names - TABLE.keys() == set(), "add these URLs to the permission table"
    assert TABLE.keys() - names == set(), "these entries no longer match a URL"


def test_every_named_url_pattern_has_a_name():
    unnamed = [p for p in get_resolver().url_patterns if isinstance(p, URLPattern) and not p.name]
    assert unnamed == []


@pytest.fixture
def world(brand, other_brand) -> World:
    users = {
        "outsider": MembershipFactory(brand=other_brand, role=Role.ADMIN, user__email="out@globex.test").user
    }
    for persona, role in ROLE_OF.items():
        users[persona] = MembershipFactory(brand=brand, role=role, user__email=f"{persona}@acme.test").user
    MembershipFactory(brand=brand, role=Role.ADMIN, user__email="second-admin@acme.test")
    target = MembershipFactory(brand=brand, role=Role.VIEWER, user__email="target@acme.test")
    invitation = services.invite(brand, "invited@example.com", Role.VIEWER, by=users["admin"])
    account = ConnectedAccount.objects.create(
        brand=brand,
        platform=Platform.DEMO,
        platform_user_id="demo-brand",
        handle="acme.demo",
        settings={"seed": 1, "size": 100},
    )
    return World(brand, users, target, invitation, account)


def _snapshot() -> tuple:
    return (
        sorted(Membership.objects.values_list("pk", "role")),
        sorted(Invitation.objects.values_list("pk", "revoked_at", "accepted_at")),
        sorted(ConnectedAccount.objects.values_list("pk", "status")),
        SyncRun.objects.count(),
        AuditEvent.objects.count(),
        sorted(FollowAction.objects.values_list("pk", "state")),
    )


@pytest.mark.parametrize("name", sorted(TABLE))
@pytest.mark.parametrize("persona", PERSONAS)
def test_permission_table(name, persona, world):
    entry = TABLE[name]
    client = Client()
    if persona != "anonymous":
        client.force_login(world.users[persona])
    url = reverse(name, kwargs=entry.kwargs(world))
    before = _snapshot()
    response = client.post(url, entry.data or {}) if entry.method == "POST" else client.get(url)
    expected = entry.expected[persona]
    assert response.status_code == expected, f"{persona} {entry.method} {url}"
    refused = expected in (403, 404) or (persona == "anonymous" and expected == 302)
    if refused and name != "logout":
        assert _snapshot() == before, "a refused request changed data"
    if persona in ("anonymous", "outsider") and name != "accounts:accept_invitation":
        assert world.brand.name not in response.content.decode(), "an outsider's answer names the brand"


def test_the_admin_site_is_for_staff_only(world):
    for persona in PERSONAS:
        client = Client()
        if persona != "anonymous":
            client.force_login(world.users[persona])
        response = client.get(reverse("admin:index"))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))
