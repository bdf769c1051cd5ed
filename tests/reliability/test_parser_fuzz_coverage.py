"""Every function that reads a platform's answer is fuzzed, and one bad record never costs the rest of its page.

`test_every_payload_reader_has_a_fuzz_test` lists the public functions of the Mastodon and Bluesky connectors
(and the private ones that read headers, bodies, pages and session answers) and fails when one is not called by
a Hypothesis test here or in tests/platforms/test_*_fuzz.py. The tests below fuzz what those files leave out:
whole HTTP answers (status, headers, body) through the real connectors on an in-memory transport, Link headers
through the page-following code, Retry-After and rate-limit headers, session answers, and pages of N good records
with one hostile record at a random place. What a parser returns must also be storable: PostgreSQL refuses NUL
characters and lone surrogates, and a time zone must convert to UTC.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accounts.platforms import bluesky, mastodon
from accounts.platforms.base import BadPayload, PlatformError, ProfileData

FUZZ = settings(max_examples=150, deadline=None, database=None)
# Whole answers through real connectors: each example builds httpx clients, so fewer examples.
CONNECTOR_FUZZ = settings(max_examples=50, deadline=None, database=None)
NOW = datetime(2025, 6, 1, tzinfo=UTC)
INSTANCE = "https://m.example"
PDS = "https://pds.example"
TESTS = Path(__file__).resolve().parents[1]
FUZZ_FILES = [*sorted((TESTS / "platforms").glob("test_*_fuzz.py")), Path(__file__)]

# Public functions that read nothing a platform sends, with why.
NOT_PAYLOAD_READERS = {
    "mastodon.utcnow": "the clock",
    "mastodon.make_pkce_pair": "our own random secret",
    "mastodon.pkce_challenge": "hashes our own secret",
    "mastodon.authorization_url": "built from our own settings",
    "mastodon.normalize_instance_url": "what an admin typed (tested in test_mastodon_connector.py)",
    "mastodon.is_default_avatar": "called by parse_account, fuzzed there",
    "bluesky.did_document_url": "built from a DID that resolve_handle already checked",
}
# Private helpers that read an answer's body, headers, page or session: fuzzed like the public ones.
PRIVATE_READERS = [
    "mastodon._parse_accounts",
    "mastodon._list",
    "mastodon._header_count",
    "mastodon._parse_reset",
    "mastodon._retry_after_seconds",
    "mastodon._older_than",
    "mastodon.MastodonConnector._next_url",
    "mastodon.MastodonConnector.iter_follower_pages",
    "mastodon.MastodonConnector.relationships",
    "mastodon.MastodonConnector.iter_interactions",
    "mastodon.MastodonConnector.get_profiles",
    "mastodon.MastodonConnector.follow",
    "bluesky._session_from",
    "bluesky._decode_json",
    "bluesky._error_fields",
    "bluesky._cursor",
    "bluesky._http_date",
    "bluesky._header_int",
    "bluesky.BlueskyConnector.iter_follower_pages",
    "bluesky.BlueskyConnector.relationships",
    "bluesky.BlueskyConnector.iter_interactions",
    "bluesky.BlueskyConnector.get_profiles",
    "bluesky.BlueskyConnector.follow",
    "bluesky.BlueskyConnector._refresh",
]


def _public_functions() -> list[str]:
    names = []
    for module in (mastodon, bluesky):
        short = module.__name__.rsplit(".", 1)[1]
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if function.__module__ == module.__name__ and not name.startswith("_"):
                names.append(f"{short}.{name}")
    return names


def _names_used_by_fuzz_tests() -> set[str]:
    """Every name a @given test function mentions (attributes too: connector.relationships)."""
    used: set[str] = set()
    for path in FUZZ_FILES:
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef):
                continue
            decorators = [ast.unparse(decorator) for decorator in node.decorator_list]
            if not any(decorator.startswith("given") for decorator in decorators):
                continue
            for inner in ast.walk(node):
                if isinstance(inner, ast.Name):
                    used.add(inner.id)
                elif isinstance(inner, ast.Attribute):
                    used.add(inner.attr)
    return used


def test_every_payload_reader_has_a_fuzz_test() -> None:
    used = _names_used_by_fuzz_tests()
    readers = [name for name in _public_functions() if name not in NOT_PAYLOAD_READERS] + PRIVATE_READERS
    missing = [name for name in readers if name.rsplit(".", 1)[1] not in used]
    stale = [name for name in NOT_PAYLOAD_READERS if name not in _public_functions()]

    assert not missing, f"payload readers without a fuzz test: {missing}"
    assert not stale, f"NOT_PAYLOAD_READERS names functions that no longer exist: {stale}"
    assert len(readers) >= 30


# --- strategies --------------------------------------------------------------------------------------------

hostile_text = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["\x00", "a\x00b", "\ud800", "x\udfffy", "\u202e", "\ufeff", "", " ", "\n"]),
    st.lists(st.sampled_from(["\x00", "\ud83d", "<", "é", "a", "\u200b"]), max_size=8).map("".join),
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), hostile_text)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(hostile_text, children, max_size=4)
    ),
    max_leaves=12,
)
datetimes = st.one_of(
    st.datetimes(
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=-11)), timezone(timedelta(hours=14))])
    ).map(datetime.isoformat),
    st.sampled_from(["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "2025-01-01", "2025-13-01"]),
    hostile_text,
)
nested_json = st.integers(min_value=1, max_value=100_000).map(lambda depth: b"[" * depth + b"]" * depth)
bodies = st.one_of(
    json_values.map(lambda value: json.dumps(value).encode()),
    nested_json,
    st.binary(max_size=64),
    st.sampled_from([b"", b"null", b"{", b'{"a":', b"\xff\xfe", b'"\\ud800"', b"[1,2", b"NaN"]),
)


def mastodon_account(index: int, **fields: Any) -> dict[str, Any]:
    return {"id": str(index), "acct": f"person{index}", "display_name": f"Person {index}",
            "created_at": "2024-01-01T00:00:00Z", "followers_count": index, **fields}  # fmt: skip


def bluesky_profile(index: int, **fields: Any) -> dict[str, Any]:
    return {"did": f"did:plc:person{index}", "handle": f"person{index}.bsky.social",
            "displayName": f"Person {index}", "createdAt": "2024-01-01T00:00:00Z", **fields}  # fmt: skip


hostile_mastodon_accounts = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"id": st.one_of(hostile_text, st.integers(), json_values), "acct": st.one_of(hostile_text, json_values)},
        optional={"display_name": json_values, "note": json_values, "created_at": st.one_of(datetimes, json_values),
                  "followers_count": json_values, "url": json_values, "avatar": json_values},
    ),
)  # fmt: skip
hostile_bluesky_profiles = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"did": st.one_of(hostile_text.map(lambda t: f"did:plc:{t}"), json_values),
         "handle": st.one_of(hostile_text, json_values)},
        optional={"displayName": json_values, "description": json_values, "createdAt": st.one_of(datetimes, json_values),
                  "labels": json_values, "viewer": json_values, "followersCount": json_values},
    ),
)  # fmt: skip


def latin1(text: str) -> bool:
    """Header values arrive as bytes decoded as Latin-1: no character beyond U+00FF."""
    return all(ord(char) < 256 for char in text)


def only_bad_payload(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except BadPayload:
        return None


def storable(text: str) -> bool:
    """PostgreSQL stores this text: no NUL, and it encodes to UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def assert_storable_profile(profile: ProfileData) -> None:
    for name in ("platform_id", "handle", "uri", "display_name", "bio", "avatar_url", "profile_url"):
        assert storable(getattr(profile, name)), f"{name} cannot be stored: {getattr(profile, name)!r}"
    assert all(storable(label) for label in profile.labels)
    for moment in (profile.created_at, profile.last_post_at):
        assert moment is None or moment.astimezone(UTC).tzinfo is UTC


