# ruff: noqa: RUF002  (docstrings spell Cyrillic letters on purpose)
"""Trust signals: what we know about each follower, turned into explainable numbers in [0, 1].

A pure functional core with no Django imports. The Django side fills a ``FollowerColumns`` (one numpy array
per fact, one element per follower) from ``.values_list()`` in chunks; each signal is a function
``(columns, brand) -> SignalResult`` of vectorised numpy arithmetic, and ``explain`` turns one row's numbers
into short plain-English reasons only when someone asks for that row.

Signals rank and explain; they never decide alone. ``bot_likelihood`` in particular reads only the profile,
and profile-only classifiers generalise poorly: the best of them reach F1 below 0.6 on TwiBot-22. The policy
weighs the signals and a person makes every decision.

Text is untrusted: names, bios and handles are compared after NFKC compatibility folding, case folding,
removal of invisible characters (Unicode's default-ignorable code points: zero-width and bidi controls among
them) and folding of look-alike characters: every one that Unicode's confusables (UTS #39) list as looking like
one ASCII letter or digit (``lookalikes()``).

Speed, measured on the 2-core development machine while other work kept it busy (load average about 3, and 8
in the latest run): all six signals over the demo's 1,000,000 followers take about 4.5 s of CPU, including folding
each character the first time a process meets it (``_Tables``). Arithmetic on the numeric columns is about 0.1 s; the rest is text, every text
joined into one array of code points that numpy folds, searches and counts: preparing the texts about 1.5 s,
handle statistics 0.3 s, the blocklist 0.3 s, impersonation skeletons and their candidates 1.5 s (of which
Python checks only the rows whose skeleton could match, about 40,000 of the demo's 2,000,000 names).
"""

from __future__ import annotations

import functools
import json
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from enum import StrEnum
from functools import cached_property
from importlib import resources
from itertools import islice
from typing import Any, Final

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int64]
Codes = npt.NDArray[np.uint32]
Keys = npt.NDArray[np.uint64]

DAY: Final = 86_400.0
ENGAGEMENT_WINDOW_DAYS: Final = 90.0
ENGAGEMENT_DECAY_DAYS: Final = 30.0
KIND_WEIGHTS: Final[Mapping[str, float]] = {
    "reply": 3.0,
    "quote": 3.0,
    "mention": 2.0,
    "repost": 2.0,
    "like": 1.0,
}
BOT_LABELS: Final = frozenset({"spam", "scam", "inauthentic", "engagement-farming", "bot"})
HARMFUL_LABELS: Final = frozenset(
    {"scam", "impersonation", "!hide", "!takedown", "!suspend", "hate", "intolerant", "threat", "extremist"}
)
IMPERSONATION_AFFIXES: Final = (
    "official", "support", "help", "helpdesk", "desk", "real", "the", "team", "care", "customer", "service",
    "services", "hq", "global", "verified", "staff", "admin", "app", "news", "info", "my", "contact", "account",
)  # fmt: skip
FOLLOW_BACK_PHRASES: Final = (
    "f4f", "follow4follow", "follow for follow", "follow back", "followback", "l4l",
    "like for like", "likes for likes", "follow train",
)  # fmt: skip


@functools.cache
def lookalikes() -> Mapping[str, str]:
    """Every non-ASCII character that Unicode's confusables (UTS #39) list as looking like one ASCII letter or
    digit, to that letter (in lower case) or digit: 1,315 of them, from Cyrillic "а" and Greek "ο" to Cherokee,
    Lisu, mathematical and fullwidth forms.

    The data is the ``confusables.json`` that the confusable-homoglyphs package ships, generated from Unicode's
    ``confusables.txt``. Capitals and lower case letters count apart, as Unicode lists them: Cyrillic "Н" looks
    like "H" and folds to "h", while "н" looks like no Latin letter and stays itself."""
    source = resources.files("confusable_homoglyphs").joinpath("confusables.json")
    folded: dict[str, str] = {}
    for char, glyphs in json.loads(source.read_text(encoding="utf-8")).items():
        if len(char) != 1 or char.isascii():
            continue
        targets = {glyph["c"].lower() for glyph in glyphs if _is_ascii_letter_or_digit(glyph["c"])}
        if len(targets) == 1:
            folded[char] = targets.pop()
    return folded


def _is_ascii_letter_or_digit(text: str) -> bool:
    return len(text) == 1 and text.isascii() and text.isalnum()


SKELETON_SWAPS: Final[Mapping[str, str]] = {
    "0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g", "i": "l", "|": "l",
}  # fmt: skip
SKELETON_PAIRS: Final = (("rn", "m"), ("vv", "w"))

# Unicode's Default_Ignorable_Code_Point ranges (DerivedCoreProperties.txt): zero-width characters, bidi
# controls, joiners, variation selectors, invisible fillers and tags.
_IGNORABLE_RANGES = (
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160), (0x17B4, 0x17B5),
    (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0x3164, 0x3164),
    (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF),
)  # fmt: skip

_IGNORABLE: Final = frozenset(code for low, high in _IGNORABLE_RANGES for code in range(low, high + 1))

# Pairs of lower-case letters common in first names, last names and words of 30 Latin-script locales
# (Faker's name and word lists, counted once): 461 of the 676 pairs. A handle made of the other 215 reads
# as typed at random.
_COMMON_BIGRAMS = {
    "a": "abcdefghijklmnoprstuvwxyz", "b": "abdehijklnorsuy", "c": "acehijklnorstuyz",
    "d": "abcdeghiklmnoprstuvwyz", "e": "abcdefghijklmnoprstuvwxyz", "f": "aefhilorstu",
    "g": "abdeghilmnorstuy", "h": "adegijlmnorstuvy", "i": "abcdefghijklmnopqrstuvwxyz",
    "j": "acdeiklmnorsu", "k": "abcdehiklmnorstuvy", "l": "abcdefghijklmnoprstuvyz", "m": "abcehiklmnoprsuy",
    "n": "abcdefghijklmnorstuvyz", "o": "abcdefghijklmnoprstuvwyz", "p": "aehiklnoprstu", "q": "u",
    "r": "abcdefghijklmnoprstuvwyz", "s": "abcdeghijklmnoprstuvwyz", "t": "abcehijklmnorstuvwyz",
    "u": "abcdefghijklmnoprstuvwxyz", "v": "aceiklnorsuyz", "w": "aehinosy", "x": "ai",
    "y": "abcdeghijklmnoprstuvwz", "z": "abcdeghiklmnoprstuvwyz",
}  # fmt: skip


# --- inputs -------------------------------------------------------------------------------------------------

FLAG_COLUMNS: Final = (
    "avatar_is_default", "is_bot", "is_locked", "is_group", "moved", "suspended", "limited", "is_following",
    "is_customer",
)  # fmt: skip
COUNT_COLUMNS: Final = (
    "followers_count", "following_count", "posts_count", "verified_links", "follow_count", "unfollow_count",
    "shortest_follow_seconds", "engagement_weighted", "reply_count", "mention_count", "repost_count",
    "like_count", "quote_count",
)  # fmt: skip
AGE_COLUMNS: Final = ("created_ago", "last_post_ago", "first_followed_ago", "last_followed_ago")
_MAX_COUNT = 1e18


