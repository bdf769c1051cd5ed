"""A fake Bluesky (PDS, AppView and PLC directory in one) over real HTTP on 127.0.0.1.

Wire formats follow the AT Protocol lexicons and the reference PDS: XRPC errors are ``{"error", "message"}``,
an expired access token answers 400 ``ExpiredToken``, rate limits travel in ``RateLimit-*`` headers with the
reset in epoch seconds. Followers are generated lazily from their index: a million cost nothing until paged.

``follow_records`` is what really happened on the fake's repo; ``requests`` is what it answered.
"""

from __future__ import annotations

import base64
import itertools
import json
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

BASE32 = "abcdefghijklmnopqrstuvwxyz234567"
FOLLOWER_PREFIX = "f"
IDENT_LENGTH = 24
FOLLOW_COLLECTION = "app.bsky.graph.follow"
NOTIFICATION_REASONS = ("like", "repost", "reply", "mention", "quote", "follow", "starterpack-joined")
REASON_COLLECTIONS = {
    "like": "app.bsky.feed.like",
    "repost": "app.bsky.feed.repost",
    "follow": FOLLOW_COLLECTION,
    "starterpack-joined": "app.bsky.graph.starterpack",
}
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
PUBLIC_PATHS = frozenset(
    {
        "com.atproto.identity.resolveHandle",
        "com.atproto.server.createSession",
        "com.atproto.server.refreshSession",
        "com.atproto.repo.listRecords",
    }
)


class XrpcError(Exception):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


@dataclass(frozen=True, slots=True)
class Fault:
    """How the fake misbehaves for one request."""

    status: int | None = None
    error: str = "InternalServerError"
    message: str = "Internal Server Error"
    bad_json: bool = False
    close: bool = False
    hang: float = 0.0
    after_commit: bool = False
    nsid: str | None = None


@dataclass(frozen=True, slots=True)
class FollowRecord:
    uri: str
    subject: str
    created_at: str


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    method: str
    nsid: str
    outcome: int | str
    at: float = 0.0  # on the fake's clock


@dataclass(slots=True)
class _Token:
    did: str
    calls: int = 0
    expired: bool = False


@dataclass(slots=True)
class _Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def follower_did(index: int) -> str:
    """The deterministic DID of follower ``index`` (0 is the newest follower)."""
    digits = []
    while True:
        index, remainder = divmod(index, 32)
        digits.append(BASE32[remainder])
        if index == 0:
            break
    ident = FOLLOWER_PREFIX + "".join(reversed(digits)).rjust(IDENT_LENGTH - 1, "a")
    return f"did:plc:{ident}"


def follower_index(did: str) -> int | None:
    ident = did.removeprefix("did:plc:")
    if ident == did or len(ident) != IDENT_LENGTH or not ident.startswith(FOLLOWER_PREFIX):
        return None
    value = 0
    for char in ident[1:]:
        position = BASE32.find(char)
        if position < 0:
            return None
        value = value * 32 + position
    return value


def follower_handle(index: int) -> str:
    return f"follower{index}.test"


def _follower_index_of_handle(handle: str) -> int | None:
    number = handle.removeprefix("follower").removesuffix(".test")
    if not number.isdigit() or handle != follower_handle(int(number)):
        return None
    return int(number)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _fake_jwt(kind: str, did: str) -> str:
    header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=").decode()
    claims = json.dumps({"scope": kind, "sub": did, "jti": secrets.token_hex(8)}).encode()
    payload = base64.urlsafe_b64encode(claims).rstrip(b"=").decode()
    return f"{header}.{payload}.{secrets.token_urlsafe(24)}"


