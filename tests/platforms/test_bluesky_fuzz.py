"""Fuzzing the Bluesky parsers: whatever the platform sends, only BadPayload may escape."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from accounts.platforms.base import (
    BadPayload,
    FollowerPage,
    FollowingPage,
    InteractionData,
    ProfileData,
    RateLimitState,
)
from accounts.platforms.bluesky import (
    parse_datetime,
    parse_follow_records_page,
    parse_follower_page,
    parse_labels,
    parse_notification,
    parse_profile,
    parse_rate_limit,
    parse_relationship,
    pds_endpoint,
    retry_after_seconds,
)

FUZZ = settings(max_examples=200, deadline=None, database=None)
NOW = datetime(2025, 6, 1, tzinfo=UTC)

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=16,
)
dates = st.one_of(
    st.datetimes(timezones=st.just(UTC)).map(lambda moment: moment.isoformat().replace("+00:00", "Z")),
    st.text(max_size=30),
    json_values,
)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(strategy, json_values)


labels = st.lists(
    st.fixed_dictionaries(
        {"val": maybe(st.sampled_from(["spam", "bot", "!hide", "scam", ""]))},
        optional={
            "src": maybe(st.sampled_from(["did:plc:a", "did:plc:b"])),
            "neg": maybe(st.booleans()),
            "exp": dates,
            "cts": dates,
            "uri": json_values,
        },
    )
    | json_values,
    max_size=6,
)
self_labels = st.fixed_dictionaries(
    {"values": maybe(st.lists(st.fixed_dictionaries({"val": maybe(st.text())})))}
)
profiles = st.fixed_dictionaries(
    {
        "did": maybe(st.sampled_from(["did:plc:abcdefghijklmnopqrstuvwx", "did:web:example.com", "nope"])),
        "handle": maybe(st.sampled_from(["alice.test", "handle.invalid", "bob.bsky.social"])),
    },
    optional={
        "displayName": maybe(st.text()),
        "description": maybe(st.text()),
        "avatar": maybe(st.text()),
        "createdAt": dates,
        "followersCount": maybe(st.integers()),
        "followsCount": maybe(st.integers()),
        "postsCount": maybe(st.integers()),
        "labels": st.one_of(labels, self_labels, json_values),
        "viewer": maybe(
            st.fixed_dictionaries({}, optional={"following": maybe(st.text()), "followedBy": scalars})
        ),
        "verification": json_values,
    },
)
notifications = st.fixed_dictionaries(
    {
        "uri": maybe(st.just("at://did:plc:abc/app.bsky.feed.like/3k")),
        "reason": maybe(
            st.sampled_from(["like", "repost", "reply", "mention", "quote", "follow", "verified"])
        ),
        "indexedAt": dates,
        "author": maybe(profiles),
    },
    optional={"record": json_values, "cid": json_values, "isRead": json_values},
)
header_names = st.sampled_from(
    [
        "RateLimit-Limit",
        "ratelimit-remaining",
        "RateLimit-Reset",
        "RateLimit-Policy",
        "Retry-After",
        "x-other",
    ]
)
header_values = st.one_of(
    st.text(max_size=30),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.datetimes(timezones=st.just(UTC)).map(lambda moment: moment.strftime("%a, %d %b %Y %H:%M:%S GMT")),
)
headers = st.dictionaries(header_names | st.text(max_size=12), header_values, max_size=6)


def outcome(parse: Callable[[], Any]) -> Any:
    try:
        return parse()
    except BadPayload:
        return None


@FUZZ
@given(maybe(profiles))
def test_parse_profile_returns_a_profile_or_raises_bad_payload(data: Any) -> None:
    result = outcome(lambda: parse_profile(data, now=NOW))

    assert result is None or isinstance(result, ProfileData)


@FUZZ
@given(
    st.one_of(
        st.fixed_dictionaries(
            {"followers": st.lists(maybe(profiles), max_size=5)},
            optional={"cursor": maybe(st.text(max_size=10))},
        ),
        json_values,
    )
)
def test_parse_follower_page_returns_a_page_or_raises_bad_payload(data: Any) -> None:
    result = outcome(lambda: parse_follower_page(data, now=NOW))

    assert result is None or isinstance(result, FollowerPage)
    if isinstance(result, FollowerPage):
        assert len(result.profiles) + result.bad_records == len(data["followers"])


follow_records = st.fixed_dictionaries(
    {
        "uri": maybe(st.text(max_size=20)),
        "value": maybe(st.fixed_dictionaries({"subject": maybe(st.text(max_size=40))})),
    }
)


@FUZZ
@given(
    st.one_of(
        st.fixed_dictionaries(
            {"records": st.lists(maybe(follow_records), max_size=5)},
            optional={"cursor": maybe(st.text(max_size=10))},
        ),
        json_values,
    )
)
def test_parse_follow_records_page_returns_the_dids_followed_or_raises_bad_payload(data: Any) -> None:
    result = outcome(lambda: parse_follow_records_page(data))

    assert result is None or isinstance(result, FollowingPage)
    if isinstance(result, FollowingPage):
        assert len(result.ids) <= len(data["records"])
        assert all(did.startswith("did:") for did in result.ids)


@FUZZ
@given(maybe(notifications))
def test_parse_notification_returns_an_interaction_none_or_raises_bad_payload(data: Any) -> None:
    result = outcome(lambda: parse_notification(data, now=NOW))

    assert result is None or isinstance(result, InteractionData)


@FUZZ
@given(st.one_of(labels, self_labels, json_values))
def test_parse_labels_returns_unique_strings_or_raises_bad_payload(data: Any) -> None:
    result = outcome(lambda: parse_labels(data, now=NOW))

    assert result is None or all(isinstance(value, str) for value in result)
    assert result is None or len(set(result)) == len(result)


@FUZZ
@given(headers)
def test_parse_rate_limit_never_raises(data: dict[str, str]) -> None:
    result = outcome(lambda: parse_rate_limit(data))

    assert result is None or isinstance(result, RateLimitState)


@FUZZ
@given(headers)
def test_retry_after_is_never_negative(data: dict[str, str]) -> None:
    seconds = retry_after_seconds(data, now=NOW)

    assert seconds >= 0


@FUZZ
@given(maybe(profiles))
def test_parse_relationship_returns_a_relationship_or_raises_bad_payload(data: Any) -> None:
    outcome(lambda: parse_relationship(data))


@FUZZ
@given(
    st.one_of(
        st.fixed_dictionaries(
            {
                "service": st.lists(
                    maybe(
                        st.fixed_dictionaries(
                            {
                                "id": maybe(st.just("#atproto_pds")),
                                "serviceEndpoint": maybe(st.sampled_from(["https://pds.example", "ftp://x"])),
                            }
                        )
                    ),
                    max_size=3,
                )
            }
        ),
        json_values,
    )
)
def test_pds_endpoint_returns_an_http_url_or_raises_bad_payload(document: Any) -> None:
    endpoint = outcome(lambda: pds_endpoint(document))

    assert endpoint is None or endpoint.startswith(("https://", "http://"))


@FUZZ
@given(dates)
def test_parse_datetime_returns_an_aware_datetime_or_none(value: Any) -> None:
    parsed = parse_datetime(value)

    assert parsed is None or parsed.tzinfo is not None
