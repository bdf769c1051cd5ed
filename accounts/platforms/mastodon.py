"""Mastodon connector: OAuth with PKCE, followers, profiles, relationships, follows and notifications.

Plain httpx against the Mastodon REST API (4.x). Pages are followed through the ``Link`` header exactly as the
server sends it, the ``X-RateLimit-*`` headers of every answer are kept on the connector, and every failure is
one of the typed errors of ``accounts.platforms.base``. The access token is only ever sent to the instance it
belongs to and never appears in an error message or a repr.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import math
import re
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlencode

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

SCOPES = "read:accounts read:follows read:notifications read:statuses write:follows"
CLIENT_NAME = "Followback"
FOLLOWERS_PAGE_SIZE = 80
NOTIFICATIONS_PAGE_SIZE = 80
LOOKUP_BATCH_SIZE = 40
NOTIFICATION_KINDS = {
    "mention": InteractionKind.MENTION,
    "reblog": InteractionKind.REPOST,
    "favourite": InteractionKind.LIKE,
    "quote": InteractionKind.QUOTE,
    "follow": InteractionKind.FOLLOW,
}
TYPES_PARAM = "types[]"
DEFAULT_AVATAR_SUFFIX = "/avatars/original/missing.png"
MAX_PLAUSIBLE_COUNT = 2_000_000_000
DEFAULT_RETRY_AFTER = 60.0
MAX_RETRY_AFTER = 86_400.0
MAX_MESSAGE_CHARS = 300
DEFAULT_TIMEOUT = httpx.Timeout(15.0, connect=5.0)
USER_AGENT = "followback/0.1 (+mastodon connector)"
BATCH_LOOKUP_UNSUPPORTED = frozenset({404, 422})
TOKEN_PROBLEMS = ("invalid_token", "insufficient_scope", "access token", "authorized scopes")

Clock = Callable[[], datetime]
QueryPairs = tuple[tuple[str, str], ...]

_LINK = re.compile(r"<([^>]*)>([^<]*)")
_REL = re.compile(r"""(?:^|;)\s*rel\s*=\s*(?:"([^"]*)"|([^\s;,"]+))""", re.IGNORECASE)
_DIGITS = re.compile(r"\d{1,12}", re.ASCII)
_EPOCH = re.compile(r"\d{9,12}(?:\.\d{1,9})?", re.ASCII)
_BLANK_LINES = re.compile(r"\n{3,}")
_HOST = re.compile(r"[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?|[0-9a-f:.]*:[0-9a-f:.]*", re.ASCII)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class AppCredentials:
    """The OAuth client Mastodon registered for us on one instance."""

    instance_url: str
    client_id: str
    client_secret: str = field(repr=False)
    redirect_uri: str


@dataclass(frozen=True, slots=True)
class PkcePair:
    verifier: str = field(repr=False)
    challenge: str


# Parsing: pure functions over decoded JSON; the only exception they raise is BadPayload.


def parse_account(data: object) -> ProfileData:
    """A Mastodon Account entity as ProfileData; missing optional fields take their defaults."""
    record = _object(data, "account")
    avatar = _text(record.get("avatar"))
    return ProfileData(
        platform_id=_required_id(record, "id", "account"),
        handle=_required_text(record, "acct", "account"),
        uri=_text(record.get("uri")),
        display_name=_text(record.get("display_name")),
        bio=html_to_text(_text(record.get("note"))),
        avatar_url=avatar,
        avatar_is_default=is_default_avatar(avatar),
        created_at=parse_datetime(record.get("created_at")),
        followers_count=_count(record.get("followers_count")),
        following_count=_count(record.get("following_count")),
        posts_count=_count(record.get("statuses_count")),
        last_post_at=parse_datetime(record.get("last_status_at")),
        is_bot=record.get("bot") is True,
        is_locked=record.get("locked") is True,
        is_group=record.get("group") is True,
        moved=_is_moved(record.get("moved")),
        suspended=record.get("suspended") is True,
        limited=record.get("limited") is True,
        verified_links=_verified_links(record.get("fields")),
        profile_url=_text(record.get("url")),
    )


def parse_relationship(data: object) -> tuple[str, Relationship]:
    """A Relationship entity as (account id, Relationship)."""
    record = _object(data, "relationship")
    return _required_id(record, "id", "relationship"), Relationship(
        following=record.get("following") is True,
        followed_by=record.get("followed_by") is True,
        requested=record.get("requested") is True,
    )


def parse_notification(data: object, brand_account_id: str = "") -> InteractionData | None:
    """A v1 Notification as an interaction; None for notification types we do not track.

    A mention is a REPLY when its status answers one of the brand account's statuses.
    """
    record = _object(data, "notification")
    kind = _interaction_kind(record, brand_account_id)
    if kind is None:
        return None
    created_at = parse_datetime(record.get("created_at"))
    if created_at is None:
        raise BadPayload("notification has no valid created_at")
    return InteractionData(
        platform_event_id=_required_id(record, "id", "notification"),
        kind=kind,
        actor=parse_account(record.get("account")),
        created_at=created_at,
    )


def parse_link_header(value: object) -> dict[str, str]:
    """The targets of a ``Link`` header by relation (``next``, ``prev``), URLs exactly as written."""
    if value is None:
        return {}
    if not isinstance(value, str):
        raise BadPayload("Link header is not text")
    links: dict[str, str] = {}
    for target, params in _LINK.findall(value):
        relation = _REL.search(params)
        if not target.strip() or relation is None:
            continue
        for name in (relation.group(1) or relation.group(2)).lower().split():
            links.setdefault(name, target.strip())
    return links


def parse_rate_limit(headers: object) -> RateLimitState:
    """``X-RateLimit-Limit``, ``-Remaining`` and ``-Reset`` (ISO-8601 or epoch seconds) from headers."""
    if not isinstance(headers, Mapping):
        raise BadPayload("headers are not a mapping")
    values = {str(key).lower(): value for key, value in headers.items() if isinstance(value, str)}
    return RateLimitState(
        limit=_header_count(values.get("x-ratelimit-limit")),
        remaining=_header_count(values.get("x-ratelimit-remaining")),
        reset_at=_parse_reset(values.get("x-ratelimit-reset")),
    )


def parse_datetime(value: object) -> datetime | None:
    """An ISO-8601 datetime or date (``last_status_at`` is a bare date) as an aware UTC datetime."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def html_to_text(html: str) -> str:
    """Mastodon's HTML as plain text: tags dropped, entities unescaped, line and paragraph breaks kept."""
    if "<" not in html and "&" not in html:
        return html.strip()
    extractor = _TextExtractor()
    extractor.feed(html.replace("<![", "&lt;!["))
    extractor.close()
    return extractor.text()


