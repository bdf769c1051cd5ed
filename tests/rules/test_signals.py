# ruff: noqa: RUF001  (look-alike letters are the point of several tests)
import itertools
import math
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from accounts.platforms.base import ProfileData
from accounts.platforms.demo import BLOCKLISTED_TERMS, DemoConnector, TrueClass
from rules.signals import (
    KIND_WEIGHTS,
    SIGNALS,
    BrandContext,
    FollowerColumns,
    Polarity,
    Reason,
    SignalResult,
    bot_evidence,
    bot_likelihood,
    churn,
    compute_signals,
    customer,
    engagement,
    engagement_weight,
    explain,
    genuine_activity,
    handle_name,
    harmful,
    lookalikes,
    normalise_handle,
    skeleton,
)

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)
DAY = timedelta(days=1)
ACME = BrandContext(handle="acme", display_name="Acme", blocklist=BLOCKLISTED_TERMS)

PERSON = {
    "handle": "maria_lopez",
    "display_name": "María López",
    "bio": "Nurse in Lisbon. Coffee and hiking.",
    "avatar_is_default": False,
    "created_at": NOW - 6 * 365 * DAY,
    "followers_count": 420,
    "following_count": 380,
    "posts_count": 2_300,
    "last_post_at": NOW - 2 * DAY,
    "verified_links": 1,
    "is_following": True,
    "follow_count": 1,
    "unfollow_count": 0,
    "first_followed_at": NOW - 800 * DAY,
    "last_followed_at": NOW - 800 * DAY,
}
FAKE = {
    "handle": "lucky76163538",
    "display_name": "",
    "bio": "",
    "avatar_is_default": True,
    "created_at": NOW - 20 * DAY,
    "followers_count": 3,
    "following_count": 4_812,
    "posts_count": 1,
    "last_post_at": NOW - 19 * DAY,
}


def columns(*rows: dict[str, Any]) -> FollowerColumns:
    return FollowerColumns.from_records(rows, NOW)


def row(base: dict[str, Any] = PERSON, **changes: Any) -> dict[str, Any]:
    return base | changes


def one(signal, record: dict[str, Any], ctx: BrandContext = ACME) -> tuple[float, list[Reason]]:
    result = signal(columns(record), ctx)
    return float(result.values[0]), result.reasons(0)


def texts(reasons: list[Reason]) -> list[str]:
    return [reason.text for reason in reasons]


# --- columns ------------------------------------------------------------------------------------------------


def test_missing_fields_and_none_become_unknown_or_empty():
    cols = columns({}, {"handle": None, "bio": None, "labels": None, "followers_count": None})
    assert cols.handles == ["", ""]
    assert cols.bios == ["", ""]
    assert cols.labels == [(), ()]
    assert np.isnan(cols.followers_count).all()
    assert np.isnan(cols.created_ago).all()
    assert not cols.avatar_is_default.any()


def test_datetimes_become_seconds_before_now_negative_in_the_future_and_naive_ones_are_utc():
    cols = columns(
        {"created_at": NOW - DAY},
        {"created_at": NOW + 30 * DAY},
        {"created_at": (NOW - 2 * DAY).replace(tzinfo=None)},
    )
    assert cols.created_ago.tolist() == [86_400.0, -30 * 86_400.0, 2 * 86_400.0]


def test_negative_counts_become_unknown_and_absurd_ones_are_capped():
    cols = columns({"followers_count": -5}, {"followers_count": 10**15}, {"followers_count": 10**400})
    assert np.isnan(cols.followers_count[0])
    assert cols.followers_count[1] == 1e15
    assert cols.followers_count[2] == 1e18


def test_labels_given_as_one_string_or_odd_values_become_tuples_of_strings():
    cols = columns({"labels": "spam"}, {"labels": ["scam", 7]}, {"labels": 3})
    assert cols.labels == [("spam",), ("scam", "7"), ()]


def test_columns_of_different_lengths_are_refused():
    cols = columns(PERSON, FAKE)
    values = {field.name: getattr(cols, field.name) for field in fields(cols)}
    with pytest.raises(ValueError, match="posts_count"):
        FollowerColumns(**values | {"posts_count": np.zeros(3)})
    with pytest.raises(ValueError, match="is_bot"):
        FollowerColumns(**values | {"is_bot": np.zeros((2, 2), dtype=bool)})


def test_handle_name_keeps_the_part_its_owner_chose():
    assert handle_name("ann") == "ann"
    assert handle_name("@ann@example.social") == "ann"
    assert handle_name("ann.bsky.social") == "ann"
    assert handle_name("") == ""


# --- engagement weights -------------------------------------------------------------------------------------