@dataclass(frozen=True, eq=False)
class FollowerColumns:
    """What we know about N followers, one element per follower in every column.

    ========================  ==========================  ===================================================
    column                    type                        meaning
    ========================  ==========================  ===================================================
    handles                   list[str]                   ``Follower.handle`` (``user``, ``user@host`` or a
                                                          Bluesky domain handle)
    display_names, bios       list[str]                   ``display_name``, ``bio``; "" when missing
    labels                    list[tuple[str, ...]]       moderation labels
    avatar_is_default ...     bool array                  the nine ``FLAG_COLUMNS``, False when unknown
    followers_count ...       float64 array               the ``COUNT_COLUMNS``, NaN when unknown; negative
                                                          counts become NaN, huge ones are capped at 1e18
    shortest_follow_seconds   float64 array               shortest follow before an unfollow, NaN for never
    engagement_weighted       float64 array               sum of ``engagement_weight(kind, age_days)`` over
                                                          the follower's interactions of the last 90 days
    reply_count ...           float64 array               interactions of each kind in the last 90 days
    created_ago ...           float64 array               the ``AGE_COLUMNS``: seconds between the moment and
                                                          now (``created_at``, ``last_post_at``,
                                                          ``first_followed_at``, ``last_followed_at``); NaN
                                                          when missing, negative when in the future
    ========================  ==========================  ===================================================

    The Django side builds it from ``values_list()`` chunks (ages may come straight from SQL as
    ``EXTRACT(EPOCH FROM now() - created_at)``); tests and small sets use ``from_records``.
    """

    handles: list[str]
    display_names: list[str]
    bios: list[str]
    labels: list[tuple[str, ...]]
    avatar_is_default: Bools
    is_bot: Bools
    is_locked: Bools
    is_group: Bools
    moved: Bools
    suspended: Bools
    limited: Bools
    is_following: Bools
    is_customer: Bools
    followers_count: Floats
    following_count: Floats
    posts_count: Floats
    verified_links: Floats
    follow_count: Floats
    unfollow_count: Floats
    shortest_follow_seconds: Floats
    engagement_weighted: Floats
    reply_count: Floats
    mention_count: Floats
    repost_count: Floats
    like_count: Floats
    quote_count: Floats
    created_ago: Floats
    last_post_ago: Floats
    first_followed_ago: Floats
    last_followed_ago: Floats

    def __post_init__(self) -> None:
        size = len(self.handles)
        for column in fields(self):
            value = _column(column.name, getattr(self, column.name))
            if (isinstance(value, np.ndarray) and value.ndim != 1) or len(value) != size:
                raise ValueError(f"column {column.name} does not hold one value for each of {size} followers")
            object.__setattr__(self, column.name, value)

    def __len__(self) -> int:
        return len(self.handles)

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]], now: datetime) -> FollowerColumns:
        """Columns from one mapping per follower, keyed like ``Follower``'s fields (``handle``,
        ``display_name``, ``bio``, ``labels``, the flags and counts above, ``created_at``, ``last_post_at``,
        ``first_followed_at``, ``last_followed_at`` as datetimes) plus ``engagement_weighted`` and
        ``reply_count`` … ``quote_count``. Missing keys and None mean unknown."""
        rows = list(records)
        texts = {
            "handles": [_text(row.get("handle")) for row in rows],
            "display_names": [_text(row.get("display_name")) for row in rows],
            "bios": [_text(row.get("bio")) for row in rows],
            "labels": [_labels(row.get("labels")) for row in rows],
        }
        flags = {
            name: np.array([bool(row.get(name)) for row in rows], dtype=np.bool_) for name in FLAG_COLUMNS
        }
        counts = {name: np.array([_number(row.get(name)) for row in rows]) for name in COUNT_COLUMNS}
        ages = {
            name: seconds_before([row.get(name.removesuffix("_ago") + "_at") for row in rows], now)
            for name in AGE_COLUMNS
        }
        columns: dict[str, Any] = texts | flags | counts | ages
        return cls(**columns)

    @cached_property
    def _raw(self) -> dict[str, _Texts]:
        """The texts that signals read, by field: handle names (see ``handle_name``), display names, bios."""
        return {
            "handle": _Texts.of([handle_name(handle) for handle in self.handles]),
            "display name": _Texts.of(self.display_names),
            "bio": _Texts.of(self.bios),
        }

    @cached_property
    def _labelled(self) -> Ints:
        """Rows with any label."""
        return np.flatnonzero(np.fromiter(map(bool, self.labels), dtype=np.bool_, count=len(self.labels)))

    @cached_property
    def _words(self) -> dict[str, _Texts]:
        return {where: _word_texts(raw) for where, raw in self._raw.items()}

    @cached_property
    def _plain(self) -> dict[str, _Texts]:
        return {where: _plain_texts(raw) for where, raw in self._raw.items()}

    @cached_property
    def _skeletons(self) -> tuple[_Texts, ...]:
        """Handle skeletons without trailing digits and with them, display-name skeletons without."""
        return (*_skeleton_variants(self._raw["handle"]), _skeleton_variants(self._raw["display name"])[0])


def seconds_before(moments: Iterable[datetime | None], now: datetime) -> Floats:
    """Seconds from each moment to ``now`` (negative for the future, NaN for None); naive times are UTC."""
    stamp = _as_utc(now).timestamp()
    return np.fromiter(
        (math.nan if moment is None else stamp - _as_utc(moment).timestamp() for moment in moments),
        dtype=np.float64,
    )


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _column(name: str, value: Any) -> Any:
    if name in FLAG_COLUMNS:
        return np.asarray(value, dtype=np.bool_)
    if name in COUNT_COLUMNS:
        return _clean_counts(np.asarray(value, dtype=np.float64))
    if name in AGE_COLUMNS:
        return np.asarray(value, dtype=np.float64)
    return value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _labels(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Iterable):
        return tuple(str(label) for label in value)
    return ()


def _number(value: Any) -> float:
    if value is None or isinstance(value, str):
        return math.nan
    try:
        return float(value)
    except OverflowError:
        return math.inf
    except (TypeError, ValueError):
        return math.nan


def _clean_counts(values: Floats) -> Floats:
    return np.where(values < 0, np.nan, np.minimum(values, _MAX_COUNT))


def handle_name(handle: str) -> str:
    """The part of a handle its owner chose: no leading @, no server, no domain ("ann@example.social" and
    "ann.bsky.social" are both "ann")."""
    return handle.lstrip("@").partition("@")[0].partition(".")[0]


@dataclass(frozen=True, eq=False)
class BrandContext:
    """The brand whose followers are scored.

    ``blocklist`` holds words and phrases (matched as whole words, case-insensitively, after folding
    look-alike letters; a phrase also matches with its words run together, as in a handle) and ``/regex/``
    patterns (matched case-insensitively against NFKC, lower-cased text with invisible characters removed).
    ``handle`` and ``other_handles`` are the brand's accounts (a brand may connect several): a follower whose
    handle or display name reads as any of them, or as ``display_name``, looks like an impersonation, unless
    it is one of them. Handles in ``always_follow`` count as the brand's own accounts too; ``never_follow`` is
    for the policy, which compares both lists after ``normalise_handle``.
    """

    handle: str
    display_name: str = ""
    blocklist: tuple[str, ...] = ()
    always_follow: AbstractSet[str] = frozenset()
    never_follow: AbstractSet[str] = frozenset()
    other_handles: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self._blocklist  # noqa: B018  (compiles the patterns now, so a bad one fails where it is set)

    @cached_property
    def _blocklist(self) -> _Blocklist:
        return _Blocklist.of(self.blocklist)

    @cached_property
    def _own_handles(self) -> frozenset[str]:
        return frozenset(map(normalise_handle, {*self.handles, *self.always_follow}))

    @property
    def handles(self) -> tuple[str, ...]:
        return (self.handle, *self.other_handles)

    @cached_property
    def _targets(self) -> _Targets:
        return _Targets.of([handle_name(handle) for handle in self.handles], self.display_name)

    def is_own_account(self, handle: str) -> bool:
        """Whether ``handle`` is one of the brand's accounts; a handle without a server part (a Mastodon
        account on the brand's own server) matches the brand's handle with or without one."""
        name, _, server = normalise_handle(handle).partition("@")
        return any(
            name == own_name and (not server or server == own_server)
            for own_name, _, own_server in (own.partition("@") for own in self._own_handles)
        )


def normalise_handle(handle: str) -> str:
    """A handle as lists compare it: no surrounding spaces, no leading @, case folded."""
    return handle.strip().lstrip("@").casefold()


# --- results and reasons ------------------------------------------------------------------------------------


class Polarity(StrEnum):
    SUGGEST = "suggest"  # a reason to follow back
    WATCH = "watch"  # something to look at before following back


@dataclass(frozen=True, slots=True)
class Reason:
    signal: str
    text: str
    polarity: Polarity


@dataclass(frozen=True, eq=False)
class SignalResult:
    """One value in [0, 1] per follower, the reasons behind any one row (built when asked for), and the named
    parts the value was made of, for rules that look at one part alone (``harmful``'s ``blocklisted``,
    ``impersonation`` and ``harmful_label``; ``bot_likelihood``'s evidence)."""

    name: str
    values: Floats
    reasons: Callable[[int], list[Reason]]
    parts: Mapping[str, Floats] = field(default_factory=dict)


