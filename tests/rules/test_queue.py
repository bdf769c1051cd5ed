"""The daily queue build on the real database: suggestions, held followers, versions, expiry, bulk writes."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.jobs import JobStatus
from accounts.models import AuditEvent, ConnectedAccount, Follower, Platform, SyncKind, SyncRun
from rules import queue, services
from rules.models import PolicyVersion, QueueBuild, Suggestion, SuggestionStatus
from rules.policy import PolicySettings
from tests.conftest import client_for


@pytest.fixture
def account(brand) -> ConnectedAccount:
    return ConnectedAccount.objects.create(brand=brand, platform=Platform.DEMO, platform_user_id="acme-demo",
                                           handle="acme.demo")  # fmt: skip


def follower(account, handle: str, **fields) -> Follower:
    now = timezone.now()
    profile = {"display_name": handle.title(), "bio": "Coffee lover and runner", "avatar_is_default": False,
               "created_at": now - timedelta(days=900), "followers_count": 300, "following_count": 250,
               "posts_count": 1200, "last_post_at": now - timedelta(days=2)}  # fmt: skip
    return Follower.objects.create(
        account=account, platform_id=handle, handle=handle, **{**profile, **fields}
    )


def set_policy(brand, owner, **changes) -> None:
    services.save_policy(brand, replace(PolicySettings(), **changes), by=owner)


def statuses(brand) -> dict[str, str]:
    return dict(Suggestion.objects.filter(brand=brand).values_list("follower__handle", "status"))


def held_rules(brand) -> dict[str, str]:
    return dict(Suggestion.objects.filter(brand=brand).held().values_list("follower__handle", "rule"))


def pending_handles(brand) -> set[str]:
    return set(Suggestion.objects.filter(brand=brand).pending().values_list("follower__handle", flat=True))


DECIDED_AT = datetime(2026, 11, 3, 15, 30, tzinfo=UTC)


def decided(follower: Follower, status: SuggestionStatus, version: PolicyVersion) -> Suggestion:
    """A suggestion people decided on (or are deciding on) under `version`, on 3 Nov 2026."""
    return Suggestion.objects.create(
        brand=version.brand, account=follower.account, follower=follower, status=status, policy_version=version,
        score=70, rule="", created_at=DECIDED_AT - timedelta(days=1), expires_at=DECIDED_AT,
        decided_at=None if status == SuggestionStatus.EXPIRED else DECIDED_AT,
    )  # fmt: skip


def test_suggested_and_held_followers_are_recorded_with_their_rule_and_policy_version(brand, owner, account):
    follower(account, "loyal", is_customer=True)
    follower(account, "spammer")
    follower(account, "quiet")
    set_policy(brand, owner, never_follow=("spammer",))
    build = queue.build_daily_queue(brand)
    version = services.current_policy(brand)
    assert statuses(brand) == {"loyal": "pending", "spammer": "held"}
    held = Suggestion.objects.get(follower__handle="spammer")
    assert held.rule == "never: on the never-follow list"
    pending = Suggestion.objects.get(follower__handle="loyal")
    assert pending.policy_version == version
    assert pending.rule == "always: verified customer"
    assert {"signal": "customer", "text": "on your customer list", "polarity": "suggest"} in pending.reasons
    assert set(pending.signals) == {"bot", "churn", "engagement", "customer", "harmful", "activity"}
    assert (build.considered, build.suggested, build.held) == (3, 1, 1)
    assert AuditEvent.objects.filter(brand=brand, verb="queue.built").count() == 1


def test_hard_rules_beat_a_high_score(brand, owner, account):
    follower(account, "acme_official", is_customer=True)
    queue.build_daily_queue(brand)
    assert Suggestion.objects.get(follower__handle="acme_official").status == SuggestionStatus.HELD


def test_the_queue_holds_at_most_its_size_best_scores_first(brand, owner, account):
    for n in range(6):
        follower(account, f"fan{n}", is_customer=True, posts_count=100 * (n + 1))
    set_policy(brand, owner, queue_size=3)
    queue.build_daily_queue(brand)
    pending = list(
        Suggestion.objects.pending().order_by("-score", "-follower_id").values_list("score", flat=True)
    )
    assert len(pending) == 3
    scores = sorted(Suggestion.objects.pending().values_list("score", flat=True), reverse=True)
    assert pending == scores


def test_approved_followers_are_never_suggested_again_and_are_held_with_their_approval(brand, owner, account):
    approved = follower(account, "approved", is_customer=True)
    decided(approved, SuggestionStatus.APPROVED, services.current_policy(brand))
    queue.build_daily_queue(brand)
    assert not pending_handles(brand)
    assert held_rules(brand) == {"approved": "approved for a follow on 3 Nov 2026"}


def test_a_rejection_holds_under_its_policy_version_only(brand, owner, account):
    rejected = follower(account, "rejected", is_customer=True)
    Suggestion.objects.create(brand=brand, account=account, follower=rejected, status=SuggestionStatus.REJECTED,
                              policy_version=services.current_policy(brand), score=90, rule="",
                              expires_at=timezone.now())  # fmt: skip
    queue.build_daily_queue(brand)
    assert not Suggestion.objects.pending().exists()
    set_policy(brand, owner, suggest_threshold=55)
    queue.build_daily_queue(brand)
    assert Suggestion.objects.pending().get().follower == rejected


def test_rebuilding_keeps_a_pending_suggestions_first_day_and_expires_it_after_its_time(
    brand, owner, account
):
    follower(account, "loyal", is_customer=True)
    set_policy(brand, owner, suggestion_ttl_days=2)
    first = timezone.now()
    queue.build_daily_queue(brand, now=first)
    queue.build_daily_queue(brand, now=first + timedelta(days=1))
    pending = Suggestion.objects.pending().get()
    assert pending.created_at == first
    build = queue.build_daily_queue(brand, now=first + timedelta(days=3))
    assert (build.suggested, build.expired) == (0, 1)
    assert statuses(brand) == {"loyal": "expired"}
    queue.build_daily_queue(brand, now=first + timedelta(days=4))
    assert not pending_handles(brand)
    assert held_rules(brand) == {
        "loyal": f"suggested under this policy version on {first.day} {first:%b %Y}, "
        "and nobody decided before it expired"
    }


def test_the_build_writes_in_bulk_whatever_the_number_of_followers(brand, owner, account):
    set_policy(brand, owner, never_follow=tuple(f"held{n}" for n in range(40)))
    Follower.objects.bulk_create(
        [Follower(account=account, platform_id=f"h{n}", handle=f"held{n}") for n in range(40)]
        + [
            Follower(account=account, platform_id=f"c{n}", handle=f"customer{n}", is_customer=True)
            for n in range(40)
        ]
    )
    with CaptureQueriesContext(connection) as queries:
        build = queue.build_daily_queue(brand)
    assert (build.suggested, build.held) == (40, 40)
    assert len(queries) < 30


def test_brands_are_due_once_a_day_after_their_queue_hour(brand, owner, account):
    now = timezone.now().replace(hour=12, minute=0)
    set_policy(brand, owner, queue_hour=11)
    assert brand in queue.brands_due_for_queue(now)
    QueueBuild.objects.create(brand=brand, policy_version=services.current_policy(brand), built_at=now)
    assert brand not in queue.brands_due_for_queue(now + timedelta(hours=1))
    set_policy(brand, owner, queue_hour=13)
    assert brand not in queue.brands_due_for_queue(now + timedelta(days=1))


def test_a_new_brands_first_queue_is_due_once_its_first_syncs_are_done(brand, owner, account):
    now = timezone.now().replace(hour=3, minute=0)
    set_policy(brand, owner, queue_hour=6)
    assert brand not in queue.brands_due_for_queue(now)
    account.last_synced_at = now
    account.save()
    run = SyncRun.objects.create(account=account, kind=SyncKind.INTERACTIONS)
    assert brand not in queue.brands_due_for_queue(now)
    SyncRun.objects.filter(pk=run.pk).update(status=JobStatus.DONE)
    assert brand in queue.brands_due_for_queue(now)
    follower(account, "loyal", is_customer=True)
    queue.build_daily_queue(brand, now=now)
    assert brand not in queue.brands_due_for_queue(now + timedelta(hours=1))


def test_followers_people_decided_on_are_held_with_the_rule_that_holds_them_and_never_dropped(
    brand, owner, account
):
    set_policy(brand, owner, never_follow=("spammer", "followed_spammer"))
    older = services.current_policy(brand)
    set_policy(brand, owner, never_follow=("spammer", "followed_spammer"), suggest_threshold=55)
    version = services.current_policy(brand)
    customers = {handle: follower(account, handle, is_customer=True) for handle in (
        "followed", "approved", "rejected", "rejected_before", "awaiting", "spammer", "followed_spammer", "expired",
    )}  # fmt: skip
    Follower.objects.filter(handle__in=["followed", "followed_spammer"]).update(brand_follows=True)
    decided(customers["approved"], SuggestionStatus.APPROVED, older)
    decided(customers["rejected"], SuggestionStatus.REJECTED, version)
    decided(customers["rejected_before"], SuggestionStatus.REJECTED, older)
    waiting = decided(customers["awaiting"], SuggestionStatus.AWAITING_APPROVAL, version)
    decided(customers["spammer"], SuggestionStatus.REJECTED, version)
    decided(customers["expired"], SuggestionStatus.EXPIRED, version)

    build = queue.build_daily_queue(brand)

    assert pending_handles(brand) == {"rejected_before"}
    assert held_rules(brand) == {
        "followed": "you already follow them",
        "followed_spammer": "you already follow them; also never: on the never-follow list",
        "approved": "approved for a follow on 3 Nov 2026",
        "rejected": "rejected under this policy version on 3 Nov 2026",
        "spammer": "rejected under this policy version on 3 Nov 2026; also never: on the never-follow list",
        "expired": "suggested under this policy version on 2 Nov 2026, and nobody decided before it expired",
    }
    held = Suggestion.objects.filter(brand=brand).held()
    assert set(held.values_list("policy_version", flat=True)) == {version.pk}
    for reasons in held.values_list("reasons", flat=True):
        assert {"signal": "customer", "text": "on your customer list", "polarity": "suggest"} in reasons
    assert list(Suggestion.objects.filter(follower=customers["awaiting"])) == [waiting]
    assert (build.suggested, build.held) == (1, 6)
    with CaptureQueriesContext(connection) as queries:
        queue.build_daily_queue(brand)
    assert not [query for query in queries if "INSERT" in query["sql"] and "rules_suggestion" in query["sql"]]


def test_an_open_suggestion_for_someone_the_brand_has_since_followed_is_withdrawn_and_held(
    brand, owner, account
):
    loyal = follower(account, "loyal", is_customer=True)
    queue.build_daily_queue(brand)
    Follower.objects.filter(pk=loyal.pk).update(brand_follows=True)
    build = queue.build_daily_queue(brand)
    withdrawn = Suggestion.objects.get(follower=loyal, status=SuggestionStatus.EXPIRED)
    assert withdrawn.rule == "you already follow them"
    assert held_rules(brand) == {"loyal": "you already follow them"}
    assert (build.suggested, build.held, build.expired) == (0, 1, 1)


def preview_and_build(brand, owner, draft: PolicySettings, monkeypatch) -> tuple[Any, dict, set[str], dict]:
    """Preview `draft`, then save it and build the queue: the preview's suggested handles and held ones with
    their rules, and the build's."""
    monkeypatch.setattr(services, "PREVIEW_EXAMPLES", 50)
    preview = services.preview_policy(brand, draft)
    services.save_policy(brand, draft, by=owner)
    build = queue.build_daily_queue(brand)
    previewed = {
        "suggested": {row.handle for row in preview.group("suggested").examples},
        "held": {row.handle: row.rule for row in preview.group("held_by_rule").examples},
    }
    assert (preview.group("suggested").count, preview.group("held_by_rule").count) == (
        build.suggested,
        build.held,
    )
    return preview, previewed, pending_handles(brand), held_rules(brand)


