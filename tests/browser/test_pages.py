"""Pages around the work itself: not found, and changing one's password."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from accounts.models import Brand, User
from tests.browser.conftest import BrowserProblems, screenshot, sign_in
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser


def test_a_brand_the_person_is_not_part_of_shows_the_not_found_page(
    page: Page, live_server: LiveServer, browser_problems: BrowserProblems, owner: User, other_brand: Brand
) -> None:
    browser_problems.allow(r"status of 404 \(Not Found\).*/b/globex/")
    sign_in(page, live_server, owner)

    response = page.goto(f"{live_server.url}/b/{other_brand.slug}/")

    assert response is not None
    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Nothing here")
    expect(page.get_by_text("Globex")).to_have_count(0)
    screenshot(page, "not-found")
    page.get_by_role("link", name="Back to your brands").click()
    expect(page).to_have_url(f"{live_server.url}/b/acme/")


def test_a_person_changes_their_password_from_the_user_menu(
    page: Page, live_server: LiveServer, brand: Brand, owner: User
) -> None:
    sign_in(page, live_server, owner)
    menu = page.locator("details.user-menu")
    menu.locator("summary").click()
    screenshot(page, "user-menu-open")
    menu.get_by_role("link", name="Change password").click()
    expect(page.get_by_role("heading", name="Change your password")).to_be_visible()

    page.get_by_label("Old password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill("owner")
    page.get_by_label("New password confirmation").fill("owner")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator(".form-error").first).to_be_visible()
    screenshot(page, "password-change")

    page.get_by_label("Old password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill("lantern-orchid-47")
    page.get_by_label("New password confirmation").fill("lantern-orchid-47")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("heading", name="Password changed")).to_be_visible()
    owner.refresh_from_db()
    assert owner.check_password("lantern-orchid-47")
