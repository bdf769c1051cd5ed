"""Evaluating a policy: on the demo population with ground truth, and against reviewers' recorded decisions."""

from dataclasses import replace
from io import StringIO

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from accounts.models import ConnectedAccount, Platform
from accounts.platforms.demo import DemoConnector, TrueClass
from rules import evaluation, queue, services
from rules.evaluation import (
    HOLD_CLASSES,
    PRECISION_BAR,
    RECALL_BAR,
    StoredDecision,
    decide_stored,
    demo_population,
    evaluate_decisions,
    evaluate_demo,
    follow_history,
    stored_flags,
)
from rules.models import Suggestion, SuggestionStatus
from rules.policy import PolicySettings, Verdict
from tests.rules.test_queue import follower

SIZE = 3_000
SEED = 7
# Suggests everyone: threshold 0 and every hard rule off.
BAD_POLICY = replace(
    PolicySettings(), suggest_threshold=0, never_bot_above=1.0, never_churn_cycles_at_least=1_000_000,
    never_blocklisted=False, never_impersonation=False, never_harmful_labels=False,
)  # fmt: skip


@pytest.fixture(scope="module")
def population() -> evaluation.DemoPopulation:
    return demo_population(SIZE, SEED)


def run(*args: str) -> str:
    out = StringIO()
    call_command("evaluate_rules", *args, stdout=out)
    return out.getvalue()


# --- the demo population ------------------------------------------------------------------------------------


def test_the_default_policy_meets_the_bars_on_the_demo_population(population):
    result = evaluate_demo(PolicySettings(), population=population, size=SIZE, seed=SEED)
    assert result.failures == []
    assert result.precision is not None
    assert result.precision >= PRECISION_BAR
    for row in result.classes:
        assert row.followers > 0
        if row.true_class in HOLD_CLASSES:
            assert row.recall is not None
            assert row.recall >= RECALL_BAR
    assert result.followers == len(population.cols)


def test_a_policy_that_suggests_everyone_misses_every_bar(population):
    result = evaluate_demo(BAD_POLICY, population=population, size=SIZE, seed=SEED)
    assert all(row.suggested == row.followers for row in result.classes)
    assert not result.passed
    assert result.failures[0].startswith("precision of suggestions for customers and fans")
    assert [failure.split(" held")[0] for failure in result.failures[1:]] == [
        "recall of bot", "recall of spam", "recall of churner", "recall of harmful",
    ]  # fmt: skip


def test_the_population_is_deterministic_for_a_seed(population):
    again = demo_population(SIZE, SEED)
    assert again.cols.handles == population.cols.handles
    assert (again.classes == population.classes).all()
    assert demo_population(SIZE, SEED + 1).cols.handles != population.cols.handles


def test_only_and_every_customer_is_matched_on_the_customer_list(population):
    customers = population.classes == TrueClass.VERIFIED_CUSTOMER
    assert (population.cols.is_customer == customers).all()


def test_fans_engage_and_churners_who_followed_from_the_first_sync_unfollowed_at_least_twice(population):
    cols, classes = population.cols, population.classes
    assert (cols.engagement_weighted[classes == TrueClass.ENGAGED_FAN] > 0).mean() > 0.9
    from_the_start = cols.first_followed_ago == population.syncs * 86_400
    churners = (classes == TrueClass.CHURNER) & from_the_start
    assert churners.any()
    assert (cols.unfollow_count[churners] >= 2).all()
    assert (cols.unfollow_count[(classes != TrueClass.CHURNER)] == 0).all()


def test_follow_history_agrees_with_the_demo_relationships_sync_by_sync():
    syncs = 6
    last = DemoConnector(SEED, 2_000, "acme", sync_number=syncs)
    ids = [profile.platform_id for page in last.iter_follower_pages(None) for profile in page.profiles]

    def followed_at(sync: int) -> list[bool]:
        relationships = DemoConnector(SEED, 2_000, "acme", sync_number=sync).relationships(ids)
        return [
            platform_id in relationships and relationships[platform_id].followed_by for platform_id in ids
        ]

    present = np.array([followed_at(sync) for sync in range(syncs + 1)])
    history = follow_history(last, ids, syncs)
    for column in range(len(ids)):
        changes = np.diff(np.concatenate(([0], present[:, column].astype(int))))
        starts, ends = np.flatnonzero(changes == 1), np.flatnonzero(changes == -1)
        closed = [end - start for start, end in zip(starts, ends, strict=False)]
        assert history["follow_count"][column] == len(starts)
        assert history["unfollow_count"][column] == len(ends)
        shortest = history["shortest_follow_seconds"][column]
        assert shortest == min(closed) * 86_400 if closed else np.isnan(shortest)
    assert (history["unfollow_count"] > 0).any()