Signal = Callable[[FollowerColumns, BrandContext], SignalResult]


def explain(signals: Mapping[str, SignalResult] | Iterable[SignalResult], index: int) -> list[Reason]:
    """Every signal's reasons for row ``index``, in signal order, each text once."""
    results = signals.values() if isinstance(signals, Mapping) else signals
    seen: set[str] = set()
    reasons = []
    for result in results:
        for reason in result.reasons(index):
            if reason.text not in seen:
                seen.add(reason.text)
                reasons.append(reason)
    return reasons


def engagement_weight(kind: str, age_days: float) -> float:
    """One interaction's weight: its kind's weight (``KIND_WEIGHTS``; others count 0), halving about every
    three weeks (``exp(-age_days / 30)``), and 0 once older than 90 days. A moment in the future counts as
    now."""
    if not age_days <= ENGAGEMENT_WINDOW_DAYS:
        return 0.0
    return KIND_WEIGHTS.get(kind, 0.0) * math.exp(-max(age_days, 0.0) / ENGAGEMENT_DECAY_DAYS)


# --- bot likelihood -----------------------------------------------------------------------------------------

BOT_BIAS: Final = -3.5
BOT_WEIGHTS: Final[Mapping[str, float]] = {
    "platform_bot": 3.0,
    "bot_labels": 3.0,
    "ratio": 2.0,
    "ratio_50_to_1": 1.0,
    "young": 1.5,
    "posting_rate": 2.0,
    "following_rate": 1.5,
    "default_avatar": 0.7,
    "default_avatar_after_2_months": 0.5,
    "empty_bio": 0.6,
    "no_bio_following_100": 0.6,
    "handle_length": 0.4,
    "handle_digits": 1.2,
    "name_digits": 0.6,
    "name_length": 0.5,
    "rare_bigrams": 1.0,
    "few_posts": 0.7,
    "dormant_90_days": 0.5,
    "follow_back": 0.8,
    "verified_links": -1.5,
    "established": -1.0,
}
"""Log-odds points per piece of evidence (each in [0, 1]); ``bot_likelihood`` is the logistic of their sum
plus ``BOT_BIAS``. The published fake-follower rules are among them: following:followers of 50:1 or more, the
default picture after two months, no bio while following more than 100, fewer than 3 posts, none in 90 days.
The handle and the display name count by their length and their digits: a display name with no words, or longer
than 30 characters (Mastodon's limit) and fully so at 50, is ``name_length`` evidence."""

_BOT_REASON_GROUPS: Final[Mapping[str, tuple[str, ...]]] = {
    "platform_bot": ("platform_bot",),
    "bot_labels": ("bot_labels",),
    "ratio": ("ratio", "ratio_50_to_1"),
    "young": ("young",),
    "posting_rate": ("posting_rate",),
    "following_rate": ("following_rate",),
    "avatar": ("default_avatar", "default_avatar_after_2_months"),
    "bio": ("empty_bio", "no_bio_following_100"),
    "handle_length": ("handle_length",),
    "handle_digits": ("handle_digits",),
    "name_digits": ("name_digits",),
    "name_length": ("name_length",),
    "rare_bigrams": ("rare_bigrams",),
    "few_posts": ("few_posts",),
    "dormant": ("dormant_90_days",),
    "follow_back": ("follow_back",),
}
_LONG_NAME = 30  # Mastodon's limit on display names; Bluesky allows 64
_REASON_MIN_POINTS = 0.5
_MAX_BOT_REASONS = 4
_LOOKS_HUMAN_BELOW = 0.1


def bot_likelihood(cols: FollowerColumns, ctx: BrandContext) -> SignalResult:
    """How much the profile looks automated or bought, from ``BOT_WEIGHTS``' evidence."""
    evidence = bot_evidence(cols)
    z = np.full(len(cols), BOT_BIAS)
    for name, weight in BOT_WEIGHTS.items():
        z += weight * evidence[name]
    values = _logistic(z)

    @functools.cache
    def group_points() -> Floats:
        """Each reason group's points, one row per group (reasons are asked for many rows of a batch)."""
        return np.array(
            [
                sum(BOT_WEIGHTS[name] * evidence[name] for name in names)
                for names in _BOT_REASON_GROUPS.values()
            ]
        )

    def reasons(index: int) -> list[Reason]:
        if values[index] < _LOOKS_HUMAN_BELOW:
            return [Reason("bot_likelihood", "nothing in the profile looks automated", Polarity.SUGGEST)]
        points = dict(zip(_BOT_REASON_GROUPS, group_points()[:, index].tolist(), strict=True))
        texts = (
            text
            for group in sorted(points, key=lambda group: -points[group])
            if points[group] >= _REASON_MIN_POINTS
            for text in _BOT_REASON_TEXTS[group](cols, index)
        )  # a generator: only the texts shown are written
        return [Reason("bot_likelihood", text, Polarity.WATCH) for text in islice(texts, _MAX_BOT_REASONS)]

    return SignalResult("bot_likelihood", values, reasons, evidence)


def bot_evidence(cols: FollowerColumns) -> dict[str, Floats]:
    """Each piece of ``BOT_WEIGHTS``' evidence, in [0, 1] per follower; unknown facts give none."""
    followers, following, posts = cols.followers_count, cols.following_count, cols.posts_count
    age = _days(_past(cols.created_ago))
    lifetime = np.maximum(age, 1.0)
    handle = _handle_statistics(cols._raw["handle"])
    words = cols._words
    no_bio = ~words["bio"].any_in_row(words["bio"].letters_or_digits)
    named = words["display name"].any_in_row(words["display name"].letters_or_digits)
    return {
        "platform_bot": cols.is_bot.astype(np.float64),
        "bot_labels": _has_label(cols, BOT_LABELS),
        "ratio": _ramp(np.log10((following + 1) / (followers + 1)), 0.5, 2.5),
        "ratio_50_to_1": _flag((following >= 50) & (following >= 50 * np.maximum(followers, 1))),
        "young": _known(np.exp(-age / 30)),
        "posting_rate": _ramp(_log10(posts / lifetime), math.log10(20), math.log10(200)),
        "following_rate": _ramp(_log10(following / lifetime), 1.0, 2.5),
        "default_avatar": _flag(cols.avatar_is_default),
        "default_avatar_after_2_months": _flag(cols.avatar_is_default & (age >= 60)),
        "empty_bio": _flag(no_bio),
        "no_bio_following_100": _flag(no_bio & (following > 100)),
        "handle_length": _ramp(handle.length, 15, 25),
        "handle_digits": np.maximum(_ramp(handle.longest_number, 4, 7), _ramp(handle.digit_share, 0.5, 0.9)),
        "name_digits": _ramp(words["display name"].row_sums(words["display name"].digits), 2, 5),
        "name_length": np.maximum(_flag(~named), _ramp(cols._raw["display name"].lengths, _LONG_NAME, 50)),
        "rare_bigrams": np.where(handle.letter_pairs >= 3, _ramp(handle.rare_pair_share, 0.1, 0.4), 0.0),
        "few_posts": _flag(posts < 3),
        "dormant_90_days": _flag(_dormant(cols, 90)),
        "follow_back": _flag(_any_phrase(words, ("display name", "bio"), FOLLOW_BACK_PHRASES)),
        "verified_links": _flag(cols.verified_links > 0),
        "established": _flag(age >= 730),
    }


def _dormant(cols: FollowerColumns, days: float) -> Bools:
    since = _days(_past(cols.last_post_ago))
    return (since > days) | (np.isnan(since) & (cols.posts_count == 0))


@dataclass(frozen=True)
class _HandleStatistics:
    length: Ints
    digit_share: Floats
    longest_number: Ints
    letter_pairs: Ints
    rare_pair_share: Floats