def test_engagement_weight_is_the_kind_weight_decaying_over_a_month_within_90_days():
    assert KIND_WEIGHTS == {"reply": 3.0, "quote": 3.0, "mention": 2.0, "repost": 2.0, "like": 1.0}
    assert engagement_weight("reply", 0) == 3.0
    assert engagement_weight("like", 30) == pytest.approx(math.exp(-1))
    assert engagement_weight("repost", 90) == pytest.approx(2 * math.exp(-3))
    assert engagement_weight("quote", 90.5) == 0.0
    assert engagement_weight("mention", -2) == 2.0
    assert engagement_weight("follow", 1) == 0.0
    assert engagement_weight("reply", math.nan) == 0.0


# --- every signal -------------------------------------------------------------------------------------------

HOSTILE_ROWS = [
    row(followers_count=0),
    row(following_count=0, followers_count=0, posts_count=0),
    row(followers_count=10**15, following_count=10**15, posts_count=10**15, verified_links=10**15),
    row(FAKE, following_count=10**15, unfollow_count=10**15, shortest_follow_seconds=0),
    row(created_at=NOW + 400 * DAY, last_post_at=NOW + 3 * DAY, first_followed_at=NOW + DAY),
    dict.fromkeys(PERSON),
    {},
    row(handle="", display_name="", bio=""),
    row(handle="\u202eemca", display_name="a\u200bc\u200dm\ufeffe", bio="\u2066\u2069"),
    row(handle="ａｃｍｅ", display_name="𝐀𝐜𝐦𝐞", bio="ѕсаm"),
    row(handle="\ud800", display_name="\x00", bio="x\x00y", labels=["!hide", ""]),
    row(engagement_weighted=math.nan, reply_count=math.inf, shortest_follow_seconds=-1),
]


@pytest.mark.parametrize("signal", SIGNALS.values(), ids=SIGNALS.keys())
def test_every_signal_gives_finite_values_between_0_and_1_on_hostile_rows(signal):
    result = signal(columns(*HOSTILE_ROWS), ACME)
    assert result.values.dtype == np.float64
    assert len(result.values) == len(HOSTILE_ROWS)
    assert np.isfinite(result.values).all()
    assert ((result.values >= 0) & (result.values <= 1)).all()
    for index in range(len(HOSTILE_ROWS)):
        assert all(isinstance(reason.text, str) and reason.text for reason in result.reasons(index))


@pytest.mark.parametrize("signal", SIGNALS.values(), ids=SIGNALS.keys())
def test_every_signal_handles_no_followers(signal):
    assert signal(columns(), ACME).values.shape == (0,)


def test_explain_builds_reasons_only_for_the_row_asked_and_says_each_once():
    asked = []

    def reasons(index: int) -> list[Reason]:
        asked.append(index)
        return [Reason("first", "same words", Polarity.WATCH)]

    twice = [
        SignalResult("first", np.zeros(1_000_000), reasons),
        SignalResult("second", np.zeros(1), reasons),
    ]
    assert explain(twice, 7) == [Reason("first", "same words", Polarity.WATCH)]
    assert asked == [7, 7]


def test_compute_signals_runs_every_signal_and_explain_joins_their_reasons():
    results = compute_signals(columns(row(is_customer=True, reply_count=2, engagement_weighted=6.0)), ACME)
    assert list(results) == list(SIGNALS)
    reasons = explain(results, 0)
    assert {reason.signal for reason in reasons} >= {"customer", "engagement", "genuine_activity"}
    assert all(reason.polarity == Polarity.SUGGEST for reason in reasons)


# --- bot likelihood -----------------------------------------------------------------------------------------


def test_a_classic_fake_follower_scores_high_with_its_reasons_first():
    value, reasons = one(bot_likelihood, FAKE)
    assert value > 0.95
    assert reasons[0] == Reason("bot_likelihood", "follows 4,812, followed by 3 — 1:1,600", Polarity.WATCH)
    assert "long number in handle: «lucky76163538»" in texts(reasons)
    assert len(reasons) <= 4


def test_an_established_person_scores_low_and_is_told_so():
    value, reasons = one(bot_likelihood, PERSON)
    assert value < 0.05
    assert reasons == [Reason("bot_likelihood", "nothing in the profile looks automated", Polarity.SUGGEST)]


def test_zero_followers_reads_as_followed_by_nobody():
    _, reasons = one(bot_likelihood, row(FAKE, followers_count=0, following_count=900))
    assert "follows 900, followed by nobody" in texts(reasons)


def test_following_nobody_or_being_followed_by_nobody_alone_is_no_ratio_evidence():
    evidence = bot_evidence(columns(row(following_count=0, followers_count=0), row(following_count=0)))
    assert evidence["ratio"].tolist() == [0.0, 0.0]
    assert evidence["ratio_50_to_1"].tolist() == [0.0, 0.0]


