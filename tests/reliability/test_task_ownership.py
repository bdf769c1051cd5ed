"""Every Celery task re-checks that what it is handed belongs together, and otherwise does nothing.

The list of tasks comes from the Celery app, so a new task without a case here fails. Each task is called with
records that do not belong together (brand A's follow on brand B's account, a sync asked for by someone of
another brand, a Bluesky account holding another account's session...) and must make zero platform calls —
counted by the fake Mastodon and Bluesky servers over real HTTP — and send zero e-mails. A matching call next to
each shows that the same set-up does reach the platform, so the zeros mean something. Tasks that take no ids
hand their work out as broker messages, read back from Redis and run here, to the tasks that check.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import redis
from django.conf import settings
from django.core import mail
from django.utils import timezone

from accounts import connections
from accounts import tasks as account_tasks
from accounts.jobs import JobStatus
from accounts.models import (
    AccountStatus,
    AuditEvent,
    Brand,
    ConnectedAccount,
    Follower,
    Invitation,
    Membership,
    Platform,
    Role,
    SyncKind,
    SyncRun,
    User,
)
from followback import tasks as followback_tasks
from followback.celery import app
from followback.models import FollowAction, FollowState
from rules import tasks as rules_tasks
from rules.models import QueueBuild, Suggestion, SuggestionStatus
from rules.policy import PolicySettings
from rules.services import current_policy, save_policy
from tests.factories import MembershipFactory, UserFactory
from tests.fakes.bluesky import FakeBluesky
from tests.fakes.mastodon import FakeMastodon
from tests.followback.test_execution import approved_suggestion, mastodon_account
from tests.reliability.isolation_world import BRAND_ROWS, build_world

CASES: dict[str, list[str]] = {}


def case(*tasks: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register a test as a mismatch case of these tasks."""

    def register(test: Callable[..., None]) -> Callable[..., None]:
        for task in tasks:
            CASES.setdefault(task, []).append(test.__name__)
        return test

    return register


def our_tasks() -> set[str]:
    app.loader.import_default_modules()
    return {name for name in app.tasks if not name.startswith("celery.")}


def test_every_registered_task_has_a_mismatch_case():
    assert our_tasks() - CASES.keys() == set(), "add a mismatch case for these tasks"
    assert CASES.keys() - our_tasks() == set(), "these cases name no registered task"


# Two brands, each with its account on a fake Mastodon server of its own.


@dataclass
class Pair:
    fake: FakeMastodon
    other_fake: FakeMastodon
    brand: Brand
    other_brand: Brand
    admin: User
    other_admin: User
    account: ConnectedAccount
    other_account: ConnectedAccount

    def requests(self) -> list[Any]:
        return [*self.fake.requests, *self.other_fake.requests]

    def forget_requests(self) -> None:
        self.fake.requests.clear()
        self.other_fake.requests.clear()

    def follows_done(self) -> list[str]:
        return [*self.fake.follows_done, *self.other_fake.follows_done]

    def approved(self, account: ConnectedAccount, handle: str) -> Suggestion:
        return approved_suggestion(account, self.fake_of(account).add_account(handle), handle)

    def follower(self, account: ConnectedAccount, handle: str) -> Follower:
        return Follower.objects.create(
            account=account, platform_id=self.fake_of(account).add_account(handle), handle=handle
        )

    def fake_of(self, account: ConnectedAccount) -> FakeMastodon:
        return self.fake if account == self.account else self.other_fake


@pytest.fixture
def pair(brand: Brand, other_brand: Brand) -> Iterator[Pair]:
    with FakeMastodon(follower_count=20) as fake, FakeMastodon(follower_count=30) as other_fake:
        yield Pair(
            fake, other_fake, brand, other_brand,
            MembershipFactory(brand=brand, role=Role.ADMIN).user,
            MembershipFactory(brand=other_brand, role=Role.ADMIN).user,
            mastodon_account(brand, fake),
            mastodon_account(other_brand, other_fake, handle="globex@fake.social"),
        )  # fmt: skip