def _handle_statistics(names: _Texts) -> _HandleStatistics:
    kinds = names.ascii_kinds
    digit = kinds == _DIGIT_KIND
    pair_kind = kinds[:-1].astype(np.uint16) * _KINDS + kinds[1:]
    pairs = np.append(_LETTER_PAIR[pair_kind], False)
    rare = np.append(_RARE_PAIR[pair_kind], False)
    length = names.lengths
    pair_counts = names.row_sums(pairs)
    return _HandleStatistics(
        length=length,
        digit_share=names.row_sums(digit) / np.maximum(length, 1),
        longest_number=names.longest_run(digit),
        letter_pairs=pair_counts,
        rare_pair_share=names.row_sums(rare) / np.maximum(pair_counts, 1),
    )


_DIGIT_KIND = 26
_OTHER_KIND = 27
_KINDS = 28


def _ascii_kind_table() -> npt.NDArray[np.uint8]:
    """For ASCII code points: a-z (either case) 0-25, digits 26, the rest 27."""
    table = np.full(128, _OTHER_KIND, dtype=np.uint8)
    for offset in range(26):
        table[ord("a") + offset] = table[ord("A") + offset] = offset
    table[ord("0") : ord("9") + 1] = _DIGIT_KIND
    return table


def _pair_tables() -> tuple[Bools, Bools]:
    """Indexed by ``first kind * 28 + second kind``: is it a pair of letters, is it a rare one."""
    letters = np.zeros((_KINDS, _KINDS), dtype=np.bool_)
    letters[:26, :26] = True
    common = np.zeros((_KINDS, _KINDS), dtype=np.bool_)
    for first, seconds in _COMMON_BIGRAMS.items():
        for second in seconds:
            common[ord(first) - 97, ord(second) - 97] = True
    return letters.ravel(), (letters & ~common).ravel()


_ASCII_KIND = _ascii_kind_table()
_LETTER_PAIR, _RARE_PAIR = _pair_tables()


def _ratio_reason(cols: FollowerColumns, index: int) -> list[str]:
    following, followers = cols.following_count[index], cols.followers_count[index]
    if followers == 0:
        return [f"follows {_count(following)}, followed by nobody"]
    return [
        f"follows {_count(following)}, followed by {_count(followers)} — 1:{_ratio(following / followers)}"
    ]


def _avatar_reason(cols: FollowerColumns, index: int) -> list[str]:
    age = _seconds_ago(cols.created_ago[index])
    if age >= 60 * DAY:
        return [f"still the default profile picture after {_duration(age)}"]
    return ["default profile picture"]


def _bio_reason(cols: FollowerColumns, index: int) -> list[str]:
    missing = "no bio" if not cols.bios[index].strip() else "no words in bio"
    if cols.following_count[index] > 100:
        return [f"{missing}, yet follows {_count(cols.following_count[index])}"]
    return [missing]


def _name_length_reason(cols: FollowerColumns, index: int) -> list[str]:
    name = cols.display_names[index]
    if any(ch.isalnum() for ch in name):
        return [f"unusually long display name: «{_shown(name)}»"]
    return [f"no words in display name: «{_shown(name)}»" if name.strip() else "no display name"]


def _posts_reason(cols: FollowerColumns, index: int) -> list[str]:
    posts = cols.posts_count[index]
    return ["has never posted" if posts == 0 else f"only {_plural(posts, 'post')}"]


def _dormant_reason(cols: FollowerColumns, index: int) -> list[str]:
    since = _seconds_ago(cols.last_post_ago[index])
    return [f"no posts in {_duration(since)}"] if since > 0 else _posts_reason(cols, index)


def _bot_label_reasons(cols: FollowerColumns, index: int) -> list[str]:
    return [_label_text(label) for label in cols.labels[index] if label in BOT_LABELS]


def _per_day(count: float, age: float) -> str:
    return _amount(count / max(age / DAY, 1.0))


_BOT_REASON_TEXTS: Final[Mapping[str, Callable[[FollowerColumns, int], list[str]]]] = {
    "platform_bot": lambda cols, i: ["marked as a bot account"],
    "bot_labels": _bot_label_reasons,
    "ratio": _ratio_reason,
    "young": lambda cols, i: [f"account is {_duration(_seconds_ago(cols.created_ago[i]))} old"],
    "posting_rate": lambda cols, i: [
        f"posts {_per_day(cols.posts_count[i], _seconds_ago(cols.created_ago[i]))} times a day"
    ],
    "following_rate": lambda cols, i: [
        f"followed {_count(cols.following_count[i])} accounts in {_duration(_seconds_ago(cols.created_ago[i]))}"
    ],
    "avatar": _avatar_reason,
    "bio": _bio_reason,
    "handle_length": lambda cols, i: [f"unusually long handle: «{_shown(handle_name(cols.handles[i]))}»"],
    "handle_digits": lambda cols, i: [f"long number in handle: «{_shown(handle_name(cols.handles[i]))}»"],
    "name_digits": lambda cols, i: [f"digits in display name: «{_shown(cols.display_names[i])}»"],
    "name_length": _name_length_reason,
    "rare_bigrams": lambda cols, i: [
        f"handle looks typed at random: «{_shown(handle_name(cols.handles[i]))}»"
    ],
    "few_posts": _posts_reason,
    "dormant": _dormant_reason,
    "follow_back": lambda cols, i: ["asks for follow-backs in name or bio"],
}


# --- churn, engagement, customer ----------------------------------------------------------------------------

_QUICK_UNFOLLOW = DAY
_SLOW_UNFOLLOW = 30 * DAY
_LOYAL_AFTER = 90 * DAY
_PER_UNFOLLOW = 0.3
_PER_QUICK_UNFOLLOW = 0.8
_PER_REFOLLOW = 0.1


def churn(cols: FollowerColumns, ctx: BrandContext) -> SignalResult:
    """Follow-unfollow cycles with the brand: ``1 - exp(-cycles)`` where each unfollow counts 0.3, or up to
    1.1 when the shortest follow lasted a day or less (sliding down to 0.3 at a month), and each re-follow
    0.1 more."""
    unfollows = np.nan_to_num(cols.unfollow_count)
    refollows = np.maximum(np.nan_to_num(cols.follow_count) - 1, 0)
    shortest = cols.shortest_follow_seconds
    slowness = _ramp(_log10(shortest), math.log10(_QUICK_UNFOLLOW), math.log10(_SLOW_UNFOLLOW))
    quickness = np.where(np.isnan(shortest), 0.0, 1.0 - slowness)
    cycles = unfollows * (_PER_UNFOLLOW + _PER_QUICK_UNFOLLOW * quickness) + _PER_REFOLLOW * refollows
    values = 1.0 - np.exp(-cycles)

    def reasons(index: int) -> list[Reason]:
        return [Reason("churn", text, polarity) for text, polarity in _churn_texts(cols, index)]

    return SignalResult("churn", values, reasons)


def _churn_texts(cols: FollowerColumns, index: int) -> list[tuple[str, Polarity]]:
    unfollows = _known_value(cols.unfollow_count[index])
    follows = _known_value(cols.follow_count[index])
    if unfollows == 0:
        since = _seconds_ago(cols.first_followed_ago[index])
        if cols.is_following[index] and since >= _LOYAL_AFTER:
            return [(f"has followed you for {_duration(since)}", Polarity.SUGGEST)]
        return []
    texts = [(_unfollow_text(unfollows, cols.shortest_follow_seconds[index]), Polarity.WATCH)]
    if follows >= 3:
        texts.append((f"followed you {_times(follows)}", Polarity.WATCH))
    return texts


def _unfollow_text(unfollows: float, shortest: float) -> str:
    if not shortest >= 0:
        return f"unfollowed you {_times(unfollows)}"
    if shortest < 3600:
        return f"unfollowed you {_times(unfollows)} within an hour"
    if shortest <= _QUICK_UNFOLLOW:
        return f"unfollowed you {_times(unfollows)} within a day"
    quickest = "after" if unfollows == 1 else "the quickest after"
    return f"unfollowed you {_times(unfollows)}, {quickest} {_duration(shortest)}"


_ENGAGEMENT_HALF = 4.0
_ENGAGEMENT_KINDS: Final = (
    ("reply", "reply_count", "replied to you {times}"),
    ("quote", "quote_count", "quoted you {times}"),
    ("mention", "mention_count", "mentioned you {times}"),
    ("repost", "repost_count", "reposted you {times}"),
    ("like", "like_count", "liked your posts {times}"),
)
_MAX_ENGAGEMENT_REASONS = 3