def is_default_avatar(avatar_url: str) -> bool:
    return not avatar_url or avatar_url.split("?", 1)[0].endswith(DEFAULT_AVATAR_SUFFIX)


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self._parts.append("\n")
        elif tag == "p":
            self._parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "p":
            self._parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        self._parts.append(data)

    def text(self) -> str:
        return _BLANK_LINES.sub("\n\n", "".join(self._parts)).strip()


def _object(data: object, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise BadPayload(f"{what} is not a JSON object")
    return data


def _required_id(record: Mapping[str, Any], key: str, what: str) -> str:
    value = record.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return _required_text(record, key, what)


def _required_text(record: Mapping[str, Any], key: str, what: str) -> str:
    value = _text(record.get(key))
    if not value.strip():
        raise BadPayload(f"{what} has no {key}")
    return value


def _optional_id(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value if isinstance(value, str) else ""


def _text(value: object) -> str:
    return storable_text(value) if isinstance(value, str) else ""


def _count(value: object) -> int:
    """A non-negative count; negative, absurd or non-numeric values become 0."""
    if isinstance(value, str) and _DIGITS.fullmatch(value := value.strip()):
        value = int(value)
    if isinstance(value, float):
        value = int(value) if math.isfinite(value) else 0
    if isinstance(value, bool) or not isinstance(value, int):
        return 0
    return value if 0 <= value <= MAX_PLAUSIBLE_COUNT else 0


def _is_moved(value: object) -> bool:
    return isinstance(value, dict) or value is True


def _verified_links(fields: object) -> int:
    if not isinstance(fields, list):
        return 0
    return sum(1 for item in fields if isinstance(item, dict) and item.get("verified_at") is not None)


def _interaction_kind(record: Mapping[str, Any], brand_account_id: str) -> InteractionKind | None:
    notification_type = record.get("type")
    if not isinstance(notification_type, str):
        raise BadPayload("notification has no type")
    kind = NOTIFICATION_KINDS.get(notification_type)
    if kind is InteractionKind.MENTION and _replies_to(record.get("status"), brand_account_id):
        return InteractionKind.REPLY
    return kind


def _replies_to(status: object, account_id: str) -> bool:
    return (
        bool(account_id)
        and isinstance(status, dict)
        and _optional_id(status.get("in_reply_to_account_id")) == account_id
    )


def _header_count(value: str | None) -> int | None:
    if value is None or not _DIGITS.fullmatch(value := value.strip()):
        return None
    return int(value)


def _parse_reset(value: str | None) -> datetime | None:
    if value is None:
        return None
    if not _EPOCH.fullmatch(value := value.strip()):
        return parse_datetime(value)
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """``Retry-After`` as seconds from now: either delta-seconds or an HTTP date."""
    if value is None:
        return None
    if _DIGITS.fullmatch(value := value.strip()):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when
    return (when - now).total_seconds()


# OAuth: register the app, send a person to the instance, exchange the code they bring back.


def normalize_instance_url(value: str) -> str:
    """``mastodon.social`` or ``https://mastodon.social/`` → ``https://mastodon.social``; else ValueError."""
    candidate = value.strip()
    if "://" not in candidate:
        candidate = f"https://{candidate}"
    try:
        url = httpx.URL(candidate)
    except httpx.InvalidURL as error:
        raise ValueError("not a Mastodon instance URL") from error
    if url.scheme not in ("http", "https") or not _HOST.fullmatch(url.raw_host.decode("ascii").lower()):
        raise ValueError("not a Mastodon instance URL")
    return f"{url.scheme}://{url.netloc.decode('ascii')}"


def make_pkce_pair() -> PkcePair:
    """A fresh PKCE verifier and its S256 challenge (RFC 7636)."""
    verifier = secrets.token_urlsafe(64)
    return PkcePair(verifier=verifier, challenge=pkce_challenge(verifier))


def pkce_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def register_app(
    instance_url: str, redirect_uri: str, client: httpx.Client | None = None, *, website: str = ""
) -> AppCredentials:
    """POST /api/v1/apps: an OAuth client for Followback on this instance."""
    form = {"client_name": CLIENT_NAME, "redirect_uris": redirect_uri, "scopes": SCOPES}
    if website:
        form["website"] = website
    with closing(_Api(instance_url, client=client)) as api:
        record = _object(api.post_json("/api/v1/apps", data=form), "application")
        return AppCredentials(
            instance_url=api.base_url,
            client_id=_required_text(record, "client_id", "application"),
            client_secret=_required_text(record, "client_secret", "application"),
            redirect_uri=redirect_uri,
        )


def authorization_url(
    instance_url: str, client_id: str, redirect_uri: str, state: str, code_challenge: str
) -> str:
    """Where to send a person to approve Followback on their instance (authorization code + PKCE S256)."""
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": SCOPES,
            "state": state,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
        }
    )
    return f"{normalize_instance_url(instance_url)}/oauth/authorize?{query}"