def test_huge_counts_are_written_out_in_full():
    _, reasons = one(bot_likelihood, row(FAKE, following_count=10**15))
    assert "follows 1,000,000,000,000,000, followed by 3 — 1:330,000,000,000,000" in texts(reasons)


@pytest.mark.parametrize(
    ("rule", "quiet", "loud"),
    [
        ("following:followers of 50:1", {"following_count": 49 * 20}, {"following_count": 50 * 20}),
        ("default picture after 2 months", {"created_at": NOW - 50 * DAY}, {"created_at": NOW - 70 * DAY}),
        ("no bio while following over 100", {"following_count": 100}, {"following_count": 101}),
        ("fewer than 3 posts", {"posts_count": 3}, {"posts_count": 2}),
        ("none in 90 days", {"last_post_at": NOW - 89 * DAY}, {"last_post_at": NOW - 91 * DAY}),
    ],
)
def test_each_published_fake_follower_rule_raises_the_score(rule, quiet, loud):
    base = row(
        followers_count=20,
        following_count=60,
        avatar_is_default=True,
        bio="",
        created_at=NOW - 400 * DAY,
        posts_count=40,
        last_post_at=NOW - 5 * DAY,
        verified_links=0,
    )
    assert one(bot_likelihood, base | loud)[0] > one(bot_likelihood, base | quiet)[0], rule


def test_handles_with_long_numbers_or_random_letters_count_as_evidence():
    evidence = bot_evidence(
        columns(*(row(handle=h) for h in ("lucky76163538", "qxzkvbwj", "kowalski", "ann1985")))
    )
    assert evidence["handle_digits"].tolist()[0] == 1.0
    assert evidence["handle_digits"].tolist()[3] < 0.3
    assert evidence["rare_bigrams"].tolist()[1] > 0.5
    assert evidence["rare_bigrams"].tolist()[2] == 0.0


def test_a_display_name_with_no_words_or_an_unusually_long_one_counts_as_evidence():
    names = ("", "💋✨", "Ann Kowalski", "Best Deals Daily Promo Shoutouts Growth Followers Boost", "A" * 40)
    evidence = bot_evidence(columns(*(row(display_name=name) for name in names)))
    assert evidence["name_length"].tolist() == [1.0, 1.0, 0.0, 1.0, 0.5]


def test_a_missing_or_overlong_display_name_is_explained_in_plain_words():
    fake = row(PERSON, display_name="", created_at=NOW - 20 * DAY, posts_count=30, verified_links=0)
    _, nameless = one(bot_likelihood, fake)
    _, emoji_only = one(bot_likelihood, row(fake, display_name="💋💋"))
    _, long = one(bot_likelihood, row(fake, display_name="Promo Deals " * 5))
    assert "no display name" in texts(nameless)
    assert "no words in display name: «💋💋»" in texts(emoji_only)
    assert "unusually long display name: «Promo Deals Promo Deals Promo Deals Pro…»" in texts(long)
    _, named = one(bot_likelihood, row(fake, display_name="Ann"))
    assert not [text for text in texts(named) if "display name" in text]


def test_a_handle_that_looks_typed_at_random_is_explained():
    _, reasons = one(bot_likelihood, row(FAKE, handle="xkqzvbwjfq", following_count=40, followers_count=3))
    assert "handle looks typed at random: «xkqzvbwjfq»" in texts(reasons)


def test_platform_bot_flag_and_moderation_labels_are_strong_evidence():
    plain = row(handle="ann", created_at=NOW - 300 * DAY, verified_links=0)
    assert one(bot_likelihood, plain)[0] < 0.05
    value, reasons = one(bot_likelihood, plain | {"is_bot": True, "labels": ["spam", "inauthentic"]})
    assert value > 0.9
    assert texts(reasons)[:3] == [
        "marked as a bot account",
        "labelled «spam» by moderators",
        "labelled «inauthentic» by moderators",
    ]


def test_asking_for_follow_backs_counts_only_as_a_whole_phrase():
    evidence = bot_evidence(
        columns(
            row(bio="Follow back guaranteed 🔁"),
            row(display_name="Ann | F4F"),
            row(bio="I follow backgammon"),
        )
    )
    assert evidence["follow_back"].tolist() == [1.0, 1.0, 0.0]


def test_unknown_facts_give_no_evidence():
    evidence = bot_evidence(columns({"handle": "ann", "display_name": "Ann", "bio": "Reader."}))
    assert sum(values[0] for values in evidence.values()) == 0.0


def test_a_creation_date_in_the_future_is_unknown_not_young():
    evidence = bot_evidence(columns(row(created_at=NOW + 30 * DAY), row(created_at=NOW - DAY)))
    assert evidence["young"].tolist()[0] == 0.0
    assert evidence["young"].tolist()[1] > 0.9