def engagement(cols: FollowerColumns, ctx: BrandContext) -> SignalResult:
    """Recent engagement with the brand, saturating: 0.5 at a weight of 4 (a fresh reply and a like)."""
    weighted = np.maximum(np.nan_to_num(cols.engagement_weighted), 0.0)
    values = 1.0 - np.exp2(-weighted / _ENGAGEMENT_HALF)

    def reasons(index: int) -> list[Reason]:
        done = [
            (KIND_WEIGHTS[kind] * count, template.format(times=_times(count)))
            for kind, column, template in _ENGAGEMENT_KINDS
            if (count := _known_value(getattr(cols, column)[index])) > 0
        ]
        done.sort(key=lambda item: -item[0])
        return [
            Reason("engagement", f"{text} in the last 3 months", Polarity.SUGGEST)
            for _, text in done[:_MAX_ENGAGEMENT_REASONS]
        ]

    return SignalResult("engagement", values, reasons)


def customer(cols: FollowerColumns, ctx: BrandContext) -> SignalResult:
    """1 for followers on the brand's customer list."""
    values = cols.is_customer.astype(np.float64)

    def reasons(index: int) -> list[Reason]:
        return [Reason("customer", "on your customer list", Polarity.SUGGEST)] if values[index] else []

    return SignalResult("customer", values, reasons)


# --- harmful ------------------------------------------------------------------------------------------------

NEAR_IMPERSONATION_VALUE: Final = 0.8  # the harmful value of a name one letter off the brand's
HARMFUL_LABEL_VALUE: Final = 0.9  # the harmful value of a harmful moderation label


def harmful(cols: FollowerColumns, ctx: BrandContext) -> SignalResult:
    """Blocklisted words in handle, name or bio (1), a handle or name that reads as the brand's (1, or 0.8
    when one letter off), harmful moderation labels (0.9)."""
    blocklisted = _blocklisted(cols, ctx._blocklist)
    blocked = _flag(np.logical_or.reduce([np.zeros(len(cols), dtype=np.bool_), *_all_rows(blocklisted)]))
    looks = _impersonations(cols, ctx)
    copies = np.maximum(*looks)
    labelled = _has_label(cols, HARMFUL_LABELS)
    values = np.maximum.reduce([blocked, copies, labelled * HARMFUL_LABEL_VALUE])

    def reasons(index: int) -> list[Reason]:
        texts = [
            *(_blocklist_texts(blocklisted, index) if blocked[index] else []),
            *(_impersonation_texts(cols, looks, index) if copies[index] else []),
            *(_label_text(label) for label in cols.labels[index] if label in HARMFUL_LABELS),
        ]
        return [Reason("harmful", text, Polarity.WATCH) for text in texts]

    parts = {"blocklisted": blocked, "impersonation": copies, "harmful_label": labelled}
    return SignalResult("harmful", values, reasons, parts)


@dataclass(frozen=True)
class _Blocklist:
    """Blocklist entries: whole-word needles in folded text, and compiled ``/regex/`` patterns."""

    needles: tuple[tuple[str, Codes], ...]
    patterns: tuple[tuple[str, re.Pattern[str]], ...]

    @classmethod
    def of(cls, entries: Iterable[str]) -> _Blocklist:
        needles: list[tuple[str, Codes]] = []
        patterns: list[tuple[str, re.Pattern[str]]] = []
        for entry in entries:
            if len(entry) > 2 and entry.startswith("/") and entry.endswith("/"):
                patterns.append((entry, _compile(entry)))
                continue
            words = _needle(entry)
            if not words.size:
                patterns.append((entry, re.compile(re.escape(entry.casefold()))))
                continue
            needles.append((entry, words))
            if (words == _SPACE).any():
                needles.append((entry, words[words != _SPACE]))
        return cls(tuple(needles), tuple(patterns))

    def matches(self, words: _Texts, plain: _Texts | None) -> dict[str, Bools]:
        """Per entry, which texts hold it, from their word texts and (for patterns) their plain texts."""
        found: dict[str, Bools] = {}
        for entry, needle in self.needles:
            rows = found.setdefault(entry, np.zeros(len(words), dtype=np.bool_))
            rows[words.rows_at(words.find(needle, whole_word=True))] = True
        if plain is not None:
            for entry, pattern in self.patterns:
                rows = found.setdefault(entry, np.zeros(len(plain), dtype=np.bool_))
                rows[plain.rows_at(_pattern_positions(plain.joined, [pattern]))] = True
        return found


def _compile(entry: str) -> re.Pattern[str]:
    try:
        return re.compile(entry[1:-1], re.IGNORECASE)
    except re.error as error:
        raise ValueError(f"blocklist pattern {entry} is not a valid regular expression: {error}") from None


def _pattern_positions(plain: str, patterns: Sequence[re.Pattern[str]]) -> Ints:
    return np.array(
        [match.start() for pattern in patterns for match in pattern.finditer(plain)], dtype=np.int64
    )


def _blocklisted(cols: FollowerColumns, blocklist: _Blocklist) -> dict[str, dict[str, Bools]]:
    """Per field (handle, display name, bio), per blocklist entry, the followers whose field holds it."""
    if not (blocklist.needles or blocklist.patterns):
        return {}
    plain = cols._plain if blocklist.patterns else {}
    return {where: blocklist.matches(words, plain.get(where)) for where, words in cols._words.items()}


def _all_rows(blocklisted: Mapping[str, Mapping[str, Bools]]) -> list[Bools]:
    return [rows for entries in blocklisted.values() for rows in entries.values()]


def _blocklist_texts(blocklisted: Mapping[str, Mapping[str, Bools]], index: int) -> list[str]:
    return [
        f"{where} matches your blocklist: «{entry}»"
        for where, entries in blocklisted.items()
        for entry, rows in entries.items()
        if rows[index]
    ]


@dataclass(frozen=True, eq=False)
class _Targets:
    """Skeletons of the brand's handle names and display name, and the pieces that find look-alikes fast."""

    exact: frozenset[str]
    pieces: tuple[Codes, ...]

    @classmethod
    def of(cls, handle_names: Sequence[str], display_name: str) -> _Targets:
        exact = frozenset({*map(skeleton, handle_names), skeleton(display_name)} - {""})
        return cls(exact, tuple(_codes(piece) for piece in sorted({p for t in exact for p in _pieces(t)})))

    def candidates(self, skeletons: _Texts) -> Ints:
        """Rows that might match, found with numpy alone: a skeleton that holds a piece of a target and is
        about as long as one, or starts or ends like an affix (``match`` decides)."""
        holding = np.zeros(len(skeletons), dtype=np.bool_)
        for piece in self.pieces:
            holding[skeletons.rows_at(skeletons.find(piece))] = True
        rows = np.flatnonzero(holding)
        plausible = np.isin(skeletons.lengths[rows], list(self.lengths))
        for length, (heads, tails) in _affix_ends().items():
            plausible |= np.isin(skeletons.head_keys(rows, length), heads)
            plausible |= np.isin(skeletons.tail_keys(rows, length), tails)
        return rows[plausible]

    @cached_property
    def lengths(self) -> frozenset[int]:
        """Lengths of skeletons that can match a target without affixes."""
        return frozenset(
            length
            for target in self.exact
            for length in (
                (len(target),) if len(target) < 4 else (len(target) - 1, len(target), len(target) + 1)
            )
        )

    def match(self, name: str) -> float:
        """1 when a core of ``name`` is a brand skeleton, 0.8 when one edit away from one of four or more
        letters, else 0."""
        cores = _cores(name)
        if cores & self.exact:
            return 1.0
        near = any(
            _one_edit_apart(core, target)
            for core in cores
            if len(core) >= 4
            for target in self.exact
            if len(target) >= 4
        )
        return NEAR_IMPERSONATION_VALUE if near else 0.0


def _pieces(target: str) -> tuple[str, ...]:
    """Substrings of which any name within one edit of ``target`` holds at least one."""
    if len(target) < 4:
        return (target,)
    half = len(target) // 2
    return target[:half], target[half:]