class FakeBluesky:
    """One brand account with ``follower_count`` followers, served on ``self.url`` until ``stop()``."""

    def __init__(
        self,
        *,
        follower_count: int = 250,
        brand_handle: str = "brand.test",
        app_password: str = "abcd-efgh-ijkl-mnop",
        did_method: str = "plc",
        follower_labels: Mapping[int, list[dict[str, Any]]] | None = None,
        malformed_followers: set[int] | None = None,
        short_pages: bool = False,
        page_overlap: int = 0,
        trailing_empty_page: bool = False,
        cursor_loop_at: int | None = None,
        notification_count: int = 0,
        malformed_notifications: set[int] | None = None,
        rate_limit: int = 3000,
        rate_window: int = 300,
        session_limit: int = 30,
        retry_after_header: bool = False,
        clock: Callable[[], float] = time.time,
        expire_access_after: int | None = None,
        refresh_fails: bool = False,
        appview_indexes_follows: bool = True,
    ) -> None:
        self.follower_count = follower_count
        self.brand_handle = brand_handle
        self.app_password = app_password
        self.follower_labels = dict(follower_labels or {})
        self.malformed_followers = set(malformed_followers or ())
        self.short_pages = short_pages
        self.page_overlap = page_overlap
        self.trailing_empty_page = trailing_empty_page
        self.cursor_loop_at = cursor_loop_at
        self.notification_count = notification_count
        self.malformed_notifications = set(malformed_notifications or ())
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.session_limit = session_limit
        self.retry_after_header = retry_after_header
        self.clock = clock
        self.expire_access_after = expire_access_after
        self.refresh_fails = refresh_fails
        self.appview_indexes_follows = appview_indexes_follows
        self.follow_records: list[FollowRecord] = []
        self.requests: list[LoggedRequest] = []
        self.extra_accounts: dict[str, dict[str, Any]] = {}
        self._access: dict[str, _Token] = {}
        self._refresh: dict[str, str] = {}
        self._faults: list[Fault] = []
        self._window_counts: dict[tuple[str, int], int] = {}
        self._rkeys = itertools.count(1)
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.brand_did = self._brand_did(did_method)
        self._thread = threading.Thread(target=self._serve, name="fake-bluesky", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self._server.serve_forever(poll_interval=0.02)

    def _brand_did(self, did_method: str) -> str:
        if did_method == "web":
            return f"did:web:127.0.0.1%3A{self._server.server_address[1]}"
        return "did:plc:brandbrandbrandbrandbran"

    def __enter__(self) -> FakeBluesky:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def fail_next(self, count: int = 1, **fault: Any) -> None:
        """The next ``count`` requests (to ``nsid``, if given) misbehave as described by Fault's fields."""
        with self._lock:
            self._faults.extend([Fault(**fault)] * count)

    def expire_access_tokens(self) -> None:
        with self._lock:
            for token in self._access.values():
                token.expired = True

    def add_account(self, handle: str, *, labels: list[dict[str, Any]] | None = None) -> str:
        """An account that does not follow the brand; returns its DID."""
        did = f"did:plc:{('x' + handle.split('.')[0]).ljust(IDENT_LENGTH, 'x')[:IDENT_LENGTH]}"
        with self._lock:
            self.extra_accounts[did] = {
                "did": did,
                "handle": handle,
                "displayName": handle,
                "labels": labels or [],
            }
        return did

    def calls(self, nsid: str) -> int:
        with self._lock:
            return sum(1 for request in self.requests if request.nsid == nsid)

    def follows_of(self, did: str) -> list[FollowRecord]:
        with self._lock:
            return [record for record in self.follow_records if record.subject == did]

    def hang(self, seconds: float) -> None:
        """Hold a connection open for ``seconds``, or until the fake stops."""
        self._stopping.wait(seconds)

    def take_fault(self, nsid: str) -> Fault | None:
        with self._lock:
            for position, fault in enumerate(self._faults):
                if fault.nsid in (None, nsid):
                    return self._faults.pop(position)
        return None

    def log(self, method: str, nsid: str, outcome: int | str) -> None:
        with self._lock:
            self.requests.append(LoggedRequest(method, nsid, outcome, at=self.clock()))

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: Any, auth: str) -> _Reply:
        with self._lock:
            if not path.startswith("/xrpc/"):
                return self._identity_document(path)
            nsid = path.removeprefix("/xrpc/")
            headers, over_limit = self._count_request()
            try:
                if over_limit or not self._session_allowed(nsid):
                    raise XrpcError(429, "RateLimitExceeded", "Rate Limit Exceeded")
                data = self._route(method, nsid, query, body, auth)
            except XrpcError as exc:
                return _Reply(exc.status, _json({"error": exc.error, "message": exc.message}), headers)
            return _Reply(200, _json(data), headers)

    def _identity_document(self, path: str) -> _Reply:
        did = self.brand_did if path == "/.well-known/did.json" else path.lstrip("/")
        if did != self.brand_did:
            return _Reply(404, _json({"message": f"DID not registered: {did}"}))
        return _Reply(200, _json(self._did_document()))

    def _did_document(self) -> dict[str, Any]:
        return {
            "@context": ["https://www.w3.org/ns/did/v1"],
            "id": self.brand_did,
            "alsoKnownAs": [f"at://{self.brand_handle}"],
            "service": [
                {"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": self.url}
            ],
        }

    def _count_in_window(self, name: str, window_seconds: int) -> tuple[int, int]:
        """Requests so far in the current fixed window of ``name``, and when that window ends."""
        window = int(self.clock()) // window_seconds
        self._window_counts[(name, window)] = self._window_counts.get((name, window), 0) + 1
        return self._window_counts[(name, window)], (window + 1) * window_seconds

    def _count_request(self) -> tuple[dict[str, str], bool]:
        used, reset = self._count_in_window("global", self.rate_window)
        headers = {
            "RateLimit-Limit": str(self.rate_limit),
            "RateLimit-Remaining": str(max(0, self.rate_limit - used)),
            "RateLimit-Reset": str(reset),
            "RateLimit-Policy": f"{self.rate_limit};w={self.rate_window}",
        }
        over_limit = used > self.rate_limit
        if over_limit and self.retry_after_header:
            headers["Retry-After"] = str(max(1, reset - int(self.clock())))
        return headers, over_limit

    def _session_allowed(self, nsid: str) -> bool:
        if nsid != "com.atproto.server.createSession":
            return True
        used, _ = self._count_in_window("createSession", 300)
        return used <= self.session_limit

    def _route(
        self, method: str, nsid: str, query: dict[str, list[str]], body: Any, auth: str
    ) -> dict[str, Any]:
        routes: dict[tuple[str, str], Callable[..., dict[str, Any]]] = {
            ("GET", "com.atproto.identity.resolveHandle"): self._resolve_handle,
            ("POST", "com.atproto.server.createSession"): self._create_session,
            ("POST", "com.atproto.server.refreshSession"): self._refresh_session,
            ("GET", "app.bsky.graph.getFollowers"): self._get_followers,
            ("GET", "app.bsky.actor.getProfile"): self._get_profile,
            ("GET", "app.bsky.actor.getProfiles"): self._get_profiles,
            ("GET", "app.bsky.notification.listNotifications"): self._list_notifications,
            ("POST", "com.atproto.repo.createRecord"): self._create_record,
            ("GET", "com.atproto.repo.listRecords"): self._list_records,
        }
        handler = routes.get((method, nsid))
        if handler is None:
            raise XrpcError(501, "MethodNotImplemented", f"Method Not Implemented: {nsid}")
        if nsid in PUBLIC_PATHS:
            return handler(query=query, body=body, auth=auth)
        self._authenticate(auth)
        return handler(query=query, body=body)

    def _issue_tokens(self, did: str) -> tuple[str, str]:
        access, refresh = _fake_jwt("com.atproto.access", did), _fake_jwt("com.atproto.refresh", did)
        self._access[access] = _Token(did)
        self._refresh[refresh] = did
        return access, refresh

    def _session_body(self, did: str) -> dict[str, Any]:
        access, refresh = self._issue_tokens(did)
        return {
            "did": did,
            "handle": self.brand_handle,
            "accessJwt": access,
            "refreshJwt": refresh,
            "didDoc": self._did_document(),
            "active": True,
        }

    def _authenticate(self, auth: str) -> None:
        if not auth.startswith("Bearer "):
            raise XrpcError(401, "AuthMissing", "Authentication Required")
        token = self._access.get(auth.removeprefix("Bearer "))
        if token is None:
            raise XrpcError(400, "InvalidToken", "Token could not be verified")
        limit = self.expire_access_after
        if token.expired or (limit is not None and token.calls >= limit):
            raise XrpcError(400, "ExpiredToken", "Token has expired")
        token.calls += 1

    def _resolve_handle(self, *, query: dict[str, list[str]], **_: Any) -> dict[str, Any]:
        did = self._did_for(_one(query, "handle"))
        if did is None:
            raise XrpcError(400, "InvalidRequest", "Unable to resolve handle")
        return {"did": did}

    def _create_session(self, *, body: Any, **_: Any) -> dict[str, Any]:
        identifier = body.get("identifier") if isinstance(body, dict) else None
        password = body.get("password") if isinstance(body, dict) else None
        if identifier not in (self.brand_did, self.brand_handle) or password != self.app_password:
            raise XrpcError(401, "AuthenticationRequired", "Invalid identifier or password")
        return self._session_body(self.brand_did)

    def _refresh_session(self, *, auth: str, **_: Any) -> dict[str, Any]:
        did = self._refresh.pop(auth.removeprefix("Bearer "), None)
        if did is None or self.refresh_fails:
            raise XrpcError(400, "ExpiredToken", "Token has expired")
        return self._session_body(did)

    def _did_for(self, actor: str) -> str | None:
        if actor in (self.brand_did, self.brand_handle):
            return self.brand_did
        index = follower_index(actor) if actor.startswith("did:") else _follower_index_of_handle(actor)
        if index is not None and index < self.follower_count:
            return follower_did(index)
        for did, account in self.extra_accounts.items():
            if actor in (did, account["handle"]):
                return did
        return None

    def _profile(self, did: str, *, detailed: bool) -> dict[str, Any]:
        if did == self.brand_did:
            profile: dict[str, Any] = {"did": did, "handle": self.brand_handle, "displayName": "Brand"}
        elif did in self.extra_accounts:
            profile = dict(self.extra_accounts[did])
        else:
            index = follower_index(did)
            assert index is not None
            return self._follower_profile(index, detailed=detailed)
        profile["viewer"] = self._viewer(did, follows_brand=False)
        return profile

    def _follower_profile(self, index: int, *, detailed: bool) -> dict[str, Any]:
        if index in self.malformed_followers:
            return {"did": index, "handle": None, "displayName": ["not", "a", "string"]}
        did = follower_did(index)
        created = EPOCH - timedelta(days=index % 900, minutes=index)
        profile: dict[str, Any] = {
            "did": did,
            "handle": follower_handle(index),
            "displayName": f"Follower {index}",
            "description": f"Hello, I am follower number {index}.",
            "indexedAt": _iso(created + timedelta(hours=1)),
            "createdAt": _iso(created),
            "labels": self.follower_labels.get(index, []),
            "viewer": self._viewer(did, follows_brand=True),
        }
        if index % 5:
            profile["avatar"] = f"{self.url}/img/avatar/plain/{did}/bafkrei{index}@jpeg"
        if detailed:
            profile["followersCount"] = (index * 37) % 5000
            profile["followsCount"] = (index * 53) % 3000
            profile["postsCount"] = (index * 11) % 800
        return profile

    def _viewer(self, did: str, *, follows_brand: bool) -> dict[str, Any]:
        viewer: dict[str, Any] = {"muted": False, "blockedBy": False}
        following = next((record.uri for record in self.follow_records if record.subject == did), None)
        if following and self.appview_indexes_follows:
            viewer["following"] = following
        if follows_brand:
            viewer["followedBy"] = f"at://{did}/{FOLLOW_COLLECTION}/3kfollowsbrand"
        return viewer

    def _get_profile(self, *, query: dict[str, list[str]], **_: Any) -> dict[str, Any]:
        did = self._did_for(_one(query, "actor"))
        if did is None:
            raise XrpcError(400, "InvalidRequest", "Profile not found")
        return self._profile(did, detailed=True)

    def _get_profiles(self, *, query: dict[str, list[str]], **_: Any) -> dict[str, Any]:
        actors = query.get("actors", [])
        if not actors or len(actors) > 25:
            raise XrpcError(400, "InvalidRequest", "actors must have between 1 and 25 items")
        dids = [did for did in (self._did_for(actor) for actor in actors) if did is not None]
        return {"profiles": [self._profile(did, detailed=True) for did in dict.fromkeys(dids)]}

    def _get_followers(self, *, query: dict[str, list[str]], **_: Any) -> dict[str, Any]:
        if self._did_for(_one(query, "actor")) != self.brand_did:
            raise XrpcError(400, "InvalidRequest", "Profile not found")
        limit = _limit(query)
        offset = _offset(query)
        size = max(1, limit - 1 - offset % 37) if self.short_pages else limit
        end = min(offset + size, self.follower_count)
        followers = [self._follower_profile(index, detailed=False) for index in range(offset, end)]
        answer: dict[str, Any] = {
            "subject": self._profile(self.brand_did, detailed=False),
            "followers": followers,
        }
        if self.cursor_loop_at is not None and offset >= self.cursor_loop_at:
            answer["cursor"] = _cursor(offset)
        elif end < self.follower_count:
            answer["cursor"] = _cursor(max(end - self.page_overlap, offset + 1))
        elif self.trailing_empty_page:
            answer["cursor"] = _cursor(end)
        return answer

    def _list_notifications(self, *, query: dict[str, list[str]], **_: Any) -> dict[str, Any]:
        limit = _limit(query)
        offset = _offset(query)
        end = min(offset + limit, self.notification_count)
        answer: dict[str, Any] = {"notifications": [self._notification(j) for j in range(offset, end)]}
        if end < self.notification_count:
            answer["cursor"] = _cursor(end)
        return answer

    def notification_time(self, position: int) -> datetime:
        """When notification ``position`` (0 is the newest) was indexed."""
        return EPOCH + timedelta(days=200) - timedelta(minutes=position)

    def _notification(self, position: int) -> dict[str, Any]:
        if position in self.malformed_notifications:
            return {"uri": position, "reason": None}
        index = position % max(1, self.follower_count)
        reason = NOTIFICATION_REASONS[position % len(NOTIFICATION_REASONS)]
        collection = REASON_COLLECTIONS.get(reason, "app.bsky.feed.post")
        author = follower_did(index)
        return {
            "uri": f"at://{author}/{collection}/3n{position:011d}",
            "cid": f"bafyrei{position}",
            "author": self._follower_profile(index, detailed=False),
            "reason": reason,
            "record": {"$type": collection, "createdAt": _iso(self.notification_time(position))},
            "isRead": False,
            "indexedAt": _iso(self.notification_time(position)),
        }

    def _create_record(self, *, body: Any, **_: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or body.get("repo") not in (self.brand_did, self.brand_handle):
            raise XrpcError(400, "InvalidRequest", "Input/repo must be the authenticated account")
        record = body.get("record")
        if body.get("collection") != FOLLOW_COLLECTION or not isinstance(record, dict):
            raise XrpcError(400, "InvalidRequest", "Only follow records are supported by the fake")
        subject, created_at = record.get("subject"), record.get("createdAt")
        if (
            record.get("$type") != FOLLOW_COLLECTION
            or not isinstance(subject, str)
            or not subject.startswith("did:")
        ):
            raise XrpcError(400, "InvalidRequest", "Invalid app.bsky.graph.follow record")
        if not isinstance(created_at, str):
            raise XrpcError(400, "InvalidRequest", "Record/createdAt must be a datetime")
        uri = f"at://{self.brand_did}/{FOLLOW_COLLECTION}/3kf{next(self._rkeys):010d}"
        self.follow_records.append(FollowRecord(uri=uri, subject=subject, created_at=created_at))
        return {"uri": uri, "cid": f"bafyreifollow{len(self.follow_records)}", "validationStatus": "valid"}

    def _list_records(self, *, query: dict[str, list[str]], **_: Any) -> dict[str, Any]:
        """The brand's follow records, newest first unless ``reverse``."""
        if (
            self._did_for(_one(query, "repo")) != self.brand_did
            or _one(query, "collection") != FOLLOW_COLLECTION
        ):
            raise XrpcError(400, "InvalidRequest", "The fake lists only the brand's follow records")
        limit, offset = _limit(query), _offset(query)
        ordered = self.follow_records if query.get("reverse") == ["true"] else self.follow_records[::-1]
        page = ordered[offset : offset + limit]
        answer: dict[str, Any] = {"records": [_record_view(record) for record in page]}
        if offset + limit < len(ordered):
            answer["cursor"] = _cursor(offset + limit)
        return answer


def _record_view(record: FollowRecord) -> dict[str, Any]:
    value = {"$type": FOLLOW_COLLECTION, "subject": record.subject, "createdAt": record.created_at}
    return {"uri": record.uri, "cid": "bafyreifollowrecord", "value": value}


def _json(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def _one(query: dict[str, list[str]], name: str) -> str:
    values = query.get(name)
    if not values:
        raise XrpcError(400, "InvalidRequest", f'Error: Params must have the property "{name}"')
    return values[0]


def _limit(query: dict[str, list[str]]) -> int:
    raw = query.get("limit", ["50"])[0]
    if not raw.isdigit() or not 1 <= int(raw) <= 100:
        raise XrpcError(400, "InvalidRequest", "Error: limit must be an integer between 1 and 100")
    return int(raw)


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _offset(query: dict[str, list[str]]) -> int:
    raw = query.get("cursor", [""])[0]
    if not raw:
        return 0
    try:
        text = base64.urlsafe_b64decode(raw.encode()).decode()
    except ValueError:
        raise XrpcError(400, "InvalidRequest", "Malformed cursor") from None
    if not text.startswith("offset:") or not text[7:].isdigit():
        raise XrpcError(400, "InvalidRequest", "Malformed cursor")
    return int(text[7:])


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    fake: FakeBluesky


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
    def fake(self) -> FakeBluesky:
        return self.server.fake

    def _serve(self, method: str) -> None:
        parts = urlsplit(self.path)
        nsid = parts.path.removeprefix("/xrpc/") if parts.path.startswith("/xrpc/") else "identity"
        body = self._read_body()
        fault = self.fake.take_fault(nsid)
        if fault is not None and not fault.after_commit:
            self._misbehave(method, nsid, fault)
            return
        reply = self.fake.handle(
            method, parts.path, parse_qs(parts.query), body, self.headers.get("Authorization", "")
        )
        if fault is not None:
            self._misbehave(method, nsid, fault)
            return
        self.fake.log(method, nsid, reply.status)
        self._send(reply)

    def _read_body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return None

    def _misbehave(self, method: str, nsid: str, fault: Fault) -> None:
        if fault.hang:
            self.fake.log(method, nsid, "hang")
            self.fake.hang(fault.hang)
            self.close_connection = True
        elif fault.close:
            self.fake.log(method, nsid, "closed")
            self.close_connection = True
        elif fault.bad_json:
            self.fake.log(method, nsid, "bad-json")
            self._send(_Reply(200, b"<html>upstream error</html>"))
        else:
            status = fault.status or 500
            self.fake.log(method, nsid, status)
            self._send(_Reply(status, _json({"error": fault.error, "message": fault.message})))

    def _send(self, reply: _Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)
