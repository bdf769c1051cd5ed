"""Followers passes on the real database: idempotent pages, resumable runs, unfollows only after complete passes."""

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import crypto, sync
from accounts.jobs import JobStatus, claim_job
from accounts.models import (
    AccountStatus,
    AuditEvent,
    ConnectedAccount,
    Follower,
    FollowEvent,
    Platform,
    SeenFollower,
    SyncKind,
    SyncRun,
)
from accounts.platforms.base import (
    AuthExpired,
    FollowerPage,
    FollowingPage,
    PlatformUnavailable,
    ProfileData,
    RateLimited,
)
from tests.factories import BrandFactory


def profile(n: int, **changes) -> ProfileData:
    return replace(ProfileData(platform_id=f"id{n}", handle=f"person{n}", display_name=f"Person {n}",
                               followers_count=n, following_count=2 * n, labels=("spam",) if n == 3 else ()),
                   **changes)  # fmt: skip


class ScriptedConnector:
    """A platform that serves fixed pages; the cursor is the page number. It can fail at one page."""

    def __init__(
        self, pages: list[list[ProfileData]], fail_at: int | None = None, error: Exception | None = None
    ):
        self.pages = pages
        self.fail_at = fail_at
        self.error = error or PlatformUnavailable("connection reset")
        self.rate_limit = None
        self.profiles: dict[str, ProfileData] = {}
        self.followed: list[list[str]] = []
        self.pages_served = 0

    def iter_follower_pages(self, cursor: str | None) -> Iterator[FollowerPage]:
        for number in range(int(cursor or 0), len(self.pages)):
            if number == self.fail_at:
                raise self.error
            last = number == len(self.pages) - 1
            self.pages_served += 1
            yield FollowerPage(self.pages[number], None if last else str(number + 1))

    def iter_following_pages(self, cursor: str | None) -> Iterator[FollowingPage]:
        for number in range(int(cursor or 0), len(self.followed)):
            last = number == len(self.followed) - 1
            yield FollowingPage(self.followed[number], None if last else str(number + 1))

    def get_profiles(self, ids: list[str]) -> list[ProfileData]:
        return [self.profiles[platform_id] for platform_id in ids if platform_id in self.profiles]


@pytest.fixture
def account(brand, owner) -> ConnectedAccount:
    return ConnectedAccount.objects.create(
        brand=brand, platform=Platform.MASTODON, platform_user_id="1", handle="acme@example.social",
        server_url="https://example.social", credentials_ciphertext=crypto.encrypt_json({"access_token": "t"}),
    )  # fmt: skip


@pytest.fixture
def use_connector(monkeypatch):
    def install(connector: ScriptedConnector) -> None:
        monkeypatch.setattr(sync, "connector_for", lambda account: connector)

    return install


def run_to_end(account: ConnectedAccount, kind: SyncKind = SyncKind.FOLLOWERS) -> SyncRun:
    """The account's run of this kind (the one an earlier pass asked for, or a new one), run to its end."""
    run = SyncRun.objects.filter(account=account, kind=kind).active().first()
    run = run or SyncRun.objects.create(account=account, kind=kind)
    claimed = claim_job(SyncRun, run.pk)
    assert claimed is not None
    sync.execute_sync(claimed)
    claimed.refresh_from_db()
    return claimed


def pages_of(*ranges: range) -> list[list[ProfileData]]:
    return [[profile(n) for n in numbers] for numbers in ranges]


def test_a_first_pass_stores_every_follower_with_one_follow_event_each(account, use_connector):
    use_connector(ScriptedConnector(pages_of(range(0, 3), range(3, 6), range(6, 8))))
    run = run_to_end(account)
    assert (run.status, run.complete, run.pages, run.seen, run.created) == (JobStatus.DONE, True, 3, 8, 8)
    assert Follower.objects.filter(account=account, is_following=True).count() == 8
    assert FollowEvent.objects.filter(follower__account=account, kind="follow").count() == 8
    stored = Follower.objects.get(account=account, platform_id="id3")
    assert (stored.handle, stored.labels, stored.following_count) == ("person3", ["spam"], 6)
    assert stored.profile_refreshed_at is not None
    account.refresh_from_db()
    assert account.followers_count == 8
    assert account.last_synced_at is not None
    assert AuditEvent.objects.filter(brand=account.brand, verb="sync.finished").count() == 1


def test_applying_the_same_page_twice_changes_nothing(account):
    run = SyncRun.objects.create(account=account)
    page = FollowerPage([profile(1), profile(2), profile(2)], "next")
    first = sync.apply_follower_page(run, page)
    before = list(Follower.objects.order_by("pk").values())
    second = sync.apply_follower_page(run, page)
    assert (first.created, first.seen) == (2, 2)
    assert (second.created, second.updated, second.refollowed) == (0, 0, 0)
    assert list(Follower.objects.order_by("pk").values()) == before
    assert FollowEvent.objects.count() == 2