def _impersonations(cols: FollowerColumns, ctx: BrandContext) -> tuple[Floats, Floats]:
    """How much each follower's handle, and their display name, read as the brand's (``_Targets.match``);
    0 for the brand's own accounts."""
    targets = ctx._targets
    scores: dict[str, float] = {}
    looks = []
    for variant in cols._skeletons:
        values = np.zeros(len(cols))
        for row in targets.candidates(variant).tolist():
            name = variant.text(row)
            if name not in scores:
                scores[name] = targets.match(name)
            values[row] = scores[name]
        looks.append(values)
    handle, display_name = np.maximum(looks[0], looks[1]), looks[2]
    for row in np.flatnonzero(handle + display_name).tolist():
        if ctx.is_own_account(cols.handles[row]):
            handle[row] = display_name[row] = 0.0
    return handle, display_name


def _impersonation_texts(cols: FollowerColumns, looks: tuple[Floats, Floats], index: int) -> list[str]:
    return [
        f"{where} looks like your brand: «{_shown(text)}»{_trick(text)}"
        for where, text, values in (
            ("handle", cols.handles[index], looks[0]),
            ("display name", cols.display_names[index], looks[1]),
        )
        if values[index] > 0
    ]


def _trick(text: str) -> str:
    if any(ord(ch) in _IGNORABLE for ch in text):
        return " (hidden characters)"
    if any(ch in lookalikes() or unicodedata.normalize("NFKC", ch) != ch for ch in text if not ch.isascii()):
        return " (look-alike letters)"
    return ""


# --- genuine activity ---------------------------------------------------------------------------------------

_RECENT_POST_DAYS = 45.0
_ACTIVE_WITHIN = 30 * DAY
_QUIET_AFTER = 90 * DAY


def genuine_activity(cols: FollowerColumns, ctx: BrandContext) -> SignalResult:
    """A living account: recent posts (0.6), many posts (0.3), verified links (0.1); none when suspended,
    a tenth when moved, half when limited by moderators."""
    since = _days(_past(cols.last_post_ago))
    posts = cols.posts_count
    recency = np.where(np.isnan(since), np.where(posts > 0, 0.25, 0.0), np.exp(-since / _RECENT_POST_DAYS))
    volume = _ramp(np.log10(posts + 1), 0.0, 3.0)
    links = np.minimum(np.nan_to_num(cols.verified_links), 2) / 2
    standing = np.select([cols.suspended, cols.moved, cols.limited], [0.0, 0.1, 0.5], 1.0)
    values = np.clip((0.6 * recency + 0.3 * volume + 0.1 * links) * standing, 0.0, 1.0)

    def reasons(index: int) -> list[Reason]:
        return [Reason("genuine_activity", text, polarity) for text, polarity in _activity_texts(cols, index)]

    return SignalResult("genuine_activity", values, reasons)


def _activity_texts(cols: FollowerColumns, index: int) -> list[tuple[str, Polarity]]:
    texts = [
        (text, Polarity.WATCH)
        for flag, text in (
            (cols.suspended, "account is suspended"),
            (cols.moved, "account has moved elsewhere"),
            (cols.limited, "account is limited by moderators"),
        )
        if flag[index]
    ]
    since, posts = _seconds_ago(cols.last_post_ago[index]), cols.posts_count[index]
    if since <= _ACTIVE_WITHIN:
        texts.append((f"posted {_ago(since)}", Polarity.SUGGEST))
    elif since > _QUIET_AFTER:
        texts.append((f"no posts in {_duration(since)}", Polarity.WATCH))
    elif posts == 0:
        texts.append(("has never posted", Polarity.WATCH))
    links = cols.verified_links[index]
    if links > 0:
        texts.append((f"{_plural(links, 'verified link')} on the profile", Polarity.SUGGEST))
    return texts


# --- all signals --------------------------------------------------------------------------------------------

SIGNALS: Final[Mapping[str, Signal]] = {
    "harmful": harmful,
    "customer": customer,
    "engagement": engagement,
    "churn": churn,
    "bot_likelihood": bot_likelihood,
    "genuine_activity": genuine_activity,
}
"""Every signal, most decisive first: ``explain`` lists reasons in this order."""


def compute_signals(cols: FollowerColumns, ctx: BrandContext) -> dict[str, SignalResult]:
    return {name: signal(cols, ctx) for name, signal in SIGNALS.items()}


# --- numeric helpers ----------------------------------------------------------------------------------------


def _past(ago: Floats) -> Floats:
    """Seconds ago, with moments more than a day in the future unknown and the rest of the future now."""
    return np.where(ago < -DAY, np.nan, np.maximum(ago, 0.0))


def _seconds_ago(ago: float) -> float:
    """``_past`` of one value."""
    return math.nan if ago < -DAY else max(float(ago), 0.0)


def _days(seconds: Floats) -> Floats:
    return seconds / DAY


def _ramp(values: Any, low: float, high: float) -> Floats:
    """0 at or below ``low``, 1 at or above ``high``, linear between; 0 when unknown."""
    return _known(np.clip((np.asarray(values, dtype=np.float64) - low) / (high - low), 0.0, 1.0))


def _known(values: Floats) -> Floats:
    return np.nan_to_num(values, nan=0.0, posinf=1.0, neginf=0.0)


def _known_value(value: float) -> float:
    """One value of a column, 0 when unknown (for the reasons of one row, where numpy's calls cost most)."""
    return 0.0 if math.isnan(value) else float(value)


def _flag(values: Bools) -> Floats:
    return np.asarray(values, dtype=np.float64)


def _log10(values: Floats) -> Floats:
    return np.log10(np.maximum(values, 1e-12))


def _logistic(z: Floats) -> Floats:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50.0, 50.0)))


def _has_label(cols: FollowerColumns, wanted: frozenset[str]) -> Floats:
    found = np.zeros(len(cols))
    for row in cols._labelled.tolist():
        found[row] = not wanted.isdisjoint(cols.labels[row])
    return found


def _any_phrase(words: Mapping[str, _Texts], names: Sequence[str], phrases: Sequence[str]) -> Bools:
    found = np.zeros(len(words[names[0]]), dtype=np.bool_)
    needles = list(map(_needle, phrases))
    for name in names:
        for needle in needles:
            found[words[name].rows_at(words[name].find(needle, whole_word=True))] = True
    return found


# --- words for people ---------------------------------------------------------------------------------------
# Values arrive as numpy scalars; formatting and rounding them as Python floats is several times faster.


def _count(value: float) -> str:
    return f"{float(value):,.0f}"


def _amount(value: float) -> str:
    return f"{float(value):,.0f}" if value >= 10 else f"{float(value):.1f}".removesuffix(".0")


def _ratio(value: float) -> str:
    """Two significant figures from 10 on (1,604 → 1,600), one decimal below."""
    if value < 10:
        return _amount(value)
    digits = math.floor(math.log10(value)) - 1
    return _count(round(float(value), -digits))


def _plural(value: float, noun: str) -> str:
    return f"1 {noun}" if value == 1 else f"{_count(value)} {noun}s"


def _times(value: float) -> str:
    return {1: "once", 2: "twice"}.get(int(value), f"{_count(value)} times")


_UNITS = (
    (365 * DAY, "year"),
    (30 * DAY, "month"),
    (7 * DAY, "week"),
    (DAY, "day"),
    (3600, "hour"),
    (60, "minute"),
)
_WHOLE_UNITS_FROM = {"year": 2, "month": 2, "week": 2, "day": 1, "hour": 1, "minute": 1}