def exchange_code(
    credentials: AppCredentials, code: str, code_verifier: str, client: httpx.Client | None = None
) -> str:
    """POST /oauth/token: the user access token for the authorization code the redirect brought back."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": credentials.client_id,
        "client_secret": credentials.client_secret,
        "redirect_uri": credentials.redirect_uri,
        "code_verifier": code_verifier,
        "scope": SCOPES,
    }
    hidden = (credentials.client_secret, code, code_verifier)
    with closing(_Api(credentials.instance_url, client=client, hidden=hidden)) as api:
        record = _object(api.post_json("/oauth/token", data=form), "token")
        return _required_text(record, "access_token", "token")


def verify_credentials(
    instance_url: str, access_token: str, client: httpx.Client | None = None
) -> ProfileData:
    """GET /api/v1/accounts/verify_credentials: the account the token belongs to."""
    with closing(_Api(instance_url, access_token=access_token, client=client)) as api:
        return _own_account(api)


def _own_account(api: _Api) -> ProfileData:
    return parse_account(api.get_json("/api/v1/accounts/verify_credentials"))


# The connector.


class MastodonConnector:
    """One brand account on one Mastodon instance, behind the Connector interface."""

    def __init__(
        self,
        instance_url: str,
        access_token: str,
        account_id: str,
        *,
        client: httpx.Client | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.account_id = account_id
        self._api = _Api(instance_url, access_token=access_token, client=client, clock=clock)
        self._batch_lookup = True

    def __repr__(self) -> str:
        return f"MastodonConnector({self.instance_url!r}, account_id={self.account_id!r})"

    def __enter__(self) -> MastodonConnector:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._api.close()

    @property
    def instance_url(self) -> str:
        return self._api.base_url

    @property
    def rate_limit(self) -> RateLimitState:
        """What the instance said about our budget in its latest answer."""
        return self._api.rate_limit

    def verify_credentials(self) -> ProfileData:
        return _own_account(self._api)

    def iter_follower_pages(self, cursor: str | None) -> Iterator[FollowerPage]:
        """Followers newest first; ``cursor`` is an earlier page's ``next_cursor``, None to start over."""
        for profiles, bad_records, next_url in self._account_pages("followers", cursor):
            yield FollowerPage(profiles=profiles, next_cursor=next_url, bad_records=bad_records)

    def iter_following_pages(self, cursor: str | None) -> Iterator[FollowingPage]:
        """The accounts the brand follows, newest follow first; ``cursor`` is an earlier page's ``next_cursor``."""
        for profiles, _, next_url in self._account_pages("following", cursor):
            yield FollowingPage(ids=[profile.platform_id for profile in profiles], next_cursor=next_url)

    def _account_pages(
        self, listing: str, cursor: str | None
    ) -> Iterator[tuple[list[ProfileData], int, str | None]]:
        """The brand's ``followers`` or ``following``, a page at a time from ``cursor``, following the Link header:
        (accounts, malformed records skipped, the next page's URL or None)."""
        url: str | None = cursor or self._api.url(
            f"/api/v1/accounts/{_path_id(self.account_id)}/{listing}?limit={FOLLOWERS_PAGE_SIZE}"
        )
        while url is not None:
            records, links = self._get_list(url)
            profiles, bad_records = _parse_accounts(records)
            if bad_records:
                logger.warning(
                    "skipped %d malformed %s records from %s", bad_records, listing, self._api.host
                )
            next_url = self._next_url(url, links) if records else None
            yield profiles, bad_records, next_url
            url = next_url

    def get_profiles(self, ids: Sequence[str]) -> list[ProfileData]:
        """Current profiles for these account ids; accounts the instance no longer knows are left out."""
        profiles: list[ProfileData] = []
        for batch in _batches(ids, LOOKUP_BATCH_SIZE):
            looked_up = self._lookup_batch(batch) if self._batch_lookup else self._lookup_each(batch)
            profiles.extend(looked_up)
        return profiles

    def relationships(self, ids: Sequence[str]) -> dict[str, Relationship]:
        found: dict[str, Relationship] = {}
        for batch in _batches(ids, LOOKUP_BATCH_SIZE):
            params = (*_id_params(batch), ("with_suspended", "true"))
            records, _ = self._get_list(self._api.url("/api/v1/accounts/relationships"), params)
            for record in records:
                try:
                    account_id, relationship = parse_relationship(record)
                except BadPayload:
                    continue
                found[account_id] = relationship
        return found

    def follow(self, platform_user_id: str) -> FollowResult:
        """Follow (or, for a locked account, ask to follow); following twice changes nothing on Mastodon."""
        body = self._api.post_json(f"/api/v1/accounts/{_path_id(platform_user_id)}/follow")
        _, relationship = parse_relationship(body)
        return FollowResult(following=relationship.following, requested=relationship.requested)

    def iter_interactions(self, since: datetime | None) -> Iterator[InteractionData]:
        """Mentions, replies, reposts, likes, quotes and follows, newest first, down to ``since``."""
        cutoff = since.replace(tzinfo=UTC) if since is not None and since.tzinfo is None else since
        url: str | None = str(
            httpx.URL(
                self._api.url("/api/v1/notifications"),
                params=(*_types_params(), ("limit", str(NOTIFICATIONS_PAGE_SIZE))),
            )
        )
        while url is not None:
            records, links = self._get_list(url)
            for record in records:
                if cutoff is not None and _older_than(record, cutoff):
                    return
                interaction = self._parse_interaction(record)
                if interaction is not None:
                    yield interaction
            url = self._next_url(url, links, keep_types=True) if records else None

    def _parse_interaction(self, record: object) -> InteractionData | None:
        try:
            return parse_notification(record, self.account_id)
        except BadPayload as error:
            logger.warning("skipped a malformed notification from %s: %s", self._api.host, error)
            return None

    def _lookup_batch(self, batch: list[str]) -> list[ProfileData]:
        response = self._api.send("GET", self._api.url("/api/v1/accounts"), params=_id_params(batch))
        if response.status_code in BATCH_LOOKUP_UNSUPPORTED:
            self._batch_lookup = False
            return self._lookup_each(batch)
        self._api.raise_for_status(response)
        profiles, _ = _parse_accounts(_list(self._api.decode(response)))
        wanted = set(batch)
        return [profile for profile in profiles if profile.platform_id in wanted]

    def _lookup_each(self, batch: list[str]) -> list[ProfileData]:
        profiles: list[ProfileData] = []
        for account_id in batch:
            try:
                body = self._api.get_json(f"/api/v1/accounts/{_path_id(account_id)}")
                profiles.append(parse_account(body))
            except NotFound:
                continue
            except BadPayload as error:
                logger.warning("skipped a malformed account from %s: %s", self._api.host, error)
        return profiles

    def _get_list(self, url: str, params: QueryPairs | None = None) -> tuple[list[Any], dict[str, str]]:
        response = self._api.send("GET", url, params=params)
        self._api.raise_for_status(response)
        records = _list(self._api.decode(response))
        return records, parse_link_header(", ".join(response.headers.get_list("link")) or None)

    def _next_url(self, current: str, links: Mapping[str, str], *, keep_types: bool = False) -> str | None:
        """The absolute ``rel="next"`` target on this instance, with types[] back if the link dropped it."""
        target = links.get("next")
        if target is None:
            return None
        try:
            parsed = httpx.URL(target)
            next_url = target if parsed.is_absolute_url else str(httpx.URL(current).join(parsed))
            if keep_types:
                next_url = _with_types(next_url)
        except httpx.InvalidURL:
            raise BadPayload("the next page link is not a URL") from None
        self._api.check_origin(next_url)
        if next_url == current:
            raise BadPayload("the next page link points at the page itself")
        return next_url