def test_a_changed_profile_is_rewritten_and_counted(account):
    run = SyncRun.objects.create(account=account)
    sync.apply_follower_page(run, FollowerPage([profile(1), profile(2)], "n"))
    result = sync.apply_follower_page(run, FollowerPage([profile(1, bio="new bio"), profile(2)], "n"))
    assert (result.created, result.updated) == (0, 1)
    assert Follower.objects.get(platform_id="id1").bio == "new bio"


def test_followers_missing_from_a_complete_pass_are_unfollowed(account, use_connector):
    use_connector(ScriptedConnector(pages_of(range(0, 5))))
    run_to_end(account)
    use_connector(ScriptedConnector(pages_of(range(0, 2), range(3, 5))))
    run = run_to_end(account)
    gone = Follower.objects.get(platform_id="id2")
    assert run.unfollowed == 1
    assert (gone.is_following, gone.unfollow_count) == (False, 1)
    assert gone.unfollowed_at is not None
    assert gone.shortest_follow_seconds is not None
    assert gone.shortest_follow_seconds >= 0
    assert list(gone.events.order_by("pk").values_list("kind", flat=True)) == ["follow", "unfollow"]
    assert Follower.objects.filter(is_following=True).count() == 4


def test_nobody_is_unfollowed_after_a_partial_pass(account, use_connector):
    use_connector(ScriptedConnector(pages_of(range(0, 4), range(4, 8))))
    run_to_end(account)
    use_connector(ScriptedConnector(pages_of(range(0, 2), range(4, 8)), fail_at=1))
    run = run_to_end(account)
    assert run.status == JobStatus.QUEUED
    assert run.cursor == "1"
    assert "connection reset" in run.last_error
    assert Follower.objects.filter(is_following=False).count() == 0
    assert not FollowEvent.objects.filter(kind="unfollow").exists()


def test_a_crashed_run_resumes_from_its_saved_page_without_loss_or_duplicates(account, use_connector):
    pages = pages_of(range(0, 10), range(10, 20), range(20, 30), range(30, 40))
    use_connector(ScriptedConnector(pages, fail_at=2))
    run = run_to_end(account)
    assert (run.cursor, run.pages) == ("2", 2)
    use_connector(ScriptedConnector(pages))
    SyncRun.objects.filter(pk=run.pk).update(run_after=timezone.now())
    claimed = claim_job(SyncRun, run.pk)
    assert claimed is not None
    sync.execute_sync(claimed)
    claimed.refresh_from_db()
    assert (claimed.status, claimed.pages, claimed.seen, claimed.created) == (JobStatus.DONE, 4, 40, 40)
    assert Follower.objects.count() == 40
    assert FollowEvent.objects.count() == 40


def test_a_worker_dying_after_the_last_page_ends_the_pass_without_paging_again(account, use_connector):
    pages = pages_of(range(0, 10), range(10, 20))
    run = SyncRun.objects.create(account=account)
    # Every page written, then the worker died before the pass ended.
    sync.apply_follower_page(run, FollowerPage(pages[0], "1"))
    sync.apply_follower_page(run, FollowerPage(pages[1], None))
    assert (run.cursor, run.pages, run.complete) == ("", 2, False)
    connector = ScriptedConnector(pages)
    use_connector(connector)
    claimed = claim_job(SyncRun, run.pk)
    assert claimed is not None
    sync.execute_sync(claimed)
    claimed.refresh_from_db()
    assert (claimed.status, claimed.complete, claimed.pages, claimed.seen) == (JobStatus.DONE, True, 2, 20)
    assert connector.pages_served == 0
    assert FollowEvent.objects.count() == 20


def test_a_follower_who_comes_back_gets_a_second_follow_event(account, use_connector):
    use_connector(ScriptedConnector(pages_of(range(0, 3))))
    run_to_end(account)
    use_connector(ScriptedConnector(pages_of(range(0, 2))))
    run_to_end(account)
    use_connector(ScriptedConnector(pages_of(range(0, 3))))
    run = run_to_end(account)
    back = Follower.objects.get(platform_id="id2")
    assert run.refollowed == 1
    assert (back.is_following, back.follow_count, back.unfollow_count) == (True, 2, 1)
    assert list(back.events.order_by("pk").values_list("kind", flat=True)) == ["follow", "unfollow", "follow"]


def test_a_rate_limit_defers_the_run_without_spending_an_attempt(account, use_connector):
    use_connector(ScriptedConnector(pages_of(range(0, 2), range(2, 4)), fail_at=1, error=RateLimited(120)))
    run = run_to_end(account)
    assert run.status == JobStatus.QUEUED
    assert run.attempts == 0
    assert run.run_after > timezone.now() + timedelta(seconds=100)
    assert run.cursor == "1"


