"""The Bluesky connector against a fake Bluesky over real HTTP on loopback."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from accounts.platforms.base import (
    AuthExpired,
    BadPayload,
    InteractionKind,
    NotFound,
    PlatformError,
    PlatformUnavailable,
    RateLimited,
    Relationship,
)
from accounts.platforms.bluesky import (
    BlueskyConnector,
    BlueskySession,
    create_session,
    parse_follow_records_page,
    parse_labels,
    parse_rate_limit,
)
from tests.fakes.bluesky import FakeBluesky, follower_did, follower_handle

FakeFactory = Callable[..., FakeBluesky]
ConnectorFactory = Callable[..., BlueskyConnector]

FOLLOWERS = "app.bsky.graph.getFollowers"
PROFILES = "app.bsky.actor.getProfiles"
CREATE_RECORD = "com.atproto.repo.createRecord"
REFRESH = "com.atproto.server.refreshSession"
CREATE_SESSION = "com.atproto.server.createSession"
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def make_fake() -> Iterator[FakeFactory]:
    fakes: list[FakeBluesky] = []

    def make(**options: Any) -> FakeBluesky:
        fakes.append(FakeBluesky(**options))
        return fakes[-1]

    yield make
    for fake in fakes:
        fake.stop()


@pytest.fixture
def fake(make_fake: FakeFactory) -> FakeBluesky:
    return make_fake()


def log_in(fake: FakeBluesky) -> BlueskySession:
    return create_session(fake.brand_handle, fake.app_password, service_url=fake.url, plc_url=fake.url)


@pytest.fixture
def make_connector() -> Iterator[ConnectorFactory]:
    connectors: list[BlueskyConnector] = []

    def make(fake: FakeBluesky, **options: Any) -> BlueskyConnector:
        options.setdefault("timeout", 2.0)
        connectors.append(BlueskyConnector(log_in(fake), **options))
        return connectors[-1]

    yield make
    for connector in connectors:
        connector.close()


@pytest.fixture
def connector(fake: FakeBluesky, make_connector: ConnectorFactory) -> BlueskyConnector:
    return make_connector(fake)


def all_follower_dids(connector: BlueskyConnector, cursor: str | None = None) -> list[str]:
    return [
        profile.platform_id for page in connector.iter_follower_pages(cursor) for profile in page.profiles
    ]


def test_logging_in_resolves_the_handle_and_finds_the_pds_in_the_plc_directory(fake: FakeBluesky) -> None:
    session = log_in(fake)

    assert (session.did, session.handle, session.pds_url) == (fake.brand_did, "brand.test", fake.url)
    assert fake.calls("com.atproto.identity.resolveHandle") == 1
    assert fake.calls("identity") == 1


def test_logging_in_with_a_did_web_reads_its_well_known_document(make_fake: FakeFactory) -> None:
    fake = make_fake(did_method="web")

    session = log_in(fake)

    assert session.did.startswith("did:web:127.0.0.1")
    assert session.pds_url == fake.url


def test_a_wrong_app_password_raises_auth_expired_without_echoing_the_password(fake: FakeBluesky) -> None:
    with pytest.raises(AuthExpired) as raised:
        create_session("brand.test", "wrong-pass-word-1234", service_url=fake.url, plc_url=fake.url)

    assert "wrong-pass-word-1234" not in str(raised.value)


def test_an_unknown_handle_raises_not_found(fake: FakeBluesky) -> None:
    with pytest.raises(NotFound):
        create_session("nobody.test", fake.app_password, service_url=fake.url, plc_url=fake.url)


def test_a_session_repr_shows_no_tokens(fake: FakeBluesky) -> None:
    session = log_in(fake)

    assert session.access_jwt not in repr(session)
    assert session.refresh_jwt not in repr(session)


def test_follower_pages_run_to_the_end_with_every_follower_once(connector: BlueskyConnector) -> None:
    pages = list(connector.iter_follower_pages(None))

    assert [len(page.profiles) for page in pages] == [100, 100, 50]
    assert pages[-1].next_cursor is None
    assert all_follower_dids(connector) == [follower_did(index) for index in range(250)]


def test_follower_paging_resumes_from_a_saved_cursor(connector: BlueskyConnector) -> None:
    first = next(connector.iter_follower_pages(None))

    rest = all_follower_dids(connector, first.next_cursor)

    assert rest == [follower_did(index) for index in range(100, 250)]


def test_short_pages_are_normal_and_paging_goes_on_to_the_end(
    make_fake: FakeFactory, make_connector: ConnectorFactory
) -> None:
    connector = make_connector(make_fake(short_pages=True))

    pages = list(connector.iter_follower_pages(None))

    assert any(len(page.profiles) < 100 for page in pages[:-1])
    assert sorted(set(all_follower_dids(connector))) == sorted(follower_did(i) for i in range(250))


def test_overlapping_pages_repeat_followers_but_miss_none(
    make_fake: FakeFactory, make_connector: ConnectorFactory
) -> None:
    connector = make_connector(make_fake(page_overlap=10))

    dids = all_follower_dids(connector)

    assert len(dids) > 250
    assert set(dids) == {follower_did(index) for index in range(250)}


def test_an_empty_page_ends_paging_even_when_it_carries_a_cursor(
    make_fake: FakeFactory, make_connector: ConnectorFactory
) -> None:
    fake = make_fake(follower_count=100, trailing_empty_page=True)
    connector = make_connector(fake)

    pages = list(connector.iter_follower_pages(None))

    assert [len(page.profiles) for page in pages] == [100, 0]
    assert pages[-1].next_cursor is None


def test_a_repeated_cursor_raises_instead_of_looping_or_looking_complete(
    make_fake: FakeFactory, make_connector: ConnectorFactory
) -> None:
    connector = make_connector(make_fake(cursor_loop_at=100))

    with pytest.raises(PlatformError, match="repeated a cursor"):
        all_follower_dids(connector)


def test_a_malformed_follower_record_is_skipped_and_counted(
    make_fake: FakeFactory, make_connector: ConnectorFactory
) -> None:
    connector = make_connector(make_fake(follower_count=30, malformed_followers={7}))

    [page] = list(connector.iter_follower_pages(None))

    assert page.bad_records == 1
    assert len(page.profiles) == 29
    assert follower_did(7) not in {profile.platform_id for profile in page.profiles}


def test_paging_a_hundred_thousand_followers_reaches_the_last_one(
    make_fake: FakeFactory, make_connector: ConnectorFactory
) -> None:
    fake = make_fake(follower_count=100_000)
    connector = make_connector(fake)

    count = sum(len(page.profiles) for page in connector.iter_follower_pages(None))

    assert count == 100_000
    assert fake.calls(FOLLOWERS) == 1000


def test_profiles_are_fetched_25_at_a_time_and_missing_accounts_are_left_out(
    fake: FakeBluesky, connector: BlueskyConnector
) -> None:
    ids = [follower_did(index) for index in range(60)] + ["did:plc:nobodynobodynobodynobody", "gone.test"]

    profiles = connector.get_profiles(ids)

    assert [profile.platform_id for profile in profiles] == [follower_did(index) for index in range(60)]
    assert fake.calls(PROFILES) == 3


def test_profile_fields_come_from_the_detailed_profile_view(connector: BlueskyConnector) -> None:
    [with_avatar, without_avatar] = connector.get_profiles([follower_did(3), follower_handle(5)])

    assert with_avatar.handle == "follower3.test"
    assert with_avatar.uri == f"at://{follower_did(3)}"
    assert with_avatar.display_name == "Follower 3"
    assert with_avatar.bio == "Hello, I am follower number 3."
    assert (with_avatar.followers_count, with_avatar.following_count, with_avatar.posts_count) == (
        111,
        159,
        33,
    )
    assert with_avatar.created_at is not None
    assert with_avatar.created_at.tzinfo is not None
    assert with_avatar.avatar_url
    assert not with_avatar.avatar_is_default
    assert with_avatar.profile_url == "https://bsky.app/profile/follower3.test"
    assert without_avatar.avatar_url == ""
    assert without_avatar.avatar_is_default


def label(
    value: str, *, src: str = "did:plc:labeler", cts: str = "2025-01-01T00:00:00Z", **extra: Any
) -> dict:
    return {"src": src, "uri": "at://did:plc:someone", "val": value, "cts": cts, **extra}


def test_labels_honour_negation_and_expiry_and_a_bot_self_label_marks_a_bot(
    make_fake: FakeFactory, make_connector: ConnectorFactory
) -> None:
    labels = [
        label("spam"),
        label("impersonation"),
        label("impersonation", cts="2025-02-01T00:00:00Z", neg=True),
        label("engagement-farming", exp="2020-01-01T00:00:00Z"),
        label("scam", exp="2999-01-01T00:00:00Z"),
        label("!hide", src="did:plc:moderation"),
        label("bot", src=follower_did(1)),
    ]
    connector = make_connector(make_fake(follower_labels={1: labels}))

    [profile] = connector.get_profiles([follower_did(1)])

    assert profile.labels == ("spam", "scam", "!hide", "bot")
    assert profile.is_bot
    assert profile.limited


def test_a_negation_removes_only_the_label_of_the_same_labeler() -> None:
    labels = [
        label("spam", src="did:plc:a"),
        label("spam", src="did:plc:b", cts="2025-03-01T00:00:00Z", neg=True),
    ]

    assert parse_labels(labels, now=NOW) == ("spam",)


def test_a_label_applied_again_after_its_negation_is_in_force() -> None:
    labels = [
        label("spam", cts="2025-03-01T00:00:00Z"),
        label("spam", cts="2025-02-01T00:00:00Z", neg=True),
        label("spam", cts="2025-01-01T00:00:00Z"),
    ]

    assert parse_labels(labels, now=NOW) == ("spam",)


def test_self_labels_in_a_record_are_read_from_their_values() -> None:
    self_labels = {"$type": "com.atproto.label.defs#selfLabels", "values": [{"val": "bot"}, {"val": "porn"}]}

    assert parse_labels(self_labels, now=NOW) == ("bot", "porn")


def test_relationships_report_who_follows_whom(fake: FakeBluesky, connector: BlueskyConnector) -> None:
    stranger = fake.add_account("stranger.test")
    connector.follow(follower_did(2))

    relationships = connector.relationships([follower_did(1), follower_did(2), stranger, "missing.test"])

    assert relationships == {
        follower_did(1): Relationship(following=False, followed_by=True),
        follower_did(2): Relationship(following=True, followed_by=True),
        stranger: Relationship(following=False, followed_by=False),
    }


def test_following_creates_one_follow_record_and_returns_its_uri(
    fake: FakeBluesky, connector: BlueskyConnector
) -> None:
    result = connector.follow(follower_did(4))

    [record] = fake.follow_records
    assert result.following
    assert result.record_uri == record.uri
    assert record.subject == follower_did(4)
    assert record.uri.startswith(f"at://{fake.brand_did}/app.bsky.graph.follow/")


def test_following_someone_already_followed_reads_viewer_state_and_writes_nothing(
    fake: FakeBluesky, connector: BlueskyConnector
) -> None:
    first = connector.follow(follower_did(4))

    again = connector.follow(follower_did(4))

    assert again.record_uri == first.record_uri
    assert len(fake.follows_of(follower_did(4))) == 1
    assert fake.calls(CREATE_RECORD) == 1


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param({"hang": 3.0}, id="timeout"),
        pytest.param({"close": True}, id="connection-reset"),
        pytest.param({"status": 500}, id="server-error"),
        pytest.param({"status": 503, "error": "ServiceUnavailable"}, id="unavailable"),
        pytest.param({"bad_json": True}, id="garbled-answer"),
    ],
)
def test_an_ambiguous_failure_after_the_follow_committed_returns_the_follow_without_duplicating(
    make_fake: FakeFactory, make_connector: ConnectorFactory, fault: dict[str, Any]
) -> None:
    fake = make_fake()
    connector = make_connector(fake, timeout=0.5)
    fake.fail_next(nsid=CREATE_RECORD, after_commit=True, **fault)

    result = connector.follow(follower_did(9))
    connector.follow(follower_did(9))

    [record] = fake.follows_of(follower_did(9))
    assert result.following
    assert result.record_uri == record.uri


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param({"hang": 3.0}, id="timeout"),
        pytest.param({"close": True}, id="connection-reset"),
        pytest.param({"status": 502, "error": "UpstreamFailure"}, id="bad-gateway"),
    ],
)
def test_a_failure_before_the_follow_committed_raises_and_a_retry_follows_exactly_once(
    make_fake: FakeFactory, make_connector: ConnectorFactory, fault: dict[str, Any]
) -> None:
    fake = make_fake()
    connector = make_connector(fake, timeout=0.5)
    fake.fail_next(nsid=CREATE_RECORD, **fault)

    with pytest.raises(PlatformUnavailable):
        connector.follow(follower_did(9))
    assert fake.follows_of(follower_did(9)) == []

    connector.follow(follower_did(9))
    assert len(fake.follows_of(follower_did(9))) == 1


def test_a_follow_the_appview_has_not_indexed_yet_is_found_in_the_repo_and_not_duplicated(
    make_fake: FakeFactory, make_connector: ConnectorFactory
) -> None:
    fake = make_fake(appview_indexes_follows=False)
    connector = make_connector(fake, timeout=0.5)
    fake.fail_next(nsid=CREATE_RECORD, after_commit=True, close=True)

    result = connector.follow(follower_did(9))
    again = connector.follow(follower_did(9))

    [record] = fake.follows_of(follower_did(9))
    assert result.record_uri == again.record_uri == record.uri


def test_following_an_unknown_account_raises_not_found_and_writes_nothing(
    fake: FakeBluesky, connector: BlueskyConnector
) -> None:
    with pytest.raises(NotFound):
        connector.follow("did:plc:nobodynobodynobodynobody")

    assert fake.follow_records == []


def test_an_expired_access_token_is_refreshed_once_and_the_call_retried(
    fake: FakeBluesky, make_connector: ConnectorFactory
) -> None:
    refreshed: list[BlueskySession] = []
    connector = make_connector(fake, on_session_refreshed=refreshed.append)
    old = connector.session
    fake.expire_access_tokens()

    profiles = connector.get_profiles([follower_did(1)])

    assert len(profiles) == 1
    assert fake.calls(REFRESH) == 1
    assert refreshed == [connector.session]
    assert connector.session.access_jwt != old.access_jwt
    assert connector.session.refresh_jwt != old.refresh_jwt
    assert (connector.session.did, connector.session.pds_url) == (old.did, old.pds_url)


def test_tokens_that_expire_mid_sync_are_refreshed_and_paging_completes(
    make_fake: FakeFactory, make_connector: ConnectorFactory
) -> None:
    fake = make_fake(follower_count=1000, expire_access_after=3)
    connector = make_connector(fake)

    assert len(all_follower_dids(connector)) == 1000
    assert fake.calls(REFRESH) == 3


def test_a_refused_refresh_raises_auth_expired(
    make_fake: FakeFactory, make_connector: ConnectorFactory
) -> None:
    fake = make_fake(refresh_fails=True)
    connector = make_connector(fake)
    fake.expire_access_tokens()

    with pytest.raises(AuthExpired):
        connector.get_profiles([follower_did(1)])
    with pytest.raises(AuthExpired):
        connector.get_profiles([follower_did(1)])
    assert fake.calls(REFRESH) == 1


def test_concurrent_calls_with_an_expired_token_refresh_only_once(
    fake: FakeBluesky, make_connector: ConnectorFactory
) -> None:
    connector = make_connector(fake)
    fake.expire_access_tokens()
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def fetch() -> None:
        barrier.wait()
        try:
            connector.get_profiles([follower_did(1)])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=fetch) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert fake.calls(REFRESH) == 1


def test_the_connector_never_creates_a_session_on_its_own(
    make_fake: FakeFactory, make_connector: ConnectorFactory
) -> None:
    fake = make_fake(refresh_fails=True)
    connector = make_connector(fake)
    fake.expire_access_tokens()

    with pytest.raises(AuthExpired):
        list(connector.iter_follower_pages(None))
    assert fake.calls(CREATE_SESSION) == 1


def test_rate_limit_headers_are_recorded_after_each_call(
    make_fake: FakeFactory, make_connector: ConnectorFactory
) -> None:
    fake = make_fake(rate_limit=100, rate_window=300, clock=lambda: 1_700_000_100.0)
    connector = make_connector(fake)

    connector.get_profiles([follower_did(1)])

    assert connector.rate_limit.limit == 100
    assert connector.rate_limit.remaining == 100 - fake.calls(PROFILES) - 2
    assert connector.rate_limit.reset_at == datetime.fromtimestamp(1_700_000_100 // 300 * 300 + 300, UTC)
    assert connector.rate_limit.extra == {"policy": "100;w=300"}


def test_a_429_raises_rate_limited_until_the_window_resets(
    make_fake: FakeFactory, make_connector: ConnectorFactory
) -> None:
    now = [datetime.now(UTC).timestamp()]
    fake = make_fake(rate_limit=4, rate_window=3600, clock=lambda: now[0])
    connector = make_connector(fake)

    connector.get_profiles([follower_did(1)])
    connector.get_profiles([follower_did(1)])
    with pytest.raises(RateLimited) as raised:
        connector.get_profiles([follower_did(1)])

    window_end = (int(now[0]) // 3600 + 1) * 3600
    assert raised.value.retry_after == pytest.approx(window_end - now[0], abs=2)
    now[0] += 3600
    assert connector.get_profiles([follower_did(1)])


def test_a_429_with_retry_after_uses_that_header(
    make_fake: FakeFactory, make_connector: ConnectorFactory
) -> None:
    fake = make_fake(rate_limit=2, rate_window=300, retry_after_header=True, clock=lambda: 1_800_000_000.0)
    connector = make_connector(fake)

    with pytest.raises(RateLimited) as raised:
        connector.get_profiles([follower_did(1)])

    assert raised.value.retry_after == 300


@pytest.mark.parametrize(
    ("fault", "error_type"),
    [
        pytest.param({"status": 401, "error": "AuthMissing"}, AuthExpired, id="401"),
        pytest.param({"status": 400, "error": "AuthMissing"}, AuthExpired, id="auth-missing"),
        pytest.param({"status": 400, "error": "InvalidToken"}, AuthExpired, id="invalid-token"),
        pytest.param({"status": 400, "error": "ProfileNotFound"}, NotFound, id="profile-not-found"),
        pytest.param({"status": 400, "error": "ActorNotFound"}, NotFound, id="actor-not-found"),
        pytest.param({"status": 404, "error": "NotFound"}, NotFound, id="404"),
        pytest.param(
            {"status": 400, "error": "InvalidRequest", "message": "Profile not found"}, NotFound, id="ip"
        ),
        pytest.param({"status": 429, "error": "RateLimitExceeded"}, RateLimited, id="429"),
        pytest.param({"status": 400, "error": "InvalidRequest", "message": "bad"}, PlatformError, id="400"),
        pytest.param({"status": 501, "error": "MethodNotImplemented"}, PlatformError, id="501"),
        pytest.param({"status": 500}, PlatformUnavailable, id="500"),
        pytest.param({"status": 503}, PlatformUnavailable, id="503"),
        pytest.param({"bad_json": True}, BadPayload, id="bad-json"),
        pytest.param({"close": True}, PlatformUnavailable, id="closed-connection"),
        pytest.param({"hang": 3.0}, PlatformUnavailable, id="timeout"),
    ],
)
def test_each_kind_of_failure_raises_its_typed_error(
    make_fake: FakeFactory,
    make_connector: ConnectorFactory,
    fault: dict[str, Any],
    error_type: type[Exception],
) -> None:
    fake = make_fake()
    connector = make_connector(fake, timeout=0.5)
    fake.fail_next(nsid=FOLLOWERS, **fault)

    with pytest.raises(error_type) as raised:
        list(connector.iter_follower_pages(None))

    assert type(raised.value) is error_type


def test_other_errors_carry_the_servers_message(fake: FakeBluesky, connector: BlueskyConnector) -> None:
    fake.fail_next(nsid=FOLLOWERS, status=400, error="InvalidRequest", message="limit must be at most 100")

    with pytest.raises(PlatformError, match="InvalidRequest: limit must be at most 100"):
        list(connector.iter_follower_pages(None))


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param({"status": 400, "error": "InvalidRequest"}, id="400"),
        pytest.param({"status": 401, "error": "AuthMissing"}, id="401"),
        pytest.param({"status": 500}, id="500"),
        pytest.param({"close": True}, id="closed"),
        pytest.param({"bad_json": True}, id="bad-json"),
    ],
)
def test_secrets_never_appear_in_exception_strings(
    make_fake: FakeFactory, make_connector: ConnectorFactory, fault: dict[str, Any]
) -> None:
    fake = make_fake()
    connector = make_connector(fake)
    session = connector.session
    echoed = f"bad token {session.access_jwt} / {session.refresh_jwt} / {fake.app_password}"
    fake.fail_next(nsid=FOLLOWERS, message=echoed, **fault)

    with pytest.raises(PlatformError) as raised:
        list(connector.iter_follower_pages(None))

    texts = [str(raised.value), repr(raised.value), repr(connector), str(raised.value.__cause__)]
    for secret in (session.access_jwt, session.refresh_jwt):
        assert all(secret not in text for text in texts)


def test_a_refresh_failure_message_names_no_token(
    make_fake: FakeFactory, make_connector: ConnectorFactory
) -> None:
    fake = make_fake(refresh_fails=True)
    connector = make_connector(fake)
    session = connector.session
    fake.expire_access_tokens()

    with pytest.raises(AuthExpired) as raised:
        connector.get_profiles([follower_did(1)])

    assert session.access_jwt not in str(raised.value)
    assert session.refresh_jwt not in str(raised.value)


def test_interactions_map_reasons_and_skip_other_notifications(
    make_fake: FakeFactory, make_connector: ConnectorFactory
) -> None:
    connector = make_connector(make_fake(notification_count=7))

    interactions = list(connector.iter_interactions(None))

    assert [interaction.kind for interaction in interactions] == [
        InteractionKind.LIKE,
        InteractionKind.REPOST,
        InteractionKind.REPLY,
        InteractionKind.MENTION,
        InteractionKind.QUOTE,
        InteractionKind.FOLLOW,
    ]
    assert interactions[0].actor.platform_id == follower_did(0)
    assert interactions[0].platform_event_id.startswith(f"at://{follower_did(0)}/app.bsky.feed.like/")


def test_interactions_page_through_every_notification(
    make_fake: FakeFactory, make_connector: ConnectorFactory
) -> None:
    fake = make_fake(notification_count=350)
    connector = make_connector(fake)

    interactions = list(connector.iter_interactions(None))

    assert len(interactions) == 300
    assert fake.calls("app.bsky.notification.listNotifications") == 4


def test_interactions_stop_at_the_first_notification_older_than_since(
    make_fake: FakeFactory, make_connector: ConnectorFactory
) -> None:
    fake = make_fake(notification_count=350)
    connector = make_connector(fake)
    since = fake.notification_time(120)

    interactions = list(connector.iter_interactions(since))

    assert min(interaction.created_at for interaction in interactions) == since
    assert len({interaction.platform_event_id for interaction in interactions}) == 104
    assert fake.calls("app.bsky.notification.listNotifications") == 2


def test_a_malformed_notification_is_skipped(
    make_fake: FakeFactory, make_connector: ConnectorFactory
) -> None:
    connector = make_connector(make_fake(notification_count=6, malformed_notifications={2}))

    kinds = [interaction.kind for interaction in connector.iter_interactions(None)]

    assert InteractionKind.REPLY not in kinds
    assert len(kinds) == 5


def test_rate_limit_parsing_reads_the_reset_as_epoch_seconds() -> None:
    headers = {"ratelimit-limit": "3000", "ratelimit-remaining": "2999", "ratelimit-reset": "1700000300"}

    state = parse_rate_limit(headers)

    assert state is not None
    assert (state.limit, state.remaining) == (3000, 2999)
    assert state.reset_at == datetime(2023, 11, 14, 22, 18, 20, tzinfo=UTC)


def test_labels_expiring_exactly_now_are_no_longer_in_force() -> None:
    expiring = label("spam", exp=(NOW - timedelta(seconds=0)).isoformat())

    assert parse_labels([expiring], now=NOW) == ()


def test_the_following_list_is_read_from_the_brands_own_follow_records(
    fake: FakeBluesky, make_connector: ConnectorFactory
) -> None:
    connector = make_connector(fake)
    followed = [follower_did(index) for index in range(0, 230, 2)]
    for did in followed:
        connector.follow(did)

    pages = list(connector.iter_following_pages(None))

    assert [len(page.ids) for page in pages] == [100, 15]
    assert sorted(did for page in pages for did in page.ids) == sorted(followed)
    assert [page.ids for page in connector.iter_following_pages(pages[0].next_cursor)] == [pages[1].ids]


def test_a_malformed_follow_record_is_skipped_without_losing_its_page() -> None:
    good = {"uri": "at://did:plc:brand/app.bsky.graph.follow/3k1", "value": {"subject": "did:plc:someone"}}
    page = parse_follow_records_page(
        {"records": [good, {"uri": 7}, {"value": {"subject": "not a did"}}, "junk"], "cursor": "c1"}
    )
    assert (page.ids, page.next_cursor) == (["did:plc:someone"], "c1")
    assert parse_follow_records_page({"records": [], "cursor": "c2"}).next_cursor is None
    with pytest.raises(BadPayload):
        parse_follow_records_page({"records": "nope"})