def test_the_preview_agrees_with_what_saving_and_building_produce_follower_by_follower(
    brand, owner, account, monkeypatch
):
    handles = ("loyal", "fan", "acme_support", "spam4u", "quiet", "lurker77", "followed", "approved", "rejected_now",
               "rejected_before")  # fmt: skip
    people = {
        handle: follower(account, handle, is_customer=handle not in ("quiet", "lurker77", "acme_support"))
        for handle in handles
    }
    Follower.objects.filter(handle="lurker77").update(posts_count=0, last_post_at=None, followers_count=1)
    Follower.objects.filter(handle="followed").update(brand_follows=True)
    draft = replace(PolicySettings(), never_follow=("spam4u",), suggest_threshold=55)
    older = services.current_policy(brand)
    services.save_policy(brand, draft, by=owner)
    version = services.current_policy(brand)
    decided(people["approved"], SuggestionStatus.APPROVED, older)
    decided(people["rejected_now"], SuggestionStatus.REJECTED, version)
    decided(people["rejected_before"], SuggestionStatus.REJECTED, older)

    _, previewed, suggested, held = preview_and_build(brand, owner, draft, monkeypatch)

    assert previewed == {"suggested": suggested, "held": held}
    assert {"loyal", "fan", "rejected_before"} <= suggested
    assert {"followed", "approved", "rejected_now", "acme_support", "spam4u"} <= set(held)
    assert held["rejected_now"] == "rejected under this policy version on 3 Nov 2026"
    assert held["spam4u"] == "never: on the never-follow list"
    held_versions = Suggestion.objects.filter(brand=brand).held().values_list("policy_version", flat=True)
    assert set(held_versions) == {version.pk}

    changed = replace(draft, suggest_threshold=56)
    _, previewed, suggested, held = preview_and_build(brand, owner, changed, monkeypatch)
    assert previewed == {"suggested": suggested, "held": held}
    assert "rejected_now" in suggested, (
        "a new policy version may suggest again whom the old one's reviewers rejected"
    )
    assert set(held) >= {"followed", "approved"}
    assert set(Suggestion.objects.filter(brand=brand).held().values_list("policy_version", flat=True)) == {
        services.current_policy(brand).pk
    }