def _duration(seconds: float) -> str:
    """5 days, 3 weeks, 5 months, 2 years: the largest unit that gives a useful number."""
    for size, unit in _UNITS:
        if seconds >= _WHOLE_UNITS_FROM[unit] * size:
            return _plural(seconds // size, unit)
    return "a moment"


def _ago(seconds: float) -> str:
    return "today" if seconds < DAY else f"{_duration(seconds)} ago"


def _label_text(label: str) -> str:
    return {
        "!hide": "hidden by moderators",
        "!takedown": "taken down by moderators",
        "!suspend": "suspended by moderators",
    }.get(label, f"labelled «{label}» by moderators")


_SHOWN_LENGTH = 40


def _shown(text: str) -> str:
    """Platform text safe to show inside a reason: invisible characters named, long text cut."""
    visible = "".join(f"[U+{ord(ch):04X}]" if ord(ch) in _IGNORABLE else ch for ch in text)
    return visible if len(visible) <= _SHOWN_LENGTH else visible[: _SHOWN_LENGTH - 1] + "…"


# --- text as code points ------------------------------------------------------------------------------------

_SPACE = 0x20
_KEY_LENGTH = 3
_DELETE = 0xFFFF_FFFF


@dataclass(frozen=True, eq=False)
class _Texts:
    """Many short texts as one array of code points, each text followed by a 0."""

    values: Codes
    starts: Ints
    ends: Ints  # where each text's closing 0 is

    @classmethod
    def of(cls, texts: Sequence[str]) -> _Texts:
        """``texts`` in the order people see them (see ``_in_visual_order``), NUL characters dropped."""
        values = _codes("\x00".join(texts) + "\x00") if texts else np.zeros(0, dtype=np.uint32)
        if np.count_nonzero(values == 0) != len(texts):
            values = _codes("\x00".join(text.replace("\x00", "") for text in texts) + "\x00")
        return cls.from_values(_in_visual_order(values))

    @classmethod
    def from_values(cls, values: Codes) -> _Texts:
        ends = np.flatnonzero(values == 0).astype(np.int64)
        return cls(values, np.concatenate(([0], ends[:-1] + 1))[: len(ends)].astype(np.int64), ends)

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def lengths(self) -> Ints:
        return self.ends - self.starts

    @property
    def letters_or_digits(self) -> Bools:
        """For word texts: every code point but spaces and the separators."""
        return (self.values != _SPACE) & (self.values != 0)

    @property
    def digits(self) -> Bools:
        return (self.values >= 0x30) & (self.values <= 0x39)

    def mapped_values(self, table: Codes) -> Codes:
        """Each code point through ``table`` (one of ``_tables()``'), the deleted ones dropped."""
        mapped = _tables().fold(self.values, table)
        return mapped[mapped != _DELETE]

    def head_keys(self, rows: Ints, length: int) -> Keys:
        """The first ``length`` (at most 3) code points of each row as one number; 0 for shorter rows."""
        return self._keys(self.starts[rows], length, self.lengths[rows] >= length)

    def tail_keys(self, rows: Ints, length: int) -> Keys:
        """The last ``length`` (at most 3) code points of each row as one number; 0 for shorter rows."""
        return self._keys(self.ends[rows] - length, length, self.lengths[rows] >= length)

    def _keys(self, positions: Ints, length: int, long_enough: Bools) -> Keys:
        keys = np.zeros(len(positions), dtype=np.uint64)
        for offset in range(length):
            code = self.values[np.clip(positions + offset, 0, len(self.values) - 1)]
            keys = (keys << np.uint64(21)) | code.astype(np.uint64)
        return np.where(long_enough, keys, np.uint64(0))

    def any_in_row(self, mask: Bools) -> Bools:
        """Per text, whether ``mask`` holds any of its code points (never its closing 0)."""
        if not len(self):
            return np.zeros(0, dtype=np.bool_)
        return np.logical_or.reduceat(mask, self.starts)

    def row_sums(self, mask: Bools) -> Ints:
        """Per text, how many of its code points ``mask`` holds (never its closing 0)."""
        if not len(self):
            return np.zeros(0, dtype=np.int64)
        return np.add.reduceat(mask.view(np.uint8), self.starts, dtype=np.int32).astype(np.int64)

    def rows_at(self, positions: Ints) -> Ints:
        """The text each position falls in (repeated for repeated texts)."""
        return np.searchsorted(self.starts, positions, side="right") - 1

    def longest_run(self, mask: Bools) -> Ints:
        """Per text, the longest run of consecutive code points that ``mask`` holds (never its closing 0)."""
        run_starts, run_ends = _runs(mask)
        longest = np.zeros(len(self), dtype=np.int64)
        np.maximum.at(
            longest, np.searchsorted(self.starts, run_starts, side="right") - 1, run_ends - run_starts
        )
        return longest

    def find(self, needle: Codes, *, whole_word: bool = False) -> Ints:
        """Where ``needle`` starts; with ``whole_word``, only where no letter touches either end."""
        values = self.values
        at = _starts_of(self.ascii_codes if needle.size and needle.max() < 128 else values, needle)
        if whole_word:
            before = np.where(at > 0, values[np.maximum(at - 1, 0)], 0)
            after = values[np.minimum(at + len(needle), len(values) - 1)]
            at = at[~_is_letter(before) & ~_is_letter(after)]
        return at

    @cached_property
    def ascii_codes(self) -> npt.NDArray[np.uint8]:
        """One byte per code point: itself when ASCII, 0x7F otherwise (so ASCII needles can search bytes)."""
        return np.minimum(self.values, 0x7F, out=np.empty(len(self.values), dtype=np.uint8), casting="unsafe")

    @cached_property
    def ascii_kinds(self) -> npt.NDArray[np.uint8]:
        """``_ASCII_KIND`` of each code point (27 for anything beyond ASCII)."""
        return _ASCII_KIND[self.ascii_codes]

    def text(self, row: int) -> str:
        return _decode(self.values[self.starts[row] : self.ends[row]])

    @cached_property
    def joined(self) -> str:
        """All texts as one string, each closed by NUL: a match's position is its code point's index."""
        return _decode(self.values)


_RIGHT_TO_LEFT_OVERRIDE = 0x202E
_OVERRIDE_ENDS = np.array([0, 0x202C, 0x202D, 0x202E, 0x2069], dtype=np.uint32)


def _in_visual_order(values: Codes) -> Codes:
    """Each run after a right-to-left override (U+202E, up to the next bidi terminator or the end of its
    text) reversed, as it is displayed: "\u202eemca" shows, and so reads, as "acme". Nested embeddings and
    the rest of the bidi algorithm are out of scope."""
    overrides = np.flatnonzero(values == _RIGHT_TO_LEFT_OVERRIDE)
    if not overrides.size:
        return values
    terminators = np.flatnonzero(np.isin(values, _OVERRIDE_ENDS))
    order = np.arange(len(values))
    for start in overrides.tolist():
        end = int(terminators[np.searchsorted(terminators, start, side="right")])
        order[start + 1 : end] = order[start + 1 : end][::-1]
    return values[order]


def _is_letter(values: Codes) -> Bools:
    """In word texts every code point above the digits is a letter (punctuation became spaces)."""
    return values > 0x39


def _starts_of(haystack: npt.NDArray[Any], needle: Codes) -> Ints:
    """Every start of ``needle`` in ``haystack``, overlapping ones too."""
    size = len(needle)
    if not size or size > len(haystack):
        return np.zeros(0, dtype=np.int64)
    if size == 1:
        return np.flatnonzero(haystack == needle[0])
    at = np.flatnonzero((haystack[:-1] == needle[0]) & (haystack[1:] == needle[1]))
    for offset in range(2, size):
        at = at[haystack[np.minimum(at + offset, len(haystack) - 1)] == needle[offset]]
    return at


def _codes(text: str) -> Codes:
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def _decode(values: Codes) -> str:
    return values.tobytes().decode("utf-32-le", "surrogatepass")


def _word_texts(raw: _Texts) -> _Texts:
    """Texts as words: NFKC, lower case, look-alike letters folded, accents and invisible characters
    dropped, every run of other characters one space."""
    values = raw.mapped_values(_tables().words)
    space = values == _SPACE
    keep = np.ones(len(values), dtype=np.bool_)
    np.logical_not(space[1:] & space[:-1], out=keep[1:])
    return _Texts.from_values(values[keep])


@functools.cache
def _needle(text: str) -> Codes:
    """``text`` as a whole-word needle for word texts."""
    values = _word_texts(_Texts.of([text])).values[:-1]
    letters = np.flatnonzero(values != _SPACE)
    return values[letters[0] : letters[-1] + 1] if letters.size else values[:0]


def _plain_texts(raw: _Texts) -> _Texts:
    """Texts after NFKC and lower-casing, invisible characters dropped: what ``/regex/`` entries see."""
    return _Texts.from_values(raw.mapped_values(_tables().plain))


def skeleton(text: str) -> str:
    """How a name looks: NFKC, lower case, look-alike letters and digits folded to the Latin letters they
    resemble (``lookalikes()``, ``SKELETON_SWAPS``, ``SKELETON_PAIRS``), everything but letters and digits
    dropped. "Асmе_Support", "acme.support" and "4CME SUPP0RT" share the skeleton "acmesupport"."""
    return _skeleton_texts(_Texts.of([text])).text(0)


def _skeleton_variants(raw: _Texts) -> tuple[_Texts, _Texts]:
    """Skeletons without trailing digits, and with them (folded to letters like the other digits).

    ``SKELETON_PAIRS`` never involve a folded digit, so one pass replaces them in both."""
    letters = raw.mapped_values(_tables().skeleton_letters)
    trailing = _trailing_digits(letters)
    values = _tables().skeleton_swaps[letters]
    for pair, single in SKELETON_PAIRS:
        values, kept = _replace_pair(values, pair, single)
        trailing = trailing[kept]
    return _Texts.from_values(values[~trailing]), _Texts.from_values(values)


def _skeleton_texts(raw: _Texts) -> _Texts:
    return _skeleton_variants(raw)[1]


def _trailing_digits(values: Codes) -> Bools:
    """Digits with nothing but digits between them and the end of their text."""
    run_starts, run_ends = _runs((values >= 0x30) & (values <= 0x39))
    trailing = values[run_ends] == 0
    return _covered(len(values), run_starts[trailing], run_ends[trailing])


def _runs(mask: Bools) -> tuple[Ints, Ints]:
    """Start and end (exclusive) of each run of True."""
    edges = np.diff(mask.view(np.int8), prepend=np.int8(0), append=np.int8(0))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def _covered(size: int, starts: Ints, ends: Ints) -> Bools:
    """A mask of ``size`` that holds the ranges [start, end)."""
    lengths = ends - starts
    positions = np.arange(lengths.sum()) + np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
    covered = np.zeros(size, dtype=np.bool_)
    covered[positions] = True
    return covered


def _replace_pair(values: Codes, pair: str, single: str) -> tuple[Codes, slice | Bools]:
    """``str.replace(pair, single)`` on every text (left to right, matches never overlapping), and which
    of ``values`` remain."""
    first, second = ord(pair[0]), ord(pair[1])
    at = np.flatnonzero((values[:-1] == first) & (values[1:] == second))
    if not at.size:
        return values, slice(None)
    if first == second:
        run_start = np.concatenate(([True], np.diff(at) != 1))
        offset = np.arange(len(at)) - np.maximum.accumulate(np.where(run_start, np.arange(len(at)), 0))
        at = at[offset % 2 == 0]
    replaced = values.copy()
    replaced[at] = ord(single)
    kept = np.ones(len(values), dtype=np.bool_)
    kept[at + 1] = False
    return replaced[kept], kept


@functools.cache
def _affix_skeletons() -> tuple[str, ...]:
    return tuple(sorted({skeleton(affix) for affix in IMPERSONATION_AFFIXES}, key=len, reverse=True))


@functools.cache
def _affix_ends() -> dict[int, tuple[Keys, Keys]]:
    """By length: ``head_keys`` and ``tail_keys`` of the affixes' skeletons (of the short ones whole)."""
    affixes = _affix_skeletons()
    ends = {}
    for length in range(1, _KEY_LENGTH + 1):
        texts = _Texts.of([affix for affix in affixes if min(len(affix), _KEY_LENGTH) == length])
        every = np.arange(len(texts))
        if every.size:
            ends[length] = (
                np.unique(texts.head_keys(every, length)),
                np.unique(texts.tail_keys(every, length)),
            )
    return ends


_MAX_AFFIXES = 3


def _cores(name: str) -> set[str]:
    """``name`` and what remains of it once up to three official-sounding affixes come off either end."""
    affixes = _affix_skeletons()
    cores = {name}
    frontier = {name}
    for _ in range(_MAX_AFFIXES):
        frontier = {
            stripped
            for core in frontier
            if core.startswith(affixes) or core.endswith(affixes)
            for affix in affixes
            for stripped in (
                core[len(affix) :] if core.startswith(affix) else "",
                core[: -len(affix)] if core.endswith(affix) else "",
            )
            if len(stripped) >= 2
        }
        cores |= frontier
    return cores


def _one_edit_apart(a: str, b: str) -> bool:
    """Levenshtein distance of at most one."""
    if len(a) > len(b):
        a, b = b, a
    if len(b) - len(a) > 1:
        return False
    common = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), len(a))
    return a[common + (len(a) == len(b)) :] == b[common + 1 :]


