"""Reading followers as columns: ages worked out by the database, engagement joined by account and actor."""

from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from accounts.models import AccountStatus, ConnectedAccount, Follower, Interaction, Platform
from rules import population
from rules.policy import PolicySettings
from rules.population import follower_batch, follower_rows, recent_engagement


@pytest.fixture
def account(brand) -> ConnectedAccount:
    return ConnectedAccount.objects.create(brand=brand, platform=Platform.DEMO, platform_user_id="acme",
                                           handle="acme.demo")  # fmt: skip


def test_ages_are_seconds_before_now_negative_in_the_future_and_nan_when_unknown(brand, account):
    now = timezone.now()
    Follower.objects.create(account=account, platform_id="1", handle="old", created_at=now - timedelta(days=2),
                            first_followed_at=now + timedelta(hours=1))  # fmt: skip
    rows = list(follower_rows(Follower.objects.all(), now))
    columns = follower_batch(rows, {}).columns
    assert columns.created_ago[0] == pytest.approx(2 * 86_400, abs=0.01)
    assert columns.first_followed_ago[0] == pytest.approx(-3_600, abs=0.01)
    assert np.isnan(columns.last_post_ago[0])


def test_engagement_is_weighted_by_kind_and_age_and_counted_per_kind(brand, account):
    now = timezone.now()
    follower = Follower.objects.create(account=account, platform_id="7", handle="fan")
    for kind, days in (("reply", 0), ("like", 30), ("like", 100)):
        Interaction.objects.create(account=account, platform_event_id=f"{kind}{days}", actor_platform_id="7",
                                   actor_handle="fan", kind=kind, at=now - timedelta(days=days))  # fmt: skip
    engagement = recent_engagement(brand, now)
    found = engagement[(account.pk, "7")]
    assert found.weighted == pytest.approx(3.0 + 1.0 * np.exp(-1), rel=1e-6)
    assert {kind: n for kind, n in (found.counts or {}).items() if n} == {"reply": 1, "like": 1}
    batch = follower_batch(list(follower_rows(Follower.objects.filter(pk=follower.pk), now)), engagement)
    assert (batch.columns.reply_count[0], batch.columns.like_count[0]) == (1, 1)
    assert list(batch.ids) == [follower.pk]


def test_the_database_sums_what_the_python_formula_gives_for_everyone_or_some_actors(brand, account):
    now = timezone.now()
    for n in range(30):
        Interaction.objects.create(account=account, platform_event_id=str(n), actor_platform_id=str(n % 4),
                                   actor_handle="a", kind=["reply", "like", "quote", "repost", "mention"][n % 5],
                                   at=now - timedelta(days=n * 3.5, hours=n))  # fmt: skip
    since = now - timedelta(days=90)
    expected = population._engagement_in_python(brand, now, since, None)
    everyone = recent_engagement(brand, now)
    some = recent_engagement(brand, now, {account.pk: ["1", "3"]})
    assert set(everyone) == set(expected)
    assert set(some) == {(account.pk, "1"), (account.pk, "3")}
    for key, found in everyone.items():
        assert found.weighted == pytest.approx(expected[key].weighted, rel=1e-9)
        assert {k: n for k, n in (found.counts or {}).items() if n} == dict(expected[key].counts or {})
        if key in some:
            assert some[key] == found


def test_the_brand_is_every_one_of_its_accounts_connected_ones_first(brand, account):
    ConnectedAccount.objects.create(brand=brand, platform=Platform.DEMO, platform_user_id="old", handle="acme.old",
                                    status=AccountStatus.DISCONNECTED)  # fmt: skip
    ConnectedAccount.objects.create(
        brand=brand, platform=Platform.DEMO, platform_user_id="hq", handle="acmehq"
    )
    context = population.brand_context(brand, PolicySettings())
    assert context.handles == ("acme.demo", "acmehq", "acme.old")
    assert context.display_name == brand.name
    assert all(context.is_own_account(handle) for handle in context.handles)
