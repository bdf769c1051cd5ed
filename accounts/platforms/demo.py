# ruff: noqa: RUF001  (the demo speaks Cyrillic and Greek, and fakes look-alike handles on purpose)
"""The built-in demo platform: a deterministic, seeded world of one brand's followers, with no servers.

Follower ``i``'s profile is a pure function of (seed, i, sync_number) and the anchor day, so any page is
generated without the pages before it, memory stays flat however large the world, and a page is a few numpy
operations over its rows. Each block of 1,000 slots holds exactly the mix of ``CLASS_SHARES`` in seeded order.

``sync_number`` advances the world: every step about 1% of steady followers (all but churners) unfollow for
good and 1.5% new ones arrive, churners follow and unfollow in cycles of two to six steps, and 5% of profiles
change their counts (every other time their bio too). Timestamps hang from an anchor day that moves once every ``ANCHOR_PERIOD``, so re-syncs within a
period change only what the world changed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
import math
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import MISSING, dataclass, fields
from datetime import UTC, datetime, timedelta
from enum import IntEnum, StrEnum
from typing import Any
from urllib.parse import quote

import numpy as np
import numpy.typing as npt

from accounts.platforms.base import (
    FollowerPage,
    FollowingPage,
    FollowResult,
    InteractionData,
    InteractionKind,
    NotFound,
    PlatformError,
    ProfileData,
    RateLimited,
    RateLimitState,
    Relationship,
)

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
Hashes = npt.NDArray[np.uint64]

SITE = "https://demo.followback.invalid"
ID_PREFIX = "demo:"
ANCHOR_PERIOD = timedelta(days=28)
INTERACTION_WINDOW = timedelta(days=120)
UNFOLLOW_RATE = 0.01
NEW_FOLLOWER_RATE = 0.015
CHANGE_PERIOD = 20  # each profile changes once every 20 sync steps: 5% of profiles per step
INTERACTIONS_PER_REQUEST = 100
PROFILES_PER_REQUEST = 100
BLOCKLISTED_TERMS = ("scam", "crypto giveaway", "hate", "fraud")

_DAY = 86_400
_DORMANT_DAYS = 90
_SCAN_BLOCK = 16_384
_CURSOR_PREFIX = "demo-followers:"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PROFILE_FIELDS = fields(ProfileData)


class TrueClass(StrEnum):
    VERIFIED_CUSTOMER = "verified_customer"
    ENGAGED_FAN = "engaged_fan"
    GENUINE_QUIET = "genuine_quiet"
    BOT = "bot"
    SPAM = "spam"
    CHURNER = "churner"
    HARMFUL = "harmful"


@dataclass(frozen=True, slots=True)
class CustomerRow:
    handle: str  # empty when the brand only knows the customer's e-mail
    email: str


@dataclass(frozen=True, slots=True)
class SimulatedRateLimit:
    """At most ``requests`` calls per fixed window of ``window_seconds`` on ``clock``."""

    requests: int
    window_seconds: float
    clock: Callable[[], float] = time.monotonic


# --- the kinds of follower and what they look like ----------------------------------------------------------


class _Kind(IntEnum):
    CUSTOMER = 0
    FAN = 1
    QUIET = 2
    CHURNER = 3
    BLOCKLISTED = 4  # person-named kinds end here: the kinds above get handles from the name table
    BOT = 5
    SPAM = 6
    IMPERSONATOR = 7


_SLOTS_PER_BLOCK = 1_000
_KIND_SLOTS = {
    _Kind.CUSTOMER: 50,
    _Kind.FAN: 100,
    _Kind.QUIET: 450,
    _Kind.CHURNER: 100,
    _Kind.BLOCKLISTED: 25,
    _Kind.BOT: 150,
    _Kind.SPAM: 100,
    _Kind.IMPERSONATOR: 25,
}
_KIND_CLASS = {
    _Kind.CUSTOMER: TrueClass.VERIFIED_CUSTOMER,
    _Kind.FAN: TrueClass.ENGAGED_FAN,
    _Kind.QUIET: TrueClass.GENUINE_QUIET,
    _Kind.CHURNER: TrueClass.CHURNER,
    _Kind.BLOCKLISTED: TrueClass.HARMFUL,
    _Kind.BOT: TrueClass.BOT,
    _Kind.SPAM: TrueClass.SPAM,
    _Kind.IMPERSONATOR: TrueClass.HARMFUL,
}
_CLASS_OF_KIND = tuple(_KIND_CLASS[kind] for kind in _Kind)
CLASS_SHARES = {
    true_class: sum(n for kind, n in _KIND_SLOTS.items() if _KIND_CLASS[kind] == true_class)
    / _SLOTS_PER_BLOCK
    for true_class in TrueClass
}
_KIND_SIZE = np.array([_KIND_SLOTS[kind] for kind in _Kind], dtype=np.int64)
_KIND_START = np.concatenate(([0], np.cumsum(_KIND_SIZE)[:-1]))
_KIND_OF_SLOT = np.repeat(np.arange(len(_Kind)), _KIND_SIZE)
_PERSON_SLOTS = int(_KIND_START[_Kind.BOT])
_BLOCK_MULTIPLIERS = np.array([a for a in range(1, _SLOTS_PER_BLOCK) if math.gcd(a, _SLOTS_PER_BLOCK) == 1])

_Range = tuple[float, float]
_Mixture = tuple[float, _Range, _Range]  # share of the first range, first range, second range
_Habits = tuple[
    float, tuple[_Range, _Range], tuple[_Range, _Range]
]  # share, (posts a day, days since last post)


@dataclass(frozen=True)
class _Traits:
    age_days: _Mixture
    followers: _Mixture  # one more than the count: log-uniform ranges start at 1
    following: _Mixture
    posting: _Habits
    default_avatar: float
    empty_bio: float
    labels: tuple[tuple[str, ...], ...] = ()
    labelled: float = 0.0
    bot_flag: float = 0.0
    limited: float = 0.0
    locked: float = 0.01
    verified_link: float = 0.0
    moved: float = 0.0
    group: float = 0.0
    interacts: float = 0.0
    interactions: _Range = (1.0, 1.0)  # expected interactions per 120 days
    interaction_mix: tuple[float, float, float, float, float] = (1.0, 0.0, 0.0, 0.0, 0.0)


_INTERACTION_KINDS = (
    InteractionKind.LIKE,
    InteractionKind.REPOST,
    InteractionKind.REPLY,
    InteractionKind.QUOTE,
    InteractionKind.MENTION,
)
_TRAITS = {
    _Kind.CUSTOMER: _Traits(
        age_days=(1.0, (200, 4500), (200, 4500)),
        followers=(1.0, (20, 2000), (20, 2000)),
        following=(1.0, (30, 1500), (30, 1500)),
        posting=(0.85, ((0.05, 2), (0.05, 20)), ((0.005, 0.05), (20, 200))),
        default_avatar=0.08,
        empty_bio=0.3,
        locked=0.06,
        verified_link=0.25,
        interacts=0.7,
        interactions=(1, 8),
        interaction_mix=(0.35, 0.05, 0.3, 0.05, 0.25),
    ),
    _Kind.FAN: _Traits(
        age_days=(1.0, (150, 4500), (150, 4500)),
        followers=(1.0, (40, 5000), (40, 5000)),
        following=(1.0, (50, 2000), (50, 2000)),
        posting=(0.95, ((0.3, 8), (0.02, 3)), ((0.05, 0.3), (3, 30))),
        default_avatar=0.05,
        empty_bio=0.2,
        locked=0.04,
        verified_link=0.3,
        interacts=1.0,
        interactions=(5, 40),
        interaction_mix=(0.4, 0.2, 0.2, 0.08, 0.12),
    ),
    _Kind.QUIET: _Traits(
        age_days=(0.9, (120, 5000), (10, 120)),
        followers=(1.0, (8, 800), (8, 800)),
        following=(0.95, (10, 700), (700, 4000)),
        posting=(0.65, ((0.02, 1), (0.5, 60)), ((0.001, 0.03), (20, 700))),
        default_avatar=0.18,
        empty_bio=0.45,
        labels=(("spam",),),
        labelled=0.003,
        limited=0.002,
        locked=0.08,
        verified_link=0.08,
        moved=0.01,
        group=0.005,
        interacts=0.05,
        interactions=(1, 2),
        interaction_mix=(0.7, 0.2, 0.1, 0.0, 0.0),
    ),
    _Kind.CHURNER: _Traits(
        age_days=(1.0, (30, 2500), (30, 2500)),
        followers=(1.0, (300, 8000), (300, 8000)),
        following=(1.0, (1500, 7500), (1500, 7500)),
        posting=(0.9, ((0.1, 5), (0.05, 10)), ((0.01, 0.1), (30, 300))),
        default_avatar=0.25,
        empty_bio=0.3,
        labels=(("engagement-farming",),),
        labelled=0.05,
        locked=0.02,
        verified_link=0.15,
        interacts=0.15,
        interactions=(1, 3),
        interaction_mix=(0.8, 0.2, 0.0, 0.0, 0.0),
    ),
    _Kind.BLOCKLISTED: _Traits(
        age_days=(0.6, (20, 3000), (3, 60)),
        followers=(1.0, (10, 3000), (10, 3000)),
        following=(1.0, (20, 2000), (20, 2000)),
        posting=(1.0, ((0.2, 10), (0.02, 5)), ((0.2, 10), (0.02, 5))),
        default_avatar=0.3,
        empty_bio=0.3,
        labels=(("scam",), ("spam",)),
        labelled=0.2,
        limited=0.1,
        verified_link=0.03,
        interacts=0.1,
        interactions=(1, 3),
        interaction_mix=(0.0, 0.0, 0.5, 0.3, 0.2),
    ),
    _Kind.BOT: _Traits(
        age_days=(0.75, (2, 90), (90, 1500)),
        followers=(1.0, (1, 41), (1, 41)),
        following=(0.7, (800, 7500), (50, 800)),
        posting=(0.5, ((40, 400), (0.001, 0.5)), ((0.05, 1), (91, 700))),
        default_avatar=0.8,
        empty_bio=0.85,
        labels=(("inauthentic",), ("spam",), ("inauthentic", "spam")),
        labelled=0.25,
        bot_flag=0.35,
        limited=0.05,
        interacts=0.03,
        interactions=(1, 3),
        interaction_mix=(0.6, 0.4, 0.0, 0.0, 0.0),
    ),
    _Kind.SPAM: _Traits(
        age_days=(0.7, (1, 60), (60, 900)),
        followers=(1.0, (5, 400), (5, 400)),
        following=(1.0, (1000, 7500), (1000, 7500)),
        posting=(0.8, ((20, 300), (0.001, 0.3)), ((1, 10), (0.1, 5))),
        default_avatar=0.6,
        empty_bio=0.1,
        labels=(("spam",), ("scam",), ("engagement-farming",), ("spam", "engagement-farming")),
        labelled=0.35,
        bot_flag=0.05,
        limited=0.1,
        verified_link=0.05,
        interacts=0.1,
        interactions=(1, 5),
        interaction_mix=(0.0, 0.0, 0.5, 0.0, 0.5),
    ),
    _Kind.IMPERSONATOR: _Traits(
        age_days=(0.85, (1, 45), (45, 400)),
        followers=(1.0, (1, 150), (1, 150)),
        following=(1.0, (50, 3000), (50, 3000)),
        posting=(1.0, ((0.5, 20), (0.01, 3)), ((0.5, 20), (0.01, 3))),
        default_avatar=0.15,
        empty_bio=0.0,
        labels=(("scam",), ("inauthentic",)),
        labelled=0.1,
        limited=0.05,
        interacts=0.3,
        interactions=(1, 5),
        interaction_mix=(0.0, 0.0, 0.6, 0.0, 0.4),
    ),
}


def _trait_column(read: Callable[[_Traits], object]) -> Floats:
    return np.array([read(_TRAITS[kind]) for kind in _Kind], dtype=np.float64)


def _mixture_table(read: Callable[[_Traits], _Mixture]) -> Floats:
    return np.array([[share, *first, *second] for share, first, second in map(read, _TRAITS.values())])


_AGE_TABLE = _mixture_table(lambda t: t.age_days)
_FOLLOWERS_TABLE = _mixture_table(lambda t: t.followers)
_FOLLOWING_TABLE = _mixture_table(lambda t: t.following)
_RATE_TABLE = _mixture_table(lambda t: (t.posting[0], t.posting[1][0], t.posting[2][0]))
_GAP_TABLE = _mixture_table(lambda t: (t.posting[0], t.posting[1][1], t.posting[2][1]))
_EMPTY_BIO = _trait_column(lambda t: t.empty_bio)
_LABELLED = _trait_column(lambda t: t.labelled)
_VERIFIED_LINK = _trait_column(lambda t: t.verified_link)
_FLAG_TABLES = {
    "avatar": _trait_column(lambda t: t.default_avatar),
    "bot_flag": _trait_column(lambda t: t.bot_flag),
    "locked": _trait_column(lambda t: t.locked),
    "group": _trait_column(lambda t: t.group),
    "moved": _trait_column(lambda t: t.moved),
    "limited": _trait_column(lambda t: t.limited),
}
_INTERACTS = _trait_column(lambda t: t.interacts)
_INTERACTION_RANGE = np.array([t.interactions for t in _TRAITS.values()], dtype=np.float64)
_INTERACTION_CUMULATIVE = np.cumsum([t.interaction_mix for t in _TRAITS.values()], axis=1)
_LABEL_TABLE: tuple[tuple[str, ...], ...] = (
    (),
    *itertools.chain.from_iterable(t.labels for t in _TRAITS.values()),
)
_LABEL_OFFSET = np.concatenate(([1], 1 + np.cumsum([len(t.labels) for t in _TRAITS.values()])[:-1]))
_LABEL_OPTIONS = np.array([len(t.labels) for t in _TRAITS.values()], dtype=np.int64)

# --- names, handles and bios --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Script:
    firsts: tuple[tuple[str, str], ...]  # (as written, transliterated)
    lasts: tuple[tuple[str, str], ...]
    display: str  # format of the display name from {F} and {L}
    latin_handles: tuple[str, ...]  # formats from {f} and {l}
    native_handle: str = ""  # format from {F} and {L}, lower-cased; empty for Latin names
    bios: tuple[str, ...] = ()


def _pairs(text: str) -> tuple[tuple[str, str], ...]:
    return tuple((word.split("/")[0], word.split("/")[-1].lower()) for word in text.split())


_SCRIPTS = (
    _Script(
        firsts=_pairs(
            "María/maria José/jose Anna James Olivia Liam Sofia Noah Emma Lucas Chloé/chloe Mateo Amara Kofi "
            "Priya Arjun Diego Elena Tomás/tomas Ingrid Lars Zoë/zoe Hannah Marco Giulia Pierre Camille Nina "
            "Jonas Emil Fatou Kwame Rosa Pablo Lena Oscar Chiara Sven Yara Ruth"
        ),
        lasts=_pairs(
            "López/lopez García/garcia Smith Johnson Müller/muller Rossi Silva Okafor Nguyen Kowalski Dubois "
            "Jensen Andersson Costa Fernández/fernandez Moreau Schmidt Novak Santos Mensah Patel Sharma "
            "Brown Wilson Taylor Murphy O’Brien/obrien Kelly Romano Bianchi Hansen Larsen Weber Fischer "
            "Lindqvist Mendes Ribeiro Adeyemi Baker Clarke"
        ),
        display="{F} {L}",
        latin_handles=("{f}_{l}", "{f}{l}", "{l}_{f}"),
    ),
    _Script(
        firsts=_pairs(
            "Алексей/aleksei Ольга/olga Дмитрий/dmitry Наталья/natalya Сергей/sergei Ирина/irina "
            "Андрей/andrei Екатерина/ekaterina Павел/pavel Светлана/svetlana Иван/ivan Татьяна/tatyana"
        ),
        lasts=_pairs(
            "Шевченко/shevchenko Бондаренко/bondarenko Коваленко/kovalenko Ткачук/tkachuk Мельник/melnyk "
            "Кравчук/kravchuk Лысенко/lysenko Савчук/savchuk Ким/kim Гончаренко/honcharenko Руденко/rudenko "
            "Полищук/polishchuk"
        ),
        display="{F} {L}",
        latin_handles=("{f}_{l}", "{f}{l}"),
        native_handle="{F}_{L}",
        bios=(
            "Люблю кофе и книги.",
            "Фотограф из Киева.",
            "Учитель математики. Мнение моё.",
            "Путешествия, горы, велосипед.",
            "Разработчик. Кошки и джаз.",
        ),
    ),
    _Script(
        firsts=_pairs(
            "Γιώργος/giorgos Ελένη/eleni Νίκος/nikos Κατερίνα/katerina Δημήτρης/dimitris Σοφία/sofia "
            "Γιάννης/giannis Αθηνά/athina Κώστας/kostas Δέσποινα/despoina"
        ),
        lasts=_pairs(
            "Γεωργίου/georgiou Νικολάου/nikolaou Παπαγεωργίου/papageorgiou Δημητρίου/dimitriou "
            "Κωνσταντίνου/konstantinou Αντωνίου/antoniou Ιωάννου/ioannou Χριστοδούλου/christodoulou "
            "Μιχαήλ/michail Οικονόμου/oikonomou"
        ),
        display="{F} {L}",
        latin_handles=("{f}_{l}", "{f}{l}"),
        native_handle="{F}_{L}",
        bios=(
            "Λάτρης του καφέ και των βιβλίων.",
            "Φωτογράφος από την Αθήνα.",
            "Δασκάλα. Ταξίδια και θάλασσα.",
            "Μηχανικός λογισμικού.",
        ),
    ),
    _Script(
        firsts=_pairs("陽翔/haruto 結衣/yui 蓮/ren 美咲/misaki 大翔/hiroto 葵/aoi 翔太/shota さくら/sakura"),
        lasts=_pairs(
            "佐藤/sato 鈴木/suzuki 高橋/takahashi 田中/tanaka "
            "渡辺/watanabe 伊藤/ito 山本/yamamoto 中村/nakamura"
        ),
        display="{L}{F}",
        latin_handles=("{f}_{l}",),
        native_handle="{L}{F}",
        bios=("コーヒーと本が好き。", "東京在住のデザイナー。", "写真と旅行。", "エンジニア。猫派。"),
    ),
    _Script(
        firsts=_pairs("伟/wei 芳/fang 静/jing 磊/lei 敏/min 军/jun 婷/ting 浩/hao"),
        lasts=_pairs("王/wang 李/li 张/zhang 刘/liu 陈/chen 杨/yang 黄/huang 赵/zhao"),
        display="{L}{F}",
        latin_handles=("{l}_{f}", "{l}{f}"),
        native_handle="{L}{F}",
        bios=("喜欢咖啡和读书。", "上海的设计师。", "摄影爱好者。", "程序员，爱猫。"),
    ),
    _Script(
        firsts=_pairs(
            "محمد/muhammad فاطمة/fatima أحمد/ahmed ليلى/layla عمر/omar نور/nour يوسف/youssef مريم/maryam "
            "خالد/khaled سارة/sara"
        ),
        lasts=_pairs(
            "حداد/haddad منصور/mansour خليل/khalil سعيد/saeed نجار/najjar عباس/abbas صالح/saleh قاسم/qasim "
            "ناصر/nasser عيسى/issa"
        ),
        display="{F} {L}",
        latin_handles=("{f}_{l}", "{f}{l}"),
        native_handle="{F}_{L}",
        bios=("أحب القهوة والكتب.", "مصممة من عمّان.", "مهندس برمجيات.", "مصور وعاشق للسفر."),
    ),
)


@dataclass(frozen=True)
class _NameTable:
    """Every person-name handle stem, with its display name, e-mail stem and script (0 is Latin)."""

    stems: tuple[str, ...]
    displays: tuple[str, ...]
    emails: tuple[str, ...]
    scripts: tuple[int, ...]


def _name_table() -> _NameTable:
    rows: list[tuple[str, str, str, int]] = []
    for number, script in enumerate(_SCRIPTS):
        for (first, f), (last, ln) in itertools.product(script.firsts, script.lasts):
            display = script.display.format(F=first, L=last)
            handles = [pattern.format(f=f, l=ln) for pattern in script.latin_handles]
            if script.native_handle:
                handles.append(script.native_handle.format(F=first, L=last).lower())
            rows.extend((handle, display, f"{f}.{ln}", number) for handle in handles)
    return _NameTable(
        stems=tuple(row[0] for row in rows),
        displays=tuple(row[1] for row in rows),
        emails=tuple(row[2] for row in rows),
        scripts=tuple(row[3] for row in rows),
    )


_NAMES = _name_table()
_NAME_COUNT = len(_NAMES.stems)
_NAME_CYCLE_SHIFT = 7919
_SCRIPT_OF_NAME = np.array(_NAMES.scripts, dtype=np.int64)
_NAME_STEP = next(a for a in itertools.count(int(_NAME_COUNT * 0.618)) if math.gcd(a, _NAME_COUNT) == 1)

_JOBS = (
    "Nurse", "Teacher", "Software developer", "Barista", "Designer", "Student", "Photographer", "Chef",
    "Accountant", "Mechanic", "Librarian", "Architect", "Farmer", "Musician", "Researcher", "Paramedic",
)  # fmt: skip
_CITIES = (
    "Lisbon", "Toronto", "Osaka", "Nairobi", "Austin", "Lyon", "Melbourne", "Kraków", "Bogotá", "Cairo",
    "Athens", "Seoul", "Glasgow", "Accra", "Porto", "Denver",
)  # fmt: skip
_LIKES = (
    "coffee", "hiking", "board games", "sourdough", "cycling", "jazz", "gardening", "sci-fi", "running",
    "birdwatching", "knitting", "football", "climbing", "vinyl", "photography", "baking",
)  # fmt: skip
_PERSON_BIOS = (
    "{job} in {city}.",
    "{job} · {like} · {like2}",
    "Living in {city}. Into {like} and {like2}.",
    "{like} enthusiast.",
    "Parent, {job}, {like} fan.",
    "she/her · {job} · {city}",
    "he/him · {like} and {like2}",
    "{job}. Opinions my own.",
    "Mostly {like}. Sometimes {like2}.",
    "Retired {job}. {like} every day.",
)
_CUSTOMER_BIOS = ("Happy {brand} customer.", "{brand} customer since 20{year}.", "{job} · {brand} regular")
_FAN_BIOS = ("Big {brand} fan.", "{like} and {brand}, in that order.", "{brand} all the way ✨")
_CHURNER_BIOS = (
    "Follow back guaranteed 🔁",
    "F4F · {like}",
    "Entrepreneur | Growth | Follow back",
    "Let's connect! I follow back.",
    "{job} · networking · follow for follow",
)
_BIO_FAMILIES = (
    _PERSON_BIOS,
    *(script.bios for script in _SCRIPTS[1:]),
    _CUSTOMER_BIOS,
    _FAN_BIOS,
    _CHURNER_BIOS,
)
_BIO_FAMILY_SIZE = np.array([len(family) for family in _BIO_FAMILIES])
_OWN_BIOS = {
    _Kind.CUSTOMER: (_BIO_FAMILIES.index(_CUSTOMER_BIOS), 0.1),
    _Kind.FAN: (_BIO_FAMILIES.index(_FAN_BIOS), 0.25),
    _Kind.CHURNER: (_BIO_FAMILIES.index(_CHURNER_BIOS), 0.6),
}
_OWN_BIO_FAMILY = np.array([_OWN_BIOS.get(kind, (0, 0.0))[0] for kind in _Kind])
_OWN_BIO_SHARE = np.array([_OWN_BIOS.get(kind, (0, 0.0))[1] for kind in _Kind])
_NATIVE_BIO_SHARE = 0.6
_BOT_BIOS = ("Just vibes ✨", "Living my best life", "Love 💕", "DM me 😘", "🌸🌸🌸")
_SPAM_BIOS = (
    "Grow your followers fast 🚀 DM for prices",
    "Best deals every day 💸 link in bio",
    "Earn from home, ask me how",
    "Promo & shoutouts — DM",
    "Cheap likes and views ⬆️",
    "Daily discount codes 🔥",
)
_BLOCKLISTED_BIOS = (
    "Free crypto giveaway! Send 0.1 BTC, get 1 BTC back",
    "Spreading hate, proud of it.",
    "Professional scam artist. DM me.",
    "Crypto giveaway every Friday 🎁 link below",
    "Hate everyone. Trust no one.",
    "Running the best scam in town.",
    "Investment fraud is just business.",
)
_BLOCKLISTED_NAMES = (
    "{name} · crypto giveaway",
    "Crypto Giveaway 🎁",
    "Hate Squad",
    "{name} | scam",
    "Fraud Central",
)
_BLOCKLISTED_STEMS = ("crypto_giveaway", "scam_central", "hate_squad", "fraud_hub")
_IMPERSONATOR_NAMES = (
    "{brand} Support", "{brand} Official", "{brand} Help Desk", "{brand} ✓", "{brand} Customer Care",
    "{brand}", "{brand} Team",
)  # fmt: skip
_IMPERSONATOR_BIOS = (
    "Official support. DM us your order number and e-mail.",
    "Customer care for {brand}. We reply to every DM.",
    "{brand} giveaway! Follow and DM us to claim your prize 🎁",
    "Verify your account with us: link below.",
    "The real {brand}. Our old account was hacked.",
)
_BOT_STEMS = (
    "user", "acct", "jessica", "emily", "sophie", "mike", "alex", "lucky", "happy", "sunny", "angel", "kitty",
    "daily", "nft",
)  # fmt: skip
_SPAM_STEMS = (
    "promo_deals", "growth_hacks", "best_offers", "follower_boost", "deal_alerts", "smm_panel", "viral_boost",
    "biz_growth", "shop_discounts", "earn_fast", "likes_for_likes", "hot_deals",
)  # fmt: skip
_SPAM_NAMES = (
    "Promo Deals", "Growth Hacks", "Best Offers Daily", "Follower Boost", "Deal Alerts", "SMM Panel",
    "Viral Boost", "Biz Growth Hub",
)  # fmt: skip
_DECORATIONS = (" 🌿", " ☕", " ✨", " 🏳️‍🌈", " 📷", " 🎧", " 🌻", " 🐈")
_BOT_EMOJI = ("💋", "🌸", "✨", "💕", "😘", "🔥")
_DIGIT_STEP = 1_000_003  # coprime with every 9 * 10**k, so numbers of one stem and width never repeat
_FALLBACK_STEM = "member"
_OUTSIDE_CUSTOMER_STEM = "shopper"

# --- look-alikes of the brand's handle ----------------------------------------------------------------------

_HOMOGLYPHS = {
    "a": ("\u0430", "\u03b1"),
    "c": ("\u0441", "\u03f2"),
    "e": ("\u0435",),
    "o": ("\u043e", "\u03bf"),
    "p": ("\u0440", "\u03c1"),
    "x": ("\u0445", "\u03c7"),
    "y": ("\u0443",),
    "i": ("\u0456", "\u03b9"),
    "s": ("\u0455",),
    "j": ("\u0458",),
    "h": ("\u04bb",),
    "k": ("\u03ba",),
    "v": ("\u03bd",),
}
_DIGIT_SWAPS = {"o": "0", "i": "1", "l": "1", "e": "3", "a": "4", "s": "5", "t": "7", "b": "8", "g": "9"}
_LETTER_PAIRS = {"m": "rn", "w": "vv", "d": "cl"}
_ZERO_WIDTH = ("\u200b", "\u200c", "\u200d", "\u2060")
_SUFFIXES = (
    "_official", "official", "_support", "support", "_help", "_hq", "_team", "_care", "_official1", "1", "_",
)  # fmt: skip
_PREFIXES = ("real_", "the", "official_", "the_real_")
_FOLD = str.maketrans(
    {glyph: letter for letter, glyphs in _HOMOGLYPHS.items() for glyph in glyphs}
    | {digit: letter for letter, digit in _DIGIT_SWAPS.items()}
    | {"1": "l", "i": "l", "\u0456": "l", "\u03b9": "l", "_": None, ".": None, "-": None}
)


def skeleton(handle: str) -> str:
    """The handle as it looks: format characters dropped, look-alike letters and digits folded together."""
    visible = "".join(ch for ch in unicodedata.normalize("NFKC", handle) if unicodedata.category(ch) != "Cf")
    folded = visible.casefold().translate(_FOLD)
    for original, pair in _LETTER_PAIRS.items():
        folded = folded.replace(pair, original)
    return folded


_SUFFIX_SKELETONS = frozenset(map(skeleton, _SUFFIXES))
_PREFIX_SKELETONS = frozenset(map(skeleton, _PREFIXES))


def looks_like(handle: str, brand_handle: str) -> bool:
    """Whether ``handle`` reads as the brand's: its skeleton, without an official-sounding affix or a number,
    is at most one edit from the brand's."""
    brand = skeleton(brand_handle)
    return any(
        _one_edit_apart(core, brand)
        for candidate in {skeleton(handle), skeleton(handle.rstrip("0123456789"))}
        for core in _without_affixes(candidate)
    )