def _list(body: object) -> list[Any]:
    if not isinstance(body, list):
        raise BadPayload("expected a JSON list")
    return body


def _parse_accounts(records: Iterable[object]) -> tuple[list[ProfileData], int]:
    profiles: list[ProfileData] = []
    bad_records = 0
    for record in records:
        try:
            profiles.append(parse_account(record))
        except BadPayload:
            bad_records += 1
    return profiles, bad_records


def _older_than(record: object, cutoff: datetime) -> bool:
    created_at = parse_datetime(record.get("created_at")) if isinstance(record, dict) else None
    return created_at is not None and created_at < cutoff


def _batches(ids: Sequence[str], size: int) -> Iterator[list[str]]:
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), size):
        yield unique[start : start + size]


def _id_params(ids: Iterable[str]) -> QueryPairs:
    return tuple(("id[]", account_id) for account_id in ids)


def _types_params() -> QueryPairs:
    return tuple((TYPES_PARAM, name) for name in NOTIFICATION_KINDS)


def _with_types(url: str) -> str:
    parsed = httpx.URL(url)
    if TYPES_PARAM in parsed.params:
        return url
    return str(parsed.copy_merge_params(_types_params()))


def _path_id(account_id: str) -> str:
    if not account_id or not account_id.strip("."):
        raise NotFound("not a Mastodon account id")
    return quote(account_id, safe="")