def transport(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler))


def mastodon_connector(handler: Callable[[httpx.Request], httpx.Response]) -> mastodon.MastodonConnector:
    return mastodon.MastodonConnector(INSTANCE, "token", "1", client=transport(handler), clock=lambda: NOW)


def bluesky_connector(handler: Callable[[httpx.Request], httpx.Response]) -> bluesky.BlueskyConnector:
    session = bluesky.BlueskySession("did:plc:brand", "brand.test", PDS, "access", "refresh")
    connector = bluesky.BlueskyConnector(session)
    connector._client.close()
    connector._client = transport(handler)
    return connector


# --- parsers that return values ----------------------------------------------------------------------------


@FUZZ
@given(hostile_mastodon_accounts)
def test_mastodon_accounts_parse_to_storable_profiles_or_bad_payload(data: Any) -> None:
    profile = only_bad_payload(lambda: mastodon.parse_account(data))
    if profile is not None:
        assert_storable_profile(profile)


@FUZZ
@given(hostile_bluesky_profiles)
def test_bluesky_profiles_parse_to_storable_profiles_or_bad_payload(data: Any) -> None:
    profile = only_bad_payload(lambda: bluesky.parse_profile(data, now=NOW))
    if profile is not None:
        assert_storable_profile(profile)


@FUZZ
@given(st.one_of(datetimes, json_values))
def test_datetimes_from_either_platform_are_utc_or_none(value: Any) -> None:
    for parse in (mastodon.parse_datetime, bluesky.parse_datetime):
        moment = parse(value)
        assert moment is None or moment.tzinfo is UTC


