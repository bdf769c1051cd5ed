"""A fake Mastodon instance over real HTTP on 127.0.0.1, speaking the wire format of Mastodon 4.x.

Pagination is Mastodon's: followers are paged by follow id through ``Link`` headers carrying ``max_id``
(next, only after a full page) and ``since_id`` (prev); notifications by notification id with ``max_id`` and
``min_id``, keeping ``limit``, ``types[]`` and ``exclude_types[]`` in the links. Every API answer carries
``X-RateLimit-Limit`` / ``-Remaining`` / ``-Reset`` (ISO-8601) for fixed windows of the injectable clock,
and an exhausted window answers 429 ``{"error": "Too many requests"}`` like Rack::Attack. OAuth app
registration, ``/oauth/authorize`` (auto-approved, redirecting with a code) and ``/oauth/token`` with PKCE
S256 are real.

Followers are generated lazily from their position (1 is the first to follow, ``follower_count`` the
newest): a hundred thousand cost nothing until paged. ``follows_done`` is what really happened; ``requests``
is what the fake answered. Quirks of other servers are switched on by constructor flags, faults by
``fail_next``.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

BRAND_ID = "109000000000000001"
BRAND_ACCT = "acmecoffee"
DEFAULT_ACCESS_TOKEN = "fake-mastodon-access-token-5f2c9e7a41d3"
FOLLOWER_ID_BASE = 110_000_000_000_000_000
EXTRA_ID_BASE = 120_000_000_000_000_000
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
ACCOUNTS_LIMIT = (40, 80)
NOTIFICATIONS_LIMIT = (40, 80)
STATUS_TYPES = frozenset({"mention", "status", "reblog", "favourite", "poll", "update", "quote"})
INVALID_TOKEN = "The access token is invalid"
NOT_FOUND = "Record not found"
ROUTES = [
    ("POST", re.compile(r"/api/v1/apps"), "_register_app"),
    ("GET", re.compile(r"/oauth/authorize"), "_authorize"),
    ("POST", re.compile(r"/oauth/token"), "_issue_token"),
    ("GET", re.compile(r"/api/v1/accounts/verify_credentials"), "_verify_credentials"),
    ("GET", re.compile(r"/api/v1/accounts/relationships"), "_relationships"),
    ("GET", re.compile(r"/api/v1/accounts"), "_accounts"),
    ("GET", re.compile(r"/api/v1/accounts/(?P<account_id>[^/]+)"), "_show_account"),
    ("GET", re.compile(r"/api/v1/accounts/(?P<account_id>[^/]+)/followers"), "_followers"),
    ("GET", re.compile(r"/api/v1/accounts/(?P<account_id>[^/]+)/following"), "_following"),
    ("POST", re.compile(r"/api/v1/accounts/(?P<account_id>[^/]+)/follow"), "_follow"),
    ("GET", re.compile(r"/api/v1/notifications"), "_list_notifications"),
]


class MastodonError(Exception):
    def __init__(self, status: int, error: str, description: str = "", headers: dict[str, str] | None = None):
        super().__init__(error)
        self.status, self.error, self.description = status, error, description
        self.headers = headers or {}


@dataclass(frozen=True, slots=True)
class Fault:
    """How the fake misbehaves for one request (to a path containing ``path``, if given).

    ``after_commit`` lets the request take effect before the answer goes wrong: a follow that happened but
    whose answer was lost.
    """

    status: int | None = None
    error: str = "Something went wrong"
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    bad_json: bool = False
    close: bool = False
    hang: float = 0.0
    after_commit: bool = False
    path: str | None = None


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    outcome: int | str
    at: float = 0.0  # on the fake's clock


@dataclass(frozen=True, slots=True)
class _App:
    name: str
    client_secret: str
    redirect_uris: tuple[str, ...]
    scopes: frozenset[str]


@dataclass(frozen=True, slots=True)
class _Grant:
    client_id: str
    redirect_uri: str
    scope: str
    challenge: str
    challenge_method: str


@dataclass(frozen=True, slots=True)
class _Notification:
    id: int
    type: str
    account_id: str
    created_at: datetime
    reply_to_brand: bool
    malformed: bool


@dataclass(slots=True)
class _Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def follower_id(position: int) -> str:
    """The account id of the generated follower at ``position``."""
    return str(FOLLOWER_ID_BASE + position)


def mastodon_time(moment: datetime) -> str:
    """Mastodon's datetime format: ``2026-08-01T13:51:39.668Z``."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def account_json(account_id: str, acct: str, base_url: str, **overrides: Any) -> dict[str, Any]:
    """An Account entity as Mastodon 4.x serialises it, with ``overrides`` applied."""
    username, _, domain = acct.partition("@")
    home = f"https://{domain}" if domain else base_url
    record: dict[str, Any] = {
        "id": account_id,
        "username": username,
        "acct": acct,
        "display_name": "",
        "locked": False,
        "bot": False,
        "discoverable": True,
        "indexable": True,
        "group": False,
        "created_at": "2024-01-01T00:00:00.000Z",
        "note": "",
        "url": f"{home}/@{username}",
        "uri": f"{home}/users/{username}",
        "avatar": f"{base_url}/avatars/original/missing.png",
        "avatar_static": f"{base_url}/avatars/original/missing.png",
        "avatar_description": "",
        "header": f"{base_url}/headers/original/missing.png",
        "header_static": f"{base_url}/headers/original/missing.png",
        "header_description": "",
        "followers_count": 0,
        "following_count": 0,
        "statuses_count": 0,
        "last_status_at": None,
        "hide_collections": None,
        "noindex": False,
        "emojis": [],
        "roles": [],
        "fields": [],
    }
    record.update(overrides)
    return record


