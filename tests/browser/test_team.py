"""Signing in, switching brands and managing a team, in a real browser."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.conf import settings
from django.urls import reverse
from playwright.sync_api import Dialog, Locator, Page, expect
from pytest_django.live_server_helper import LiveServer

from accounts.models import Brand, Invitation, Membership, Role, User
from accounts.services import invitation_token
from tests.browser.conftest import BrowserProblems, htmx_settled, screenshot, sign_in
from tests.factories import PASSWORD, MembershipFactory

pytestmark = pytest.mark.browser


def members_url(brand: Brand) -> str:
    return reverse("accounts:members", kwargs={"brand": brand.slug})


def member_row(page: Page, user: User) -> Locator:
    """The members table row of this person, matched on their whole e-mail address."""
    return page.locator("#members-panel tbody tr").filter(has=page.get_by_text(user.email, exact=True))


def test_a_person_signs_in_with_email_and_password_and_lands_on_their_brand_home(
    page: Page, live_server: LiveServer, brand: Brand, owner: User
) -> None:
    page.goto(f"{live_server.url}/account/login/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    screenshot(page, "login")

    page.get_by_label("E-mail address").fill(owner.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    expect(page).to_have_url(f"{live_server.url}/b/acme/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Acme Coffee")
    expect(page.locator(".brand-switcher summary")).to_have_accessible_name("Acme Coffee (switch brand)")
    screenshot(page, "brand-home")


def test_a_wrong_password_keeps_the_person_on_the_login_form_with_an_error(
    page: Page, live_server: LiveServer, owner: User
) -> None:
    page.goto(f"{live_server.url}/account/login/")
    page.get_by_label("E-mail address").fill(owner.email)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("alert")).to_contain_text("Please enter a correct e-mail address and password.")
    expect(page.get_by_label("E-mail address")).to_have_value(owner.email)
    expect(page.get_by_label("E-mail address")).to_have_attribute("aria-invalid", "true")
    expect(page).to_have_url(f"{live_server.url}/account/login/")
    screenshot(page, "login-wrong-password")


def test_a_person_in_two_brands_switches_brand_with_the_switcher_in_the_nav(
    page: Page, live_server: LiveServer, brand: Brand, other_brand: Brand, owner: User
) -> None:
    MembershipFactory(user=owner, brand=other_brand, role=Role.VIEWER)
    sign_in(page, live_server, owner)
    switcher = page.locator("details.brand-switcher")
    expect(switcher.locator("summary")).to_have_accessible_name("Acme Coffee (switch brand)")

    switcher.locator("summary").click()
    expect(switcher).to_have_attribute("open", "")
    screenshot(page, "brand-switcher-open")
    switcher.get_by_role("link", name=re.compile("^Globex")).click()

    expect(page).to_have_url(f"{live_server.url}/b/globex/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Globex")
    expect(switcher.locator("summary")).to_have_accessible_name("Globex (switch brand)")
    expect(switcher).not_to_have_attribute("open", "")
    switcher.locator("summary").click()
    expect(switcher.get_by_role("link", name=re.compile("^Globex"))).to_have_attribute("aria-current", "page")


@pytest.fixture
def members_page(
    page: Page, live_server: LiveServer, brand: Brand, owner: User, reviewer: User, viewer: User
) -> Page:
    """The brand's admin, signed in, on the members page of a team with a reviewer and a viewer."""
    sign_in(page, live_server, owner)
    page.goto(f"{live_server.url}{members_url(brand)}")
    return page


def test_an_admin_invites_someone_and_the_members_panel_lists_the_invitation(
    members_page: Page, brand: Brand
) -> None:
    page = members_page
    with htmx_settled(page):
        page.get_by_label("E-mail address").fill("newhire@example.com")
        page.get_by_label("Role", exact=True).select_option(label="Viewer")
        page.get_by_role("button", name="Send invitation").click()

    toast = page.locator("#toasts .toast")
    expect(toast).to_have_count(1)
    expect(toast).to_have_class(re.compile(r"\btoast-success\b"))
    expect(toast).to_contain_text("Invitation sent to newhire@example.com.")
    expect(page.locator(".invitations")).to_contain_text("newhire@example.com as viewer")
    expect(page.get_by_label("E-mail address")).to_have_value("")
    screenshot(page, "members-after-invite")
    assert Invitation.objects.filter(brand=brand, email="newhire@example.com", role=Role.VIEWER).exists()


def test_an_admin_changes_a_members_role_with_the_select_and_change_button(
    members_page: Page, brand: Brand, reviewer: User
) -> None:
    page = members_page
    row = member_row(page, reviewer)
    with htmx_settled(page):
        row.get_by_role("combobox").select_option(label="Approver")
        row.get_by_role("button", name="Change").click()

    expect(page.locator("#toasts")).to_contain_text(f"{reviewer} is now approver.")
    expect(member_row(page, reviewer).get_by_role("combobox")).to_have_value("approver")
    assert Membership.objects.get(user=reviewer, brand=brand).role == Role.APPROVER


def test_an_admin_removes_a_member_after_confirming(members_page: Page, brand: Brand, viewer: User) -> None:
    page = members_page
    questions: list[str] = []

    def confirm(dialog: Dialog) -> None:
        questions.append(dialog.message)
        dialog.accept()

    page.once("dialog", confirm)
    with htmx_settled(page):
        member_row(page, viewer).get_by_role("button", name="Remove").click()

    assert questions == [f"Remove {viewer} from Acme Coffee?"]
    expect(page.locator("#toasts")).to_contain_text(f"{viewer} no longer has access to Acme Coffee.")
    expect(member_row(page, viewer)).to_have_count(0)
    assert not Membership.objects.filter(user=viewer, brand=brand).exists()