# --- the command on the demo --------------------------------------------------------------------------------


def test_the_command_prints_a_table_of_every_class_and_the_precision_of_suggestions():
    output = run("--size", str(SIZE), "--seed", str(SEED))
    lines = output.splitlines()
    assert lines[0].startswith("Evaluating the default policy on ")
    assert "synthetic followers of @acme" in lines[0]
    header = next(line for line in lines if line.startswith("class"))
    assert header.split() == [
        "class", "followers", "suggested", "below", "threshold", "never", "should", "be", "recall", "bar",
    ]  # fmt: skip
    rows = {line[:18].strip(): line for line in lines if line[:18].strip() in LABELS}
    assert set(rows) == set(LABELS)
    for label in ("bot", "spam", "churner", "harmful"):
        assert rows[label].rstrip().endswith("≥ 0.95 ok")
    assert rows["genuine quiet"].split()[-2:] == ["either", "—"]
    assert "suggested" in rows["verified customer"].split()
    assert "precision" in output
    assert "(bar ≥ 0.95: ok)" in output
    assert "Every bar is met." in output


LABELS = (
    "verified customer", "engaged fan", "genuine quiet", "bot", "spam", "churner", "harmful", "customers and fans",
)  # fmt: skip


def test_the_table_counts_agree_with_the_evaluation(population):
    result = evaluate_demo(PolicySettings(), population=population, size=SIZE, seed=SEED)
    output = run("--size", str(SIZE), "--seed", str(SEED))
    bot = result.classes[list(TrueClass).index(TrueClass.BOT)]
    row = next(line for line in output.splitlines() if line.startswith("bot "))
    assert row.split()[1:5] == [
        f"{n:,}" for n in (bot.followers, bot.suggested, bot.below_threshold, bot.never)
    ]
    assert f"Suggested {result.suggested:,}, of whom {result.wanted.suggested:,} are" in output


def test_check_passes_for_the_default_policy():
    assert "Every bar is met." in run("--size", str(SIZE), "--check")


@pytest.mark.django_db
def test_check_fails_with_a_non_zero_exit_for_a_policy_that_suggests_everyone(brand, owner):
    services.save_policy(brand, BAD_POLICY, by=owner)
    out = StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("evaluate_rules", "--brand", brand.slug, "--size", str(SIZE), "--check", stdout=out)
    assert failed.value.returncode == 1
    assert "precision of suggestions for customers and fans" in str(failed.value)
    assert f"Evaluating version 2 of {brand.slug}'s policy" in out.getvalue()
    assert "MISSED" in out.getvalue()


@pytest.mark.django_db
def test_an_older_policy_version_can_be_evaluated(brand, owner):
    services.save_policy(brand, BAD_POLICY, by=owner)
    output = run("--brand", brand.slug, "--policy-version", "1", "--size", str(SIZE), "--check")
    assert f"Evaluating version 1 of {brand.slug}'s policy" in output
    assert "Every bar is met." in output


@pytest.mark.django_db
def test_unknown_brands_and_versions_and_misused_options_are_refused(brand):
    with pytest.raises(CommandError, match="No brand"):
        run("--brand", "nobody")
    with pytest.raises(CommandError, match="has no policy version 9"):
        run("--brand", brand.slug, "--policy-version", "9")
    with pytest.raises(CommandError, match="--decisions needs --brand"):
        run("--decisions")
    with pytest.raises(CommandError, match="--policy-version needs --brand"):
        run("--policy-version", "1")
    with pytest.raises(CommandError, match="--check applies to the demo"):
        run("--decisions", "--brand", brand.slug, "--check")


# --- reviewers' decisions -----------------------------------------------------------------------------------


def test_stored_harmful_values_give_back_the_hard_rule_flags():
    flags = stored_flags(np.array([0.0, 1.0, 0.8, 0.9, np.nan, 0.5]))
    assert flags["blocklisted"].tolist() == [False, True, False, False, False, False]
    assert flags["impersonation"].tolist() == [False, True, True, False, False, False]
    assert flags["harmful_label"].tolist() == [False, False, False, True, False, False]


def stored(handle: str, status: str = SuggestionStatus.APPROVED, unfollows: int = 0, **signals: float):
    values = {"bot": 0.0, "churn": 0.0, "engagement": 0.0, "customer": 0.0, "harmful": 0.0, "activity": 0.0}
    return StoredDecision(handle, values | signals, unfollows, status, score=50, policy_version=1)