@FUZZ
@given(st.one_of(hostile_text, st.from_regex(r"\A\s*\d{1,14}(\.\d{0,12})?\s*\Z"), datetimes))
def test_header_numbers_and_reset_times_parse_or_are_none(value: str) -> None:
    count = mastodon._header_count(value)
    assert count is None or count >= 0
    reset = mastodon._parse_reset(value)
    assert reset is None or reset.tzinfo is UTC
    number = bluesky._header_int(value)
    assert number is None or number >= 0
    assert bluesky._epoch(number) is None or bluesky._epoch(number).tzinfo is UTC


@FUZZ
@given(st.one_of(hostile_text, st.from_regex(r"\A\d{1,14}\Z"), st.datetimes(timezones=st.just(UTC)).map(
    lambda moment: moment.strftime("%a, %d %b %Y %H:%M:%S GMT"))))  # fmt: skip
def test_retry_after_is_a_number_of_seconds_or_none(value: str) -> None:
    seconds = mastodon._retry_after_seconds(value, NOW)
    assert seconds is None or seconds == seconds
    moment = bluesky._http_date(value)
    assert moment is None or moment.tzinfo is not None
    assert bluesky.retry_after_seconds({"Retry-After": value}, now=NOW) >= 0


@FUZZ
@given(st.one_of(json_values, st.fixed_dictionaries({}, optional={"did": hostile_text, "handle": hostile_text,
       "accessJwt": hostile_text, "refreshJwt": hostile_text})))  # fmt: skip
def test_session_answers_give_a_complete_session_or_bad_payload(data: Any) -> None:
    if not isinstance(data, dict):
        return
    session = only_bad_payload(lambda: bluesky._session_from(data, PDS))
    if session is not None:
        assert all(storable(value) and value for value in (session.did, session.handle, session.access_jwt))


@CONNECTOR_FUZZ
@given(st.integers(min_value=100, max_value=599), st.one_of(bodies, st.fixed_dictionaries({}, optional={
    "did": st.one_of(st.just("did:plc:alice"), hostile_text), "handle": hostile_text, "accessJwt": hostile_text,
    "refreshJwt": hostile_text}).map(lambda answer: json.dumps(answer).encode())))  # fmt: skip
def test_create_session_takes_any_session_answer_or_raises_a_platform_error(status: int, body: bytes) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("resolveHandle"):
            return httpx.Response(200, json={"did": "did:plc:alice"})
        if request.url.path == "/did:plc:alice":
            return httpx.Response(200, json={"service": [{"id": "#atproto_pds", "serviceEndpoint": PDS}]})
        return httpx.Response(status, content=body)

    with mock.patch.object(bluesky, "_new_client", return_value=transport(answer)):
        try:
            session = bluesky.create_session("alice.test", "app-password", plc_url="https://plc.example")
        except PlatformError:
            return
    assert session.did == "did:plc:alice"
    assert storable(session.handle)
    assert session.access_jwt


@FUZZ
@given(st.one_of(json_values, st.dictionaries(st.just("cursor"), json_values)))
def test_cursors_are_text_or_none(data: Any) -> None:
    if isinstance(data, dict):
        cursor = only_bad_payload(lambda: bluesky._cursor(data))
        assert cursor is None or isinstance(cursor, str)
    assert only_bad_payload(lambda: mastodon._list(data)) in (None, data)


