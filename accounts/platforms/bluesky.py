"""Bluesky (AT Protocol) connector: plain httpx XRPC calls, dataclasses out, typed errors.

Authenticated calls go to the account's own PDS, which proxies ``app.bsky.*`` reads to its AppView: access
tokens are only valid there. ``appview_proxy`` picks another AppView through the ``atproto-proxy`` header.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import unquote

import httpx

from accounts.platforms.base import (
    AuthExpired,
    BadPayload,
    FollowerPage,
    FollowingPage,
    FollowResult,
    InteractionData,
    InteractionKind,
    NotFound,
    PlatformError,
    PlatformUnavailable,
    ProfileData,
    RateLimited,
    RateLimitState,
    Relationship,
    storable_text,
    tls_context,
)

logger = logging.getLogger(__name__)

DEFAULT_SERVICE_URL = "https://bsky.social"
DEFAULT_PLC_URL = "https://plc.directory"
PROFILE_URL = "https://bsky.app/profile/{}"
FOLLOWERS_PAGE_SIZE = 100
NOTIFICATIONS_PAGE_SIZE = 100
PROFILES_PER_CALL = 25
RECENT_FOLLOWS_CHECKED = 100
DEFAULT_RETRY_AFTER = 60.0
USER_AGENT = "followback/0.1 (+atproto connector)"

FOLLOW_COLLECTION = "app.bsky.graph.follow"
AUTH_ERRORS = frozenset(
    {"AuthMissing", "AuthRequired", "AuthenticationRequired", "InvalidToken", "ExpiredToken"}
)
NOT_FOUND_ERRORS = frozenset(
    {"NotFound", "ProfileNotFound", "ActorNotFound", "RecordNotFound", "RepoNotFound"}
)
NOT_FOUND_MESSAGES = frozenset({"profile not found", "actor not found", "unable to resolve handle"})
NOT_IMPLEMENTED = 501
REASON_KINDS = {
    "like": InteractionKind.LIKE,
    "like-via-repost": InteractionKind.LIKE,
    "repost": InteractionKind.REPOST,
    "repost-via-repost": InteractionKind.REPOST,
    "reply": InteractionKind.REPLY,
    "mention": InteractionKind.MENTION,
    "quote": InteractionKind.QUOTE,
    "follow": InteractionKind.FOLLOW,
}
SUSPENDED_LABELS = frozenset({"!takedown", "!suspend"})
LIMITED_LABELS = frozenset({"!hide", "!warn"})
DEFAULT_HANDLE_SUFFIX = ".bsky.social"
INVALID_HANDLE = "handle.invalid"
JWT_PATTERN = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
MAX_MESSAGE_CHARS = 300


@dataclass(frozen=True, slots=True)
class BlueskySession:
    did: str
    handle: str
    pds_url: str
    access_jwt: str = field(repr=False)
    refresh_jwt: str = field(repr=False)


def parse_datetime(value: object) -> datetime | None:
    """An AT Protocol datetime as an aware datetime; None when absent or not a valid date."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        return None


def parse_labels(raw: object, *, now: datetime | None = None) -> tuple[str, ...]:
    """Label values in force: self-labels (``{"values": [...]}``) or label objects, honouring neg and exp."""
    if raw is None:
        return ()
    if isinstance(raw, dict):
        return _self_label_values(raw)
    if not isinstance(raw, list):
        raise BadPayload("labels must be a list or a selfLabels object")
    return _labels_in_force(raw, now or datetime.now(UTC))


def _self_label_values(raw: dict[str, Any]) -> tuple[str, ...]:
    values = raw.get("values")
    if not isinstance(values, list):
        raise BadPayload("selfLabels without a values list")
    return _unique(_label_value(item) for item in values)


def _label_value(item: object) -> str:
    value = storable_text(item["val"]) if isinstance(item, dict) and isinstance(item.get("val"), str) else ""
    if not value:
        raise BadPayload("label without a string val")
    return value


def _labels_in_force(labels: list[Any], now: datetime) -> tuple[str, ...]:
    applied: dict[tuple[str, str], None] = {}
    for label in sorted(labels, key=_label_sort_key):
        value = _label_value(label)
        source = label.get("src") if isinstance(label.get("src"), str) else ""
        if label.get("neg") is True:
            applied.pop((source, value), None)
        elif not _label_expired(label, now):
            applied[(source, value)] = None
    return _unique(value for _, value in applied)