def test_rates_and_ages_read_like_people_talk():
    _, reasons = one(
        bot_likelihood,
        row(
            FAKE,
            handle="mia",
            created_at=NOW - 12 * DAY,
            posts_count=2_900,
            following_count=4_000,
            followers_count=9,
        ),
    )
    assert "posts 242 times a day" in texts(reasons)
    assert "account is 12 days old" in texts(reasons) or "followed 4,000 accounts in 12 days" in texts(
        reasons
    )


def test_a_default_picture_kept_for_months_and_an_empty_bio_are_explained():
    _, reasons = one(
        bot_likelihood,
        row(
            FAKE, handle="mia", created_at=NOW - 150 * DAY, last_post_at=NOW - 150 * DAY, following_count=300
        ),
    )
    assert "still the default profile picture after 5 months" in texts(reasons)
    assert "no bio, yet follows 300" in texts(reasons)


def test_reasons_show_hidden_characters_instead_of_hiding_them():
    _, reasons = one(bot_likelihood, row(FAKE, handle="user\u200b\u202e88812345"))
    assert "long number in handle: «user[U+200B][U+202E]88812345»" in texts(reasons)


# --- churn --------------------------------------------------------------------------------------------------


def test_a_loyal_follower_has_no_churn_and_is_told_so():
    value, reasons = one(churn, PERSON)
    assert value == 0.0
    assert reasons == [Reason("churn", "has followed you for 2 years", Polarity.SUGGEST)]


def test_repeated_quick_cycles_score_higher_than_one_slow_unfollow():
    cols = columns(
        row(unfollow_count=1, follow_count=2, shortest_follow_seconds=40 * 86_400),
        row(unfollow_count=1, follow_count=2, shortest_follow_seconds=3_000),
        row(unfollow_count=2, follow_count=3, shortest_follow_seconds=20_000),
        row(unfollow_count=5, follow_count=6, shortest_follow_seconds=600),
    )
    values = churn(cols, ACME).values.tolist()
    assert values == sorted(values)
    assert values[0] < 0.4 < 0.8 < values[2] < values[3]


def test_churn_reasons_count_the_cycles():
    result = churn(
        columns(
            row(unfollow_count=2, follow_count=3, shortest_follow_seconds=20_000),
            row(unfollow_count=1, follow_count=1, shortest_follow_seconds=5 * 86_400),
            row(unfollow_count=4, follow_count=5, shortest_follow_seconds=1_800),
        ),
        ACME,
    )
    assert texts(result.reasons(0)) == ["unfollowed you twice within a day", "followed you 3 times"]
    assert texts(result.reasons(1)) == ["unfollowed you once, after 5 days"]
    assert texts(result.reasons(2)) == ["unfollowed you 4 times within an hour", "followed you 5 times"]
    assert {reason.polarity for reason in result.reasons(0)} == {Polarity.WATCH}


def test_an_unfollow_of_unknown_length_is_not_taken_as_quick():
    value, reasons = one(churn, row(unfollow_count=1, shortest_follow_seconds=None))
    assert value == pytest.approx(1 - math.exp(-0.3))
    assert texts(reasons) == ["unfollowed you once"]


# --- engagement and customers -------------------------------------------------------------------------------


def test_engagement_saturates_and_names_the_weightiest_kinds():
    cols = columns(
        row(),
        row(engagement_weighted=4.0, like_count=4),
        row(engagement_weighted=40.0, reply_count=4, like_count=12, repost_count=2, mention_count=1),
    )
    result = engagement(cols, ACME)
    assert result.values.tolist()[:2] == [0.0, 0.5]
    assert 0.99 < result.values[2] <= 1.0
    assert result.reasons(0) == []
    assert texts(result.reasons(2)) == [
        "replied to you 4 times in the last 3 months",
        "liked your posts 12 times in the last 3 months",
        "reposted you twice in the last 3 months",
    ]


def test_customers_are_1_with_a_reason():
    result = customer(columns(row(is_customer=True), row()), ACME)
    assert result.values.tolist() == [1.0, 0.0]
    assert result.reasons(0) == [Reason("customer", "on your customer list", Polarity.SUGGEST)]
    assert result.reasons(1) == []


# --- genuine activity ---------------------------------------------------------------------------------------


def test_a_recent_prolific_poster_is_genuinely_active():
    value, reasons = one(genuine_activity, PERSON)
    assert value > 0.8
    assert texts(reasons) == ["posted 2 days ago", "1 verified link on the profile"]