def _without_affixes(folded: str) -> set[str]:
    return (
        {folded}
        | {folded[: -len(suffix)] for suffix in _SUFFIX_SKELETONS if suffix and folded.endswith(suffix)}
        | {folded[len(prefix) :] for prefix in _PREFIX_SKELETONS if folded.startswith(prefix)}
    )


def _one_edit_apart(a: str, b: str) -> bool:
    if len(a) > len(b):
        a, b = b, a
    if len(b) - len(a) > 1:
        return False
    common = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), len(a))
    return a[common + (len(a) == len(b)) :] == b[common + 1 :]


def brand_stem(brand_handle: str) -> str:
    """The part of a brand's handle that people recognise: no @, no server, no domain suffix."""
    return brand_handle.strip().lstrip("@").split("@")[0].split(".")[0].lower()


def impersonations(brand: str) -> tuple[str, ...]:
    """Distinct look-alikes of ``brand``: a homoglyph, letter pair, digit, zero-width character or doubled
    letter, or none of these, with an official-sounding affix or none."""
    positions = range(len(brand))
    cores = itertools.chain(
        (brand,),
        (brand[:i] + glyph + brand[i + 1 :] for i in positions for glyph in _HOMOGLYPHS.get(brand[i], ())),
        (brand[:i] + _LETTER_PAIRS[c] + brand[i + 1 :] for i, c in enumerate(brand) if c in _LETTER_PAIRS),
        (brand[:i] + _DIGIT_SWAPS[c] + brand[i + 1 :] for i, c in enumerate(brand) if c in _DIGIT_SWAPS),
        (brand[:i] + _ZERO_WIDTH[i % len(_ZERO_WIDTH)] + brand[i:] for i in range(1, len(brand) + 1)),
        (brand[:i] + c + brand[i:] for i, c in enumerate(brand) if c.isalpha()),
    )
    candidates = (
        variant
        for core in cores
        for variant in (
            core,
            *(core + suffix for suffix in _SUFFIXES),
            *(prefix + core for prefix in _PREFIXES),
        )
    )
    return tuple(dict.fromkeys(c for c in candidates if c != brand and not _ends_in_numbered_suffix(c)))


