"""The policy's pure core: settings, validation, history diffs, verdicts and the following guard."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from rules.policy import (
    FIELDS,
    FLAGS,
    SIGNALS,
    PolicySettings,
    blocklist_entry_problem,
    decide,
    diff,
    has_nested_quantifier,
    ratio_guard_allows,
    scores,
)

DEFAULTS = PolicySettings()


def follower_signals(count: int, **overrides: list[float]) -> dict[str, np.ndarray]:
    values = {signal: np.zeros(count) for signal in SIGNALS}
    values.update({signal: np.array(given, dtype=float) for signal, given in overrides.items()})
    return values


def no_flags(count: int, **raised: list[bool]) -> dict[str, np.ndarray]:
    flags = {flag: np.zeros(count, dtype=bool) for flag in FLAGS}
    flags.update({flag: np.array(given) for flag, given in raised.items()})
    return flags


def decide_one(
    settings: PolicySettings = DEFAULTS, handle: str = "someone", churn: int = 0, **signals: float
):
    """Decide a single follower with these signals (all others 0) and flags (e.g. blocklisted=True)."""
    flag_values = {name: [bool(signals.pop(name))] for name in FLAGS if name in signals}
    values = follower_signals(1, **{name: [value] for name, value in signals.items()})
    decisions = decide(values, no_flags(1, **flag_values), np.array([churn]), [handle], settings)
    return decisions.verdict_name(0), decisions.rule_text(0)


def test_the_default_settings_are_valid_and_explained():
    assert DEFAULTS.validate() == {}
    assert set(DEFAULTS.to_dict()) == set(FIELDS)
    for key, info in FIELDS.items():
        assert info.label, key
        assert info.help.endswith("."), key
        assert info.why.endswith("."), f"{key} does not say why its default is sensible"


def test_the_default_following_caps_are_explained_per_platform():
    assert DEFAULTS.platform_following_caps == {"mastodon": 7_500, "bluesky": 1_000_000, "demo": 10_000}
    assert "7,500" in FIELDS["following_cap_mastodon"].why
    assert "effectively none" in FIELDS["following_cap_bluesky"].why


def test_the_daily_follow_cap_says_it_applies_to_each_connected_account():
    assert "each connected account" in FIELDS["daily_follow_cap"].help


def test_settings_survive_a_round_trip_through_json():
    settings = replace(
        DEFAULTS, blocklist=("spam", "/free\\s+followers/"), never_follow=("bot@example.social",)
    )
    stored = json.loads(json.dumps(settings.to_dict()))
    assert PolicySettings.from_dict(stored) == settings


def test_from_dict_fills_missing_keys_with_defaults_and_ignores_unknown_keys():
    settings = PolicySettings.from_dict({"suggest_threshold": 75, "weight_bot": 6.5, "retired_setting": True})
    assert settings.suggest_threshold == 75
    assert settings.weights["bot"] == 6.5
    assert settings.weights["engagement"] == DEFAULTS.weights["engagement"]
    assert settings.platform_following_caps == DEFAULTS.platform_following_caps
    assert replace(settings, suggest_threshold=60, weights=DEFAULTS.weights) == DEFAULTS


def test_from_dict_of_nothing_is_the_default_policy():
    assert PolicySettings.from_dict({}) == DEFAULTS


def test_handles_are_stored_lowercase_without_the_at_sign_and_once_each():
    settings = PolicySettings(
        always_follow=("@Alice@Mastodon.Social", "alice@mastodon.social", " bob.bsky.social ")
    )
    assert settings.always_follow == ("alice@mastodon.social", "bob.bsky.social")


@pytest.mark.parametrize(
    ("values", "key", "message"),
    [
        ({"weight_engagement": 10.5}, "weight_engagement", "Enter a number from 0 to 10."),
        ({"weight_harmful": -1}, "weight_harmful", "Enter a number from 0 to 10."),
        ({"suggest_threshold": 101}, "suggest_threshold", "Enter a whole number from 0 to 100."),
        ({"suggest_threshold": 60.5}, "suggest_threshold", "Enter a whole number from 0 to 100."),
        ({"never_bot_above": 1.2}, "never_bot_above", "Enter a number from 0 to 1."),
        (
            {"never_churn_cycles_at_least": 0},
            "never_churn_cycles_at_least",
            "Enter a whole number of at least 1.",
        ),
        ({"daily_follow_cap": 1001}, "daily_follow_cap", "Enter a whole number from 1 to 1,000."),
        ({"max_following_ratio": 0.05}, "max_following_ratio", "Enter a number from 0.1 to 100."),
        (
            {"following_cap_mastodon": 0},
            "following_cap_mastodon",
            "Enter a whole number from 1 to 10,000,000.",
        ),
        ({"queue_hour": 24}, "queue_hour", "Enter a whole number from 0 to 23."),
        ({"queue_size": 2001}, "queue_size", "Enter a whole number from 1 to 2,000."),
        ({"suggestion_ttl_days": 61}, "suggestion_ttl_days", "Enter a whole number from 1 to 60."),
        ({"second_approver": "yes"}, "second_approver", "Choose yes or no."),
        ({"weight_bot": "heavy"}, "weight_bot", "Enter a number from 0 to 10."),
        ({"weight_bot": float("nan")}, "weight_bot", "Enter a number from 0 to 10."),
        ({"daily_follow_cap": True}, "daily_follow_cap", "Enter a whole number from 1 to 1,000."),
    ],
)
def test_each_bad_value_gets_its_own_message(values, key, message):
    assert PolicySettings.from_dict(values).validate() == {key: message}


def test_a_list_that_is_not_a_handle_is_named_in_the_message():
    errors = PolicySettings(never_follow=("fine.bsky.social", "not a handle")).validate()
    assert errors == {
        "never_follow": "Not handles: “not a handle”. "
        "Write one handle per line, like alice@mastodon.social or alice.bsky.social."
    }


def test_a_handle_on_both_lists_is_refused_because_the_never_list_would_win():
    errors = PolicySettings(always_follow=("pal.bsky.social",), never_follow=("@Pal.bsky.social",)).validate()
    assert errors == {
        "always_follow": "Also on the never-follow list, which wins: @pal.bsky.social. "
        "Remove each from one of the lists."
    }


def test_blocklist_words_and_sound_patterns_are_accepted():
    for entry in ("crypto", "free followers", "/(?:buy|cheap)\\s+followers/", "/\\d{6,}/", "/[+*]+x/"):
        assert blocklist_entry_problem(entry) is None, entry


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("/(unclosed/", "not a valid regular expression (missing ), unterminated subpattern)"),
        ("/(a+)+$/", "it repeats a group that itself repeats, like (a+)+, which can take forever to check"),
        (
            "/(?:\\w*\\s?)*end/",
            "it repeats a group that itself repeats, like (a+)+, which can take forever to check",
        ),
        ("/x*/", "this pattern matches every profile, even an empty one"),
        ("/" + "a" * 200 + "/", "longer than 200 characters"),
    ],
)
def test_blocklist_patterns_that_break_or_backtrack_catastrophically_are_refused(entry, problem):
    assert blocklist_entry_problem(entry) == problem


@pytest.mark.parametrize(
    ("pattern", "nested"),
    [
        ("(a+)+", True),
        ("(a*)*", True),
        ("((ab)*c)+", True),
        ("(x+y){2,}", True),
        ("(a|b)+", False),
        ("(a+)?", False),
        ("a+b*c{3}", False),
        ("[(a+)]+", False),
        ("\\(a+\\)+", False),
    ],
)
def test_nested_quantifiers_are_found_outside_escapes_and_character_classes(pattern, nested):
    assert has_nested_quantifier(pattern) is nested


def test_the_blocklist_reports_every_bad_entry():
    errors = PolicySettings(blocklist=("ok", "/(a+)+/", "/[/")).validate()
    assert errors["blocklist"] == (
        "/(a+)+/: it repeats a group that itself repeats, like (a+)+, which can take forever to check. "
        "/[/: not a valid regular expression (unterminated character set)."
    )


def test_diff_lists_changed_values_in_page_order_with_readable_text():
    new = replace(
        DEFAULTS,
        suggest_threshold=70,
        weights={**DEFAULTS.weights, "bot": 4.5},
        second_approver=True,
        queue_hour=9,
        platform_following_caps={**DEFAULTS.platform_following_caps, "mastodon": 5_000},
    )
    assert diff(DEFAULTS, new) == [
        ("Bot weight", "3", "4.5"),
        ("Suggest threshold", "60", "70"),
        ("Mastodon following cap", "7,500", "5,000"),
        ("Queue hour", "06:00 UTC", "09:00 UTC"),
        ("Second approver", "no", "yes"),
    ]


def test_diff_of_a_list_names_what_was_removed_and_what_was_added():
    old = replace(DEFAULTS, never_follow=("a.example", "b.example"), blocklist=("spam",))
    new = replace(DEFAULTS, never_follow=("b.example", "c.example"), blocklist=("spam",))
    assert diff(old, new) == [("Never-follow list", "removed @a.example", "added @c.example")]
    assert diff(new, replace(new, never_follow=("c.example", "b.example"))) == []


def test_diff_of_equal_settings_is_empty():
    assert diff(DEFAULTS, PolicySettings()) == []


def test_the_score_is_50_plus_50_times_the_positive_minus_the_negative_weighted_mean():
    values = follower_signals(
        4,
        engagement=[0.0, 1.0, 0.0, 0.6],
        customer=[0.0, 1.0, 0.0, 0.0],
        activity=[0.0, 1.0, 0.0, 0.3],
        bot=[0.0, 0.0, 1.0, 0.2],
        churn=[0.0, 0.0, 1.0, 0.0],
        harmful=[0.0, 0.0, 1.0, 0.0],
    )
    weights = DEFAULTS.weights  # engagement 3, customer 2, activity 1; bot 3, churn 2, harmful 3
    positive = (3 * 0.6 + 1 * 0.3) / 6
    negative = (3 * 0.2) / 8
    np.testing.assert_allclose(scores(values, weights), [50, 100, 0, 50 + 50 * (positive - negative)])


def test_with_every_weight_zero_everyone_scores_50():
    values = follower_signals(2, engagement=[1.0, 0.0], bot=[0.0, 1.0])
    np.testing.assert_allclose(scores(values, dict.fromkeys(SIGNALS, 0.0)), [50, 50])


def test_signals_outside_zero_to_one_are_clipped_and_missing_ones_count_as_zero():
    values = follower_signals(2, engagement=[7.0, np.nan], bot=[-3.0, np.nan])
    weights = {**dict.fromkeys(SIGNALS, 0.0), "engagement": 1.0, "bot": 1.0}
    np.testing.assert_allclose(scores(values, weights), [100, 50])


def test_a_follower_reaching_the_threshold_is_suggested_and_one_below_is_held():
    settings = replace(DEFAULTS, suggest_threshold=60)
    assert decide_one(settings, engagement=1.0) == ("suggest", "score 75 reaches the threshold of 60")
    assert decide_one(settings) == ("below_threshold", "score 50 is below the threshold of 60")


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ({"blocklisted": True}, "never: matches the blocklist"),
        ({"impersonation": True}, "never: looks like an impersonation"),
        ({"harmful_label": True}, "never: labelled as harmful"),
        ({"bot": 0.93}, "never: bot likelihood 0.93 above 0.80"),
    ],
)
def test_hard_never_rules_beat_a_perfect_score(flags, expected):
    perfect = {"engagement": 1.0, "customer": 1.0, "activity": 1.0}
    settings = replace(DEFAULTS, always_surface_customers=False, suggest_threshold=0)
    assert decide_one(settings, **perfect, **flags) == ("never", expected)


def test_churn_cycles_at_the_limit_mean_never():
    assert decide_one(churn=2, engagement=1.0) == ("never", "never: 2 follow-unfollow cycles, at least 2")
    assert decide_one(churn=1, engagement=1.0)[0] == "suggest"


def test_a_bot_likelihood_equal_to_the_limit_is_not_above_it():
    assert decide_one(bot=0.8) == ("below_threshold", "score 35 is below the threshold of 60")


def test_switched_off_never_rules_do_not_apply():
    settings = replace(
        DEFAULTS, never_blocklisted=False, never_impersonation=False, never_harmful_labels=False
    )
    verdict, _ = decide_one(
        settings, engagement=1.0, blocklisted=True, impersonation=True, harmful_label=True
    )
    assert verdict == "suggest"


def test_the_never_follow_list_beats_the_always_follow_list_and_everything_else():
    settings = PolicySettings(always_follow=("twice.example",), never_follow=("twice.example",))
    assert decide_one(settings, handle="@Twice.Example", engagement=1.0, customer=1.0) == (
        "never",
        "never: on the never-follow list",
    )


def test_the_never_follow_list_is_named_before_a_hard_rule():
    settings = PolicySettings(never_follow=("spam.example",))
    assert decide_one(settings, handle="spam.example", bot=1.0)[1] == "never: on the never-follow list"


def test_hard_rules_beat_the_always_follow_list():
    settings = PolicySettings(always_follow=("friend.example",))
    assert decide_one(settings, handle="friend.example", bot=0.95) == (
        "never",
        "never: bot likelihood 0.95 above 0.80",
    )


def test_the_always_follow_list_suggests_whatever_the_score():
    settings = PolicySettings(always_follow=("friend.example",), suggest_threshold=100)
    assert decide_one(settings, handle="Friend.example", churn=1) == (
        "suggest",
        "always: on the always-follow list",
    )


def test_customers_are_suggested_whatever_the_score_unless_a_never_rule_applies():
    settings = replace(DEFAULTS, suggest_threshold=100)
    assert decide_one(settings, customer=1.0) == ("suggest", "always: verified customer")
    assert decide_one(settings, customer=1.0, impersonation=True) == (
        "never",
        "never: looks like an impersonation",
    )
    assert decide_one(replace(settings, always_surface_customers=False), customer=1.0)[0] == "below_threshold"


def test_the_always_follow_list_is_named_before_the_customer_rule():
    settings = PolicySettings(always_follow=("fan.example",))
    assert decide_one(settings, handle="fan.example", customer=1.0)[1] == "always: on the always-follow list"


def test_decide_works_on_whole_columns_and_counts_each_verdict():
    handles = [
        "never.example",
        "bot.example",
        "fan.example",
        "customer.example",
        "quiet.example",
        "good.example",
    ]
    values = follower_signals(
        6,
        engagement=[1, 0, 0, 0, 0, 0.9],
        customer=[0, 0, 0, 1, 0, 0],
        activity=[0, 0, 0, 0, 0, 1],
        bot=[0, 0.99, 0, 0, 0, 0],
    )
    settings = PolicySettings(never_follow=("never.example",), always_follow=("fan.example",))
    decisions = decide(values, no_flags(6), np.zeros(6, dtype=int), handles, settings)
    assert [decisions.verdict_name(i) for i in range(6)] == [
        "never",
        "never",
        "suggest",
        "suggest",
        "below_threshold",
        "suggest",
    ]
    assert decisions.counts() == {"suggest": 3, "below_threshold": 1, "never": 2}
    assert decisions.score.shape == (6,)


def test_decide_refuses_columns_of_different_lengths():
    with pytest.raises(ValueError, match="bot has 2 entries for 3 followers"):
        decide(follower_signals(3, bot=[0, 0]), no_flags(3), np.zeros(3), ["a", "b", "c"], DEFAULTS)


def test_the_guard_allows_a_follow_within_every_limit():
    assert ratio_guard_allows(99, 100, 10, 50, DEFAULTS, "mastodon") == (
        True,
        "within today's cap (11 of 50) and the following limit (100 of 150)",
    )


def test_the_guard_stops_at_the_daily_cap():
    assert ratio_guard_allows(0, 100, 50, 50, DEFAULTS, "demo") == (
        False,
        "the daily cap of 50 follows is reached (50 approved today)",
    )


def test_the_guard_uses_the_lower_of_the_policy_cap_and_todays_cap():
    allowed, reason = ratio_guard_allows(0, 100, 20, 20, DEFAULTS, "demo")
    assert (allowed, reason) == (False, "the daily cap of 20 follows is reached (20 approved today)")
    assert ratio_guard_allows(0, 100, 50, 500, DEFAULTS, "demo")[0] is False


def test_the_guard_stops_before_following_exceeds_the_ratio_of_followers():
    assert ratio_guard_allows(149, 100, 0, 50, DEFAULTS, "mastodon")[0] is True
    assert ratio_guard_allows(150, 100, 0, 50, DEFAULTS, "mastodon") == (
        False,
        "following 151 accounts would pass 1.5 times 100 followers, 150",
    )


def test_the_guard_is_not_fooled_by_floating_point_in_the_ratio():
    settings = replace(DEFAULTS, max_following_ratio=0.29)
    assert ratio_guard_allows(28, 100, 0, 50, settings, "demo")[0] is True
    assert ratio_guard_allows(29, 100, 0, 50, settings, "demo")[0] is False


def test_the_guard_stops_at_the_platform_following_cap():
    settings = replace(DEFAULTS, max_following_ratio=100)
    assert ratio_guard_allows(7_500, 10_000, 0, 50, settings, "mastodon") == (
        False,
        "following 7,501 accounts would pass the cap of 7,500 on Mastodon",
    )
    assert ratio_guard_allows(7_500, 10_000, 0, 50, settings, "bluesky")[0] is True
