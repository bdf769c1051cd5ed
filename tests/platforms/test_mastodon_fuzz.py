"""Fuzzing the Mastodon parsers: whatever a server sends, the only exception they raise is BadPayload."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from accounts.platforms.base import BadPayload, InteractionKind
from accounts.platforms.mastodon import (
    MAX_PLAUSIBLE_COUNT,
    html_to_text,
    parse_account,
    parse_link_header,
    parse_notification,
    parse_rate_limit,
    parse_relationship,
)

fuzz = settings(max_examples=200, deadline=None, database=None)

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20))
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
offsets = st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23)).map(timezone)
datetime_texts = st.one_of(
    st.datetimes(timezones=st.none() | st.just(UTC) | offsets).map(datetime.isoformat),
    st.dates().map(lambda day: day.isoformat()),
    st.sampled_from(
        ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "2026-08-01T13:50:00.037659Z"]
    ),
    st.text(max_size=30),
)
counts = st.one_of(
    st.integers(),
    st.floats(),
    st.booleans(),
    st.none(),
    st.text(max_size=14),
    st.from_regex(r"\A\s?\d{1,15}\s?\Z"),
)
html_fragments = st.sampled_from(
    [
        "<p>",
        "</p>",
        "<br>",
        "<br />",
        "&amp;",
        "&#x1F600;",
        "&#99999999;",
        "&#xD800;",
        "<![",
        "<![foo]>",
        "]]>",
        "<!--",
        "-->",
        "<!DOCTYPE",
        '<a href="x">',
        "</a>",
        "<",
        ">",
        "&",
        "<script>",
        "</script>",
        "\n",
        "é",
    ]
)
html_texts = st.one_of(st.text(), st.lists(st.one_of(html_fragments, st.text(max_size=4))).map("".join))
flags = st.one_of(st.booleans(), json_values)
accounts = st.fixed_dictionaries(
    {
        "id": st.one_of(st.text(max_size=20), st.integers(), json_values),
        "acct": st.one_of(st.text(max_size=30), scalars),
    },
    optional={
        "uri": json_values,
        "url": json_values,
        "display_name": st.one_of(st.text(), json_values),
        "note": st.one_of(html_texts, json_values),
        "avatar": st.one_of(
            st.text(), st.just("https://m.example/avatars/original/missing.png?1"), json_values
        ),
        "created_at": st.one_of(datetime_texts, json_values),
        "last_status_at": st.one_of(datetime_texts, json_values),
        "followers_count": counts,
        "following_count": counts,
        "statuses_count": counts,
        "bot": flags,
        "locked": flags,
        "group": flags,
        "moved": flags,
        "suspended": flags,
        "limited": flags,
        "fields": st.one_of(
            st.lists(st.one_of(st.fixed_dictionaries({"verified_at": json_values}), json_values)), json_values
        ),
    },
)
relationships = st.fixed_dictionaries(
    {"id": st.one_of(st.text(max_size=20), st.integers(), json_values)},
    optional={"following": flags, "followed_by": flags, "requested": flags},
)
statuses = st.fixed_dictionaries(
    {}, optional={"in_reply_to_account_id": st.one_of(st.just("1"), st.just(1), json_values)}
)
notifications = st.fixed_dictionaries(
    {
        "type": st.one_of(
            st.sampled_from(["mention", "reblog", "favourite", "quote", "follow", "status", "poll"]), scalars
        )
    },
    optional={
        "id": st.one_of(st.text(max_size=10), st.integers(), json_values),
        "created_at": st.one_of(datetime_texts, json_values),
        "account": st.one_of(accounts, json_values),
        "status": st.one_of(statuses, json_values),
    },
)
link_parts = st.tuples(
    st.text(max_size=30),
    st.sampled_from(['rel="next"', 'rel="prev"', "rel=next", 'REL="next prev"', 'title="x"', ""]),
    st.text(max_size=6),
)
link_headers = st.one_of(
    st.text(),
    json_values,
    st.lists(link_parts, max_size=4).map(
        lambda parts: ", ".join(f"<{url}>; {rel}{junk}" for url, rel, junk in parts)
    ),
)
header_names = st.sampled_from(
    ["X-RateLimit-Limit", "x-ratelimit-remaining", "X-RATELIMIT-RESET", "Retry-After"]
)
header_values = st.one_of(
    datetime_texts, counts.map(str), st.from_regex(r"\A\d{9,13}(\.\d{1,10})?\Z"), json_values
)
header_maps = st.one_of(
    st.dictionaries(st.one_of(header_names, st.text(max_size=10)), header_values, max_size=5), json_values
)


def parsed_or_rejected(parse: Callable[[], Any]) -> Any:
    try:
        return parse()
    except BadPayload:
        return None


def assert_utc(moment: datetime | None) -> None:
    assert moment is None or moment.tzinfo is UTC


@fuzz
@given(st.one_of(accounts, json_values))
def test_any_account_payload_parses_or_is_a_bad_payload(data: Any) -> None:
    profile = parsed_or_rejected(lambda: parse_account(data))
    if profile is None:
        return
    assert profile.platform_id.strip()
    assert profile.handle.strip()
    for count in (profile.followers_count, profile.following_count, profile.posts_count):
        assert 0 <= count <= MAX_PLAUSIBLE_COUNT
    assert profile.verified_links >= 0
    assert isinstance(profile.bio, str)
    assert_utc(profile.created_at)
    assert_utc(profile.last_post_at)


@fuzz
@given(st.one_of(relationships, json_values))
def test_any_relationship_payload_parses_or_is_a_bad_payload(data: Any) -> None:
    parsed = parsed_or_rejected(lambda: parse_relationship(data))
    if parsed is not None:
        account_id, relationship = parsed
        assert account_id.strip()
        assert all(isinstance(flag, bool) for flag in (relationship.following, relationship.requested))


@fuzz
@given(st.one_of(notifications, json_values), st.sampled_from(["", "1"]))
def test_any_notification_payload_parses_or_is_a_bad_payload(data: Any, brand_account_id: str) -> None:
    interaction = parsed_or_rejected(lambda: parse_notification(data, brand_account_id))
    if interaction is None:
        return
    assert interaction.platform_event_id.strip()
    assert interaction.created_at.tzinfo is UTC
    assert interaction.kind is not InteractionKind.REPLY or brand_account_id


@fuzz
@given(link_headers)
def test_any_link_header_parses_to_relations_or_is_a_bad_payload(value: Any) -> None:
    links = parsed_or_rejected(lambda: parse_link_header(value))
    if links is None:
        assert not isinstance(value, str)
        return
    assert all(name == name.lower() and url and url == url.strip() for name, url in links.items())


@fuzz
@given(header_maps)
def test_any_rate_limit_headers_parse_or_are_a_bad_payload(headers: Any) -> None:
    state = parsed_or_rejected(lambda: parse_rate_limit(headers))
    if state is None:
        return
    assert state.limit is None or state.limit >= 0
    assert state.remaining is None or state.remaining >= 0
    assert_utc(state.reset_at)


@fuzz
@given(html_texts)
def test_any_bio_html_reduces_to_plain_text(html: str) -> None:
    text = html_to_text(html)
    assert "\n\n\n" not in text
    assert text == text.strip()
