"""Site-wide behaviour: sign-in, throttling, security headers, htmx session expiry, brand switching."""

from django.conf import settings
from django.urls import reverse

from accounts.models import Membership, Role
from tests.conftest import client_for
from tests.factories import PASSWORD


def test_signing_in_lands_on_the_persons_brand(client, brand, reviewer):
    response = client.post(reverse("login"), {"username": reviewer.email, "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("brand_home", kwargs={"brand": brand.slug})


def test_home_returns_to_the_brand_used_last(brand, other_brand, reviewer):
    Membership.objects.create(user=reviewer, brand=other_brand, role=Role.VIEWER)
    client = client_for(reviewer)
    client.get(reverse("brand_home", kwargs={"brand": other_brand.slug}))
    assert client.get(reverse("home"))["Location"] == reverse(
        "brand_home", kwargs={"brand": other_brand.slug}
    )
    page = client.get(reverse("brand_home", kwargs={"brand": other_brand.slug})).content.decode()
    assert 'aria-current="page">Globex' in page
    assert "Acme Coffee" in page


def test_a_person_without_a_brand_is_told_what_to_do(db):
    from tests.factories import UserFactory

    response = client_for(UserFactory()).get(reverse("home"))
    assert "not part of a brand yet" in response.content.decode()


def test_sign_in_is_locked_after_repeated_failures(client, reviewer):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("login"), {"username": reviewer.email, "password": "wrong-password!"})
    response = client.post(reverse("login"), {"username": reviewer.email, "password": PASSWORD})
    assert response.status_code == 429
    assert "Too many sign-in attempts" in response.content.decode()
    other_person = client.post(
        reverse("login"), {"username": "someone@acme.test", "password": "wrong-password!"}
    )
    assert other_person.status_code == 200


def test_passwords_need_twelve_characters(reviewer):
    client = client_for(reviewer)
    response = client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": "Short-pw-1", "new_password2": "Short-pw-1"},
    )
    assert "at least 12 characters" in response.content.decode()


def test_pages_carry_a_strict_content_security_policy(client):
    policy = client.get(reverse("login"))["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy


def test_no_page_has_an_inline_script(brand, owner):
    client = client_for(owner)
    for url in (
        reverse("brand_home", kwargs={"brand": brand.slug}),
        reverse("accounts:members", kwargs={"brand": brand.slug}),
        reverse("login"),
    ):
        page = client.get(url).content.decode()
        assert page.count("<script") == page.count("<script src=")


def test_an_expired_session_sends_htmx_requests_to_the_login_page(client, brand):
    url = reverse("accounts:members", kwargs={"brand": brand.slug})
    response = client.get(url, HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL=f"http://testserver{url}")
    assert response.status_code == 200
    assert response["HX-Redirect"] == f"{reverse('login')}?next={url}"


def test_an_expired_session_redirects_plain_requests_to_login(client, brand):
    response = client.get(reverse("brand_home", kwargs={"brand": brand.slug}))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_the_health_check_answers_without_a_session(client, db):
    assert client.get(reverse("healthz")).json() == {"status": "ok"}
