from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Invitation, Membership, Role
from tests.conftest import client_for
from tests.factories import MembershipFactory

HTMX: dict[str, Any] = {"HTTP_HX_REQUEST": "true"}


def test_members_page_lists_people_and_open_invitations(
    brand, owner, reviewer, viewer, django_assert_max_num_queries
):
    Invitation.objects.create(brand=brand, email="waiting@example.com", role=Role.VIEWER, invited_by=owner)
    client = client_for(owner)
    with django_assert_max_num_queries(8):
        response = client.get(reverse("accounts:members", kwargs={"brand": brand.slug}))
    page = response.content.decode()
    assert response.status_code == 200
    for email in (owner.email, reviewer.email, viewer.email, "waiting@example.com"):
        assert email in page


def test_members_page_query_count_does_not_grow_with_the_team(brand, owner):
    url = reverse("accounts:members", kwargs={"brand": brand.slug})
    client = client_for(owner)
    with CaptureQueriesContext(connection) as small_team:
        client.get(url)
    MembershipFactory.create_batch(15, brand=brand, role=Role.REVIEWER)
    Invitation.objects.bulk_create(
        Invitation(brand=brand, email=f"w{i}@example.com", role=Role.VIEWER, invited_by=owner)
        for i in range(5)
    )
    with CaptureQueriesContext(connection) as big_team:
        client.get(url)
    assert len(big_team) == len(small_team)


def test_inviting_without_javascript_redirects_with_a_message(brand, owner):
    client = client_for(owner)
    response = client.post(
        reverse("accounts:member_invite", kwargs={"brand": brand.slug}),
        {"email": "new@example.com", "role": "reviewer"},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == reverse("accounts:members", kwargs={"brand": brand.slug})
    assert "Invitation sent to new@example.com." in response.content.decode()
    assert Invitation.objects.filter(brand=brand, email="new@example.com").exists()


def test_inviting_through_htmx_swaps_the_panel_and_adds_a_toast(brand, owner):
    client = client_for(owner)
    response = client.post(
        reverse("accounts:member_invite", kwargs={"brand": brand.slug}),
        {"email": "new@example.com", "role": "reviewer"},
        **HTMX,
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert page.lstrip().startswith('<div id="members-panel">')
    assert "<html" not in page
    assert 'id="toasts" hx-swap-oob="beforeend"' in page
    assert "Invitation sent to new@example.com." in page
    assert response["Vary"] == "HX-Request, Cookie"


def test_an_invalid_invitation_answers_422_with_the_error_in_place(brand, owner):
    client = client_for(owner)
    response = client.post(
        reverse("accounts:member_invite", kwargs={"brand": brand.slug}),
        {"email": "not-an-email", "role": "reviewer"},
        **HTMX,
    )
    assert response.status_code == 422
    assert "Enter a valid email address." in response.content.decode()
    assert not Invitation.objects.exists()


def test_demoting_the_last_admin_shows_why_and_changes_nothing(brand, owner):
    membership = Membership.objects.get(user=owner, brand=brand)
    client = client_for(owner)
    response = client.post(
        reverse("accounts:member_role", kwargs={"brand": brand.slug, "member_id": membership.pk}),
        {"role": "viewer"},
        follow=True,
    )
    assert "last admin" in response.content.decode()
    membership.refresh_from_db()
    assert membership.role == Role.ADMIN


def test_an_admin_cannot_touch_another_brands_members(brand, owner, outsider, other_brand):
    foreign = Membership.objects.get(user=outsider, brand=other_brand)
    client = client_for(owner)
    for name in ("accounts:member_role", "accounts:member_remove"):
        url = reverse(name, kwargs={"brand": brand.slug, "member_id": foreign.pk})
        assert client.post(url, {"role": "viewer"}).status_code == 404
    foreign.refresh_from_db()
    assert foreign.role == Role.ADMIN


def test_a_new_person_joins_through_the_invitation_link(client, brand, owner):
    from accounts import services

    invitation = services.invite(brand, "fresh@example.com", Role.REVIEWER, by=owner)
    url = reverse("accounts:accept_invitation", kwargs={"token": services.invitation_token(invitation)})
    short = client.post(url, {"name": "Fresh", "password1": "short", "password2": "short"})
    assert "at least 12 characters" in short.content.decode()
    response = client.post(
        url, {"name": "Fresh", "password1": "twelve-chars-ok!", "password2": "twelve-chars-ok!"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("brand_home", kwargs={"brand": brand.slug})
    assert Membership.objects.get(user__email="fresh@example.com", brand=brand).role == Role.REVIEWER
    assert client.get(response["Location"]).status_code == 200


def test_an_existing_user_is_asked_to_sign_in_before_joining(client, brand, owner, outsider):
    from accounts import services

    invitation = services.invite(brand, outsider.email, Role.VIEWER, by=owner)
    url = reverse("accounts:accept_invitation", kwargs={"token": services.invitation_token(invitation)})
    assert "Sign in" in client.get(url).content.decode()
    client.post(url, {"name": "Intruder", "password1": "twelve-chars-ok!", "password2": "twelve-chars-ok!"})
    assert not Membership.objects.filter(user=outsider, brand=brand).exists()
    client.force_login(outsider)
    response = client.post(url)
    assert response.status_code == 302
    assert Membership.objects.filter(user=outsider, brand=brand).exists()
