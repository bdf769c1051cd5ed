"""Connecting accounts and watching their syncs, and importing customers, in a real browser with a real worker."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect
from pytest_django.live_server_helper import LiveServer

from accounts.models import Brand, ConnectedAccount, Follower, Platform, User
from tests.browser.conftest import screenshot, sign_in
from tests.fakes.bluesky import FakeBluesky
from tests.fakes.mastodon import FakeMastodon

pytestmark = pytest.mark.browser

StartWorker = Callable[..., subprocess.Popen]
SYNC_TIMEOUT_MS = 90_000
DETAIL_URL = re.compile(r"/b/acme/accounts/\d+/$")


@pytest.fixture
def site_url(live_server: LiveServer, settings: Any) -> str:
    """Where Mastodon sends people back to: the live server."""
    settings.SITE_URL = live_server.url
    return live_server.url


def open_accounts_page(page: Page, live_server: LiveServer, user: User) -> None:
    sign_in(page, live_server, user)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Accounts").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Connected accounts")


def run_row(page: Page, kind: str) -> Locator:
    """The newest row of this kind in the "Recent syncs" table."""
    kind_cell = page.locator("td:nth-child(2)", has_text=re.compile(f"^{kind}$"))
    return page.locator("#sync-progress table.runs tbody tr").filter(has=kind_cell).first


def wait_for_every_sync_to_finish(page: Page) -> None:
    """The followers run is Done, and the runs it asked for have ended, so the page stops polling."""
    expect(run_row(page, "Followers").locator(".status")).to_have_text("Done", timeout=SYNC_TIMEOUT_MS)
    expect(page.locator("#sync-progress")).to_contain_text("No sync is running.", timeout=SYNC_TIMEOUT_MS)
    expect(page.locator("#sync-progress")).not_to_have_attribute("hx-trigger", re.compile("."))


def test_an_admin_connects_a_demo_account_and_watches_the_first_sync_until_done(
    page: Page, live_server: LiveServer, brand: Brand, owner: User, start_worker: StartWorker, site_url: str
) -> None:
    open_accounts_page(page, live_server, owner)
    screenshot(page, "accounts-connect-options")

    page.get_by_label("Followers to simulate").select_option(label="1,000")
    page.get_by_role("button", name="Connect a demo account").click()

    expect(page).to_have_url(DETAIL_URL)
    expect(page.locator("#toasts")).to_contain_text("Connected Demo acme.demo. The first sync has started.")
    progress = page.locator("#sync-progress")
    expect(progress).to_contain_text("Followers sync: waiting for a worker")
    expect(progress.locator("progress")).to_have_attribute("value", "0")
    expect(progress).to_have_attribute("hx-trigger", "every 1s")
    screenshot(page, "account-detail-syncing")

    start_worker()
    wait_for_every_sync_to_finish(page)

    followers = run_row(page, "Followers")
    expect(followers.locator("td").nth(4)).to_have_text("1,000")
    expect(page.locator(".facts div").filter(has_text="Followers")).to_contain_text("1,000")
    expect(page.locator(".facts div").filter(has_text="Last sync")).to_contain_text("just now")
    screenshot(page, "account-detail-synced")
    account = ConnectedAccount.objects.get(brand=brand, platform=Platform.DEMO)
    assert Follower.objects.filter(account=account).count() == 1_000

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Accounts").click()
    row = page.locator("table.accounts tbody tr").filter(has_text="acme.demo")
    expect(row).to_contain_text("Connected")
    expect(row).to_contain_text("1,000")
    expect(row.locator("time")).to_have_text("just now")
    screenshot(page, "accounts-list")


@pytest.fixture
def mastodon() -> Iterator[FakeMastodon]:
    with FakeMastodon(follower_count=300) as fake:
        yield fake


def test_an_admin_connects_a_mastodon_account_through_its_server_and_watches_it_sync(
    page: Page, live_server: LiveServer, brand: Brand, owner: User, start_worker: StartWorker, site_url: str,
    mastodon: FakeMastodon,
) -> None:  # fmt: skip
    start_worker()
    open_accounts_page(page, live_server, owner)

    page.get_by_label("Mastodon server").fill(mastodon.url)
    page.get_by_role("button", name="Continue on Mastodon").click()

    expect(page).to_have_url(DETAIL_URL)
    expect(page.get_by_role("heading", level=1)).to_have_text("Acme Coffee")
    expect(page.locator("hgroup")).to_contain_text("Mastodon · acmecoffee")
    wait_for_every_sync_to_finish(page)
    expect(run_row(page, "Followers").locator("td").nth(4)).to_have_text("300")
    screenshot(page, "account-detail-mastodon-synced")
    account = ConnectedAccount.objects.get(brand=brand, platform=Platform.MASTODON)
    assert account.server_url == mastodon.url
    assert Follower.objects.filter(account=account).count() == 300
    assert len(mastodon.calls("/oauth/token", method="POST")) == 1


def test_the_customer_upload_reports_each_bad_row_by_line_number(
    page: Page, live_server: LiveServer, brand: Brand, owner: User
) -> None:
    sign_in(page, live_server, owner)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Customers").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Customer list")
    csv = "handle,email\n@alice@example.social,\n,not-an-email\nbob,bob@example.com\nhas space,\n"

    page.get_by_label("Customer list (CSV)").set_input_files(
        files=[{"name": "customers.csv", "mimeType": "text/csv", "buffer": csv.encode()}]
    )
    page.get_by_role("button", name="Upload").click()

    report = page.locator(".import-report")
    expect(report).to_contain_text("2 new customers added, 0 already known, 2 rows rejected.")
    expect(report.get_by_role("listitem")).to_have_text(
        [
            "Line 3: \u201cnot-an-email\u201d is not an e-mail address",
            "Line 5: \u201chas space\u201d is not a handle",
        ]
    )
    expect(page.locator("hgroup")).to_contain_text("2 customers on file.")
    screenshot(page, "customers-report")


BLUESKY_APP_PASSWORD = "wxyz-2345-abcd-6789"


@pytest.fixture
def bluesky(settings: Any) -> Iterator[FakeBluesky]:
    with FakeBluesky(follower_count=120, app_password=BLUESKY_APP_PASSWORD) as fake:
        settings.BLUESKY_SERVICE_URL = fake.url
        settings.BLUESKY_PLC_URL = fake.url
        yield fake


def test_an_admin_connects_a_bluesky_account_after_a_wrong_app_password_and_watches_it_sync(
    page: Page, live_server: LiveServer, browser_problems: Any, brand: Brand, owner: User,
    start_worker: StartWorker, bluesky: FakeBluesky,
) -> None:  # fmt: skip
    browser_problems.allow(r"status of 422")
    start_worker()
    open_accounts_page(page, live_server, owner)
    page.get_by_role("button", name="Connect Bluesky").click()
    page.get_by_label("Handle").fill("brand.test")
    page.get_by_label("App password").fill("not-the-password")
    page.get_by_role("button", name="Connect").click()
    expect(page.locator(".form-error")).to_contain_text("Bluesky did not accept these details")
    screenshot(page, "connect-bluesky-refused")
    assert not ConnectedAccount.objects.filter(brand=brand).exists()

    page.get_by_label("App password").fill(BLUESKY_APP_PASSWORD)
    page.get_by_role("button", name="Connect").click()
    expect(page.locator("hgroup")).to_contain_text("Bluesky · brand.test")
    wait_for_every_sync_to_finish(page)
    expect(run_row(page, "Followers").locator("td").nth(4)).to_have_text("120")
    screenshot(page, "account-detail-bluesky-synced")
    account = ConnectedAccount.objects.get(brand=brand, platform=Platform.BLUESKY)
    assert Follower.objects.filter(account=account).count() == 120