@FUZZ
@given(st.one_of(json_values, st.fixed_dictionaries({"created_at": datetimes})))
def test_the_notification_cutoff_reads_any_record(record: Any) -> None:
    assert mastodon._older_than(record, NOW) in (True, False)
    assert bluesky._older_than(record, NOW) in (True, False)


# --- whole answers through the connectors --------------------------------------------------------------------


@CONNECTOR_FUZZ
@given(st.integers(min_value=100, max_value=599), bodies, st.dictionaries(
    st.sampled_from(["retry-after", "x-ratelimit-reset", "ratelimit-reset", "www-authenticate", "link"]),
    hostile_text.filter(lambda t: t.isascii() and "\n" not in t and "\r" not in t and "\x00" not in t), max_size=3))  # fmt: skip
def test_any_answer_to_any_call_raises_only_a_platform_error(
    status: int, body: bytes, headers: dict[str, str]
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers=headers)

    calls: list[Callable[[], Any]] = []
    masto = mastodon_connector(answer)
    blue = bluesky_connector(answer)
    credentials = mastodon.AppCredentials(INSTANCE, "id", "secret", "https://app.example/callback")
    calls += [
        lambda: list(masto.iter_follower_pages(None)), lambda: masto.get_profiles(["1", "2"]),
        lambda: masto.relationships(["1"]), lambda: masto.follow("1"), lambda: list(masto.iter_interactions(None)),
        lambda: masto.verify_credentials(),
        lambda: mastodon.register_app(INSTANCE, "https://app.example/callback", transport(answer)),
        lambda: mastodon.exchange_code(credentials, "code", "verifier", transport(answer)),
        lambda: mastodon.verify_credentials(INSTANCE, "token", transport(answer)),
        lambda: list(blue.iter_follower_pages(None)), lambda: blue.get_profiles(["did:plc:a"]),
        lambda: blue.relationships(["did:plc:a"]), lambda: blue.follow("did:plc:a"),
        lambda: list(blue.iter_interactions(None)),
        lambda: bluesky.resolve_handle(transport(answer), PDS, "alice.test"),
        lambda: bluesky.resolve_pds(transport(answer), "did:plc:alice", "https://plc.example"),
        lambda: bluesky.raise_for_xrpc_error(httpx.Response(status, content=body, headers=headers), "x.y"),
        lambda: bluesky._error_fields(httpx.Response(status, content=body)),
        lambda: bluesky._decode_json(httpx.Response(status, content=body), "x.y"),
        lambda: blue._refresh(stale=blue.session),
    ]  # fmt: skip
    for call in calls:
        with contextlib.suppress(PlatformError):
            call()


@FUZZ
@given(
    st.lists(
        st.tuples(hostile_text.filter(latin1), st.sampled_from(['rel="next"', "rel=next", 'rel="prev"', ""])),
        max_size=3,
    )
)
def test_next_page_links_are_followed_only_on_the_instance(links: list[tuple[str, str]]) -> None:
    connector = mastodon_connector(lambda request: httpx.Response(200, json=[]))
    header = ", ".join(f"<{target}>; {rel}" for target, rel in links)
    current = f"{INSTANCE}/api/v1/accounts/1/followers?limit=80"
    target = only_bad_payload(lambda: connector._next_url(current, mastodon.parse_link_header(header)))
    if target is not None:
        assert target.startswith(INSTANCE + "/")
        assert target != current


@CONNECTOR_FUZZ
@given(st.integers(min_value=0, max_value=12), st.data())
def test_a_hostile_record_never_costs_the_rest_of_a_mastodon_page(good: int, data: st.DataObject) -> None:
    hostile = data.draw(hostile_mastodon_accounts)
    position = data.draw(st.integers(min_value=0, max_value=good))
    records: list[Any] = [mastodon_account(index) for index in range(good)]
    records.insert(position, hostile)
    survives = only_bad_payload(lambda: mastodon.parse_account(hostile)) is not None

    profiles, bad = mastodon._parse_accounts(records)
    connector = mastodon_connector(lambda request: httpx.Response(200, content=json.dumps(records).encode()))
    [page] = connector.iter_follower_pages(None)
    looked_up = connector.get_profiles([str(index) for index in range(good)])

    expected = [str(index) for index in range(good)]
    assert [p.platform_id for p in profiles if p.platform_id in expected] == expected
    assert bad == (0 if survives else 1)
    assert len(page.profiles) == good + survives
    assert page.bad_records == bad
    assert {p.platform_id for p in looked_up} >= set(expected)