def follow(
    suggestion: Suggestion, *, brand: Brand | None = None, account: ConnectedAccount | None = None,
    follower: Follower | None = None,
) -> FollowAction:  # fmt: skip
    """A queued follow, due now, for `suggestion` unless told otherwise."""
    return FollowAction.objects.create(
        brand=brand or suggestion.brand, account=account or suggestion.account,
        follower=follower or suggestion.follower, suggestion=suggestion, approved_by=None,
        run_after=timezone.now() - timedelta(seconds=1),
    )  # fmt: skip


def mismatched_follows(pair: Pair) -> dict[str, FollowAction]:
    pending = pair.approved(pair.account, "waiting@remote.example")
    Suggestion.objects.filter(pk=pending.pk).update(status=SuggestionStatus.PENDING)
    pending.refresh_from_db()
    return {
        "brand A's follow on brand B's account": follow(
            pair.approved(pair.account, "one@remote.example"), account=pair.other_account
        ),
        "brand A's follow of brand B's follower": follow(
            pair.approved(pair.account, "two@remote.example"),
            follower=pair.follower(pair.other_account, "theirs@remote.example"),
        ),
        "brand A's follow for brand B's suggestion": follow(
            pair.approved(pair.other_account, "three@remote.example"), brand=pair.brand, account=pair.account,
            follower=pair.follower(pair.account, "mine@remote.example"),
        ),
        "a follow of another follower than its suggestion's": follow(
            pair.approved(pair.account, "four@remote.example"),
            follower=pair.follower(pair.account, "someone-else@remote.example"),
        ),
        "a follow for a suggestion nobody approved": follow(pending),
    }  # fmt: skip


@case("followback.tasks.execute_follow")
def test_a_follow_whose_records_do_not_belong_together_makes_no_platform_call(pair):
    actions = mismatched_follows(pair)
    pair.forget_requests()

    for action in actions.values():
        followback_tasks.execute_follow(action.pk)

    assert pair.requests() == []
    assert pair.follows_done() == []
    for what, action in actions.items():
        action.refresh_from_db()
        assert (action.state, action.status) == (FollowState.FAILED, JobStatus.FAILED), what
        assert "do not belong to one brand and one approved suggestion" in action.last_error, what
    assert not Follower.objects.filter(brand_follows=True).exists()

    followback_tasks.execute_follow(follow(pair.approved(pair.account, "ok@remote.example")).pk)
    assert len(pair.fake.follows_done) == 1


def sync_run(account: ConnectedAccount, requested_by: User | None) -> SyncRun:
    return SyncRun.objects.create(account=account, kind=SyncKind.FOLLOWERS, requested_by=requested_by)


@case("accounts.tasks.run_sync")
def test_a_sync_asked_for_by_someone_who_may_not_sync_that_account_makes_no_platform_call(pair):
    viewer = MembershipFactory(brand=pair.other_brand, role=Role.VIEWER).user
    requesters = {
        "brand A's admin asks for brand B's account": pair.admin,
        "a viewer of brand B asks": viewer,
    }
    pair.forget_requests()

    for what, requester in requesters.items():
        run = sync_run(pair.other_account, requester)
        account_tasks.run_sync(run.pk)
        run.refresh_from_db()
        assert run.status == JobStatus.FAILED, what
        assert run.last_error == "Not synced: asked for by someone who may not sync this account.", what

    assert pair.requests() == []
    assert not Follower.objects.exists()
    assert AuditEvent.objects.filter(brand=pair.other_brand, verb="sync.failed").count() == 2

    account_tasks.run_sync(sync_run(pair.other_account, pair.other_admin).pk)
    assert pair.other_fake.requests != []
    assert Follower.objects.filter(account=pair.other_account).count() == 30


@pytest.fixture
def bluesky() -> Iterator[FakeBluesky]:
    with FakeBluesky(follower_count=12) as fake:
        yield fake