# HTTP: one place that sends, keeps rate-limit state and turns answers into typed errors.


class _Api:
    def __init__(
        self,
        instance_url: str,
        *,
        access_token: str | None = None,
        client: httpx.Client | None = None,
        clock: Clock = utcnow,
        hidden: Iterable[str] = (),
    ) -> None:
        self.base_url = normalize_instance_url(instance_url)
        self.host = httpx.URL(self.base_url).host
        self.rate_limit = RateLimitState()
        self._origin = _origin(self.base_url)
        self._access_token = access_token
        self._hidden = tuple(value for value in (access_token, *hidden) if value)
        self._owns_client = client is None
        self._client = (
            client if client is not None else httpx.Client(timeout=DEFAULT_TIMEOUT, verify=tls_context())
        )
        self._clock = clock

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def get_json(self, path: str) -> object:
        response = self.send("GET", self.url(path))
        self.raise_for_status(response)
        return self.decode(response)

    def post_json(self, path: str, data: Mapping[str, str] | None = None) -> object:
        response = self.send("POST", self.url(path), data=data)
        self.raise_for_status(response)
        return self.decode(response)

    def check_origin(self, url: str) -> None:
        """Credentials only ever go to the instance they belong to."""
        try:
            same = _origin(url) == self._origin
        except httpx.InvalidURL:
            same = False
        if not same:
            raise BadPayload("refusing to follow a link away from the instance")

    def send(
        self,
        method: str,
        url: str,
        *,
        params: QueryPairs | None = None,
        data: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        self.check_origin(url)
        try:
            response = self._client.request(method, url, params=params, data=data, headers=self._headers())
        except httpx.DecodingError:
            raise BadPayload(f"{self.host} sent a body that could not be decoded") from None
        except httpx.TransportError as error:
            reason = self._redact(f"{type(error).__name__}: {error}")
            raise PlatformUnavailable(f"{self.host} could not be reached ({reason})") from None
        except httpx.HTTPError as error:
            raise PlatformError(f"{self.host}: {type(error).__name__}") from None
        self._remember_rate_limit(response.headers)
        return response

    def raise_for_status(self, response: httpx.Response) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        if status == 429:
            raise RateLimited(self._retry_after(response), message=f"{self.host} rate limit reached")
        reason = f"{self.host} answered HTTP {status}: {self._error_text(response)}"
        if status == 401 or (status == 403 and self._is_token_problem(response, reason)):
            raise AuthExpired(reason)
        if status in (404, 410):
            raise NotFound(reason)
        if status >= 500:
            raise PlatformUnavailable(reason)
        raise PlatformError(reason)

    def decode(self, response: httpx.Response) -> object:
        try:
            return json.loads(response.content)
        except (ValueError, RecursionError):
            raise BadPayload(f"{self.host} answered something that is not JSON") from None

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if self._access_token:
            headers["Authorization"] = f"Bearer {self._access_token}"
        return headers

    def _remember_rate_limit(self, headers: httpx.Headers) -> None:
        state = parse_rate_limit(headers)
        if state.limit is not None or state.remaining is not None or state.reset_at is not None:
            self.rate_limit = state

    def _retry_after(self, response: httpx.Response) -> float:
        """The longer of the wait until the window resets and ``Retry-After``: either alone may be skewed."""
        now = self._clock()
        reset_at = parse_rate_limit(response.headers).reset_at
        waits = [_retry_after_seconds(response.headers.get("retry-after"), now)]
        if reset_at is not None:
            waits.append((reset_at - now).total_seconds())
        seconds = max((wait for wait in waits if wait is not None), default=DEFAULT_RETRY_AFTER)
        return min(max(seconds, 1.0), MAX_RETRY_AFTER)

    def _error_text(self, response: httpx.Response) -> str:
        try:
            body = json.loads(response.content)
        except (ValueError, RecursionError):
            body = None
        parts = [body.get(key) for key in ("error", "error_description")] if isinstance(body, dict) else []
        text = ": ".join(part for part in parts if isinstance(part, str) and part) or response.reason_phrase
        return self._redact(text)[:MAX_MESSAGE_CHARS]

    def _is_token_problem(self, response: httpx.Response, reason: str) -> bool:
        challenge = f"{response.headers.get('www-authenticate', '')} {reason}".lower()
        return any(problem in challenge for problem in TOKEN_PROBLEMS)

    def _redact(self, text: str) -> str:
        for value in self._hidden:
            text = text.replace(value, "[redacted]")
        return text


def _origin(url: str) -> tuple[str, str, int | None]:
    parsed = httpx.URL(url)
    default_port = {"http": 80, "https": 443}.get(parsed.scheme)
    return parsed.scheme, parsed.host, parsed.port or default_port