def _label_sort_key(label: object) -> datetime:
    created = parse_datetime(label.get("cts")) if isinstance(label, dict) else None
    return created or datetime.min.replace(tzinfo=UTC)


def _label_expired(label: dict[str, Any], now: datetime) -> bool:
    expires = parse_datetime(label.get("exp"))
    return expires is not None and expires <= now


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def parse_profile(data: object, *, now: datetime | None = None) -> ProfileData:
    """A profileView / profileViewDetailed / profileViewBasic as ProfileData."""
    if not isinstance(data, dict):
        raise BadPayload("profile is not an object")
    did = _required_str(data, "did")
    handle = _required_str(data, "handle")
    if not did.startswith("did:"):
        raise BadPayload("profile did is not a DID")
    labels = parse_labels(data.get("labels"), now=now)
    avatar = _optional_str(data, "avatar")
    return ProfileData(
        platform_id=did,
        handle=handle,
        uri=f"at://{did}",
        display_name=_optional_str(data, "displayName"),
        bio=_optional_str(data, "description"),
        avatar_url=avatar,
        avatar_is_default=not avatar,
        created_at=parse_datetime(data.get("createdAt")),
        followers_count=_count(data, "followersCount"),
        following_count=_count(data, "followsCount"),
        posts_count=_count(data, "postsCount"),
        is_bot="bot" in labels,
        suspended=not SUSPENDED_LABELS.isdisjoint(labels),
        limited=not LIMITED_LABELS.isdisjoint(labels),
        verified_links=_verified_links(data, handle),
        labels=labels,
        profile_url=PROFILE_URL.format(did if handle == INVALID_HANDLE else handle),
    )