@case("accounts.tasks.run_sync", "followback.tasks.execute_follow")
def test_a_bluesky_account_holding_another_accounts_session_makes_no_platform_call(
    brand, other_brand, owner, bluesky, settings
):
    settings.BLUESKY_SERVICE_URL = settings.BLUESKY_PLC_URL = bluesky.url
    mine = connections.connect_bluesky(
        brand,
        bluesky.brand_handle,
        bluesky.app_password,
        by=owner,
        service_url=bluesky.url,
        plc_url=bluesky.url,
    )
    theirs = ConnectedAccount.objects.create(
        brand=other_brand, platform=Platform.BLUESKY, platform_user_id="did:plc:someoneelsesomeoneelsesom",
        handle="globex.test", server_url=bluesky.url, credentials_ciphertext=mine.credentials_ciphertext,
        followers_count=1000,
    )  # fmt: skip
    suggestion = approved_suggestion(theirs, bluesky.add_account("friend.test"), "friend.test")
    action = follow(suggestion)
    bluesky.requests.clear()

    followback_tasks.execute_follow(action.pk)
    action.refresh_from_db()
    assert action.state == FollowState.FAILED
    ConnectedAccount.objects.filter(pk=theirs.pk).update(status=AccountStatus.ACTIVE)
    run = sync_run(theirs, None)
    account_tasks.run_sync(run.pk)

    assert bluesky.requests == []
    assert bluesky.follow_records == []
    run.refresh_from_db()
    theirs.refresh_from_db()
    assert run.status == JobStatus.FAILED
    assert theirs.status == AccountStatus.AUTH_EXPIRED
    assert theirs.status_reason == "the stored Bluesky session is for another account"
    assert list(Follower.objects.filter(account=theirs)) == [suggestion.follower]

    account_tasks.run_sync(SyncRun.objects.get(account=mine).pk)
    assert Follower.objects.filter(account=mine).count() == 12


@case("accounts.tasks.send_invitation")
def test_an_invitation_whose_inviter_is_not_an_admin_of_its_brand_is_not_sent(pair):
    demoted = Membership.objects.create(user=UserFactory(), brand=pair.other_brand, role=Role.ADMIN)
    invitations = {
        "brand A's admin invites to brand B": Invitation.objects.create(
            brand=pair.other_brand, email="one@example.com", invited_by=pair.admin
        ),
        "an admin demoted since": Invitation.objects.create(
            brand=pair.other_brand, email="two@example.com", invited_by=demoted.user
        ),
        "an inviter since deleted": Invitation.objects.create(
            brand=pair.other_brand, email="three@example.com", invited_by=None
        ),
    }
    Membership.objects.filter(pk=demoted.pk).update(role=Role.REVIEWER)

    for what, invitation in invitations.items():
        account_tasks.send_invitation(invitation.pk)
        invitation.refresh_from_db()
        assert invitation.status == JobStatus.FAILED, what
        assert "not an admin of this brand" in invitation.last_error, what

    assert mail.outbox == []
    matching = Invitation.objects.create(
        brand=pair.other_brand, email="four@example.com", invited_by=pair.other_admin
    )
    account_tasks.send_invitation(matching.pk)
    assert [message.to for message in mail.outbox] == [["four@example.com"]]