def test_silence_moving_suspension_and_limits_lower_genuine_activity():
    cols = columns(
        row(),
        row(last_post_at=NOW - 150 * DAY),
        row(limited=True),
        row(moved=True),
        row(suspended=True),
        row(posts_count=0, last_post_at=None),
    )
    result = genuine_activity(cols, ACME)
    values = result.values.tolist()
    assert values[0] > values[1] > 0
    assert values[0] > values[2] > values[3] > values[4] == 0
    assert "no posts in 5 months" in texts(result.reasons(1))
    assert "account is limited by moderators" in texts(result.reasons(2))
    assert "account has moved elsewhere" in texts(result.reasons(3))
    assert "account is suspended" in texts(result.reasons(4))
    assert "has never posted" in texts(result.reasons(5))


# --- harmful: blocklist and labels --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"bio": "Hate everyone. Trust no one."}, "bio"),
        ({"display_name": "María Murphy | SCAM"}, "display name"),
        ({"handle": "hate_squad722"}, "handle"),
        ({"handle": "crypto_giveaway10856"}, "handle"),
        ({"handle": "cryptogiveaway"}, "handle"),
        ({"bio": "Crypto—Giveaway every Friday"}, "bio"),
        ({"bio": "Professional ＳＣＡＭ artist"}, "bio"),
        ({"bio": "the best ѕсаm in town"}, "bio"),
        ({"bio": "the best sc\u200bam in town"}, "bio"),
        ({"display_name": "Fraud\u2066 Central\u2069"}, "display name"),
        ({"bio": "best \u202emacs\u202c in town"}, "bio"),
    ],
)
def test_blocklisted_words_are_found_in_any_field_after_normalising(record, field):
    value, reasons = one(harmful, row(**record))
    assert value == 1.0
    assert any(reason.startswith(f"{field} matches your blocklist: «") for reason in texts(reasons))


@pytest.mark.parametrize("bio", ["whatever you like", "Château lover", "scampi and chips", "Fraudulent? No."])
def test_blocklisted_words_inside_other_words_are_not_matches(bio):
    assert one(harmful, row(bio=bio))[0] == 0.0


def test_regex_entries_match_normalised_text_and_bad_ones_fail_when_the_brand_is_set():
    brand = BrandContext(handle="acme", blocklist=("/fr[a@]ud/", "/\\bbtc\\b/", "🎁"))
    result = harmful(
        columns(row(bio="Fr@ud is business"), row(bio="Send 0.1 ＢＴＣ"), row(bio="free 🎁"), row()), brand
    )
    assert result.values.tolist() == [1.0, 1.0, 1.0, 0.0]
    assert texts(result.reasons(0)) == ["bio matches your blocklist: «/fr[a@]ud/»"]
    with pytest.raises(ValueError, match="not a valid regular expression"):
        BrandContext(handle="acme", blocklist=("/([unclosed/",))


def test_harmful_keeps_its_parts_apart_for_rules_that_need_one_alone():
    result = harmful(
        columns(row(bio="scam"), row(handle="acmee"), row(labels=["scam"]), row(handle="аcme", bio="hate")),
        ACME,
    )
    assert result.parts["blocklisted"].tolist() == [1.0, 0.0, 0.0, 1.0]
    assert result.parts["impersonation"].tolist() == [0.0, 0.8, 0.0, 1.0]
    assert result.parts["harmful_label"].tolist() == [0.0, 0.0, 1.0, 0.0]
    assert result.values.tolist() == [1.0, 0.8, 0.9, 1.0]
    assert set(bot_likelihood(columns(FAKE), ACME).parts) == set(bot_evidence(columns(FAKE)))


def test_harmful_moderation_labels_count_and_read_plainly():
    result = harmful(
        columns(row(labels=["!hide"]), row(labels=["impersonation"]), row(labels=["spam"])), ACME
    )
    assert result.values.tolist() == [0.9, 0.9, 0.0]
    assert texts(result.reasons(0)) == ["hidden by moderators"]
    assert texts(result.reasons(1)) == ["labelled «impersonation» by moderators"]


# --- harmful: impersonation ---------------------------------------------------------------------------------

BRANDS = ("acme", "northwind", "globex")
HOMOGLYPHS = {
    "a": "аαɑ", "c": "сϲ", "e": "еЕ", "o": "оοօ", "p": "рρ", "x": "хχ", "i": "іι", "n": "ո", "h": "һ",
    "l": "ӏ", "w": "ԝ", "d": "ԁ", "g": "ɡ", "b": "Ь", "r": "ꭇ", "t": "т",
}  # fmt: skip
DIGITS = {"o": "0", "l": "1", "i": "1", "e": "3", "a": "4", "s": "5", "t": "7", "b": "8", "g": "9"}
INVISIBLE = ("\u200b", "\u200c", "\u200d", "\ufeff", "\u2060", "\u00ad", "\u2066")
AFFIXED = (
    "{}_official",
    "{}support",
    "real_{}",
    "the{}",
    "{}_help",
    "{}.team",
    "{}_2024",
    "{}_hq7",
    "official-{}",
)