def test_expired_credentials_stop_the_run_and_ask_for_a_reconnect(account, use_connector):
    use_connector(ScriptedConnector(pages_of(range(0, 2)), fail_at=0, error=AuthExpired("token revoked")))
    run = run_to_end(account)
    account.refresh_from_db()
    assert run.status == JobStatus.FAILED
    assert account.status == AccountStatus.AUTH_EXPIRED
    assert AuditEvent.objects.filter(verb="account.auth_expired").exists()
    assert AuditEvent.objects.filter(verb="sync.failed").exists()


def test_credentials_that_no_key_opens_are_an_error_not_plaintext(account, settings):
    account.credentials_ciphertext = "gAAAAA-not-a-token"
    account.save()
    run = run_to_end(account)
    account.refresh_from_db()
    assert run.status == JobStatus.FAILED
    assert account.status == AccountStatus.AUTH_EXPIRED


def test_the_daily_sync_starts_once_per_account_at_its_brands_hour(account, monkeypatch):
    from accounts import connections

    monkeypatch.setattr(connections, "send_jobs", lambda *args, **kwargs: None)
    now = timezone.now()
    account.brand.sync_hour = now.hour
    account.brand.save()
    other_hour = ConnectedAccount.objects.create(
        brand=BrandFactory(sync_hour=(now.hour + 1) % 24), platform=Platform.DEMO, platform_user_id="d",
        handle="other.demo",
    )  # fmt: skip
    first = connections.request_daily_syncs()
    assert [run.account for run in first] == [account]
    assert connections.request_daily_syncs() == first
    SyncRun.objects.update(status=JobStatus.DONE)
    ConnectedAccount.objects.filter(pk=account.pk).update(last_synced_at=now)
    assert connections.request_daily_syncs() == []
    assert not SyncRun.objects.filter(account=other_hour).exists()


def test_a_profiles_pass_fills_in_what_follower_pages_lacked(account, use_connector):
    run = SyncRun.objects.create(account=account)
    sync.apply_follower_page(
        run, FollowerPage([profile(1), profile(2), profile(3)], None), full_profiles=False
    )
    assert not Follower.objects.filter(profile_refreshed_at__isnull=False).exists()
    connector = ScriptedConnector([])
    connector.profiles = {f"id{n}": profile(n, posts_count=77) for n in (1, 2)}
    use_connector(connector)
    profiles_run = SyncRun.objects.create(account=account, kind=SyncKind.PROFILES)
    sync.execute_sync(claim_job(SyncRun, profiles_run.pk))
    refreshed = dict(Follower.objects.values_list("platform_id", "posts_count"))
    assert refreshed == {"id1": 77, "id2": 77, "id3": 0}
    assert Follower.objects.filter(profile_refreshed_at__isnull=False).count() == 2
    profiles_run.refresh_from_db()
    assert (profiles_run.status, profiles_run.seen) == (JobStatus.DONE, 3)


def test_a_following_pass_marks_the_followers_the_brand_follows_back(account, use_connector):
    connector = ScriptedConnector(pages_of(range(0, 6)))
    use_connector(connector)
    run_to_end(account)
    connector.followed = [["id1", "id3", "someone-else"], ["id4"]]
    run = run_to_end(account, SyncKind.FOLLOWING)
    assert (run.status, run.complete, run.pages, run.seen, run.created, run.unfollowed) == (
        JobStatus.DONE, True, 2, 4, 3, 0,
    )  # fmt: skip
    followed_back = set(Follower.objects.filter(brand_follows=True).values_list("platform_id", flat=True))
    assert followed_back == {"id1", "id3", "id4"}
    assert AuditEvent.objects.filter(
        verb="sync.finished", summary__contains="3 more followers followed back"
    ).exists()


def test_followers_missing_from_a_complete_following_list_are_no_longer_followed_back(account, use_connector):
    connector = ScriptedConnector(pages_of(range(0, 6)))
    use_connector(connector)
    run_to_end(account)
    connector.followed = [["id1", "id3"]]
    run_to_end(account, SyncKind.FOLLOWING)
    connector.followed = [["id3"], ["id5"]]
    run = run_to_end(account, SyncKind.FOLLOWING)
    assert (run.created, run.unfollowed) == (1, 1)
    assert set(Follower.objects.filter(brand_follows=True).values_list("platform_id", flat=True)) == {
        "id3",
        "id5",
    }
    assert not SeenFollower.objects.exists()


def test_a_followers_pass_asks_for_the_following_list_too(account, use_connector):
    use_connector(ScriptedConnector(pages_of(range(0, 3))))
    run_to_end(account)
    asked = set(SyncRun.objects.filter(account=account).active().values_list("kind", flat=True))
    assert asked >= {SyncKind.FOLLOWING, SyncKind.INTERACTIONS}