@CONNECTOR_FUZZ
@given(st.integers(min_value=0, max_value=12), st.data())
def test_a_hostile_record_never_costs_the_rest_of_a_bluesky_page(good: int, data: st.DataObject) -> None:
    hostile = data.draw(hostile_bluesky_profiles)
    position = data.draw(st.integers(min_value=0, max_value=good))
    records: list[Any] = [bluesky_profile(index) for index in range(good)]
    records.insert(position, hostile)
    survives = only_bad_payload(lambda: bluesky.parse_profile(hostile, now=NOW)) is not None

    page = bluesky.parse_follower_page({"followers": records, "cursor": "next"}, now=NOW)
    connector = bluesky_connector(
        lambda request: httpx.Response(200, content=json.dumps({"profiles": records}).encode())
    )
    profiles = connector.get_profiles([f"did:plc:person{index}" for index in range(good)])
    relationships = connector.relationships([f"did:plc:person{index}" for index in range(good)])

    expected = {f"did:plc:person{index}" for index in range(good)}
    assert expected <= {p.platform_id for p in page.profiles}
    assert len(page.profiles) == good + survives
    assert page.bad_records == (0 if survives else 1)
    assert expected <= {p.platform_id for p in profiles}
    assert expected <= set(relationships)


@CONNECTOR_FUZZ
@given(st.integers(min_value=0, max_value=8), st.data())
def test_a_hostile_relationship_or_notification_never_costs_the_others(
    good: int, data: st.DataObject
) -> None:
    hostile = data.draw(json_values)
    position = data.draw(st.integers(min_value=0, max_value=good))
    relationships: list[Any] = [{"id": str(index), "following": True} for index in range(good)]
    relationships.insert(position, hostile)
    notifications: list[Any] = [
        {
            "id": f"n{index}",
            "type": "mention",
            "created_at": "2025-05-01T00:00:00Z",
            "account": mastodon_account(index),
        }
        for index in range(good)
    ]
    notifications.insert(position, hostile)

    found = mastodon_connector(
        lambda request: httpx.Response(200, content=json.dumps(relationships).encode())
    ).relationships([str(index) for index in range(good)])
    events = list(
        mastodon_connector(
            lambda request: httpx.Response(200, content=json.dumps(notifications).encode())
        ).iter_interactions(None)
    )
    blue_notifications = [{"uri": f"at://did:plc:p{index}/app.bsky.feed.like/1", "reason": "like",
                           "indexedAt": "2025-05-01T00:00:00Z", "author": bluesky_profile(index)} for index in range(good)]  # fmt: skip
    blue_notifications.insert(position, hostile)
    blue_events = list(bluesky_connector(
        lambda request: httpx.Response(200, content=json.dumps({"notifications": blue_notifications}).encode())).iter_interactions(None))  # fmt: skip

    assert {str(index) for index in range(good)} <= set(found)
    assert {f"n{index}" for index in range(good)} <= {event.platform_event_id for event in events}
    assert len(blue_events) >= good


@pytest.mark.parametrize("depth", [10_000, 200_000])
def test_deeply_nested_json_is_a_bad_payload_not_a_crash(depth: int) -> None:
    body = b"[" * depth + b"]" * depth

    with pytest.raises(BadPayload):
        bluesky._decode_json(httpx.Response(200, content=body), "app.bsky.actor.getProfiles")
    with pytest.raises(BadPayload):
        mastodon_connector(lambda request: httpx.Response(200, content=body)).get_profiles(["1"])
    assert bluesky._error_fields(httpx.Response(400, content=body)) == ("", "")


def test_storable_refuses_what_postgresql_refuses() -> None:
    assert not storable("a\x00b")
    assert not storable("\ud800")
    assert storable("ok é \U0001f600")