def _ends_in_numbered_suffix(handle: str) -> bool:
    head, _, tail = handle.rpartition("_")
    return bool(head) and tail.isdigit()


# --- hashing: uniform draws that are pure functions of (seed, purpose, key) ---------------------------------

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)


def _salt(seed: int, purpose: str) -> np.uint64:
    digest = hashlib.blake2b(f"{seed}:{purpose}".encode(), digest_size=8).digest()
    return np.uint64(int.from_bytes(digest, "big"))


def _mix(values: Hashes) -> Hashes:
    values = (values ^ (values >> np.uint64(30))) * _MIX_1
    values = (values ^ (values >> np.uint64(27))) * _MIX_2
    return values ^ (values >> np.uint64(31))


def _hash(keys: Ints | Hashes, salt: np.uint64) -> Hashes:
    return _mix((keys.astype(np.uint64) * _GOLDEN) ^ salt)


def _uniform(keys: Ints | Hashes, salt: np.uint64) -> Floats:
    """Uniform draws in [0, 1), one per key."""
    return (_hash(keys, salt) >> np.uint64(11)).astype(np.float64) * 2.0**-53


def _draws(keys: Ints | Hashes, salt: np.uint64, names: Sequence[str]) -> dict[str, Floats]:
    """One column of uniform draws per name, one row per key."""
    columns = np.arange(len(names), dtype=np.uint64)
    matrix = _uniform(keys.astype(np.uint64)[:, None] * np.uint64(len(names)) + columns, salt)
    return dict(zip(names, matrix.T, strict=True))


