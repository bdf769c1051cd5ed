"""The follows page and retrying a failed follow, through the test client, plain and with htmx."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.http import HttpResponse
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.jobs import JobStatus
from accounts.models import Brand, ConnectedAccount, Role, User
from followback.execution import queue_follow
from followback.models import FollowAction, FollowState
from tests.conftest import client_for
from tests.factories import BrandFactory, MembershipFactory
from tests.fakes.mastodon import FakeMastodon
from tests.followback.test_execution import approved_suggestion, follow_action, mastodon_account, set_policy

HTMX = {"HX-Request": "true"}


@pytest.fixture
def account(brand: Brand, fake: FakeMastodon) -> ConnectedAccount:
    return mastodon_account(brand, fake)


def follows_url(brand: Brand, **query: str) -> str:
    url = reverse("follows", kwargs={"brand": brand.slug})
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def retry_url(action: FollowAction) -> str:
    return reverse("follow_retry", kwargs={"brand": action.brand.slug, "action": action.pk})


def failed_follow(account: ConnectedAccount, approver: User | None, number: int = 1) -> FollowAction:
    suggestion = approved_suggestion(account, f"77{number}", f"failing{number}@remote.example")
    return follow_action(
        suggestion, approver, state=FollowState.FAILED, status=JobStatus.FAILED,
        platform_reason="fake.social answered HTTP 422: Validation failed: you are blocked",
    )  # fmt: skip


def many_follows(account: ConnectedAccount, approver: User, count: int) -> list[FollowAction]:
    start = timezone.now() - timedelta(hours=1)
    return [
        follow_action(approved_suggestion(account, f"5{n}", f"person{n}@remote.example"), approver,
                      state=FollowState.DONE, executed_at=start, created_at=start + timedelta(seconds=n))
        for n in range(count)
    ]  # fmt: skip


def page_messages(response: HttpResponse) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]  # type: ignore[attr-defined]


def test_a_viewer_reads_the_follows_with_their_states_and_reasons_but_cannot_retry(
    brand: Brand, viewer: User, approver: User, account: ConnectedAccount
) -> None:
    failed = failed_follow(account, approver)
    waiting = follow_action(
        approved_suggestion(account, "88", "waiting@remote.example"), approver,
        waiting_reason="Waiting for tomorrow: the daily cap of 50 follows is reached (50 approved today)",
    )  # fmt: skip

    response = client_for(viewer).get(follows_url(brand))

    page = response.content.decode()
    assert response.status_code == 200
    assert f'id="follow-{failed.pk}"' in page
    assert "The platform said: fake.social answered HTTP 422: Validation failed: you are blocked" in page
    assert f'id="follow-{waiting.pk}"' in page
    assert "Waiting for tomorrow: the daily cap of 50 follows is reached" in page
    assert str(approver) in page
    assert retry_url(failed) not in page


def test_a_follow_approved_over_the_daily_cap_shows_it_waits_for_tomorrow_and_when_it_runs(
    brand: Brand, owner: User, approver: User, viewer: User, account: ConnectedAccount
) -> None:
    set_policy(brand, owner, daily_follow_cap=1)
    follow_action(approved_suggestion(account, "1", "a@x"), approver)
    waiting = queue_follow(approved_suggestion(account, "2", "tomorrow@remote.example"), approver)

    page = client_for(viewer).get(follows_url(brand, show="waiting")).content.decode()

    row = page[page.index(f'<tr id="follow-{waiting.pk}">') :]
    row = row[: row.index("</tr>")]
    assert "Waiting for tomorrow: today&#x27;s cap of 1 follow is reached" in row
    assert (
        f'Runs from <time datetime="{waiting.run_after.isoformat()}">{waiting.run_after:%-d %b}, 00:00 UTC'
        in row
    )


def test_an_approver_sees_a_retry_button_on_failed_follows_only(
    brand: Brand, approver: User, account: ConnectedAccount
) -> None:
    failed = failed_follow(account, approver)
    done = follow_action(approved_suggestion(account, "99", "done@remote.example"), approver,
                         state=FollowState.DONE, executed_at=timezone.now())  # fmt: skip

    page = client_for(approver).get(follows_url(brand)).content.decode()

    assert f'action="{retry_url(failed)}"' in page
    assert f'hx-post="{retry_url(failed)}"' in page
    assert retry_url(done) not in page


def test_an_approver_retries_a_failed_follow_without_javascript(
    brand: Brand, approver: User, account: ConnectedAccount, django_capture_on_commit_callbacks: Any
) -> None:
    failed = failed_follow(account, approver)

    response = client_for(approver).post(retry_url(failed))

    assert response.status_code == 302
    assert response["Location"] == follows_url(brand) + f"#follow-{failed.pk}"
    assert page_messages(response) == ["Retrying the follow of @failing1@remote.example."]
    failed.refresh_from_db()
    assert (failed.state, failed.status, failed.platform_reason) == (FollowState.QUEUED, JobStatus.QUEUED, "")


def test_an_approver_retries_with_htmx_and_gets_the_row_back(
    brand: Brand, approver: User, account: ConnectedAccount
) -> None:
    failed = failed_follow(account, approver)

    response = client_for(approver).post(retry_url(failed), headers=HTMX)

    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith(f'<tr id="follow-{failed.pk}">')
    assert "<html" not in body
    assert "Queued" in body
    assert 'hx-swap-oob="beforeend"' in body
    assert "Retrying the follow of @failing1@remote.example." in body
    assert "HX-Request" in response["Vary"]


def test_a_refused_retry_explains_why_and_leaves_the_follow_failed(
    brand: Brand, owner: User, approver: User, account: ConnectedAccount
) -> None:
    set_policy(brand, owner, daily_follow_cap=1)
    follow_action(approved_suggestion(account, "1", "a@x"), approver, state=FollowState.DONE,
                  executed_at=timezone.now())  # fmt: skip
    failed = failed_follow(account, approver)

    response = client_for(approver).post(retry_url(failed), headers=HTMX)

    body = response.content.decode()
    assert "Cannot retry now: the daily cap of 1 follows is reached" in body
    assert "toast-error" in body
    failed.refresh_from_db()
    assert failed.state == FollowState.FAILED


def test_a_reviewer_cannot_retry_and_another_brands_follow_is_not_found(
    brand: Brand, other_brand: Brand, reviewer: User, approver: User, fake: FakeMastodon
) -> None:
    failed = failed_follow(mastodon_account(brand, fake), approver)
    theirs = failed_follow(mastodon_account(other_brand, fake), None, number=2)

    assert client_for(reviewer).post(retry_url(failed)).status_code == 403
    foreign = reverse("follow_retry", kwargs={"brand": brand.slug, "action": theirs.pk})
    assert client_for(approver).post(foreign).status_code == 404
    assert client_for(approver).get(retry_url(failed)).status_code == 405
    failed.refresh_from_db()
    assert failed.state == FollowState.FAILED


def test_someone_outside_the_brand_gets_not_found(brand: Brand, outsider: User) -> None:
    assert client_for(outsider).get(follows_url(brand)).status_code == 404


def test_the_page_shows_a_hundred_follows_and_links_to_older_ones(
    brand: Brand, approver: User, account: ConnectedAccount
) -> None:
    actions = many_follows(account, approver, 103)
    client = client_for(approver)

    first = client.get(follows_url(brand)).content.decode()
    rows = re.findall(r'<tr id="follow-(\d+)">', first)
    assert [int(pk) for pk in rows] == [a.pk for a in reversed(actions)][:100]
    older = re.search(r'href="([^"]*before=[^"]*)" rel="next"', first)
    assert older is not None

    second = client.get(older.group(1).replace("&amp;", "&")).content.decode()
    assert [int(pk) for pk in re.findall(r'<tr id="follow-(\d+)">', second)] == [a.pk for a in actions[2::-1]]
    assert 'rel="next"' not in second
    assert "Newest" in second


def test_the_failed_tab_shows_only_failed_follows(
    brand: Brand, approver: User, account: ConnectedAccount
) -> None:
    failed = failed_follow(account, approver)
    done = many_follows(account, approver, 1)[0]

    page = client_for(approver).get(follows_url(brand, show="failed")).content.decode()

    assert f'id="follow-{failed.pk}"' in page
    assert f'id="follow-{done.pk}"' not in page
    assert 'aria-current="page">Failed' in page


def test_a_broken_cursor_shows_the_newest_follows(
    brand: Brand, approver: User, account: ConnectedAccount
) -> None:
    many_follows(account, approver, 2)
    response = client_for(approver).get(follows_url(brand, before="nonsense_x"))
    assert response.status_code == 200
    assert len(re.findall(r'<tr id="follow-', response.content.decode())) == 2


def test_the_page_runs_the_same_queries_for_one_follow_or_a_hundred(
    brand: Brand, approver: User, fake: FakeMastodon
) -> None:
    def queries_for(account: ConnectedAccount, viewer: User) -> int:
        client = client_for(viewer)
        client.get(follows_url(account.brand))  # warm the session
        with CaptureQueriesContext(connection) as captured:
            assert client.get(follows_url(account.brand)).status_code == 200
        return len(captured)

    few = mastodon_account(brand, fake)
    many_follows(few, approver, 1)
    failed_follow(few, approver)
    small = queries_for(few, approver)

    bigger = BrandFactory(name="Initech", slug="initech")
    other = MembershipFactory(brand=bigger, role=Role.APPROVER, user__email="second@initech.test").user
    big_account = mastodon_account(bigger, fake)
    many_follows(big_account, other, 99)
    failed_follow(big_account, other)
    assert queries_for(big_account, other) == small
    assert small <= 6