def follower_account(position: int, base_url: str) -> dict[str, Any]:
    """The deterministic follower at ``position``: local and remote, some locked, bots or quiet."""
    username = f"follower{position}"
    acct = f"{username}@remote{position % 7}.example" if position % 3 == 0 else username
    created = EPOCH - timedelta(days=position % 1500, minutes=position % 1440)
    avatar = (
        f"{base_url}/avatars/original/missing.png"
        if position % 4 == 0
        else f"{base_url}/system/accounts/avatars/{position}/original/avatar.png"
    )
    verified = mastodon_time(created) if position % 5 == 0 else None
    last_status = None if position % 13 == 0 else (EPOCH + timedelta(days=position % 365)).date().isoformat()
    return account_json(
        follower_id(position),
        acct,
        base_url,
        display_name=f"Follower {position}",
        note=f"<p>Follower number {position}.<br />Coffee &amp; tea.</p>",
        locked=position % 11 == 0,
        bot=position % 17 == 0,
        group=position % 101 == 0,
        created_at=mastodon_time(created),
        avatar=avatar,
        avatar_static=avatar,
        followers_count=(position * 37) % 5000,
        following_count=(position * 53) % 2000,
        statuses_count=(position * 101) % 10_000,
        last_status_at=last_status,
        fields=[{"name": "Website", "value": f"https://{username}.example", "verified_at": verified}],
    )


def pkce_s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