def _log_uniform(low: Floats, high: Floats, u: Floats) -> Floats:
    return low * np.power(high / low, u)


def _from_mixture(table: Floats, kinds: Ints, pick: Floats, u: Floats) -> Floats:
    rows = table[kinds]
    first = pick < rows[:, 0]
    return _log_uniform(np.where(first, rows[:, 1], rows[:, 3]), np.where(first, rows[:, 2], rows[:, 4]), u)


_STABLE_DRAWS = (
    "age_pick", "age", "followers_pick", "followers", "following_pick", "following", "habit", "rate",
    "avatar", "bio_empty", "bio_phase", "bot_flag", "label", "label_pick", "limited", "locked", "links",
    "moved", "group", "gap", "change_phase", "display", "decoration", "handle_style", "digits",
)  # fmt: skip
_EPOCH_DRAWS = ("gap", "posts")
_BIO_DRAWS = ("template", "job", "city", "like", "like2", "native")
_PRESENCE_DRAWS = ("stay", "on", "off")
_SALT_PURPOSES = ("layout", "stable", "epoch", "bio", "presence", "names", "interact", "events", "digits")


# --- the cursor ---------------------------------------------------------------------------------------------


def follower_cursor(index: int) -> str:
    """The opaque cursor that starts a followers listing at slot ``index``."""
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{index}".encode()).decode().rstrip("=")