def test_stored_decisions_are_decided_by_the_same_rules_as_followers():
    decisions = decide_stored(
        [
            stored("customer", customer=1.0),
            stored("fan", engagement=0.9, activity=0.8),
            stored("quiet", activity=0.5),
            stored("bot", engagement=0.9, bot=0.95),
            stored("impostor", customer=1.0, harmful=0.8),
            stored("churner", customer=1.0, unfollows=3),
            stored("blocked", customer=1.0),
        ],
        replace(PolicySettings(), never_follow=("blocked",)),
    )
    assert [Verdict(v).name for v in decisions.verdict] == [
        "SUGGEST", "SUGGEST", "BELOW_THRESHOLD", "NEVER", "NEVER", "NEVER", "NEVER",
    ]  # fmt: skip
    assert decisions.rule_text(5) == "never: 3 follow-unfollow cycles, at least 2"


@pytest.fixture
def account(brand) -> ConnectedAccount:
    return ConnectedAccount.objects.create(brand=brand, platform=Platform.DEMO, platform_user_id="acme-demo",
                                           handle="acme.demo")  # fmt: skip


def decide(brand, status: SuggestionStatus, *handles: str) -> None:
    Suggestion.objects.filter(brand=brand, follower__handle__in=handles).update(status=status)


@pytest.fixture
def decided(brand, owner, account) -> None:
    """Version 2 of the policy suggests everyone with a score of 40 and ignores churn below 5 unfollows; people
    approved the customers (one still waiting for a second approver) and rejected the rest."""
    for handle in ("loyal", "regular", "waiting"):
        follower(account, handle, is_customer=True)
    follower(
        account, "flaky", is_customer=True, unfollow_count=3, follow_count=4, shortest_follow_seconds=3600
    )
    for handle in ("quiet1", "quiet2", "noshow"):
        follower(account, handle)
    services.save_policy(
        brand, replace(PolicySettings(), suggest_threshold=40, never_churn_cycles_at_least=5), by=owner
    )
    queue.build_daily_queue(brand)
    assert Suggestion.objects.pending().count() == 7
    decide(brand, SuggestionStatus.APPROVED, "loyal", "regular", "flaky")
    decide(brand, SuggestionStatus.AWAITING_APPROVAL, "waiting")
    decide(brand, SuggestionStatus.REJECTED, "quiet1", "quiet2")


@pytest.mark.django_db
def test_the_policy_that_made_the_suggestions_gets_their_scores_back_and_suggests_them_all(brand, decided):
    result = evaluate_decisions(brand, brand.policy_versions.get(number=2))
    assert (result.approved, result.rejected) == ((4, 0, 0), (2, 0, 0))
    assert (result.awaiting, result.skipped) == (1, 0)
    assert (result.recall, result.precision, result.rejected_held) == (1.0, 4 / 6, 0.0)
    assert (result.made_by_version, result.reproduced) == (6, 6)


@pytest.mark.django_db
def test_the_default_policy_agrees_with_people_but_holds_a_repeat_unfollower(brand, decided):
    result = evaluate_decisions(brand, brand.policy_versions.get(number=1))
    assert (result.approved, result.rejected) == ((3, 0, 1), (0, 2, 0))
    assert result.agreement == 5 / 6
    assert result.precision == 1.0
    assert result.made_by_version == 0


@pytest.mark.django_db
def test_decisions_without_stored_signals_are_left_out(brand, decided):
    Suggestion.objects.filter(follower__handle="quiet2").update(signals={})
    result = evaluate_decisions(brand, brand.policy_versions.get(number=2))
    assert (result.decided, result.skipped) == (5, 1)


@pytest.mark.django_db
def test_the_command_prints_agreement_with_people(brand, decided):
    output = run("--decisions", "--brand", brand.slug, "--policy-version", "1")
    lines = output.splitlines()
    assert lines[0] == (
        f"Scoring version 1 of {brand.slug}'s policy against 6 reviewer decisions: 4 approved (1 of them "
        "waiting for a second approver, counted as approved) and 2 rejected."
    )
    table = {line.split("  ")[0].strip(): line.split()[2:] for line in lines if line.startswith("people ")}
    assert table == {"people approved": ["3", "0", "1", "4"], "people rejected": ["0", "2", "0", "2"]}
    assert "of those people approved, the policy suggests" in output
    assert output.splitlines()[-1].split()[-4:] == ["5", "of", "6", "0.833"]


@pytest.mark.django_db
def test_the_command_scores_the_current_version_by_default(brand, decided):
    output = run("--decisions", "--brand", brand.slug)
    assert output.startswith(f"Scoring version 2 of {brand.slug}'s policy against 6 reviewer decisions")
    assert "Of the 6 decisions on suggestions made by version 2, 6 get their stored score back" in output