class FakeMastodon:
    """One brand account with ``follower_count`` followers, served on ``self.url`` until ``stop()``.

    ``followers`` are account JSON objects (each with an ``id``) that follow after the generated ones.
    Quirks: ``trailing_empty_page`` answers the page after the last with ``[]`` and a next link anyway;
    ``link_drops_types`` leaves ``types[]`` out of notification links; ``batch_lookup=False`` is a server
    older than 4.3 without ``GET /api/v1/accounts?id[]=``; ``malformed_followers`` are positions served
    without ``id`` and ``acct``.
    """

    def __init__(
        self,
        *,
        follower_count: int = 250,
        followers: Iterable[dict[str, Any]] = (),
        access_token: str = DEFAULT_ACCESS_TOKEN,
        malformed_followers: Iterable[int] = (),
        trailing_empty_page: bool = False,
        link_drops_types: bool = False,
        batch_lookup: bool = True,
        rate_limit: int = 300,
        rate_window: int = 300,
        retry_after_header: bool = False,
        clock: Callable[[], float] = time.time,
        following: Iterable[str] = (),
    ) -> None:
        self.follower_count = follower_count
        self.malformed_followers = set(malformed_followers)
        self.trailing_empty_page = trailing_empty_page
        self.link_drops_types = link_drops_types
        self.batch_lookup = batch_lookup
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.retry_after_header = retry_after_header
        self.clock = clock
        self.tokens: set[str] = {access_token}
        self.following: set[str] = set(following)
        self.requested: set[str] = set()
        self.follows_done: list[str] = []
        self.requests: list[LoggedRequest] = []
        self.apps: dict[str, _App] = {}
        self._grants: dict[str, _Grant] = {}
        self._extra_accounts: dict[str, dict[str, Any]] = {}
        self._explicit_followers: dict[int, dict[str, Any]] = {}
        self._explicit_positions: dict[str, int] = {}
        self._unfollowed: set[int] = set()
        self._notifications: list[_Notification] = []
        self._faults: list[Fault] = []
        self._window_counts: dict[tuple[str, int], int] = {}
        self._ids = itertools.count(1)
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.fake = self
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        for account in followers:
            self._append_follower(account)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="fake-mastodon",
            daemon=True,
        )
        self._thread.start()

    def __enter__(self) -> FakeMastodon:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # Arranging the world.

    def fail_next(self, count: int = 1, **fault: Any) -> None:
        """The next ``count`` requests (to a path containing ``path``, if given) misbehave as Fault says."""
        with self._lock:
            self._faults.extend([Fault(**fault)] * count)

    def revoke_token(self, token: str) -> None:
        with self._lock:
            self.tokens.discard(token)

    def add_account(self, acct: str, **fields: Any) -> str:
        """An account that does not follow the brand (``locked=True`` for one that approves followers)."""
        with self._lock:
            account_id = str(EXTRA_ID_BASE + next(self._ids))
            self._extra_accounts[account_id] = account_json(account_id, acct, self.url, **fields)
        return account_id

    def add_follower(self, acct: str, **fields: Any) -> str:
        """A new newest follower with these account fields; returns its id."""
        with self._lock:
            account_id = str(EXTRA_ID_BASE + next(self._ids))
            self._append_follower(account_json(account_id, acct, self.url, **fields))
        return account_id

    def _append_follower(self, account: dict[str, Any]) -> None:
        self.follower_count += 1
        self._explicit_followers[self.follower_count] = account
        self._explicit_positions[str(account["id"])] = self.follower_count

    def remove_follower(self, account_id: str) -> None:
        with self._lock:
            position = self._follower_position(account_id)
            if position is not None:
                self._unfollowed.add(position)

    def approve_follow_request(self, account_id: str) -> None:
        with self._lock:
            if account_id in self.requested:
                self.requested.discard(account_id)
                self.following.add(account_id)

    def add_notification(
        self,
        kind: str,
        account_id: str,
        *,
        created_at: datetime | None = None,
        reply_to_brand: bool = False,
        malformed: bool = False,
    ) -> str:
        """A notification of ``kind`` (mention, reblog, favourite, quote, follow, poll…) from an account."""
        with self._lock:
            notification = _Notification(
                id=next(self._ids),
                type=kind,
                account_id=account_id,
                created_at=created_at or datetime.fromtimestamp(self.clock(), UTC),
                reply_to_brand=reply_to_brand,
                malformed=malformed,
            )
            self._notifications.append(notification)
        return str(notification.id)

    # Reading what happened.

    def calls(self, path: str, method: str = "GET") -> list[LoggedRequest]:
        with self._lock:
            return [request for request in self.requests if request.path == path and request.method == method]

    def account(self, account_id: str) -> dict[str, Any] | None:
        with self._lock:
            if account_id == BRAND_ID:
                return self._brand()
            if account_id in self._extra_accounts:
                return self._extra_accounts[account_id]
            position = self._follower_position(account_id)
            return None if position is None else self._follower(position)

    # Serving; the handler thread calls these.

    def hang(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    def take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for position, fault in enumerate(self._faults):
                if fault.path is None or fault.path in path:
                    return self._faults.pop(position)
        return None

    def log(self, method: str, path: str, query: dict[str, list[str]], outcome: int | str) -> None:
        with self._lock:
            self.requests.append(LoggedRequest(method, path, query, outcome, at=self.clock()))

    def handle(
        self, method: str, path: str, query: dict[str, list[str]], body: dict[str, Any], auth: str
    ) -> _Reply:
        with self._lock:
            headers: dict[str, str] = {}
            try:
                if path.startswith("/api/") and (method, path) != ("POST", "/api/v1/apps"):
                    token = self._authenticate(auth)
                    headers = self._count_request(token)
                return self._route(method, path, query, body, headers)
            except MastodonError as error:
                payload = {"error": error.error}
                if error.description:
                    payload["error_description"] = error.description
                return _Reply(error.status, _json(payload), {**headers, **error.headers})

    def _authenticate(self, auth: str) -> str:
        token = auth.removeprefix("Bearer ")
        if not auth.startswith("Bearer ") or token not in self.tokens:
            challenge = (
                f'Bearer realm="Doorkeeper", error="invalid_token", error_description="{INVALID_TOKEN}"'
            )
            raise MastodonError(401, INVALID_TOKEN, headers={"WWW-Authenticate": challenge})
        return token

    def _count_request(self, token: str) -> dict[str, str]:
        now = self.clock()
        window = int(now // self.rate_window)
        used = self._window_counts.get((token, window), 0) + 1
        self._window_counts[(token, window)] = used
        reset = datetime.fromtimestamp((window + 1) * self.rate_window, UTC)
        headers = {
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": str(max(0, self.rate_limit - used)),
            "X-RateLimit-Reset": f"{reset:%Y-%m-%dT%H:%M:%S.%f}Z",
        }
        if used > self.rate_limit:
            if self.retry_after_header:
                headers["Retry-After"] = str(max(1, int(reset.timestamp() - now)))
            raise MastodonError(429, "Too many requests", headers=headers)
        return headers

    def _route(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        body: dict[str, Any],
        headers: dict[str, str],
    ) -> _Reply:
        for route_method, pattern, handler_name in ROUTES:
            match = pattern.fullmatch(path)
            if match and route_method == method:
                handler: Callable[..., _Reply] = getattr(self, handler_name)
                return handler(query=query, body=body, headers=headers, **match.groupdict())
        raise MastodonError(404, NOT_FOUND)

    # OAuth.

    def _register_app(self, *, body: dict[str, Any], **_: Any) -> _Reply:
        name, redirect_uris = _field(body, "client_name"), _field(body, "redirect_uris")
        if not name or not redirect_uris:
            raise MastodonError(422, "Validation failed: Application name can't be blank")
        uris = tuple(redirect_uris.split())
        if not all(uri == "urn:ietf:wg:oauth:2.0:oob" or urlsplit(uri).scheme for uri in uris):
            raise MastodonError(422, "Validation failed: Redirect URI must be an absolute URI.")
        scopes = (_field(body, "scopes") or "read").split()
        client_id, client_secret = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        self.apps[client_id] = _App(name, client_secret, uris, frozenset(scopes))
        return _ok(
            {
                "id": str(len(self.apps)),
                "name": name,
                "website": _field(body, "website") or None,
                "scopes": scopes,
                "redirect_uris": list(uris),
                "redirect_uri": "\n".join(uris),
                "client_id": client_id,
                "client_secret": client_secret,
                "client_secret_expires_at": 0,
            }
        )

    def _authorize(self, *, query: dict[str, list[str]], **_: Any) -> _Reply:
        app = self.apps.get(_one(query, "client_id"))
        redirect_uri, scope = _one(query, "redirect_uri"), _one(query, "scope") or "read"
        if app is None or redirect_uri not in app.redirect_uris or _one(query, "response_type") != "code":
            raise MastodonError(400, "invalid_request", "The request is missing a required parameter.")
        if not set(scope.split()) <= app.scopes:
            raise MastodonError(
                400, "invalid_scope", "The requested scope is invalid, unknown, or malformed."
            )
        method = _one(query, "code_challenge_method")
        if _one(query, "code_challenge") and method != "S256":
            raise MastodonError(400, "invalid_request", "Code challenge method must be S256.")
        code = secrets.token_urlsafe(32)
        self._grants[code] = _Grant(
            _one(query, "client_id"), redirect_uri, scope, _one(query, "code_challenge"), method
        )
        location = f"{redirect_uri}?{urlencode({'code': code, 'state': _one(query, 'state')})}"
        return _Reply(302, b"", {"Location": location})

    def _issue_token(self, *, body: dict[str, Any], **_: Any) -> _Reply:
        if _field(body, "grant_type") != "authorization_code":
            raise MastodonError(
                400, "unsupported_grant_type", "The authorization grant type is not supported."
            )
        app = self.apps.get(_field(body, "client_id"))
        if app is None or app.client_secret != _field(body, "client_secret"):
            raise MastodonError(401, "invalid_client", "Client authentication failed.")
        grant = self._grants.pop(_field(body, "code"), None)
        if grant is None or not self._grant_matches(grant, body):
            raise MastodonError(400, "invalid_grant", "The provided authorization grant is invalid.")
        token = secrets.token_urlsafe(32)
        self.tokens.add(token)
        return _ok(
            {
                "access_token": token,
                "token_type": "Bearer",
                "scope": grant.scope,
                "created_at": int(self.clock()),
            }
        )

    def _grant_matches(self, grant: _Grant, body: dict[str, Any]) -> bool:
        if grant.client_id != _field(body, "client_id") or grant.redirect_uri != _field(body, "redirect_uri"):
            return False
        return not grant.challenge or pkce_s256(_field(body, "code_verifier")) == grant.challenge

    # Accounts.

    def _brand(self) -> dict[str, Any]:
        return account_json(
            BRAND_ID,
            BRAND_ACCT,
            self.url,
            display_name="Acme Coffee",
            note="<p>Roasting since 1999.</p>",
            followers_count=self.follower_count - len(self._unfollowed),
            following_count=len(self.following),
            statuses_count=1200,
            last_status_at=datetime.fromtimestamp(self.clock(), UTC).date().isoformat(),
        )

    def _verify_credentials(self, *, headers: dict[str, str], **_: Any) -> _Reply:
        source = {"privacy": "public", "sensitive": False, "language": None, "note": "Roasting since 1999."}
        return _ok({**self._brand(), "source": source}, headers)

    def _accounts(self, *, query: dict[str, list[str]], headers: dict[str, str], **_: Any) -> _Reply:
        if not self.batch_lookup:
            raise MastodonError(404, NOT_FOUND)
        found = (self.account(account_id) for account_id in query.get("id[]", []))
        return _ok([account for account in found if account is not None], headers)

    def _show_account(self, *, account_id: str, headers: dict[str, str], **_: Any) -> _Reply:
        return _ok(self._known_account(unquote(account_id)), headers)

    def _known_account(self, account_id: str) -> dict[str, Any]:
        account = self.account(account_id)
        if account is None:
            raise MastodonError(404, NOT_FOUND)
        return account

    def _follower_position(self, account_id: str) -> int | None:
        if account_id in self._explicit_positions:
            return self._explicit_positions[account_id]
        if not account_id.isdigit():
            return None
        position = int(account_id) - FOLLOWER_ID_BASE
        return (
            position
            if 1 <= position <= self.follower_count and position not in self._explicit_followers
            else None
        )

    def _follower(self, position: int) -> dict[str, Any]:
        if position in self.malformed_followers:
            return {"id": None, "username": f"broken{position}", "display_name": "broken record"}
        return self._explicit_followers.get(position) or follower_account(position, self.url)

    def _follows_brand(self, account_id: str) -> bool:
        position = self._follower_position(account_id)
        return position is not None and position not in self._unfollowed

    def _followers(
        self, *, account_id: str, query: dict[str, list[str]], headers: dict[str, str], **_: Any
    ) -> _Reply:
        account_id = unquote(account_id)
        if account_id != BRAND_ID:
            self._known_account(account_id)
            return _ok([], headers)
        limit = _limit(query, ACCOUNTS_LIMIT)
        max_id, since_id = _int_param(query, "max_id"), _int_param(query, "since_id")
        positions = self._follower_positions(limit, max_id, since_id)
        kept = {"limit": query["limit"][0]} if "limit" in query else {}
        links = self._follower_links(positions, limit, kept, max_id)
        return _ok([self._follower(position) for position in positions], _with_links(headers, links))

    def _following(
        self, *, account_id: str, query: dict[str, list[str]], headers: dict[str, str], **_: Any
    ) -> _Reply:
        """Whom the brand follows, newest follow first, paged by position like the followers listing."""
        if unquote(account_id) != BRAND_ID:
            self._known_account(unquote(account_id))
            return _ok([], headers)
        limit = _limit(query, ACCOUNTS_LIMIT)
        max_id = _int_param(query, "max_id")
        followed = sorted(
            self.following, key=lambda followed_id: (len(followed_id), followed_id), reverse=True
        )
        start = 0 if max_id is None else max_id
        page = followed[start : start + limit]
        kept = {"limit": query["limit"][0]} if "limit" in query else {}
        path = f"/api/v1/accounts/{BRAND_ID}/following"
        links = [self._link(path, {**kept, "max_id": start + limit}, "next")] if len(page) == limit else []
        return _ok([self._known_account(followed_id) for followed_id in page], _with_links(headers, links))

    def _follower_links(
        self, positions: list[int], limit: int, kept: dict[str, str], max_id: int | None
    ) -> list[str]:
        """Mastodon links the next page only after a full one; the quirk links it after an empty one too."""
        path = f"/api/v1/accounts/{BRAND_ID}/followers"
        links = []
        if len(positions) == limit:
            links.append(self._link(path, {**kept, "max_id": positions[-1]}, "next"))
        elif not positions and self.trailing_empty_page:
            links.append(self._link(path, {**kept, "max_id": max_id or 1}, "next"))
        if positions:
            links.append(self._link(path, {**kept, "since_id": positions[0]}, "prev"))
        return links

    def _follower_positions(self, limit: int, max_id: int | None, since_id: int | None) -> list[int]:
        """Follow ids below ``max_id`` and above ``since_id``, newest first, like ``paginate_by_max_id``."""
        position = self.follower_count if max_id is None else min(self.follower_count, max_id - 1)
        lowest = (since_id or 0) + 1
        positions: list[int] = []
        while position >= lowest and len(positions) < limit:
            if position not in self._unfollowed:
                positions.append(position)
            position -= 1
        return positions

    def _relationships(self, *, query: dict[str, list[str]], headers: dict[str, str], **_: Any) -> _Reply:
        ids = query.get("id[]", []) + query.get("id", [])
        return _ok(
            [self._relationship(account_id) for account_id in ids if self.account(account_id)], headers
        )

    def _relationship(self, account_id: str) -> dict[str, Any]:
        return {
            "id": account_id,
            "following": account_id in self.following,
            "showing_reblogs": account_id in self.following,
            "notifying": False,
            "languages": None,
            "followed_by": self._follows_brand(account_id),
            "blocking": False,
            "blocked_by": False,
            "muting": False,
            "muting_notifications": False,
            "muting_expires_at": None,
            "requested": account_id in self.requested,
            "requested_by": False,
            "domain_blocking": False,
            "endorsed": False,
            "note": "",
        }

    def _follow(self, *, account_id: str, headers: dict[str, str], **_: Any) -> _Reply:
        account_id = unquote(account_id)
        account = self._known_account(account_id)
        if account_id == BRAND_ID:
            raise MastodonError(403, "This action is not allowed")
        if account_id not in self.following and account_id not in self.requested:
            (self.requested if account.get("locked") is True else self.following).add(account_id)
            self.follows_done.append(account_id)
        return _ok(self._relationship(account_id), headers)

    # Notifications.

    def _list_notifications(
        self, *, query: dict[str, list[str]], headers: dict[str, str], **_: Any
    ) -> _Reply:
        limit = _limit(query, NOTIFICATIONS_LIMIT)
        page = self._notification_page(query, limit)
        kept = [
            (key, value) for key in ("limit", "types[]", "exclude_types[]") for value in query.get(key, [])
        ]
        if self.link_drops_types:
            kept = [(key, value) for key, value in kept if key == "limit"]
        links = []
        if page:
            links.append(self._link("/api/v1/notifications", [*kept, ("max_id", str(page[-1].id))], "next"))
            links.append(self._link("/api/v1/notifications", [*kept, ("min_id", str(page[0].id))], "prev"))
        return _ok(
            [self._notification_json(notification) for notification in page], _with_links(headers, links)
        )

    def _notification_page(self, query: dict[str, list[str]], limit: int) -> list[_Notification]:
        types, excluded = set(query.get("types[]", [])), set(query.get("exclude_types[]", []))
        max_id, since_id, min_id = (_int_param(query, name) for name in ("max_id", "since_id", "min_id"))
        chosen = [
            notification
            for notification in self._notifications
            if (not types or notification.type in types)
            and notification.type not in excluded
            and (max_id is None or notification.id < max_id)
            and (since_id is None or notification.id > since_id)
            and (min_id is None or notification.id > min_id)
        ]
        if min_id is not None:
            return list(reversed(chosen[:limit]))
        return list(reversed(chosen))[:limit]

    def _notification_json(self, notification: _Notification) -> dict[str, Any]:
        record: dict[str, Any] = {
            "id": str(notification.id),
            "type": notification.type,
            "created_at": mastodon_time(notification.created_at),
            "group_key": f"ungrouped-{notification.id}",
            "account": self._known_account(notification.account_id),
        }
        if notification.type in STATUS_TYPES:
            record["status"] = self._status_json(notification)
        if notification.malformed:
            del record["account"]
        return record

    def _status_json(self, notification: _Notification) -> dict[str, Any]:
        by_actor = notification.type in ("mention", "quote", "status", "update")
        author = self._known_account(notification.account_id) if by_actor else self._brand()
        status_id = str(130_000_000_000_000_000 + notification.id)
        return {
            "id": status_id,
            "created_at": mastodon_time(notification.created_at),
            "in_reply_to_id": "130000000000000000" if notification.reply_to_brand else None,
            "in_reply_to_account_id": BRAND_ID if notification.reply_to_brand else None,
            "sensitive": False,
            "spoiler_text": "",
            "visibility": "public",
            "language": "en",
            "uri": f"{author['uri']}/statuses/{status_id}",
            "url": f"{author['url']}/{status_id}",
            "replies_count": 0,
            "reblogs_count": 0,
            "favourites_count": 0,
            "content": f'<p><a href="{self.url}/@{BRAND_ACCT}" class="mention">@{BRAND_ACCT}</a> hi</p>',
            "reblog": None,
            "quote": None,
            "account": author,
            "media_attachments": [],
            "mentions": [
                {
                    "id": BRAND_ID,
                    "username": BRAND_ACCT,
                    "url": f"{self.url}/@{BRAND_ACCT}",
                    "acct": BRAND_ACCT,
                }
            ],
            "tags": [],
            "emojis": [],
        }

    def _link(self, path: str, params: dict[str, Any] | list[tuple[str, str]], rel: str) -> str:
        pairs = sorted(params.items() if isinstance(params, dict) else params, key=lambda pair: pair[0])
        return f'<{self.url}{path}?{urlencode(pairs)}>; rel="{rel}"'


def _json(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def _ok(data: Any, headers: dict[str, str] | None = None) -> _Reply:
    return _Reply(200, _json(data), dict(headers or {}))


def _with_links(headers: dict[str, str], links: list[str]) -> dict[str, str]:
    return {**headers, "Link": ", ".join(links)} if links else headers


def _one(query: dict[str, list[str]], name: str) -> str:
    return query.get(name, [""])[0]


def _field(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    return value if isinstance(value, str) else ""


def _int_param(query: dict[str, list[str]], name: str) -> int | None:
    raw = _one(query, name)
    return int(raw) if raw.isdigit() else None


def _limit(query: dict[str, list[str]], bounds: tuple[int, int]) -> int:
    default, maximum = bounds
    raw = _one(query, "limit")
    return min(max(int(raw), 1), maximum) if raw.isdigit() else default


class _Server(ThreadingHTTPServer):
    fake: FakeMastodon


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def log_message(self, format: str, *args: Any) -> None:
        return

    @property
    def fake(self) -> FakeMastodon:
        return self.server.fake

    def _serve(self, method: str) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        body = self._read_body()
        fault = self.fake.take_fault(parts.path)
        if fault is not None and not fault.after_commit:
            self._misbehave(method, parts.path, query, fault)
            return
        reply = self.fake.handle(method, parts.path, query, body, self.headers.get("Authorization", ""))
        if fault is not None:
            self._misbehave(method, parts.path, query, fault)
            return
        self.fake.log(method, parts.path, query, reply.status)
        self._send(reply)

    def _read_body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        if "json" in self.headers.get("Content-Type", ""):
            try:
                parsed = json.loads(raw)
            except ValueError:
                return {}
            return parsed if isinstance(parsed, dict) else {}
        return {key: values[0] for key, values in parse_qs(raw, keep_blank_values=True).items()}

    def _misbehave(self, method: str, path: str, query: dict[str, list[str]], fault: Fault) -> None:
        if fault.hang:
            self.fake.log(method, path, query, "hang")
            self.fake.hang(fault.hang)
            self.close_connection = True
        elif fault.close:
            self.fake.log(method, path, query, "closed")
            self.close_connection = True
        elif fault.bad_json:
            self.fake.log(method, path, query, "bad-json")
            self._send(_Reply(fault.status or 200, b'[{"id": "1", "acct": "trunc'))
        elif fault.body is not None:
            self.fake.log(method, path, query, fault.status or 200)
            self._send(_Reply(fault.status or 200, _json(fault.body), dict(fault.headers)))
        else:
            status = fault.status or 500
            self.fake.log(method, path, query, status)
            self._send(_Reply(status, _json({"error": fault.error}), dict(fault.headers)))

    def _send(self, reply: _Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)