def disguises(brand: str) -> Iterator[str]:
    """``brand`` with one trick: a homoglyph or digit for a letter, a letter pair, an invisible character,
    fullwidth or mathematical letters, a bidi override, one letter more or (for long names) fewer."""
    yield brand
    for i, letter in enumerate(brand):
        for glyph in HOMOGLYPHS.get(letter, "")[:2]:
            yield brand[:i] + glyph + brand[i + 1 :]
        if letter in DIGITS:
            yield brand[:i] + DIGITS[letter] + brand[i + 1 :]
        yield brand[:i] + INVISIBLE[i % len(INVISIBLE)] + brand[i:]
        yield brand[:i] + letter + brand[i:]
        if len(brand) > 4:
            yield brand[:i] + brand[i + 1 :]
    yield brand.replace("m", "rn").replace("w", "vv")
    yield "".join(chr(ord(letter) + 0xFEE0) for letter in brand)
    yield "".join(chr(0x1D41A + ord(letter) - ord("a")) for letter in brand)
    yield "\u202e" + brand[::-1] + "\u202c"


def spoofs(brand: str) -> list[str]:
    """Every disguise alone and with each official-sounding affix (a number only where the disguise does
    not already end in a digit, which would read as part of the number)."""
    handles = []
    for disguise in disguises(brand):
        handles.append(disguise)
        handles.extend(
            pattern.format(disguise)
            for pattern in AFFIXED
            if not (disguise[-1].isdigit() and pattern[-1].isdigit())
        )
    return [handle for handle in dict.fromkeys(handles) if handle != brand]


@pytest.mark.parametrize("brand", BRANDS)
def test_at_least_a_hundred_spoofs_of_each_brand_handle_are_caught(brand):
    handles = spoofs(brand)
    assert len(handles) >= 100
    result = harmful(
        columns(*(row(handle=handle, display_name="") for handle in handles)), BrandContext(brand)
    )
    missed = [handle for handle, value in zip(handles, result.values, strict=True) if value < 0.8]
    assert missed == []


def test_display_names_that_read_as_the_brand_are_caught_but_fans_are_not():
    result = harmful(
        columns(
            row(display_name="Acme Support"),
            row(display_name="Acme ✓"),
            row(display_name="ΑСΜΕ Customer Care"),
            row(display_name="Lucas Brown | Acme fan"),
            row(display_name="I love acme coffee"),
        ),
        ACME,
    )
    assert result.values.tolist() == [1.0, 1.0, 1.0, 0.0, 0.0]
    assert texts(result.reasons(2)) == [
        "display name looks like your brand: «ΑСΜΕ Customer Care» (look-alike letters)"
    ]


def test_impersonation_reasons_name_the_trick():
    result = harmful(
        columns(row(handle="acme_support"), row(handle="аcme_support"), row(handle="acme\u200b_hq")), ACME
    )
    assert texts(result.reasons(0)) == ["handle looks like your brand: «acme_support»"]
    assert texts(result.reasons(1)) == ["handle looks like your brand: «аcme_support» (look-alike letters)"]
    assert texts(result.reasons(2)) == ["handle looks like your brand: «acme[U+200B]_hq» (hidden characters)"]


def test_one_letter_off_is_a_weaker_match_than_an_exact_look_alike():
    result = harmful(columns(row(handle="acmee"), row(handle="4cme"), row(handle="acm")), ACME)
    assert result.values.tolist() == [0.8, 1.0, 0.0]


def test_the_brands_own_accounts_are_never_flagged():
    brand = BrandContext(
        handle="@Acme@brand.social",
        display_name="Acme",
        always_follow=frozenset({"acme_support@brand.social"}),
    )
    cols = columns(
        row(handle="acme", display_name="Acme"),
        row(handle="ACME@brand.social", display_name="Acme"),
        row(handle="acme_support", display_name="Acme Support"),
        row(handle="acme@elsewhere.example", display_name="Acme"),
    )
    assert harmful(cols, brand).values.tolist() == [0.0, 0.0, 0.0, 1.0]
    assert normalise_handle(" @Acme@Brand.Social ") == "acme@brand.social"


def test_a_brand_with_several_accounts_is_imitated_through_any_of_them_and_none_of_them_is_flagged():
    brand = BrandContext(
        handle="acme@brand.social", display_name="Acme Coffee", other_handles=("acmeroasters.bsky.social",)
    )
    cols = columns(
        row(handle="acme@brand.social", display_name="Acme"),
        row(handle="acmeroasters.bsky.social", display_name="Acme Roasters"),
        row(handle="асmеroasters_support", display_name=""),
        row(handle="acme_help@elsewhere.example", display_name=""),
        row(handle="ann", display_name="Acme Coffee Official"),
        row(handle="roasters_fan", display_name="Ann"),
    )
    assert harmful(cols, brand).values.tolist() == [0.0, 0.0, 1.0, 1.0, 1.0, 0.0]
    assert brand.is_own_account("acmeroasters.bsky.social")


