"""The Mastodon connector over real HTTP against the fake Mastodon on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from accounts.platforms.base import (
    AuthExpired,
    BadPayload,
    InteractionKind,
    NotFound,
    PlatformError,
    PlatformUnavailable,
    RateLimited,
)
from accounts.platforms.mastodon import (
    NOTIFICATION_KINDS,
    SCOPES,
    MastodonConnector,
    authorization_url,
    exchange_code,
    make_pkce_pair,
    normalize_instance_url,
    pkce_challenge,
    register_app,
    utcnow,
    verify_credentials,
)
from tests.fakes.mastodon import BRAND_ID, DEFAULT_ACCESS_TOKEN, FakeMastodon, account_json, follower_id

REDIRECT_URI = "https://followback.example/connect/mastodon/callback"
FROZEN_TIME = 1_800_000_010.0
FOLLOWERS_PATH = f"/api/v1/accounts/{BRAND_ID}/followers"


@pytest.fixture
def start_fake() -> Iterator[Callable[..., FakeMastodon]]:
    started: list[FakeMastodon] = []

    def start(**options: Any) -> FakeMastodon:
        started.append(FakeMastodon(**options))
        return started[-1]

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def fake(start_fake: Callable[..., FakeMastodon]) -> FakeMastodon:
    return start_fake(follower_count=200)


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as client:
        yield client


def connect(
    fake: FakeMastodon,
    http: httpx.Client,
    *,
    account_id: str = BRAND_ID,
    clock: Callable[[], datetime] = utcnow,
) -> MastodonConnector:
    return MastodonConnector(fake.url, DEFAULT_ACCESS_TOKEN, account_id, client=http, clock=clock)


# Followers.


def test_follower_pages_run_to_the_last_page_newest_first(fake: FakeMastodon, http: httpx.Client) -> None:
    pages = list(connect(fake, http).iter_follower_pages(None))

    assert [len(page.profiles) for page in pages] == [80, 80, 40]
    assert [page.next_cursor is None for page in pages] == [False, False, True]
    ids = [profile.platform_id for page in pages for profile in page.profiles]
    assert ids == [follower_id(position) for position in range(200, 0, -1)]


def test_each_cursor_is_the_next_link_exactly_as_the_server_sent_it(
    fake: FakeMastodon, http: httpx.Client
) -> None:
    first = next(connect(fake, http).iter_follower_pages(None))

    assert first.next_cursor == f"{fake.url}{FOLLOWERS_PATH}?limit=80&max_id=121"


def test_resuming_from_a_stored_cursor_fetches_only_the_rest(fake: FakeMastodon, http: httpx.Client) -> None:
    connector = connect(fake, http)
    cursor = next(connector.iter_follower_pages(None)).next_cursor

    rest = list(connector.iter_follower_pages(cursor))

    assert [len(page.profiles) for page in rest] == [80, 40]
    assert rest[0].profiles[0].platform_id == follower_id(120)


def test_a_full_last_page_ends_on_the_empty_page_after_it(
    start_fake: Callable[..., FakeMastodon], http: httpx.Client
) -> None:
    fake = start_fake(follower_count=160)

    pages = list(connect(fake, http).iter_follower_pages(None))

    assert [len(page.profiles) for page in pages] == [80, 80, 0]
    assert pages[-1].next_cursor is None


def test_an_empty_page_that_still_links_to_a_next_page_ends_the_followers(
    start_fake: Callable[..., FakeMastodon], http: httpx.Client
) -> None:
    fake = start_fake(follower_count=160, trailing_empty_page=True)

    pages = list(connect(fake, http).iter_follower_pages(None))

    assert [len(page.profiles) for page in pages] == [80, 80, 0]
    assert pages[-1].next_cursor is None
    assert len(fake.calls(FOLLOWERS_PATH)) == 3


def test_a_malformed_follower_is_skipped_and_counted_without_losing_its_page(
    start_fake: Callable[..., FakeMastodon], http: httpx.Client
) -> None:
    fake = start_fake(follower_count=100, malformed_followers={95})

    pages = list(connect(fake, http).iter_follower_pages(None))

    assert [(len(page.profiles), page.bad_records) for page in pages] == [(79, 1), (20, 0)]
    assert follower_id(95) not in {profile.platform_id for profile in pages[0].profiles}


def test_followers_arrive_with_their_flags_plain_text_bio_and_sane_counts(
    start_fake: Callable[..., FakeMastodon], http: httpx.Client
) -> None:
    odd = account_json("777", "odd@elsewhere.example", "https://elsewhere.example", followers_count=-5)
    fake = start_fake(follower_count=2, followers=[odd])
    moved = fake.add_follower(
        "moved@elsewhere.example",
        bot=True,
        moved={"id": "778", "acct": "new@elsewhere.example"},
        note="<p>Line one<br>line two</p><p>Beans &amp; more</p>",
        fields=[{"name": "Site", "value": "x", "verified_at": "2026-01-01T00:00:00.000+00:00"}],
        last_status_at="2026-05-01",
    )

    (page,) = connect(fake, http).iter_follower_pages(None)
    profiles = {profile.platform_id: profile for profile in page.profiles}

    assert list(profiles) == [moved, "777", follower_id(2), follower_id(1)]
    assert profiles[moved].moved
    assert profiles[moved].is_bot
    assert profiles[moved].verified_links == 1
    assert profiles[moved].bio == "Line one\nline two\n\nBeans & more"
    assert profiles[moved].last_post_at == datetime(2026, 5, 1, tzinfo=UTC)
    assert profiles["777"].followers_count == 0


def test_a_followers_page_that_is_not_a_list_is_a_bad_payload(fake: FakeMastodon, http: httpx.Client) -> None:
    fake.fail_next(body={"accounts": []})

    with pytest.raises(BadPayload):
        next(connect(fake, http).iter_follower_pages(None))


def test_a_cursor_pointing_at_another_host_is_refused_before_anything_is_sent(
    fake: FakeMastodon, http: httpx.Client
) -> None:
    with pytest.raises(BadPayload):
        next(connect(fake, http).iter_follower_pages("http://elsewhere.example/api/v1/accounts/1/followers"))

    assert fake.requests == []


# Profiles and relationships.


def test_profiles_are_looked_up_in_batches_of_40_leaving_out_missing_accounts(
    fake: FakeMastodon, http: httpx.Client
) -> None:
    wanted = [follower_id(position) for position in range(1, 101)]

    profiles = connect(fake, http).get_profiles([*wanted, "999", wanted[0]])

    assert [profile.platform_id for profile in profiles] == wanted
    assert [len(call.query["id[]"]) for call in fake.calls("/api/v1/accounts")] == [40, 40, 21]


def test_a_server_without_batch_lookup_is_asked_one_account_at_a_time_from_then_on(
    start_fake: Callable[..., FakeMastodon], http: httpx.Client
) -> None:
    fake = start_fake(follower_count=10, batch_lookup=False)
    connector = connect(fake, http)

    first = connector.get_profiles([follower_id(1), "999", follower_id(2)])
    second = connector.get_profiles([follower_id(3)])

    assert [profile.platform_id for profile in first + second] == [
        follower_id(1),
        follower_id(2),
        follower_id(3),
    ]
    assert len(fake.calls("/api/v1/accounts")) == 1
    assert len(fake.calls(f"/api/v1/accounts/{follower_id(3)}")) == 1


def test_relationships_tell_following_followed_by_and_requested_apart(
    fake: FakeMastodon, http: httpx.Client
) -> None:
    locked = fake.add_account("private@elsewhere.example", locked=True)
    stranger = fake.add_account("stranger@elsewhere.example")
    connector = connect(fake, http)
    connector.follow(locked)
    connector.follow(stranger)

    found = connector.relationships([follower_id(5), locked, stranger, "999"])

    assert set(found) == {follower_id(5), locked, stranger}
    assert found[follower_id(5)].followed_by
    assert not found[follower_id(5)].following
    assert found[locked].requested
    assert found[stranger].following


# Following.


def test_following_twice_follows_once(fake: FakeMastodon, http: httpx.Client) -> None:
    connector = connect(fake, http)

    results = [connector.follow(follower_id(7)), connector.follow(follower_id(7))]

    assert all(result.following and not result.requested for result in results)
    assert fake.follows_done == [follower_id(7)]


def test_the_following_list_pages_through_everyone_the_brand_follows(
    start_fake: Callable[..., FakeMastodon], http: httpx.Client
) -> None:
    followed = [follower_id(position) for position in range(1, 171)]
    fake = start_fake(follower_count=200, following=followed)
    connector = connect(fake, http)
    connector.follow(follower_id(190))

    pages = list(connector.iter_following_pages(None))

    assert [len(page.ids) for page in pages] == [80, 80, 11]
    assert sorted(id_ for page in pages for id_ in page.ids) == sorted([*followed, follower_id(190)])
    assert pages[-1].next_cursor is None
    resumed = list(connector.iter_following_pages(pages[0].next_cursor))
    assert [page.ids for page in resumed] == [page.ids for page in pages[1:]]


def test_following_a_locked_account_leaves_a_pending_request(fake: FakeMastodon, http: httpx.Client) -> None:
    locked = fake.add_account("private@elsewhere.example", locked=True)

    result = connect(fake, http).follow(locked)

    assert result.requested
    assert not result.following


def test_a_follow_whose_answer_was_lost_shows_in_relationships_and_is_not_repeated(
    fake: FakeMastodon, http: httpx.Client
) -> None:
    connector = connect(fake, http)
    fake.fail_next(close=True, after_commit=True, path="/follow")

    with pytest.raises(PlatformUnavailable):
        connector.follow(follower_id(8))

    assert fake.follows_done == [follower_id(8)]
    assert connector.relationships([follower_id(8)])[follower_id(8)].following
    assert connector.follow(follower_id(8)).following
    assert fake.follows_done == [follower_id(8)]


def test_following_an_unknown_account_is_not_found(fake: FakeMastodon, http: httpx.Client) -> None:
    with pytest.raises(NotFound):
        connect(fake, http).follow("999")


# Interactions.


def test_notifications_become_interactions_of_the_matching_kind(
    fake: FakeMastodon, http: httpx.Client
) -> None:
    for kind in ("mention", "reblog", "favourite", "quote", "follow", "poll"):
        fake.add_notification(kind, follower_id(3))
    fake.add_notification("mention", follower_id(4), reply_to_brand=True)

    interactions = list(connect(fake, http).iter_interactions(None))

    assert [(item.kind, item.actor.platform_id) for item in interactions] == [
        (InteractionKind.REPLY, follower_id(4)),
        (InteractionKind.FOLLOW, follower_id(3)),
        (InteractionKind.QUOTE, follower_id(3)),
        (InteractionKind.LIKE, follower_id(3)),
        (InteractionKind.REPOST, follower_id(3)),
        (InteractionKind.MENTION, follower_id(3)),
    ]


def test_a_next_link_that_drops_the_types_filter_gets_it_back(
    start_fake: Callable[..., FakeMastodon], http: httpx.Client
) -> None:
    fake = start_fake(follower_count=10, link_drops_types=True)
    for _ in range(100):
        fake.add_notification("favourite", follower_id(1))
        fake.add_notification("poll", follower_id(2))

    interactions = list(connect(fake, http).iter_interactions(None))

    assert len(interactions) == 100
    calls = fake.calls("/api/v1/notifications")
    assert len(calls) == 3
    assert all(call.query["types[]"] == list(NOTIFICATION_KINDS) for call in calls)


def test_interactions_stop_at_the_first_notification_older_than_since(
    fake: FakeMastodon, http: httpx.Client
) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for minute in range(200):
        fake.add_notification("favourite", follower_id(1), created_at=start + timedelta(minutes=minute))

    interactions = list(connect(fake, http).iter_interactions(start + timedelta(minutes=150)))

    assert len(interactions) == 50
    assert min(item.created_at for item in interactions) == start + timedelta(minutes=150)
    assert len(fake.calls("/api/v1/notifications")) == 1


def test_a_malformed_notification_is_skipped_and_the_rest_kept(
    fake: FakeMastodon, http: httpx.Client
) -> None:
    fake.add_notification("mention", follower_id(1))
    fake.add_notification("mention", follower_id(2), malformed=True)
    fake.add_notification("mention", follower_id(3))

    interactions = list(connect(fake, http).iter_interactions(None))

    assert [item.actor.platform_id for item in interactions] == [follower_id(3), follower_id(1)]


# Errors.


def test_a_revoked_token_is_auth_expired(fake: FakeMastodon, http: httpx.Client) -> None:
    fake.revoke_token(DEFAULT_ACCESS_TOKEN)

    with pytest.raises(AuthExpired):
        next(connect(fake, http).iter_follower_pages(None))


def test_an_unknown_brand_account_is_not_found(fake: FakeMastodon, http: httpx.Client) -> None:
    with pytest.raises(NotFound):
        next(connect(fake, http, account_id="42").iter_follower_pages(None))


def test_a_server_error_is_a_retryable_platform_error_with_the_servers_reason(
    fake: FakeMastodon, http: httpx.Client
) -> None:
    fake.fail_next(status=500, error="Something went wrong on our end")

    with pytest.raises(PlatformUnavailable, match="Something went wrong on our end"):
        connect(fake, http).verify_credentials()


def test_a_refused_request_is_a_platform_error_with_the_servers_reason(
    fake: FakeMastodon, http: httpx.Client
) -> None:
    fake.fail_next(status=403, error="This action is not allowed")

    with pytest.raises(PlatformError, match="This action is not allowed") as raised:
        connect(fake, http).follow(follower_id(9))

    assert type(raised.value) is PlatformError


def test_malformed_json_is_a_bad_payload(fake: FakeMastodon, http: httpx.Client) -> None:
    fake.fail_next(bad_json=True)

    with pytest.raises(BadPayload):
        next(connect(fake, http).iter_follower_pages(None))


def test_a_dropped_connection_is_platform_unavailable(fake: FakeMastodon, http: httpx.Client) -> None:
    fake.fail_next(close=True)

    with pytest.raises(PlatformUnavailable):
        connect(fake, http).relationships([follower_id(1)])


def test_a_server_that_stops_answering_is_platform_unavailable(fake: FakeMastodon) -> None:
    fake.fail_next(hang=5.0)

    with httpx.Client(timeout=0.3) as impatient, pytest.raises(PlatformUnavailable, match="ReadTimeout"):
        connect(fake, impatient).verify_credentials()


def test_an_exhausted_rate_limit_is_rate_limited_until_the_window_resets(
    start_fake: Callable[..., FakeMastodon], http: httpx.Client
) -> None:
    fake = start_fake(follower_count=400, rate_limit=2, rate_window=300, clock=lambda: FROZEN_TIME)
    connector = connect(fake, http, clock=lambda: datetime.fromtimestamp(FROZEN_TIME, UTC))
    pages = connector.iter_follower_pages(None)
    next(pages)
    next(pages)

    with pytest.raises(RateLimited) as raised:
        next(pages)

    assert raised.value.retry_after == 290
    assert connector.rate_limit.remaining == 0


def test_retry_after_is_used_when_the_answer_has_no_reset(fake: FakeMastodon, http: httpx.Client) -> None:
    fake.fail_next(status=429, error="Too many requests", headers={"Retry-After": "42"})

    with pytest.raises(RateLimited) as raised:
        connect(fake, http).verify_credentials()

    assert raised.value.retry_after == 42


def test_the_rate_limit_of_the_latest_answer_is_kept_on_the_connector(
    start_fake: Callable[..., FakeMastodon], http: httpx.Client
) -> None:
    fake = start_fake(clock=lambda: FROZEN_TIME)
    connector = connect(fake, http)

    connector.verify_credentials()
    connector.verify_credentials()

    assert connector.rate_limit.limit == 300
    assert connector.rate_limit.remaining == 298
    assert connector.rate_limit.reset_at == datetime.fromtimestamp(FROZEN_TIME + 290, UTC)


def test_the_access_token_never_appears_in_errors_or_the_connector_repr(
    fake: FakeMastodon, http: httpx.Client
) -> None:
    connector = connect(fake, http)
    fake.fail_next(status=500, error=f"token {DEFAULT_ACCESS_TOKEN} is broken")
    fake.fail_next(status=403, error=f"{DEFAULT_ACCESS_TOKEN} is outside the authorized scopes")
    fake.fail_next(close=True)
    errors: list[PlatformError] = []
    for _ in range(3):
        with pytest.raises(PlatformError) as raised:
            connector.verify_credentials()
        errors.append(raised.value)
    fake.revoke_token(DEFAULT_ACCESS_TOKEN)
    with pytest.raises(AuthExpired) as expired:
        connector.verify_credentials()

    texts = [str(error) for error in [*errors, expired.value]] + [repr(error) for error in errors]
    assert [type(error) for error in errors] == [PlatformUnavailable, AuthExpired, PlatformUnavailable]
    assert all(DEFAULT_ACCESS_TOKEN not in text for text in [*texts, repr(connector)])
    assert "[redacted] is broken" in str(errors[0])


# OAuth.


def test_the_oauth_round_trip_with_pkce_yields_a_token_for_the_brand(
    fake: FakeMastodon, http: httpx.Client
) -> None:
    credentials = register_app(fake.url, REDIRECT_URI, http)
    pkce = make_pkce_pair()

    approval = http.get(
        authorization_url(fake.url, credentials.client_id, REDIRECT_URI, "state-123", pkce.challenge)
    )
    back = httpx.URL(approval.headers["location"])
    token = exchange_code(credentials, back.params["code"], pkce.verifier, http)
    brand = verify_credentials(fake.url, token, http)

    assert approval.status_code == 302
    assert str(back).startswith(REDIRECT_URI)
    assert back.params["state"] == "state-123"
    assert (brand.platform_id, brand.handle) == (BRAND_ID, "acmecoffee")
    assert MastodonConnector(fake.url, token, brand.platform_id, client=http).relationships([follower_id(1)])


def test_a_code_exchanged_with_another_verifier_is_refused(fake: FakeMastodon, http: httpx.Client) -> None:
    credentials = register_app(fake.url, REDIRECT_URI, http)
    pkce = make_pkce_pair()
    approval = http.get(authorization_url(fake.url, credentials.client_id, REDIRECT_URI, "s", pkce.challenge))
    code = httpx.URL(approval.headers["location"]).params["code"]

    with pytest.raises(PlatformError, match="invalid_grant") as raised:
        exchange_code(credentials, code, make_pkce_pair().verifier, http)

    assert credentials.client_secret not in str(raised.value)
    assert credentials.client_secret not in repr(credentials)


def test_the_authorization_url_asks_for_our_scopes_with_an_s256_challenge() -> None:
    url = httpx.URL(authorization_url("mastodon.example/", "client", REDIRECT_URI, "xyz", "challenge"))

    assert str(url).startswith("https://mastodon.example/oauth/authorize?")
    assert dict(url.params) == {
        "response_type": "code",
        "client_id": "client",
        "redirect_uri": REDIRECT_URI,
        "scope": SCOPES,
        "state": "xyz",
        "code_challenge": "challenge",
        "code_challenge_method": "S256",
    }


def test_the_pkce_challenge_is_the_s256_hash_of_the_verifier() -> None:
    assert (
        pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
        == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )
    pair = make_pkce_pair()
    assert 43 <= len(pair.verifier) <= 128
    assert pair.challenge == pkce_challenge(pair.verifier)
    assert pair.verifier not in repr(pair)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("mastodon.social", "https://mastodon.social"),
        (" https://Mastodon.Social/ ", "https://mastodon.social"),
        ("http://127.0.0.1:3000/some/path", "http://127.0.0.1:3000"),
    ],
)
def test_instance_urls_are_reduced_to_their_origin(given: str, expected: str) -> None:
    assert normalize_instance_url(given) == expected


def test_an_instance_url_that_is_not_http_is_rejected() -> None:
    with pytest.raises(ValueError, match="not a Mastodon instance URL"):
        normalize_instance_url("ftp://mastodon.social")