def test_open_suggestions_stay_in_the_queue_refreshed_and_later_ones_come_back(brand, owner, account):
    loyal = follower(account, "loyal", is_customer=True)
    set_policy(brand, owner, queue_size=1)
    queue.build_daily_queue(brand)
    first = Suggestion.objects.pending().get()
    Suggestion.objects.filter(pk=first.pk).update(status=SuggestionStatus.LATER, score=1)
    follower(account, "better", is_customer=True, posts_count=5000, followers_count=900)
    build = queue.build_daily_queue(brand)
    kept = Suggestion.objects.pending().get()
    assert (kept.pk, kept.follower, kept.status) == (first.pk, loyal, SuggestionStatus.PENDING)
    assert kept.score == first.score
    assert build.suggested == 1


def test_suggestions_the_policy_no_longer_makes_are_withdrawn_with_the_rule(brand, owner, account):
    follower(account, "loyal", is_customer=True)
    gone = follower(account, "gone", is_customer=True)
    queue.build_daily_queue(brand)
    Follower.objects.filter(pk=gone.pk).update(is_following=False)
    set_policy(brand, owner, never_follow=("loyal",))
    build = queue.build_daily_queue(brand)
    rules = dict(
        Suggestion.objects.filter(status=SuggestionStatus.EXPIRED).values_list("follower__handle", "rule")
    )
    assert rules == {"loyal": "never: on the never-follow list", "gone": "no longer a current follower"}
    assert statuses(brand) == {"loyal": "held", "gone": "expired"}
    assert (build.suggested, build.held, build.expired) == (0, 1, 2)