def test_the_last_admin_cannot_demote_themself_and_sees_why(
    members_page: Page, brand: Brand, owner: User, reviewer: User
) -> None:
    page = members_page
    row = member_row(page, owner)
    with htmx_settled(page):
        row.get_by_role("combobox").select_option(label="Viewer")
        row.get_by_role("button", name="Change").click()

    expect(page.locator("#toasts .toast-error")).to_contain_text(
        f"{owner} is the last admin of Acme Coffee; make someone else an admin first."
    )
    expect(member_row(page, owner).get_by_role("combobox")).to_have_value("admin")
    screenshot(page, "members-last-admin-refused")
    assert Membership.objects.get(user=owner, brand=brand).role == Role.ADMIN


def test_an_admin_invites_someone_without_javascript(
    new_page: Callable[..., Page], live_server: LiveServer, brand: Brand, owner: User
) -> None:
    page = new_page(java_script_enabled=False)
    sign_in(page, live_server, owner)
    page.goto(f"{live_server.url}{members_url(brand)}")

    page.get_by_label("E-mail address").fill("newhire@example.com")
    page.get_by_label("Role", exact=True).select_option(label="Approver")
    page.get_by_role("button", name="Send invitation").click()

    expect(page).to_have_url(f"{live_server.url}{members_url(brand)}")
    expect(page.locator("#toasts")).to_contain_text("Invitation sent to newhire@example.com.")
    expect(page.locator(".invitations")).to_contain_text("newhire@example.com as approver")
    page.get_by_text("What each role may do").click()
    expect(page.locator(".role-help dt")).to_have_text([role.label for role in Role])
    screenshot(page, "members-after-invite-without-javascript")


def test_a_newcomer_opens_an_invitation_link_and_creates_an_account(
    page: Page, live_server: LiveServer, brand: Brand, owner: User
) -> None:
    invitation = Invitation.objects.create(
        brand=brand, email="newcomer@example.com", role=Role.REVIEWER, invited_by=owner
    )
    link = reverse("accounts:accept_invitation", args=[invitation_token(invitation)])
    page.goto(f"{live_server.url}{link}")
    expect(page.get_by_role("heading", name="Join Acme Coffee")).to_be_visible()
    expect(page.get_by_text("You will sign in as newcomer@example.com.")).to_be_visible()
    screenshot(page, "invitation-accept")

    page.get_by_label("Your name").fill("Noor Haddad")
    page.get_by_label("Password", exact=True).fill("short")
    page.get_by_label("Password again").fill("short")
    page.get_by_role("button", name="Create my account and join").click()
    expect(page.locator(".form-error").first).to_contain_text("at least 12 characters")
    screenshot(page, "invitation-accept-errors")

    page.get_by_label("Password", exact=True).fill("lantern-orchid-47")
    page.get_by_label("Password again").fill("lantern-orchid-47")
    page.get_by_role("button", name="Create my account and join").click()

    expect(page).to_have_url(f"{live_server.url}/b/acme/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Acme Coffee")
    expect(page.locator("#toasts")).to_contain_text("Welcome to Acme Coffee.")
    expect(page.locator(".user-menu summary")).to_have_text("Noor Haddad")
    assert Membership.objects.get(user__email="newcomer@example.com", brand=brand).role == Role.REVIEWER


def test_an_expired_session_on_an_htmx_action_sends_the_whole_page_to_the_login_form(
    page: Page, live_server: LiveServer, brand: Brand, owner: User, reviewer: User
) -> None:
    sign_in(page, live_server, owner)
    page.goto(f"{live_server.url}{members_url(brand)}")
    page.context.clear_cookies(name=settings.SESSION_COOKIE_NAME)

    member_row(page, reviewer).get_by_role("button", name="Change").click()

    expect(page).to_have_url(f"{live_server.url}/account/login/?next={members_url(brand)}")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.locator("#members-panel")).to_have_count(0)


def test_an_htmx_action_with_no_cookies_left_at_all_sends_the_whole_page_to_the_login_form(
    page: Page,
    live_server: LiveServer,
    browser_problems: BrowserProblems,
    brand: Brand,
    owner: User,
    reviewer: User,
) -> None:
    sign_in(page, live_server, owner)
    page.goto(f"{live_server.url}{members_url(brand)}")
    page.context.clear_cookies()

    with page.expect_response(re.compile(r"/role/$")):
        member_row(page, reviewer).get_by_role("button", name="Change").click()

    expect(page).to_have_url(f"{live_server.url}/account/login/?next={members_url(brand)}", timeout=2000)


def test_a_member_locked_out_by_wrong_passwords_signs_in_again_once_their_admin_lets_them(
    members_page: Page,
    new_page: Callable[..., Page],
    live_server: LiveServer,
    reviewer: User,
    browser_problems: BrowserProblems,
) -> None:
    browser_problems.allow(r"status of 429 \(Too Many Requests\).*/account/login/\)$")
    locked = new_page()
    locked.goto(f"{live_server.url}/account/login/")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        locked.get_by_label("E-mail address").fill(reviewer.email)
        locked.get_by_label("Password").fill("not-the-password")
        locked.get_by_role("button", name="Sign in").click()
    expect(locked.get_by_text("Too many sign-in attempts")).to_be_visible()
    screenshot(locked, "login-locked-out")

    members_page.reload()
    row = member_row(members_page, reviewer)
    expect(row).to_contain_text("Locked out after too many wrong passwords.")
    screenshot(members_page, "members-locked-out")
    with htmx_settled(members_page):
        row.get_by_role("button", name=re.compile("sign in again")).click()
    expect(member_row(members_page, reviewer)).not_to_contain_text("Locked out")

    sign_in(locked, live_server, reviewer)
    expect(locked.get_by_role("heading", level=1)).to_have_text("Acme Coffee")