def brand_rows(brand: Brand) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every model that belongs to `brand`, as values."""
    return {label: sorted(map(str, rows(brand).values_list())) for label, rows in BRAND_ROWS.items()}


@case("rules.tasks.build_queue")
def test_a_queue_build_touches_only_its_own_brand_and_an_unknown_brand_does_nothing(db):
    world = build_world()
    before = {side.tag: brand_rows(side.brand) for side in world.sides()}

    assert rules_tasks.build_queue(max(Brand.objects.values_list("pk", flat=True)) + 1) == 0
    assert {side.tag: brand_rows(side.brand) for side in world.sides()} == before

    rules_tasks.build_queue(world.a.brand.pk)

    assert brand_rows(world.b.brand) == before["b"]
    assert brand_rows(world.a.brand) != before["a"]
    suggestions = Suggestion.objects.filter(follower__account__brand=world.a.brand)
    assert set(suggestions.values_list("brand_id", flat=True)) == {world.a.brand.pk}
    assert set(suggestions.values_list("account_id", flat=True)) == {world.a.account.pk}


# Tasks without ids: what they send out, read back from the broker and run here.


def sent_tasks(queue: str) -> list[tuple[str, list[Any]]]:
    """The (task, args) of every message waiting in this Redis queue, oldest first."""
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    calls = []
    for raw in reversed(broker.lrange(queue, 0, -1)):
        message = json.loads(raw)
        args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        calls.append((message["headers"]["task"], args))
    broker.delete(queue)
    return calls


def run_sent(calls: list[tuple[str, list[Any]]]) -> None:
    for name, args in calls:
        app.tasks[name](*args)


@case("followback.tasks.sweep_jobs")
def test_jobs_the_sweeper_sends_again_still_refuse_records_that_do_not_belong_together(
    pair, queue, django_capture_on_commit_callbacks
):
    actions = mismatched_follows(pair)
    run = sync_run(pair.other_account, pair.admin)
    invitation = Invitation.objects.create(
        brand=pair.other_brand, email="x@example.com", invited_by=pair.admin
    )
    pair.forget_requests()

    with django_capture_on_commit_callbacks(execute=True):
        sent = followback_tasks.sweep_jobs()
    calls = sent_tasks(queue)
    run_sent(calls)

    assert sent == len(calls) == len(actions) + 2
    assert {name for name, _ in calls} == {
        "followback.tasks.execute_follow", "accounts.tasks.run_sync", "accounts.tasks.send_invitation"
    }  # fmt: skip
    assert pair.requests() == []
    assert mail.outbox == []
    assert FollowAction.objects.filter(state=FollowState.FAILED).count() == len(actions)
    run.refresh_from_db()
    invitation.refresh_from_db()
    assert run.status == invitation.status == JobStatus.FAILED


@case("accounts.tasks.schedule_daily_syncs")
def test_daily_syncs_are_asked_for_by_nobody_for_each_due_account_and_sync_only_that_account(
    pair, queue, django_capture_on_commit_callbacks
):
    now = timezone.now()
    Brand.objects.filter(pk=pair.other_brand.pk).update(sync_hour=now.hour)
    Brand.objects.filter(pk=pair.brand.pk).update(sync_hour=(now.hour + 12) % 24)

    with django_capture_on_commit_callbacks(execute=True):
        assert account_tasks.schedule_daily_syncs() == 1
    calls = sent_tasks(queue)
    run = SyncRun.objects.get()
    assert calls == [("accounts.tasks.run_sync", [run.pk])]
    assert (run.account, run.requested_by) == (pair.other_account, None)

    with django_capture_on_commit_callbacks(execute=True):
        run_sent(calls)
    sent_tasks(queue)

    assert Follower.objects.filter(account=pair.other_account).count() == 30
    assert not Follower.objects.filter(account=pair.account).exists()


@case("rules.tasks.schedule_queue_builds")
def test_queue_builds_go_out_with_each_due_brands_own_id(pair, queue):
    save_policy(pair.other_brand, PolicySettings(queue_hour=0), by=pair.other_admin)
    QueueBuild.objects.create(brand=pair.brand, policy_version=current_policy(pair.brand), considered=1)

    rules_tasks.schedule_queue_builds()

    assert sent_tasks(queue) == [("rules.tasks.build_queue", [pair.other_brand.pk])]


@case("followback.tasks.send_daily_digests")
def test_each_daily_digest_speaks_only_of_the_recipients_brand(db):
    world = build_world()

    followback_tasks.send_daily_digests()

    assert mail.outbox, "the world's brands have work waiting"
    for message in mail.outbox:
        text = "\n".join(
            [str(message.subject), str(message.body), *(str(part) for part, _ in message.alternatives)]
        )
        sides = [side for side in world.sides() if side.markers.prefix in text.lower()]
        assert len(sides) == 1, f"a digest should name its one brand: {message.subject}"
        side = sides[0]
        assert world.other(side).markers.found_in(text) == []
        (recipient,) = message.to
        assert Membership.objects.filter(brand=side.brand, user__email=recipient).exists()
    assert {len(message.to) for message in mail.outbox} == {1}
