"""Sign-in throttling through the real login page: wrong passwords lock an address out, an admin lets it back in.

django-axes counts failures per (e-mail address, IP address). A brand's admin unlocks a member of that brand
from the Members page; site staff can also delete the attempt in the Django admin.
"""

from __future__ import annotations

from typing import Any

from axes.models import AccessAttempt
from django.conf import settings
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEvent, Membership, User
from tests.conftest import client_for
from tests.factories import PASSWORD, UserFactory

WRONG = "not-the-password-at-all"
HTMX: dict[str, Any] = {"HTTP_HX_REQUEST": "true"}


def sign_in(client: Client, email: str, password: str) -> Any:
    return client.post(reverse("login"), {"username": email, "password": password})


def lock_out(email: str) -> Client:
    """Wrong passwords from one browser until the page says stop; returns that browser."""
    client = Client()
    answers = [sign_in(client, email, WRONG).status_code for _ in range(settings.AXES_FAILURE_LIMIT)]
    assert answers == [200] * (settings.AXES_FAILURE_LIMIT - 1) + [429]
    return client


def assert_locked_out(client: Client, email: str) -> None:
    response = sign_in(client, email, PASSWORD)
    assert response.status_code == 429
    assert "Too many sign-in attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def assert_signs_in(client: Client, user: User) -> None:
    response = sign_in(client, user.email, PASSWORD)
    assert response.status_code == 302, response.content.decode()
    assert client.session["_auth_user_id"] == str(user.pk)


def members_page(admin: User, membership: Membership) -> str:
    response = client_for(admin).get(reverse("accounts:members", kwargs={"brand": membership.brand.slug}))
    assert response.status_code == 200
    return response.content.decode()


def unlock_url(membership: Membership) -> str:
    return reverse(
        "accounts:member_unlock", kwargs={"brand": membership.brand.slug, "member_id": membership.pk}
    )


def test_wrong_passwords_lock_a_member_out_until_their_brand_admin_lets_them_in(brand, owner, reviewer):
    membership = Membership.objects.get(user=reviewer, brand=brand)
    browser = lock_out(reviewer.email)
    assert_locked_out(browser, reviewer.email)
    page = members_page(owner, membership)
    assert page.count("Locked out after too many wrong passwords.") == 1
    assert unlock_url(membership) in page

    response = client_for(owner).post(unlock_url(membership), follow=True)

    assert f"{reviewer} can sign in again." in response.content.decode()
    assert "Locked out after" not in members_page(owner, membership)
    event = AuditEvent.objects.get(verb="member.unlocked")
    assert (event.brand, event.actor, event.target_id) == (brand, owner, str(membership.pk))
    assert_signs_in(browser, reviewer)


def test_unlocking_through_htmx_swaps_the_members_panel(brand, owner, reviewer):
    membership = Membership.objects.get(user=reviewer, brand=brand)
    lock_out(reviewer.email)

    response = client_for(owner).post(unlock_url(membership), **HTMX)

    panel = response.content.decode()
    assert panel.lstrip().startswith('<div id="members-panel">')
    assert "Locked out after" not in panel
    assert f"{reviewer} can sign in again." in panel
    assert_signs_in(Client(), reviewer)


def test_unlocking_someone_who_is_not_locked_out_changes_nothing(brand, owner, reviewer):
    membership = Membership.objects.get(user=reviewer, brand=brand)
    sign_in(Client(), reviewer.email, WRONG)

    response = client_for(owner).post(unlock_url(membership), follow=True)

    assert f"{reviewer} was not locked out." in response.content.decode()
    assert AccessAttempt.objects.get(username=reviewer.email).failures_since_start == 1
    assert not AuditEvent.objects.filter(verb="member.unlocked").exists()


def test_only_an_admin_of_the_members_brand_can_unlock_them(brand, owner, approver, reviewer, outsider):
    membership = Membership.objects.get(user=reviewer, brand=brand)
    browser = lock_out(reviewer.email)

    assert client_for(approver).post(unlock_url(membership)).status_code == 403
    assert client_for(outsider).post(unlock_url(membership)).status_code == 404
    own_brand = reverse(
        "accounts:member_unlock",
        kwargs={"brand": outsider.memberships.get().brand.slug, "member_id": membership.pk},
    )
    assert client_for(outsider).post(own_brand).status_code == 404

    assert_locked_out(browser, reviewer.email)
    assert not AuditEvent.objects.filter(verb="member.unlocked").exists()


def test_site_staff_unlock_anyone_by_deleting_the_attempt_in_the_django_admin(brand, reviewer):
    browser = lock_out(reviewer.email)
    staff = client_for(UserFactory(email="root@followback.test", is_staff=True, is_superuser=True))
    changelist = reverse("admin:axes_accessattempt_changelist")
    listed = staff.get(changelist + "?locked_out=yes")
    assert reviewer.email in listed.content.decode()
    attempt = AccessAttempt.objects.get(username=reviewer.email)

    staff.post(changelist, {"action": "delete_selected", "_selected_action": [attempt.pk], "post": "yes"})

    assert not AccessAttempt.objects.filter(username=reviewer.email).exists()
    assert_signs_in(browser, reviewer)