# --- the code-point tables ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Tables:
    """Where each code point goes (``_DELETE`` for nowhere) in each kind of text.

    A code point is folded (``_fold``) the first time a text holds it, so a process pays for the characters
    its followers use, a few thousand, never for all of Unicode; until then its entries read ``_UNSEEN``.
    Two threads that meet a new character at once both write the same values."""

    words: Codes  # letters and digits folded, everything else a space
    skeleton_letters: Codes  # letters and digits folded, everything else dropped
    plain: Codes  # NFKC and lower case only
    skeleton_swaps: Codes  # then ``SKELETON_SWAPS``

    def fold(self, values: Codes, table: Codes) -> Codes:
        """``values`` through ``table`` (one of the three above)."""
        mapped = table[values]
        unseen = mapped == _UNSEEN
        if unseen.any():
            present = np.zeros(_UNICODE_SIZE, dtype=np.bool_)
            present[values[unseen]] = True  # a scatter, where np.unique would sort every code point
            for code in np.flatnonzero(present).tolist():
                word, plain = _fold(chr(code))
                self.words[code] = ord(word) if word else _DELETE
                self.skeleton_letters[code] = _DELETE if word in ("", " ") else ord(word)
                self.plain[code] = ord(plain) if plain else _DELETE
            mapped = table[values]
        return mapped


_UNICODE_SIZE = 0x110000
_FOLDED_SIZE = 0x30000  # beyond the Supplementary Ideographic Plane nothing folds
_CJK_PLANE_END = 0x40000
_UNSEEN = 0xFFFF_FFFE


@functools.cache
def _tables() -> _Tables:
    unseen = np.full(_UNICODE_SIZE, _DELETE, dtype=np.uint32)
    unseen[1:_FOLDED_SIZE] = _UNSEEN
    unseen[_FOLDED_SIZE:_CJK_PLANE_END] = np.arange(_FOLDED_SIZE, _CJK_PLANE_END, dtype=np.uint32)
    unseen[0] = 0
    words, skeleton_letters, plain = unseen, unseen.copy(), unseen.copy()
    skeleton_letters[ord("|")] = ord("|")
    swaps = np.arange(_UNICODE_SIZE, dtype=np.uint32)
    for before, after in SKELETON_SWAPS.items():
        swaps[ord(before)] = ord(after)
    return _Tables(words, skeleton_letters, plain, swaps)


def _fold(ch: str) -> tuple[str, str]:
    """(the character in word text, the character in plain text); "" for dropped.

    A character that ``lookalikes()`` lists, itself, in its compatibility form (fullwidth and mathematical
    letters are ASCII there) or without its accents, becomes that ASCII letter or digit. Its lower case form
    is not looked up: Cyrillic "Г" lowers to "г", which Unicode finds like "r", but "Г" itself is not."""
    if ord(ch) in _IGNORABLE:
        return "", ""
    compatible = unicodedata.normalize("NFKC", ch)
    base = compatible if len(compatible) == 1 else ch
    plain = _lower(base)
    if unicodedata.category(base).startswith("M"):
        return "", plain
    looks = lookalikes()
    letter = next(
        (looks[form] for form in (ch, base, _unaccented(base)) if form in looks), _unaccented(plain)
    )
    decimal = unicodedata.decimal(letter, None)
    if decimal is not None:
        return str(decimal), plain
    return (letter if letter.isalnum() else " "), plain


def _lower(ch: str) -> str:
    lower = ch.lower()
    return lower if len(lower) == 1 else ch


def _unaccented(ch: str) -> str:
    decomposed = unicodedata.normalize("NFD", ch)
    if len(decomposed) > 1 and all(unicodedata.combining(mark) for mark in decomposed[1:]):
        return decomposed[0]
    return ch