def _required_str(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    text = storable_text(value) if isinstance(value, str) else ""
    if not text:
        raise BadPayload(f"missing or non-string {key}")
    return text


def _optional_str(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadPayload(f"{key} is not a string")
    return storable_text(value)


def _count(data: Mapping[str, Any], key: str) -> int:
    value = data.get(key, 0)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadPayload(f"{key} is not a non-negative integer")
    return value


def _verified_links(data: Mapping[str, Any], handle: str) -> int:
    """Domain handles are DNS- or well-known-verified; a valid verification badge counts as another link."""
    own_domain = handle != INVALID_HANDLE and not handle.endswith(DEFAULT_HANDLE_SUFFIX)
    verification = data.get("verification")
    badge = isinstance(verification, dict) and verification.get("verifiedStatus") == "valid"
    return int(own_domain) + int(badge)


def parse_relationship(data: object) -> Relationship:
    """The viewer state of a profile view: does the brand follow them, do they follow the brand."""
    if not isinstance(data, dict):
        raise BadPayload("profile is not an object")
    viewer = data.get("viewer") or {}
    if not isinstance(viewer, dict):
        raise BadPayload("viewer is not an object")
    return Relationship(
        following=bool(_optional_str(viewer, "following")),
        followed_by=bool(_optional_str(viewer, "followedBy")),
    )


def parse_follower_page(data: object, *, now: datetime | None = None) -> FollowerPage:
    """A getFollowers answer; malformed records are skipped and counted; an empty page ends paging."""
    if not isinstance(data, dict) or not isinstance(data.get("followers"), list):
        raise BadPayload("getFollowers answer without a followers list")
    profiles: list[ProfileData] = []
    bad_records = 0
    for record in data["followers"]:
        try:
            profiles.append(parse_profile(record, now=now))
        except BadPayload:
            bad_records += 1
    cursor = _cursor(data)
    has_records = bool(profiles) or bad_records > 0
    return FollowerPage(
        profiles=profiles, next_cursor=cursor if has_records else None, bad_records=bad_records
    )


def parse_follow_records_page(data: object) -> FollowingPage:
    """A listRecords answer of app.bsky.graph.follow records: the DIDs followed; malformed records are skipped."""
    if not isinstance(data, dict) or not isinstance(data.get("records"), list):
        raise BadPayload("listRecords answer without a records list")
    subjects = []
    for record in data["records"]:
        value = record.get("value") if isinstance(record, dict) else None
        subject = value.get("subject") if isinstance(value, dict) else None
        if isinstance(subject, str) and subject.startswith("did:") and len(subject) <= 255:
            subjects.append(subject)
    return FollowingPage(ids=subjects, next_cursor=_cursor(data) if data["records"] else None)


def _cursor(data: Mapping[str, Any]) -> str | None:
    cursor = data.get("cursor")
    if cursor is None or cursor == "":
        return None
    if not isinstance(cursor, str):
        raise BadPayload("cursor is not a string")
    return cursor


def parse_notification(data: object, *, now: datetime | None = None) -> InteractionData | None:
    """A listNotifications entry as an interaction; None for reasons that are not interactions."""
    if not isinstance(data, dict):
        raise BadPayload("notification is not an object")
    reason = _required_str(data, "reason")
    uri = _required_str(data, "uri")
    indexed_at = parse_datetime(data.get("indexedAt"))
    if indexed_at is None:
        raise BadPayload("notification without a valid indexedAt")
    kind = REASON_KINDS.get(reason)
    if kind is None:
        return None
    return InteractionData(
        platform_event_id=uri,
        kind=kind,
        actor=parse_profile(data.get("author"), now=now),
        created_at=indexed_at,
    )


def parse_rate_limit(headers: Mapping[str, str]) -> RateLimitState | None:
    """RateLimit-Limit / -Remaining / -Reset (epoch seconds) / -Policy; None when the answer carries none."""
    lowered = {key.lower(): value for key, value in headers.items()}
    if not any(key.startswith("ratelimit-") for key in lowered):
        return None
    policy = lowered.get("ratelimit-policy")
    return RateLimitState(
        limit=_header_int(lowered.get("ratelimit-limit")),
        remaining=_header_int(lowered.get("ratelimit-remaining")),
        reset_at=_epoch(_header_int(lowered.get("ratelimit-reset"))),
        extra={"policy": policy} if policy else {},
    )


def _header_int(value: str | None) -> int | None:
    if value is None:
        return None
    text = value.split(",")[0].strip()
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        return None
    return int(text)


def _epoch(seconds: int | None) -> datetime | None:
    if seconds is None:
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def retry_after_seconds(headers: Mapping[str, str], *, now: datetime | None = None) -> float:
    """Seconds to wait after a 429: Retry-After (seconds or date), else RateLimit-Reset, else a minute."""
    now = now or datetime.now(UTC)
    lowered = {key.lower(): value for key, value in headers.items()}
    retry_after = lowered.get("retry-after", "").strip()
    seconds = _header_int(retry_after)
    if seconds is not None:
        return float(seconds)
    retry_at = _http_date(retry_after)
    if retry_at is None:
        state = parse_rate_limit(headers)
        retry_at = state.reset_at if state else None
    return max(0.0, (retry_at - now).total_seconds()) if retry_at else DEFAULT_RETRY_AFTER


def _http_date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def pds_endpoint(did_document: object) -> str:
    """The ``#atproto_pds`` service endpoint of a DID document."""
    services = did_document.get("service") if isinstance(did_document, dict) else None
    if not isinstance(services, list):
        raise BadPayload("DID document without services")
    for service in services:
        if (
            isinstance(service, dict)
            and isinstance(service.get("id"), str)
            and service["id"].endswith("#atproto_pds")
            and isinstance(service.get("serviceEndpoint"), str)
            and service["serviceEndpoint"].startswith(("https://", "http://"))
        ):
            return service["serviceEndpoint"].rstrip("/")
    raise BadPayload("DID document has no atproto_pds service")


def _redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return JWT_PATTERN.sub("[redacted]", text)


def _decode_json(response: httpx.Response, nsid: str) -> dict[str, Any]:
    try:
        data = response.json()
    except (ValueError, RecursionError):
        raise BadPayload(f"Bluesky {nsid}: answer is not JSON") from None
    if not isinstance(data, dict):
        raise BadPayload(f"Bluesky {nsid}: answer is not a JSON object")
    return data


def _error_fields(response: httpx.Response) -> tuple[str, str]:
    try:
        data = response.json()
    except (ValueError, RecursionError):
        return "", ""
    if not isinstance(data, dict):
        return "", ""
    error, message = data.get("error"), data.get("message")
    return (error if isinstance(error, str) else "", message if isinstance(message, str) else "")


def raise_for_xrpc_error(response: httpx.Response, nsid: str, secrets: Iterable[str] = ()) -> None:
    """Map an XRPC error answer onto the connector's typed errors; secrets never reach the message."""
    if response.is_success:
        return
    error, message = _error_fields(response)
    status = response.status_code
    text = _redact(f"Bluesky {nsid}: HTTP {status} {error}: {message}", secrets)[:MAX_MESSAGE_CHARS]
    if status == 429:
        raise RateLimited(retry_after_seconds(response.headers), text)
    if status == 401 or (status == 400 and error in AUTH_ERRORS):
        raise AuthExpired(text)
    if status == 404 or error in NOT_FOUND_ERRORS or message.strip().lower() in NOT_FOUND_MESSAGES:
        raise NotFound(text)
    if status >= 500 and status != NOT_IMPLEMENTED:
        raise PlatformUnavailable(text)
    raise PlatformError(text)


def _send(
    client: httpx.Client,
    method: str,
    url: str,
    nsid: str,
    *,
    token: str | None = None,
    params: Mapping[str, Any] | None = None,
    body: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    request_headers = dict(headers or {})
    if token:
        request_headers["Authorization"] = f"Bearer {token}"
    try:
        return client.request(method, url, params=params, json=body, headers=request_headers)
    except httpx.RequestError as exc:
        raise PlatformUnavailable(
            f"Bluesky {nsid}: {type(exc).__name__} talking to {httpx.URL(url).host}"
        ) from None


def _xrpc_url(base_url: str, nsid: str) -> str:
    return f"{base_url.rstrip('/')}/xrpc/{nsid}"


def _new_client(timeout: float) -> httpx.Client:
    return httpx.Client(
        timeout=timeout, headers={"User-Agent": USER_AGENT}, follow_redirects=False, verify=tls_context()
    )


def resolve_handle(client: httpx.Client, service_url: str, handle: str) -> str:
    nsid = "com.atproto.identity.resolveHandle"
    response = _send(client, "GET", _xrpc_url(service_url, nsid), nsid, params={"handle": handle})
    raise_for_xrpc_error(response, nsid)
    did = _decode_json(response, nsid).get("did")
    if not isinstance(did, str) or not did.startswith("did:"):
        raise BadPayload(f"Bluesky {nsid}: answer has no DID")
    return did


def did_document_url(did: str, plc_url: str) -> str:
    if did.startswith("did:plc:"):
        return f"{plc_url.rstrip('/')}/{did}"
    if did.startswith("did:web:"):
        return _did_web_document_url(did)
    raise NotFound(f"unsupported DID method in {did}")


def _did_web_document_url(did: str) -> str:
    """Hostname-level did:web only (as atproto requires); loopback hosts are served over plain HTTP."""
    encoded = did.removeprefix("did:web:")
    host = unquote(encoded)
    if not encoded or ":" in encoded or "/" in host or "@" in host:
        raise NotFound(f"unsupported did:web identifier {did}")
    try:
        hostname = httpx.URL(f"http://{host}").host
    except httpx.InvalidURL:
        raise NotFound(f"unsupported did:web identifier {did}") from None
    scheme = "http" if hostname in LOOPBACK_HOSTS else "https"
    return f"{scheme}://{host}/.well-known/did.json"


def resolve_pds(client: httpx.Client, did: str, plc_url: str) -> str:
    url = did_document_url(did, plc_url)
    try:
        response = client.get(url)
    except httpx.RequestError as exc:
        raise PlatformUnavailable(f"DID document of {did}: {type(exc).__name__}") from None
    raise_for_xrpc_error(response, "DID document")
    return pds_endpoint(_decode_json(response, "DID document"))


def create_session(
    identifier: str,
    app_password: str,
    *,
    service_url: str = DEFAULT_SERVICE_URL,
    plc_url: str = DEFAULT_PLC_URL,
    timeout: float = 30.0,
) -> BlueskySession:
    """Log in with a handle (or DID) and an app password on the account's own PDS.

    createSession is limited to 30 per 5 minutes per account: only call it when a person connects one.
    """
    nsid = "com.atproto.server.createSession"
    identifier = identifier.strip().removeprefix("@")
    with _new_client(timeout) as client:
        is_did = identifier.startswith("did:")
        did = identifier if is_did else resolve_handle(client, service_url, identifier.lower())
        pds_url = resolve_pds(client, did, plc_url)
        body = {"identifier": did, "password": app_password}
        response = _send(client, "POST", _xrpc_url(pds_url, nsid), nsid, body=body)
        raise_for_xrpc_error(response, nsid, secrets=(app_password,))
        data = _decode_json(response, nsid)
    session = _session_from(data, pds_url)
    if session.did != did:
        raise PlatformError(f"Bluesky {nsid}: the PDS answered for another account than {did}")
    return session


def _session_from(data: Mapping[str, Any], pds_url: str) -> BlueskySession:
    try:
        return BlueskySession(
            did=_required_str(data, "did"),
            handle=_required_str(data, "handle"),
            pds_url=pds_url,
            access_jwt=_required_str(data, "accessJwt"),
            refresh_jwt=_required_str(data, "refreshJwt"),
        )
    except BadPayload as exc:
        raise BadPayload(f"Bluesky session answer is incomplete ({exc})") from None


class BlueskyConnector:
    """One connected Bluesky account. Thread-safe; refreshes its session at most once at a time."""

    def __init__(
        self,
        session: BlueskySession,
        *,
        on_session_refreshed: Callable[[BlueskySession], None] | None = None,
        appview_proxy: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        self._session = session
        self._on_session_refreshed = on_session_refreshed
        self._refresh_lock = threading.Lock()
        self._refresh_refused = False
        self._proxy_headers = {"atproto-proxy": appview_proxy} if appview_proxy else {}
        self._client = _new_client(timeout)
        self.rate_limit = RateLimitState()

    def __repr__(self) -> str:
        return f"BlueskyConnector(did={self._session.did!r}, pds_url={self._session.pds_url!r})"

    def __enter__(self) -> BlueskyConnector:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    @property
    def session(self) -> BlueskySession:
        return self._session

    @property
    def did(self) -> str:
        return self._session.did

    def iter_follower_pages(self, cursor: str | None) -> Iterator[FollowerPage]:
        """Pages of followers from ``cursor`` to the end. Profiles carry no counts: get_profiles has them."""
        params = {"actor": self.did, "limit": FOLLOWERS_PAGE_SIZE}
        for data in self._cursor_pages("app.bsky.graph.getFollowers", params, cursor, appview=True):
            page = parse_follower_page(data)
            if page.bad_records:
                logger.warning("Bluesky getFollowers: skipped %d malformed records", page.bad_records)
            yield page
            if page.next_cursor is None:
                return

    def iter_following_pages(self, cursor: str | None) -> Iterator[FollowingPage]:
        """The DIDs the brand follows, read from its own repository's follow records (authoritative, unlike the
        AppView, which indexes them late)."""
        params = {"repo": self.did, "collection": FOLLOW_COLLECTION, "limit": FOLLOWERS_PAGE_SIZE}
        for data in self._cursor_pages("com.atproto.repo.listRecords", params, cursor, appview=False):
            page = parse_follow_records_page(data)
            yield page
            if page.next_cursor is None:
                return

    def _cursor_pages(
        self, nsid: str, params: dict[str, Any], cursor: str | None, *, appview: bool
    ) -> Iterator[dict[str, Any]]:
        """The answers of a cursor-paged query from ``cursor`` on, until the caller stops; a cursor seen before
        is a PlatformError rather than a loop."""
        seen_cursors = {cursor} if cursor else set()
        while True:
            data = self._query(nsid, {**params, "cursor": cursor} if cursor else params, appview=appview)
            yield data
            next_cursor = _cursor(data)
            if next_cursor in seen_cursors:
                raise PlatformError(f"Bluesky {nsid} repeated a cursor; stopping before the list is complete")
            if next_cursor is not None:
                seen_cursors.add(next_cursor)
            cursor = next_cursor

    def get_profiles(self, ids: Sequence[str]) -> list[ProfileData]:
        profiles: list[ProfileData] = []
        for record in self._profile_records(ids):
            try:
                profiles.append(parse_profile(record))
            except BadPayload:
                logger.warning("Bluesky getProfiles: skipped a malformed profile")
        return profiles

    def relationships(self, ids: Sequence[str]) -> dict[str, Relationship]:
        wanted = set(ids)
        found: dict[str, Relationship] = {}
        for record in self._profile_records(ids):
            try:
                profile = parse_profile(record)
                relationship = parse_relationship(record)
            except BadPayload:
                logger.warning("Bluesky getProfiles: skipped a malformed profile")
                continue
            asked_by_handle = profile.platform_id not in wanted and profile.handle in wanted
            found[profile.handle if asked_by_handle else profile.platform_id] = relationship
        return found

    def iter_interactions(self, since: datetime | None) -> Iterator[InteractionData]:
        """Notifications that are interactions, newest first, down to ``since`` (inclusive)."""
        since = since.replace(tzinfo=UTC) if since and since.tzinfo is None else since
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": NOTIFICATIONS_PAGE_SIZE}
            if cursor:
                params["cursor"] = cursor
            data = self._query("app.bsky.notification.listNotifications", params, appview=True)
            notifications = data.get("notifications")
            if not isinstance(notifications, list):
                raise BadPayload("Bluesky listNotifications: answer without a notifications list")
            for entry in notifications:
                if _older_than(entry, since):
                    return
                interaction = self._interaction_or_none(entry)
                if interaction is not None:
                    yield interaction
            next_cursor = _cursor(data)
            if not notifications or next_cursor is None or next_cursor == cursor:
                return
            cursor = next_cursor

    def follow(self, platform_user_id: str) -> FollowResult:
        """Follow once: an existing follow is returned; an ambiguous failure is checked before raising."""
        existing = self._existing_follow_uri(platform_user_id)
        if existing:
            return FollowResult(following=True, record_uri=existing)
        try:
            created = self._create_follow_record(platform_user_id)
        except (PlatformUnavailable, BadPayload) as failure:
            return self._follow_confirmed_after_failure(platform_user_id, failure)
        uri = created.get("uri")
        if not isinstance(uri, str) or not uri.startswith("at://"):
            raise BadPayload("Bluesky createRecord: answer without a record uri")
        return FollowResult(following=True, record_uri=uri)

    def _existing_follow_uri(self, did: str) -> str:
        """The AppView's viewer state, else our repo's newest follow records (the AppView indexes late)."""
        return self._following_uri(did) or self._recent_follow_record_uri(did)

    def _recent_follow_record_uri(self, did: str) -> str:
        params = {"repo": self.did, "collection": FOLLOW_COLLECTION, "limit": RECENT_FOLLOWS_CHECKED}
        records = self._query("com.atproto.repo.listRecords", params).get("records")
        if not isinstance(records, list):
            raise BadPayload("Bluesky listRecords: answer without a records list")
        return next((record["uri"] for record in records if _is_follow_record_of(record, did)), "")

    def _following_uri(self, did: str) -> str:
        records = self._profile_records([did])
        if not records:
            raise NotFound(f"Bluesky account {did} not found")
        viewer = records[0].get("viewer") if isinstance(records[0], dict) else None
        following = viewer.get("following") if isinstance(viewer, dict) else None
        return following if isinstance(following, str) else ""

    def _create_follow_record(self, did: str) -> dict[str, Any]:
        record = {"$type": FOLLOW_COLLECTION, "subject": did, "createdAt": _now_iso()}
        body = {"repo": self.did, "collection": FOLLOW_COLLECTION, "record": record}
        return self._procedure("com.atproto.repo.createRecord", body)

    def _follow_confirmed_after_failure(self, did: str, failure: PlatformError) -> FollowResult:
        existing = self._existing_follow_uri(did)
        if existing:
            logger.info("Bluesky follow of %s succeeded despite a failed answer", did)
            return FollowResult(following=True, record_uri=existing)
        raise PlatformUnavailable(
            f"Bluesky createRecord failed and no follow of {did} is visible yet ({failure})"
        ) from failure

    def _profile_records(self, ids: Sequence[str]) -> list[Any]:
        records: list[Any] = []
        unique_ids = list(dict.fromkeys(ids))
        for start in range(0, len(unique_ids), PROFILES_PER_CALL):
            chunk = unique_ids[start : start + PROFILES_PER_CALL]
            data = self._query("app.bsky.actor.getProfiles", {"actors": chunk}, appview=True)
            profiles = data.get("profiles")
            if not isinstance(profiles, list):
                raise BadPayload("Bluesky getProfiles: answer without a profiles list")
            records.extend(profiles)
        return records

    def _interaction_or_none(self, entry: object) -> InteractionData | None:
        try:
            return parse_notification(entry)
        except BadPayload:
            logger.warning("Bluesky listNotifications: skipped a malformed notification")
            return None

    def _query(self, nsid: str, params: Mapping[str, Any], *, appview: bool = False) -> dict[str, Any]:
        return self._call("GET", nsid, params=params, appview=appview)

    def _procedure(self, nsid: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return self._call("POST", nsid, body=body)

    def _call(
        self,
        method: str,
        nsid: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        appview: bool = False,
    ) -> dict[str, Any]:
        headers = self._proxy_headers if appview else {}
        session = self._session
        response = self._send_authenticated(method, nsid, session, params=params, body=body, headers=headers)
        if _is_expired_token(response):
            self._refresh(stale=session)
            response = self._send_authenticated(
                method, nsid, self._session, params=params, body=body, headers=headers
            )
        raise_for_xrpc_error(response, nsid, self._secrets())
        return _decode_json(response, nsid)

    def _send_authenticated(
        self,
        method: str,
        nsid: str,
        session: BlueskySession,
        *,
        params: Mapping[str, Any] | None,
        body: Mapping[str, Any] | None,
        headers: Mapping[str, str],
    ) -> httpx.Response:
        url = _xrpc_url(session.pds_url, nsid)
        response = _send(
            self._client,
            method,
            url,
            nsid,
            token=session.access_jwt,
            params=params,
            body=body,
            headers=headers,
        )
        self._note_rate_limit(response)
        return response

    def _note_rate_limit(self, response: httpx.Response) -> None:
        state = parse_rate_limit(response.headers)
        if state is not None:
            self.rate_limit = state

    def _refresh(self, *, stale: BlueskySession) -> None:
        with self._refresh_lock:
            if self._session.access_jwt != stale.access_jwt:
                return
            if self._refresh_refused:
                raise AuthExpired(
                    "Bluesky session expired and the refresh was refused: reconnect the account"
                )
            nsid = "com.atproto.server.refreshSession"
            url = _xrpc_url(stale.pds_url, nsid)
            response = _send(self._client, "POST", url, nsid, token=stale.refresh_jwt)
            self._note_rate_limit(response)
            if response.status_code in {400, 401}:
                self._refresh_refused = True
                raise AuthExpired(
                    "Bluesky session expired and the refresh was refused: reconnect the account"
                )
            raise_for_xrpc_error(response, nsid, self._secrets())
            self._session = _session_from(_decode_json(response, nsid), stale.pds_url)
            logger.info("Bluesky session refreshed for %s", self._session.did)
            if self._on_session_refreshed is not None:
                self._on_session_refreshed(self._session)

    def _secrets(self) -> tuple[str, str]:
        return (self._session.access_jwt, self._session.refresh_jwt)


def _is_follow_record_of(record: object, did: str) -> bool:
    if not isinstance(record, dict) or not isinstance(record.get("uri"), str):
        return False
    value = record.get("value")
    return isinstance(value, dict) and value.get("subject") == did


def _is_expired_token(response: httpx.Response) -> bool:
    return response.status_code == 400 and _error_fields(response)[0] == "ExpiredToken"


def _older_than(entry: object, since: datetime | None) -> bool:
    if since is None or not isinstance(entry, dict):
        return False
    indexed_at = parse_datetime(entry.get("indexedAt"))
    return indexed_at is not None and indexed_at < since


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