def _cursor_index(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise PlatformError(f"invalid cursor {cursor!r}") from None
    prefix, _, number = text.partition(":")
    if f"{prefix}:" != _CURSOR_PREFIX or not number.isdigit():
        raise PlatformError(f"invalid cursor {cursor!r}")
    return int(number)


def _index_of(platform_id: str) -> int | None:
    number = platform_id.removeprefix(ID_PREFIX)
    if number == platform_id or not (number.isascii() and number.isdigit()) or number != str(int(number)):
        return None
    return int(number)


# --- the world ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Slots:
    """Where a batch of slots sits in the layout: its kind, and its rank among slots of that kind."""

    index: Ints
    kind: Ints
    rank: Ints
    person_rank: Ints  # rank among person-named slots; meaningless for other kinds


class _World:
    """The pure part of the demo: who follows at a sync step, and what their profiles say."""

    def __init__(
        self, seed: int, follower_count: int, brand_handle: str, sync_number: int, now: datetime
    ) -> None:
        self.seed = seed
        self.follower_count = follower_count
        self.sync_number = sync_number
        self.brand = brand_stem(brand_handle)
        if not self.brand:
            raise ValueError(f"brand handle {brand_handle!r} has no name to impersonate")
        self.brand_display = self.brand.replace("_", " ").replace("-", " ").title()
        self.now = now
        anchor_days = (now - _EPOCH) // ANCHOR_PERIOD * ANCHOR_PERIOD.days
        self.anchor_ts = anchor_days * _DAY
        self.new_per_step = round(follower_count * NEW_FOLLOWER_RATE)
        self.slot_count = follower_count + sync_number * self.new_per_step
        self.salts = {purpose: _salt(seed, purpose) for purpose in _SALT_PURPOSES}
        self.impersonations = self._shuffled(impersonations(self.brand))
        self._name_offset = int(self.salts["names"]) % _NAME_COUNT
        self._name_numbers = _handle_numbers(_uniform(np.arange(_NAME_COUNT), self.salts["names"]))
        self._brandlike_names = frozenset(
            i for i, stem in enumerate(_NAMES.stems) if looks_like(stem, self.brand)
        )

    def _shuffled(self, values: tuple[str, ...]) -> tuple[str, ...]:
        order = np.argsort(_hash(np.arange(len(values)), self.salts["layout"]))
        return tuple(values[i] for i in order.tolist())

    # layout and presence

    def slots(self, index: Ints) -> _Slots:
        block, offset = np.divmod(index, _SLOTS_PER_BLOCK)
        shuffle = _hash(block, self.salts["layout"])
        multiplier = _BLOCK_MULTIPLIERS[(shuffle % np.uint64(len(_BLOCK_MULTIPLIERS))).astype(np.intp)]
        shift = ((shuffle >> np.uint64(32)) % np.uint64(_SLOTS_PER_BLOCK)).astype(np.int64)
        position = (multiplier * offset + shift) % _SLOTS_PER_BLOCK
        kind = _KIND_OF_SLOT[position]
        rank = block * _KIND_SIZE[kind] + position - _KIND_START[kind]
        return _Slots(index, kind, rank, block * _PERSON_SLOTS + position)

    def blocks(self) -> Iterator[Ints]:
        """Every slot of this sync, a few thousand at a time."""
        for start in range(0, self.slot_count, _SCAN_BLOCK):
            yield np.arange(start, min(start + _SCAN_BLOCK, self.slot_count), dtype=np.int64)

    def join_step(self, index: Ints) -> Ints:
        late = np.maximum(index - self.follower_count, 0)
        return np.where(index < self.follower_count, 0, 1 + late // max(self.new_per_step, 1))

    def following_at(self, slots: _Slots, step: int) -> Bools:
        """Whether each slot follows the brand at ``step``: churners cycle, others stay until they leave."""
        draws = _draws(slots.index, self.salts["presence"], _PRESENCE_DRAWS)
        joined = self.join_step(slots.index)
        since = step - joined
        stays = np.floor(np.log1p(-draws["stay"]) / math.log1p(-UNFOLLOW_RATE))
        on = 1 + (draws["on"] * 3).astype(np.int64)
        off = 1 + (draws["off"] * 3).astype(np.int64)
        churning = since % (on + off) < on
        return (
            (since >= 0)
            & (slots.index < self.slot_count)
            & np.where(slots.kind == _Kind.CHURNER, churning, since <= stays)
        )

    def brand_follows(self, index: Ints) -> Ints:
        """Of these slots, the followers the brand followed back before it used Followback: one customer in ten."""
        slots = self.slots(index)
        chosen = (
            (slots.kind == _Kind.CUSTOMER) & (index % 10 == 0) & self.following_at(slots, self.sync_number)
        )
        return index[chosen]

    def follower_page(self, start: int, size: int) -> tuple[Ints, int | None]:
        """The next ``size`` followers from slot ``start``, and the slot after them (None at the end)."""
        found: list[Ints] = []
        wanted = size
        position = start
        while wanted and position < self.slot_count:
            stop = min(self.slot_count, position + max(2 * wanted, 64))
            candidates = np.arange(position, stop, dtype=np.int64)
            present = candidates[self.following_at(self.slots(candidates), self.sync_number)][:wanted]
            found.append(present)
            wanted -= len(present)
            position = int(present[-1]) + 1 if not wanted else stop
        indices = np.concatenate(found) if found else np.empty(0, dtype=np.int64)
        return indices, (position if position < self.slot_count else None)

    # profiles

    def profiles(self, index: Ints) -> list[ProfileData]:
        slots = self.slots(index)
        kind = slots.kind
        stable = _draws(index, self.salts["stable"], _STABLE_DRAWS)
        epoch = (
            self.sync_number + (stable["change_phase"] * CHANGE_PERIOD).astype(np.int64)
        ) // CHANGE_PERIOD
        bio_version = (epoch + (stable["bio_phase"] < 0.5)) // 2
        texts = _Texts(self, slots, stable, self._versioned_draws(index, bio_version, "bio", _BIO_DRAWS))
        age_days = _from_mixture(_AGE_TABLE, kind, stable["age_pick"], stable["age"])
        created_ts = self.anchor_ts - np.round(age_days * _DAY).astype(np.int64)
        followers, following = _audience(kind, stable, epoch)
        epoch_draws = self._versioned_draws(index, epoch, "epoch", _EPOCH_DRAWS)
        posts, last_post_ts = self._posting(kind, stable, epoch_draws, age_days, epoch)
        flags = {name: (stable[name] < table[kind]).tolist() for name, table in _FLAG_TABLES.items()}
        links = np.where(
            stable["links"] < _VERIFIED_LINK[kind] / 4, 2, stable["links"] < _VERIFIED_LINK[kind]
        )
        label_pick = (stable["label_pick"] * _LABEL_OPTIONS[kind]).astype(np.int64)
        labels = np.where(stable["label"] < _LABELLED[kind], _LABEL_OFFSET[kind] + label_pick, 0)
        ids = index.tolist()
        return _profiles_from_columns(
            platform_id=[f"{ID_PREFIX}{i}" for i in ids],
            handle=texts.handles,
            uri=[f"{SITE}/users/{i}" for i in ids],
            display_name=texts.display_names,
            bio=texts.bios,
            avatar_url=[
                "" if default else f"{SITE}/avatars/{i}.png"
                for i, default in zip(ids, flags["avatar"], strict=True)
            ],
            avatar_is_default=flags["avatar"],
            created_at=_moments(created_ts),
            followers_count=followers.tolist(),
            following_count=following.tolist(),
            posts_count=posts.tolist(),
            last_post_at=_optional_moments(last_post_ts),
            is_bot=flags["bot_flag"],
            is_locked=flags["locked"],
            is_group=flags["group"],
            moved=flags["moved"],
            limited=flags["limited"],
            verified_links=links.tolist(),
            labels=[_LABEL_TABLE[label] for label in labels.tolist()],
            profile_url=[
                f"{SITE}/@{handle}" if handle.isascii() else f"{SITE}/@{quote(handle)}"
                for handle in texts.handles
            ],
        )

    def _versioned_draws(
        self, index: Ints, version: Ints, purpose: str, names: Sequence[str]
    ) -> dict[str, Floats]:
        """Draws that stay the same until ``version`` moves on."""
        salt = self.salts[purpose]
        return _draws(_hash(index, salt) + version.astype(np.uint64), salt, names)

    def _posting(
        self,
        kind: Ints,
        stable: dict[str, Floats],
        epoch_draws: dict[str, Floats],
        age_days: Floats,
        epoch: Ints,
    ) -> tuple[Ints, Ints]:
        """Posts so far and the time of the last one (-1 for never). Accounts that still post add posts and
        post more recently at every change; dormant ones stay as they were."""
        rate = _from_mixture(_RATE_TABLE, kind, stable["habit"], stable["rate"])
        gap_days = _from_mixture(_GAP_TABLE, kind, stable["habit"], stable["gap"])
        posts = np.floor(rate * np.maximum(age_days - gap_days, 0))
        posted = posts > 0
        keeps_posting = posted & (gap_days < _DORMANT_DAYS) & (epoch > 0)
        more_posts = np.floor(rate * CHANGE_PERIOD * (epoch - 1 + epoch_draws["posts"]))
        posts = (posts + np.where(keeps_posting, more_posts, 0)).astype(np.int64)
        gap_days = np.where(keeps_posting, gap_days / (epoch + epoch_draws["gap"]), gap_days)
        last_post_ts = self.anchor_ts - np.round(gap_days * _DAY).astype(np.int64)
        return posts, np.where(posted, last_post_ts, -1)

    # person names

    def person_names(self, person_rank: Ints) -> tuple[Ints, Ints]:
        """Each person-named slot's row in the name table and the number after its handle (0 for none)."""
        cycle, position = np.divmod(person_rank, _NAME_COUNT)
        row = (_NAME_STEP * position + self._name_offset + cycle * _NAME_CYCLE_SHIFT) % _NAME_COUNT
        return row, cycle + self._name_numbers[row]

    def person_handles(self, rows: Ints, numbers: Ints, person_ranks: Ints) -> list[str]:
        """Person-named handles; a name that reads as the brand's gives way to a neutral one."""
        return self._person_names(_NAMES.stems, rows, numbers, person_ranks)

    def person_emails(self, rows: Ints, numbers: Ints, person_ranks: Ints) -> list[str]:
        return [
            f"{name}@example.com" for name in self._person_names(_NAMES.emails, rows, numbers, person_ranks)
        ]

    def _person_names(
        self, names: tuple[str, ...], rows: Ints, numbers: Ints, person_ranks: Ints
    ) -> list[str]:
        brandlike = self._brandlike_names
        return [
            f"{_FALLBACK_STEM}{rank}" if row in brandlike else f"{names[row]}{number or ''}"
            for row, number, rank in zip(rows.tolist(), numbers.tolist(), person_ranks.tolist(), strict=True)
        ]

    # ground truth and customers

    def true_classes(self, index: Ints) -> list[TrueClass]:
        return [_CLASS_OF_KIND[kind] for kind in self.slots(index).kind.tolist()]

    def customer_rows(self, index: Ints) -> Iterator[CustomerRow]:
        """Each customer slot's row, then one of a customer who does not follow (some by e-mail only)."""
        slots = self.slots(index)
        customers = slots.kind == _Kind.CUSTOMER
        rows, numbers = self.person_names(slots.person_rank[customers])
        ranks = slots.rank[customers]
        outsiders = (_hash(ranks, self.salts["names"]) % np.uint64(_NAME_COUNT)).astype(np.int64)
        person_ranks = slots.person_rank[customers]
        for handle, email, rank, outsider in zip(
            self.person_handles(rows, numbers, person_ranks), self.person_emails(rows, numbers, person_ranks),
            ranks.tolist(), outsiders.tolist(), strict=True,
        ):  # fmt: skip
            yield CustomerRow(handle, email)
            yield self._outside_customer(outsider, rank)

    def _outside_customer(self, row: int, rank: int) -> CustomerRow:
        brandlike = row in self._brandlike_names
        stem = _OUTSIDE_CUSTOMER_STEM if brandlike else _NAMES.stems[row]
        email = f"{_OUTSIDE_CUSTOMER_STEM if brandlike else _NAMES.emails[row]}.{rank}@example.com"
        return CustomerRow("" if rank % 10 == 3 else f"{stem}_{rank}", email)

    # interactions

    def interactions(self, index: Ints, start_ts: float, end_ts: float) -> Iterator[InteractionData]:
        slots = self.slots(index)
        draws = _draws(index, self.salts["interact"], ("interacts", "rate"))
        active = draws["interacts"] < _INTERACTS[slots.kind]
        actors = index[active]
        if not actors.size:
            return
        kinds = slots.kind[active]
        expected = _log_uniform(
            _INTERACTION_RANGE[kinds, 0], _INTERACTION_RANGE[kinds, 1], draws["rate"][active]
        )
        rows, numbers, times = self._event_times(actors, expected, start_ts, end_ts)
        if not rows.size:
            return
        kind_draws = _uniform(_hash(actors[rows], self.salts["events"]) + numbers.astype(np.uint64),
                              self.salts["events"])  # fmt: skip
        event_kinds = (kind_draws[:, None] >= _INTERACTION_CUMULATIVE[kinds[rows]]).sum(axis=1)
        event_kinds = np.minimum(event_kinds, len(_INTERACTION_KINDS) - 1)
        with_events = np.unique(rows)
        people = dict(zip(with_events.tolist(), self.profiles(actors[with_events]), strict=True))
        for row, number, at, event_kind in zip(
            rows.tolist(), numbers.tolist(), _moments(times), event_kinds.tolist(), strict=True
        ):
            actor = people[row]
            yield InteractionData(
                platform_event_id=f"demo-event:{actor.platform_id.removeprefix(ID_PREFIX)}:{number}",
                kind=_INTERACTION_KINDS[event_kind],
                actor=actor,
                created_at=at,
            )

    def _event_times(
        self, actors: Ints, expected: Floats, start_ts: float, end_ts: float
    ) -> tuple[Ints, Ints, Ints]:
        """Each actor's events as a Poisson stream from a fixed start; those within [start_ts, end_ts]."""
        mean_gap = INTERACTION_WINDOW.total_seconds() / expected
        clock = np.full(len(actors), float(self.anchor_ts) - INTERACTION_WINDOW.total_seconds())
        keys = _hash(actors, self.salts["events"])
        width = 32
        rows_found: list[Ints] = []
        numbers_found: list[Ints] = []
        times_found: list[Ints] = []
        live = np.arange(len(actors))
        first = 0
        while live.size:
            batch = np.arange(first, first + width, dtype=np.uint64)
            gaps = -np.log1p(-_uniform(keys[live, None] ^ (batch * _GOLDEN), self.salts["interact"]))
            times = clock[live, None] + np.cumsum(gaps * mean_gap[live, None], axis=1)
            inside = (times >= start_ts) & (times <= end_ts)
            live_rows, columns = np.nonzero(inside)
            rows_found.append(live[live_rows])
            numbers_found.append(first + columns.astype(np.int64))
            times_found.append(times[live_rows, columns].astype(np.int64))
            clock[live] = times[:, -1]
            live = live[times[:, -1] <= end_ts]
            first += width
        rows, numbers = np.concatenate(rows_found), np.concatenate(numbers_found)
        order = np.lexsort((numbers, rows))
        return rows[order], numbers[order], np.concatenate(times_found)[order]


def _audience(kind: Ints, stable: dict[str, Floats], epoch: Ints) -> tuple[Ints, Ints]:
    """Followers and following, both growing a little at every change."""
    followers = (
        _from_mixture(_FOLLOWERS_TABLE, kind, stable["followers_pick"], stable["followers"]) - 1
    ).astype(np.int64)
    following = (
        _from_mixture(_FOLLOWING_TABLE, kind, stable["following_pick"], stable["following"]) - 1
    ).astype(np.int64)
    return followers + epoch * (1 + followers // 40), following + epoch * (following // 80)


def _handle_numbers(u: Floats) -> Ints:
    """The number a person puts after their name: none for half, a small one, a birth year, a long one."""
    small = 1 + ((u - 0.5) * 280).astype(np.int64)
    birth_year = 1960 + ((u - 0.85) * 375).astype(np.int64)
    long = 10_000 + ((u - 0.97) * 3_000_000).astype(np.int64)
    return np.select([u < 0.5, u < 0.85, u < 0.97], [0, small, birth_year], long)


class _Texts:
    """Handles, display names and bios for a batch of slots, built per kind."""

    def __init__(
        self, world: _World, slots: _Slots, stable: dict[str, Floats], bio: dict[str, Floats]
    ) -> None:
        self.world = world
        self._slots = slots
        self._stable = stable
        self._bio = bio
        self._speaks = stable["bio_empty"] >= _EMPTY_BIO[slots.kind]
        size = len(slots.index)
        self.handles: list[str] = [""] * size
        self.display_names: list[str] = [""] * size
        self.bios: list[str] = [""] * size
        self._people(np.flatnonzero(slots.kind < _Kind.BOT))
        self._bots(np.flatnonzero(slots.kind == _Kind.BOT))
        self._spam(np.flatnonzero(slots.kind == _Kind.SPAM))
        self._impersonators(np.flatnonzero(slots.kind == _Kind.IMPERSONATOR))

    def _put(self, column: list[str], rows: Ints, values: Iterable[str]) -> None:
        for at, value in zip(rows.tolist(), values, strict=True):
            column[at] = value

    def _pick(self, draw: Floats, rows: Ints, options: Sequence[str]) -> list[str]:
        return [options[i] for i in (draw[rows] * len(options)).astype(np.int64).tolist()]

    def _people(self, rows: Ints) -> None:
        person_ranks = self._slots.person_rank[rows]
        kinds = self._slots.kind[rows]
        name_rows, numbers = self.world.person_names(person_ranks)
        self._put(self.handles, rows, self.world.person_handles(name_rows, numbers, person_ranks))
        self._put(self.display_names, rows, self._person_displays(rows, kinds, name_rows))
        speaking = self._speaks[rows]
        scripts = np.where(kinds == _Kind.BLOCKLISTED, 0, _SCRIPT_OF_NAME[name_rows])
        self._put(
            self.bios, rows[speaking], self._person_bios(rows[speaking], kinds[speaking], scripts[speaking])
        )
        blocklisted = kinds == _Kind.BLOCKLISTED
        self._blocklisted(rows[blocklisted], name_rows[blocklisted], person_ranks[blocklisted])

    def _person_displays(self, rows: Ints, kinds: Ints, name_rows: Ints) -> list[str]:
        """Most people show their name; some add an emoji, a few show nothing, some fans name the brand and
        churners advertise that they follow back."""
        style = self._stable["display"][rows]
        churner = kinds == _Kind.CHURNER
        variant = np.select(
            [churner & (style < 0.3), churner & (style < 0.45), churner, style < 0.05, style < 0.13,
             (kinds == _Kind.FAN) & (style < 0.16)],
            [4, 5, 0, 1, 2, 3],
        )  # fmt: skip
        formats = ("{name}", "", "{name}{decoration}", "{name} | {brand} fan", "{name} 🔁", "{name} | F4F")
        brand = self.world.brand_display
        return [
            _NAMES.displays[name_row]
            if v == 0
            else formats[v].format(name=_NAMES.displays[name_row], decoration=decoration, brand=brand)
            for v, name_row, decoration in zip(
                variant.tolist(), name_rows.tolist(), self._pick(self._stable["decoration"], rows, _DECORATIONS),
                strict=True,
            )
        ]  # fmt: skip

    def _person_bios(self, rows: Ints, kinds: Ints, scripts: Ints) -> list[str]:
        """Bios in the person's own script for some, about the brand for some customers, fans and churners."""
        draw = {name: values[rows] for name, values in self._bio.items()}
        own = np.where(draw["native"] < _OWN_BIO_SHARE[kinds], _OWN_BIO_FAMILY[kinds], 0)
        family = np.where((scripts > 0) & (draw["native"] < _NATIVE_BIO_SHARE), scripts, own)
        template = (draw["template"] * _BIO_FAMILY_SIZE[family]).astype(np.int64)
        like = (draw["like"] * len(_LIKES)).astype(np.int64)
        other_like = (like + 1 + (draw["like2"] * (len(_LIKES) - 1)).astype(np.int64)) % len(_LIKES)
        job = (draw["job"] * len(_JOBS)).astype(np.int64)
        city = (draw["city"] * len(_CITIES)).astype(np.int64)
        brand = self.world.brand_display
        return [
            _BIO_FAMILIES[f][t].format(
                job=_JOBS[j], city=_CITIES[c], like=_LIKES[a], like2=_LIKES[b], brand=brand, year=10 + c
            )
            for f, t, j, c, a, b in zip(
                family.tolist(), template.tolist(), job.tolist(), city.tolist(), like.tolist(),
                other_like.tolist(), strict=True,
            )
        ]  # fmt: skip

    def _blocklisted(self, rows: Ints, name_rows: Ints, person_ranks: Ints) -> None:
        """A third say it in the name, a third in the bio, a third in both; a fifth in the handle too."""
        style = self._stable["display"][rows]
        in_handle = self._stable["handle_style"][rows] < 0.2
        ranks = person_ranks[in_handle].tolist()
        stems = (_BLOCKLISTED_STEMS[rank % len(_BLOCKLISTED_STEMS)] for rank in ranks)
        self._put(
            self.handles, rows[in_handle], (f"{stem}{rank}" for stem, rank in zip(stems, ranks, strict=True))
        )
        in_name = style < 2 / 3
        bad_names = self._pick(self._bio["template"], rows[in_name], _BLOCKLISTED_NAMES)
        names = [_NAMES.displays[row] for row in name_rows[in_name].tolist()]
        self._put(
            self.display_names,
            rows[in_name],
            (bad.format(name=name) for bad, name in zip(bad_names, names, strict=True)),
        )
        in_bio = style >= 1 / 3
        self._put(self.bios, rows[in_bio], self._pick(self._bio["job"], rows[in_bio], _BLOCKLISTED_BIOS))

    def _bots(self, rows: Ints) -> None:
        """Digit-heavy handles: a stem and five to nine digits that never repeat for the same stem."""
        cycle, stem = np.divmod(self._slots.rank[rows], len(_BOT_STEMS))
        width = 5 + (self._stable["digits"][rows] * 5).astype(np.int64)
        shift = _hash(stem * 16 + width, self.world.salts["digits"]).astype(np.int64) & 0xFFFFFFFF
        digits = 10 ** (width - 1) + (cycle * _DIGIT_STEP + shift) % (9 * 10 ** (width - 1))
        style = self._stable["display"][rows]
        separators = np.where(style >= 0.8, "_", "").tolist()
        handles = [
            f"{_BOT_STEMS[s]}{separator}{number}"
            for s, separator, number in zip(stem.tolist(), separators, digits.tolist(), strict=True)
        ]
        firsts = self._pick(self._stable["decoration"], rows, [first for first, _ in _SCRIPTS[0].firsts])
        emoji = self._pick(self._stable["handle_style"], rows, _BOT_EMOJI)
        self._put(self.handles, rows, handles)
        self._put(
            self.display_names,
            rows,
            (
                handle if s >= 0.8 else f"{first} {mark}" if s >= 0.4 else ""
                for handle, s, first, mark in zip(handles, style.tolist(), firsts, emoji, strict=True)
            ),
        )
        speaking = rows[self._speaks[rows]]
        self._put(self.bios, speaking, self._pick(self._bio["template"], speaking, _BOT_BIOS))

    def _spam(self, rows: Ints) -> None:
        numbers, stems = np.divmod(self._slots.rank[rows], len(_SPAM_STEMS))
        self._put(
            self.handles,
            rows,
            (
                f"{_SPAM_STEMS[stem]}{number + 10}"
                for stem, number in zip(stems.tolist(), numbers.tolist(), strict=True)
            ),
        )
        self._put(self.display_names, rows, self._pick(self._stable["display"], rows, _SPAM_NAMES))
        speaking = rows[self._speaks[rows]]
        self._put(self.bios, speaking, self._pick(self._bio["template"], speaking, _SPAM_BIOS))

    def _impersonators(self, rows: Ints) -> None:
        variants = self.world.impersonations
        repeats, picks = np.divmod(self._slots.rank[rows], len(variants))
        self._put(
            self.handles,
            rows,
            (
                variants[v] + (f"_{r}" if r else "")
                for v, r in zip(picks.tolist(), repeats.tolist(), strict=True)
            ),
        )
        brand = self.world.brand_display
        names = self._pick(self._stable["display"], rows, _IMPERSONATOR_NAMES)
        self._put(self.display_names, rows, (name.format(brand=brand) for name in names))
        bios = self._pick(self._bio["template"], rows, _IMPERSONATOR_BIOS)
        self._put(self.bios, rows, (bio.format(brand=brand) for bio in bios))


def _profiles_from_columns(**columns: list[Any]) -> list[ProfileData]:
    """ProfileData from one list per field (fields left out keep their defaults), built positionally: a
    keyword call costs a microsecond more per profile, a second per million."""
    size = len(columns["platform_id"])
    ordered = [
        columns[field.name] if field.name in columns or field.default is MISSING else [field.default] * size
        for field in _PROFILE_FIELDS
    ]
    return list(itertools.starmap(ProfileData, zip(*ordered, strict=True)))


def _moments(timestamps: Ints) -> list[datetime]:
    return [datetime.fromtimestamp(ts, UTC) for ts in timestamps.tolist()]


def _optional_moments(timestamps: Ints) -> list[datetime | None]:
    """UTC datetimes from whole seconds; negative values stand for none."""
    return [datetime.fromtimestamp(ts, UTC) if ts >= 0 else None for ts in timestamps.tolist()]


# --- the connector ------------------------------------------------------------------------------------------


class _RequestBudget:
    def __init__(self, limit: SimulatedRateLimit, state: RateLimitState) -> None:
        self._limit = limit
        self._state = state
        self._window_start = limit.clock()
        self._used = 0

    def spend(self) -> None:
        now = self._limit.clock()
        if now - self._window_start >= self._limit.window_seconds:
            self._window_start, self._used = now, 0
        if self._used >= self._limit.requests:
            raise RateLimited(self._window_start + self._limit.window_seconds - now)
        self._used += 1
        self._state.limit = self._limit.requests
        self._state.remaining = self._limit.requests - self._used


class DemoConnector:
    """The demo platform behind the Connector protocol, plus the ground truth that real platforms lack.

    ``follower_count`` followers follow at sync 0; ``brand_handle`` ("acme", "@acme" or "acme.demo") is the
    handle that impersonators copy; ``now`` is the platform's clock (default: the real one); ``rate_limit``
    simulates a request budget, and the ``rate_limit`` attribute reports what is left of it, as the other
    connectors do. Follows are recorded on the instance, so a new connector starts with none.
    """

    def __init__(
        self,
        seed: int,
        follower_count: int,
        brand_handle: str,
        *,
        page_size: int = 1000,
        sync_number: int = 0,
        now: datetime | None = None,
        rate_limit: SimulatedRateLimit | None = None,
        followed: Iterable[str] = (),
    ) -> None:
        if follower_count < 0 or sync_number < 0 or page_size < 1:
            raise ValueError("follower_count and sync_number must be >= 0 and page_size >= 1")
        now = now or datetime.now(UTC)
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        self._world = _World(seed, follower_count, brand_handle, sync_number, now.astimezone(UTC))
        self.page_size = page_size
        self.rate_limit = RateLimitState()
        self._budget = _RequestBudget(rate_limit, self.rate_limit) if rate_limit else None
        self._follows: dict[str, FollowResult] = {}
        self._followed_before = frozenset(followed)

    def __repr__(self) -> str:
        world = self._world
        return f"DemoConnector(seed={world.seed}, followers={world.follower_count}, sync={world.sync_number})"

    @property
    def follows_done(self) -> tuple[str, ...]:
        """Ids followed (or asked to follow) through this connector, in order, each once."""
        return tuple(self._follows)

    # Connector protocol -------------------------------------------------------------------------------------

    def iter_follower_pages(self, cursor: str | None) -> Iterator[FollowerPage]:
        position: int | None = _cursor_index(cursor)
        while position is not None:
            self._spend()
            indices, position = self._world.follower_page(position, self.page_size)
            next_cursor = follower_cursor(position) if position is not None else None
            yield FollowerPage(profiles=self._world.profiles(indices), next_cursor=next_cursor)

    def iter_following_pages(self, cursor: str | None) -> Iterator[FollowingPage]:
        """Whom the brand follows: one customer follower in ten from before Followback, the accounts it followed
        through Followback (``followed``, which the demo platform keeps in Followback's own database) and those
        followed through this connector; ``cursor`` is a position in that list."""
        followed = sorted(
            self._followed_before.union(
                (f"{ID_PREFIX}{index}" for block in self._world.blocks() for index in self._world.brand_follows(block)),
                (platform_id for platform_id, result in self._follows.items() if result.following),
            )
        )  # fmt: skip
        start = int(cursor) if cursor and cursor.isdigit() else 0
        while True:
            self._spend()
            end = start + self.page_size
            yield FollowingPage(
                ids=followed[start:end], next_cursor=str(end) if end < len(followed) else None
            )
            if end >= len(followed):
                return
            start = end

    def get_profiles(self, ids: Sequence[str]) -> list[ProfileData]:
        indices = self._known_indices(ids)
        for _ in range(0, len(indices), PROFILES_PER_REQUEST):
            self._spend()
        return self._world.profiles(indices) if indices.size else []

    def iter_interactions(self, since: datetime | None) -> Iterator[InteractionData]:
        """Replies, mentions, reposts, likes and quotes of the last 120 days (from ``since``), actor by actor
        in slot order and each actor's oldest first."""
        world = self._world
        start = world.now - INTERACTION_WINDOW
        if since is not None and since > start:
            start = since
        for number, interaction in enumerate(self._interactions(start.timestamp(), world.now.timestamp())):
            if number % INTERACTIONS_PER_REQUEST == 0:
                self._spend()
            yield interaction

    def follow(self, platform_user_id: str) -> FollowResult:
        self._spend()
        if platform_user_id in self._follows:
            return self._follows[platform_user_id]
        profiles = self._world.profiles(self._known_indices([platform_user_id]))
        if not profiles:
            raise NotFound(f"demo account {platform_user_id} not found")
        locked = profiles[0].is_locked
        result = FollowResult(following=not locked, requested=locked)
        self._follows[platform_user_id] = result
        return result

    def relationships(self, ids: Sequence[str]) -> dict[str, Relationship]:
        self._spend()
        indices = self._known_indices(ids)
        followed_by = self._world.following_at(self._world.slots(indices), self._world.sync_number)
        relationships = {}
        for index, follows_us in zip(indices.tolist(), followed_by.tolist(), strict=True):
            platform_id = f"{ID_PREFIX}{index}"
            ours = self._follows.get(platform_id)
            relationships[platform_id] = Relationship(
                following=bool(ours and ours.following),
                followed_by=follows_us,
                requested=bool(ours and ours.requested),
            )
        return relationships

    # ground truth and the brand's own data ------------------------------------------------------------------

    def true_class(self, platform_id: str) -> TrueClass:
        indices = self._known_indices([platform_id])
        if not indices.size:
            raise NotFound(f"demo account {platform_id} not found")
        return self._world.true_classes(indices)[0]

    def follow_presence(self, ids: Sequence[str]) -> Callable[[int], npt.NDArray[np.bool_]]:
        """Ground truth for evaluations: a function telling, for daily sync n, which of `ids` (all of this
        world) followed the brand then, what `relationships` would answer as `followed_by` at that sync, in one
        numpy operation and without the rate limit."""
        indices = np.fromiter((int(i.removeprefix(ID_PREFIX)) for i in ids), dtype=np.int64, count=len(ids))
        slots = self._world.slots(indices)
        return lambda sync: self._world.following_at(slots, sync)

    def ground_truth(self, ids: Iterable[str]) -> dict[str, TrueClass]:
        """The true class of each known id (unknown ids are left out)."""
        indices = self._known_indices(list(ids))
        return {
            f"{ID_PREFIX}{i}": c
            for i, c in zip(indices.tolist(), self._world.true_classes(indices), strict=True)
        }

    def customer_list(self, max_rows: int | None = None) -> Iterator[CustomerRow]:
        """The brand's customer list: every customer who follows (or once did), and as many who never did."""
        rows = self._customer_rows()
        return itertools.islice(rows, max_rows) if max_rows is not None else rows

    # helpers ------------------------------------------------------------------------------------------------

    def _customer_rows(self) -> Iterator[CustomerRow]:
        for block in self._world.blocks():
            yield from self._world.customer_rows(block)

    def _interactions(self, start_ts: float, end_ts: float) -> Iterator[InteractionData]:
        for block in self._world.blocks():
            yield from self._world.interactions(block, start_ts, end_ts)

    def _known_indices(self, ids: Sequence[str]) -> Ints:
        indices = (_index_of(platform_id) for platform_id in dict.fromkeys(ids))
        known = [i for i in indices if i is not None and i < self._world.slot_count]
        return np.array(known, dtype=np.int64)

    def _spend(self) -> None:
        if self._budget is not None:
            self._budget.spend()