def test_held_rows_are_kept_while_unchanged_and_replaced_when_the_rule_changes(brand, owner, account):
    follower(account, "spammer", is_bot=True)
    set_policy(brand, owner, never_follow=("spammer",))
    first = queue.build_daily_queue(brand)
    kept = Suggestion.objects.held().get()
    with CaptureQueriesContext(connection) as queries:
        queue.build_daily_queue(brand)
    assert Suggestion.objects.held().get().pk == kept.pk
    assert not [query for query in queries if "INSERT" in query["sql"] and "rules_suggestion" in query["sql"]]
    set_policy(brand, owner, never_follow=("spammer",), never_bot_above=0.5)
    queue.build_daily_queue(brand)
    replaced = Suggestion.objects.held().get()
    assert replaced.pk != kept.pk
    assert replaced.policy_version != kept.policy_version
    assert first.held == 1


def test_a_decision_taken_while_the_build_runs_is_not_overwritten(brand, owner, account, monkeypatch):
    follower(account, "loyal", is_customer=True)
    queue.build_daily_queue(brand)
    pending = Suggestion.objects.pending().get()
    read_followers = queue._follower_batches

    def decided_meanwhile(*args, **kwargs):
        # A reviewer's approval commits after the build has read the open suggestions.
        Suggestion.objects.filter(pk=pending.pk).update(status=SuggestionStatus.AWAITING_APPROVAL)
        yield from read_followers(*args, **kwargs)

    monkeypatch.setattr(queue, "_follower_batches", decided_meanwhile)
    queue.build_daily_queue(brand)
    assert Suggestion.objects.get(pk=pending.pk).status == SuggestionStatus.AWAITING_APPROVAL


def test_the_queues_held_tab_shows_each_held_follower_with_its_rule_and_reasons(brand, owner, account):
    followed = follower(account, "followed", is_customer=True)
    Follower.objects.filter(pk=followed.pk).update(brand_follows=True)
    decided(
        follower(account, "rejected", is_customer=True),
        SuggestionStatus.REJECTED,
        services.current_policy(brand),
    )
    queue.build_daily_queue(brand)
    page = (
        client_for(owner)
        .get(reverse("queue", kwargs={"brand": brand.slug}), {"tab": "held"})
        .content.decode()
    )
    assert "<strong>Held:</strong> you already follow them" in page
    assert "<strong>Held:</strong> rejected under this policy version on 3 Nov 2026" in page
    assert page.count("on your customer list") == 2