def test_look_alikes_come_from_unicodes_confusables_beyond_cyrillic_and_greek():
    assert len(lookalikes()) > 1_000
    cherokee, lisu = "ᎪᏟᎷᎬ", "ꓮꓚꓟꓰ"
    assert skeleton(cherokee) == skeleton(lisu) == skeleton("𝖆𝖈𝖒𝖊") == "acme"
    assert (lookalikes()["Н"], lookalikes()["ο"], lookalikes()["Ꭺ"]) == ("h", "o", "a")


def test_a_capital_that_looks_latin_folds_but_one_whose_lower_case_does_not_look_latin_stays():
    assert skeleton("НАСК") == "hack"
    assert "н" not in lookalikes()
    assert skeleton("Гусь") == "гycь"
    assert skeleton("гусь") == "rycь"


def test_a_bluesky_brand_is_its_own_account_and_its_look_alikes_are_not():
    brand = BrandContext(handle="acme.bsky.social", display_name="Acme")
    cols = columns(
        row(handle="acme.bsky.social"), row(handle="acme-support.bsky.social"), row(handle="acme.com")
    )
    assert harmful(cols, brand).values.tolist() == [0.0, 1.0, 1.0]


GENUINE_WORDS = {
    "cjk": "佐藤 鈴木 高橋 田中 渡辺 伊藤 山本 中村 小林 加藤 王伟 李娜 张敏 陈静 刘洋 杨帆 黄磊 赵丽 東京 大阪 北京 上海 咖啡 写真 音楽 さくら ゆい はると 김민준 이서연 박지후 최수아",
    "arabic": "محمد فاطمة أحمد ليلى عمر نور يوسف مريم خالد سارة حداد منصور خليل سعيد قهوة كتاب بيروت القاهرة عمان دبي",
    "devanagari": "राहुल प्रिया अमित सुनीता अनिल पूजा दिल्ली मुंबई चाय किताब संगीत विकास आरव अनन्या रोहन नेहा",
    "cyrillic": "привет солнце книга кошка дерево москва ольга сергей иван наталья город море весна зима музыка дмитрий екатерина павел светлана татьяна шевченко бондаренко ткачук мельник",
    "greek": "καλημέρα θάλασσα ουρανός ήλιος γιώργος ελένη αθήνα καφές βιβλίο μουσική νίκος κατερίνα δημήτρης σοφία παπαδόπουλος",
}


HANDLE_STYLES = ("{}_{}", "{}{}", "{}.{}", "{}_{}{}")


def genuine_non_latin_handles(count: int) -> list[str]:
    """Two words of one script per handle, in one of four styles, taken in turn from each script."""
    per_script = [
        [
            HANDLE_STYLES[number % len(HANDLE_STYLES)].format(first, second, number % 97)
            for number, (first, second) in enumerate(itertools.permutations(words.split(), 2))
        ]
        for words in GENUINE_WORDS.values()
    ]
    return [handle for handles in itertools.zip_longest(*per_script) for handle in handles if handle][:count]


@pytest.mark.parametrize("brand", BRANDS)
def test_a_thousand_genuine_non_latin_handles_are_never_flagged(brand):
    handles = genuine_non_latin_handles(1_000)
    assert len(set(handles)) == 1_000
    names = [handle.replace("_", " ").title() for handle in handles]
    cols = columns(
        *(row(handle=handle, display_name=name) for handle, name in zip(handles, names, strict=True))
    )
    assert harmful(cols, BrandContext(brand, display_name=brand.title())).values.max() == 0.0


def test_skeletons_fold_case_width_look_alikes_digits_and_invisible_characters():
    assert skeleton("Асmе_Support") == "acmesupport"
    assert skeleton("4CME SUPP0RT") == "acmesupport"
    assert skeleton("ａｃｍｅ") == skeleton("𝐚𝐜𝐦𝐞") == skeleton("ac\u200bme") == skeleton("ACME") == "acme"
    assert skeleton("acrne") == skeleton("acme")
    assert skeleton("northvvind") == skeleton("northwind") == "northwlnd"
    assert skeleton("\u202eemca\u202c") == "acme"
    assert not skeleton("Иван").isascii()


# --- the demo population ------------------------------------------------------------------------------------

