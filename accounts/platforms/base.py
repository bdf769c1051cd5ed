"""The one small interface every platform connector implements.

Connectors are plain httpx clients: they return the dataclasses below, raise the typed
errors below and know nothing of Django models. A service maps their data to rows.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import cache
from typing import Protocol

import certifi


@cache
def tls_context() -> ssl.SSLContext:
    """The certificate checks every connector's HTTP client shares: loading the trusted roots takes a tenth of a
    second, too much to pay again for each follow. httpx's own default roots, loaded once per process."""
    return ssl.create_default_context(cafile=certifi.where())


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def storable_text(text: str) -> str:
    """Text as PostgreSQL can store it: NUL characters dropped, lone surrogates (JSON can carry them) replaced."""
    return _LONE_SURROGATE.sub("\ufffd", text.replace("\x00", ""))


class PlatformError(Exception):
    """The platform answered with an error we cannot act on; the message is the platform's reason."""


class RateLimited(PlatformError):
    def __init__(self, retry_after: float, message: str = "rate limited") -> None:
        super().__init__(f"{message} (retry after {retry_after:.0f}s)")
        self.retry_after = retry_after


class AuthExpired(PlatformError):
    """The credentials no longer work: a person must reconnect the account."""


class NotFound(PlatformError):
    pass


class BadPayload(PlatformError):
    """The platform sent something we cannot parse."""


class PlatformUnavailable(PlatformError):
    """The platform could not be reached or answered with a server error: try again later."""


class InteractionKind(StrEnum):
    REPLY = "reply"
    MENTION = "mention"
    REPOST = "repost"
    LIKE = "like"
    QUOTE = "quote"
    FOLLOW = "follow"


@dataclass(frozen=True, slots=True)
class ProfileData:
    platform_id: str  # Mastodon account id (server-local) or Bluesky DID
    handle: str  # Mastodon acct (user@host for remote accounts) or Bluesky handle
    uri: str = ""  # stable cross-server identity (ActivityPub uri, at:// DID)
    display_name: str = ""
    bio: str = ""  # plain text, HTML already reduced
    avatar_url: str = ""
    avatar_is_default: bool = True
    created_at: datetime | None = None
    followers_count: int = 0
    following_count: int = 0
    posts_count: int = 0
    last_post_at: datetime | None = None
    is_bot: bool = False
    is_locked: bool = False
    is_group: bool = False
    moved: bool = False
    suspended: bool = False
    limited: bool = False
    verified_links: int = 0
    labels: tuple[str, ...] = ()
    profile_url: str = ""


@dataclass(frozen=True, slots=True)
class FollowerPage:
    profiles: list[ProfileData]
    next_cursor: str | None  # None: this was the last page
    bad_records: int = 0  # records skipped because they could not be parsed


@dataclass(frozen=True, slots=True)
class FollowingPage:
    """Platform ids of accounts the brand's account follows."""

    ids: list[str]
    next_cursor: str | None  # None: this was the last page


@dataclass(frozen=True, slots=True)
class InteractionData:
    platform_event_id: str
    kind: InteractionKind
    actor: ProfileData
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Relationship:
    following: bool = False
    followed_by: bool = False
    requested: bool = False  # a follow request to a locked account is pending


@dataclass(frozen=True, slots=True)
class FollowResult:
    following: bool
    requested: bool = False
    record_uri: str = ""  # Bluesky's follow record, empty elsewhere


@dataclass(slots=True)
class RateLimitState:
    limit: int | None = None
    remaining: int | None = None
    reset_at: datetime | None = None
    extra: dict[str, str] = field(default_factory=dict)


class Connector(Protocol):
    def iter_follower_pages(self, cursor: str | None) -> Iterator[FollowerPage]: ...

    def iter_following_pages(self, cursor: str | None) -> Iterator[FollowingPage]: ...

    def get_profiles(self, ids: Sequence[str]) -> list[ProfileData]: ...

    def iter_interactions(self, since: datetime | None) -> Iterator[InteractionData]: ...

    def follow(self, platform_user_id: str) -> FollowResult: ...

    def relationships(self, ids: Sequence[str]) -> dict[str, Relationship]: ...