DEMO_SYNCS = 8
BOTS_AND_SPAM = {TrueClass.BOT, TrueClass.SPAM}
CUSTOMERS_AND_FANS = {TrueClass.VERIFIED_CUSTOMER, TrueClass.ENGAGED_FAN}


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """The chance that a random positive outranks a random negative (ties count half)."""
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2)[inverse]
    positives, negatives = positive.sum(), (~positive).sum()
    return float((ranks[positive].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def test_roc_auc_counts_ties_as_half():
    assert roc_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([False, False, True, True])) == 0.75
    assert roc_auc(np.array([0.5, 0.5]), np.array([True, False])) == 0.5


def demo_connector(sync_number: int = 0) -> DemoConnector:
    return DemoConnector(seed=7, follower_count=20_000, brand_handle="acme", now=NOW, sync_number=sync_number)


def follow_history(ids: list[str]) -> dict[str, dict[str, Any]]:
    """Follows, unfollows and the shortest follow of each id over daily syncs, from the demo's relationships."""
    steps = [demo_connector(step).relationships(ids) for step in range(DEMO_SYNCS)]
    present = np.array([[relationships[i].followed_by for i in ids] for relationships in steps])
    history = {}
    for column, platform_id in enumerate(ids):
        runs = np.diff(np.concatenate(([0], present[:, column].astype(int), [0])))
        starts, ends = np.flatnonzero(runs == 1), np.flatnonzero(runs == -1)
        closed = [end - start for start, end in zip(starts, ends, strict=True) if end < DEMO_SYNCS]
        history[platform_id] = {
            "follow_count": len(starts),
            "unfollow_count": len(closed),
            "shortest_follow_seconds": min(closed) * 86_400 if closed else None,
            "is_following": True,
        }
    return history


def engagement_records(demo: DemoConnector) -> dict[str, dict[str, float]]:
    totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for interaction in demo.iter_interactions(None):
        age_days = (NOW - interaction.created_at).total_seconds() / 86_400
        if age_days <= 90:
            actor = totals[interaction.actor.platform_id]
            actor["engagement_weighted"] += engagement_weight(interaction.kind, age_days)
            actor[f"{interaction.kind}_count"] += 1
    return totals


def profile_record(profile: ProfileData) -> dict[str, Any]:
    return {field.name: getattr(profile, field.name) for field in fields(profile)}


@pytest.fixture(scope="module")
def demo() -> tuple[FollowerColumns, np.ndarray, dict[str, SignalResult]]:
    connector = demo_connector()
    profiles = [profile for page in connector.iter_follower_pages(None) for profile in page.profiles]
    ids = [profile.platform_id for profile in profiles]
    history = follow_history(ids)
    engaged = engagement_records(connector)
    customers = {row.handle for row in connector.customer_list() if row.handle}
    records = [
        profile_record(profile)
        | history[profile.platform_id]
        | dict(engaged.get(profile.platform_id, {}))
        | {"is_customer": profile.handle in customers}
        for profile in profiles
    ]
    truth = connector.ground_truth(ids)
    classes = np.array([truth[platform_id] for platform_id in ids])
    cols = FollowerColumns.from_records(records, NOW)
    return cols, classes, compute_signals(cols, ACME)


def test_on_the_demo_bots_and_spam_outrank_customers_and_fans(demo):
    _, classes, results = demo
    compared = np.isin(classes, list(BOTS_AND_SPAM | CUSTOMERS_AND_FANS))
    bots = np.isin(classes[compared], list(BOTS_AND_SPAM))
    assert roc_auc(results["bot_likelihood"].values[compared], bots) >= 0.9


def test_on_the_demo_harmful_catches_the_harmful_class_and_spares_people(demo):
    _, classes, results = demo
    flagged = results["harmful"].values > 0
    assert flagged[classes == TrueClass.HARMFUL].mean() >= 0.95
    people = np.isin(classes, [TrueClass.VERIFIED_CUSTOMER, TrueClass.ENGAGED_FAN, TrueClass.GENUINE_QUIET])
    assert flagged[people].mean() < 0.01


def test_on_the_demo_churners_engaged_fans_and_customers_stand_out_in_their_signals(demo):
    _, classes, results = demo
    assert roc_auc(results["churn"].values, classes == TrueClass.CHURNER) >= 0.9
    people = np.isin(classes, [TrueClass.ENGAGED_FAN, TrueClass.GENUINE_QUIET])
    assert roc_auc(results["engagement"].values[people], classes[people] == TrueClass.ENGAGED_FAN) >= 0.9
    assert results["customer"].values[classes == TrueClass.VERIFIED_CUSTOMER].mean() > 0.4
    assert results["customer"].values[classes != TrueClass.VERIFIED_CUSTOMER].max() == 0.0


def test_on_the_demo_every_row_can_be_explained(demo):
    cols, _, results = demo
    for index in range(0, len(cols), 97):
        assert explain(results, index)
