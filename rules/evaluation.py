"""Evaluating a policy: on the demo platform's synthetic followers, whose true classes are known, and against the
decisions reviewers have recorded.

The demo population is built in memory, as the daily syncs would have seen it: the demo world is observed at
``HISTORY_SYNCS + 1`` daily syncs (so the follow-unfollow cycles, two to six syncs long, of a churner who followed
from the first sync show up at least twice), the followers at the last sync are the population, with their profiles, their interactions of the last
90 days and the brand's customer list. Every signal and the policy's verdict are computed exactly as the daily
queue computes them (`rules.population.decide_followers`), then compared with the demo's ground truth.

Reviewer decisions are scored from what each suggestion stored: the six signal values people were shown, and the
follower's handle. See `decide_stored` for what is not stored and how it is filled in.

This is a sanity check of the machinery on a synthetic population built to be separable, not a measure of how
well any policy does on real followers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from accounts.customers import normalize_handle
from accounts.models import Brand
from accounts.platforms.base import ProfileData
from accounts.platforms.demo import DemoConnector, TrueClass
from rules.models import PolicyVersion, Suggestion, SuggestionStatus
from rules.policy import SIGNALS, Decisions, PolicySettings, Verdict, decide
from rules.population import decide_followers
from rules.signals import (  # the harmful signal's values for its parts, to read stored values back
    ENGAGEMENT_WINDOW_DAYS,
    HARMFUL_LABEL_VALUE,
    NEAR_IMPERSONATION_VALUE,
    BrandContext,
    FollowerColumns,
    engagement_weight,
    seconds_before,
)

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int64]

# A fixed clock, so that the same size and seed always give the same population (the demo hangs its timestamps
# from an anchor day that moves every 28 days).
EVALUATION_NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)
HISTORY_SYNCS = 14
SYNC_INTERVAL = timedelta(days=1)
DEMO_SEED = 7
DEMO_SIZE = 100_000
DEMO_BRAND_HANDLE = "acme"
DEMO_BRAND_NAME = "Acme"

PRECISION_BAR = 0.95
RECALL_BAR = 0.95
# Followers the policy should suggest, and followers it should keep out (hold or never suggest).
SUGGEST_CLASSES = (TrueClass.VERIFIED_CUSTOMER, TrueClass.ENGAGED_FAN)
HOLD_CLASSES = (TrueClass.BOT, TrueClass.SPAM, TrueClass.CHURNER, TrueClass.HARMFUL)

_PAGE_SIZE = 10_000
# Signals are computed this many followers at a time, as the daily queue does: their text arrays for a million
# followers at once would take gigabytes.
CHUNK = 50_000
_INTERACTION_KINDS = ("reply", "mention", "repost", "like", "quote")

Goal = Literal["suggest", "hold", "either"]


# --- the demo population --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class DemoPopulation:
    """The demo brand's followers at the last sync, as columns, with each one's true class."""

    cols: FollowerColumns
    classes: npt.NDArray[np.str_]  # TrueClass values, one per follower
    syncs: int


def demo_population(
    size: int,
    seed: int = DEMO_SEED,
    *,
    brand_handle: str = DEMO_BRAND_HANDLE,
    now: datetime = EVALUATION_NOW,
    syncs: int = HISTORY_SYNCS,
) -> DemoPopulation:
    """``size`` demo followers at the first of ``syncs + 1`` daily syncs (the last at ``now``), and what the
    syncs saw of those following at the last one: profiles, follows and unfollows, interactions of the last 90
    days, and whether the brand's customer list names them."""
    demo = DemoConnector(seed, size, brand_handle, page_size=_PAGE_SIZE, sync_number=syncs, now=now)
    columns = _ProfileColumns()
    for page in demo.iter_follower_pages(None):
        columns.add(page.profiles)
    ids = columns.platform_ids
    customers = {normalize_handle(row.handle) for row in demo.customer_list() if row.handle}
    is_customer = np.fromiter(
        (handle.lower() in customers for handle in columns.handles), dtype=np.bool_, count=len(ids)
    )
    values: dict[str, Any] = {
        **columns.finish(now),
        "is_customer": is_customer,
        "is_following": np.ones(len(ids), dtype=np.bool_),
        **follow_history(demo, ids, syncs),
        **_engagement(demo, {platform_id: row for row, platform_id in enumerate(ids)}, now),
    }
    cols = FollowerColumns(**values)
    classes = np.concatenate(
        [_true_classes(demo, ids[start : start + CHUNK]) for start in range(0, len(ids), CHUNK)]
        or [np.empty(0, dtype=np.str_)]
    )
    return DemoPopulation(cols, classes, syncs)


def _true_classes(demo: DemoConnector, platform_ids: Sequence[str]) -> npt.NDArray[np.str_]:
    truth = demo.ground_truth(platform_ids)
    return np.array([truth[platform_id].value for platform_id in platform_ids], dtype=np.str_)


class _ProfileColumns:
    """Profile fields gathered page by page into lists and arrays, so no profile outlives its page."""

    _FLAGS = ("avatar_is_default", "is_bot", "is_locked", "is_group", "moved", "suspended", "limited")
    _COUNTS = ("followers_count", "following_count", "posts_count", "verified_links")

    def __init__(self) -> None:
        self.platform_ids: list[str] = []
        self.handles: list[str] = []
        self.display_names: list[str] = []
        self.bios: list[str] = []
        self.labels: list[tuple[str, ...]] = []
        self._created: list[datetime | None] = []
        self._last_post: list[datetime | None] = []
        self._arrays: dict[str, list[npt.NDArray[Any]]] = {name: [] for name in self._FLAGS + self._COUNTS}

    def add(self, profiles: Sequence[ProfileData]) -> None:
        for column, name in (
            (self.platform_ids, "platform_id"), (self.handles, "handle"), (self.display_names, "display_name"),
            (self.bios, "bio"), (self.labels, "labels"), (self._created, "created_at"),
            (self._last_post, "last_post_at"),
        ):  # fmt: skip
            column.extend(getattr(profile, name) for profile in profiles)
        for name in self._FLAGS:
            self._arrays[name].append(np.array([getattr(p, name) for p in profiles], dtype=np.bool_))
        for name in self._COUNTS:
            self._arrays[name].append(np.array([getattr(p, name) for p in profiles], dtype=np.float64))

    def finish(self, now: datetime) -> dict[str, Any]:
        def joined(name: str) -> npt.NDArray[Any]:
            parts = self._arrays[name]
            dtype = np.bool_ if name in self._FLAGS else np.float64
            return np.concatenate(parts) if parts else np.empty(0, dtype=dtype)

        return {
            "handles": self.handles,
            "display_names": self.display_names,
            "bios": self.bios,
            "labels": self.labels,
            **{name: joined(name) for name in self._FLAGS + self._COUNTS},
            "created_ago": seconds_before(self._created, now),
            "last_post_ago": seconds_before(self._last_post, now),
        }


def follow_history(demo: DemoConnector, platform_ids: Sequence[str], syncs: int) -> dict[str, Floats]:
    """What daily syncs 0 … ``syncs`` (the last one now) record of each follower, as accounts/sync.py records
    it: follows (the first one seen, and every return), unfollows, the shortest follow that ended in an unfollow
    (from the sync that saw the follow to the sync that missed it), and when the first and latest follows were
    seen."""
    count = len(platform_ids)
    presence = demo.follow_presence(platform_ids)
    follows = np.zeros(count)
    unfollows = np.zeros(count)
    shortest = np.full(count, np.inf)
    first_seen = np.full(count, -1, dtype=np.int64)
    run_start = np.full(count, -1, dtype=np.int64)
    before = np.zeros(count, dtype=np.bool_)
    for sync in range(syncs + 1):
        present = presence(sync)
        started, ended = present & ~before, before & ~present
        follows += started
        unfollows += ended
        shortest = np.where(ended, np.minimum(shortest, sync - run_start), shortest)
        run_start = np.where(started, sync, run_start)
        first_seen = np.where(started & (first_seen < 0), sync, first_seen)
        before = present
    seen = np.stack([first_seen, run_start])
    seconds_ago = np.where(seen < 0, np.nan, (syncs - seen) * SYNC_INTERVAL.total_seconds())
    return {
        "follow_count": follows,
        "unfollow_count": unfollows,
        "shortest_follow_seconds": np.where(
            np.isinf(shortest), np.nan, shortest * SYNC_INTERVAL.total_seconds()
        ),
        "first_followed_ago": seconds_ago[0],
        "last_followed_ago": seconds_ago[1],
    }


def _engagement(demo: DemoConnector, row_of: Mapping[str, int], now: datetime) -> dict[str, Floats]:
    """Each follower's interactions of the last 90 days, weighted as the daily queue weighs them
    (`rules.population.recent_engagement`), and counted by kind."""
    count = len(row_of)
    weighted = np.zeros(count)
    counts = {kind: np.zeros(count) for kind in _INTERACTION_KINDS}
    for interaction in demo.iter_interactions(now - timedelta(days=ENGAGEMENT_WINDOW_DAYS)):
        row = row_of.get(interaction.actor.platform_id)
        if row is None:
            continue  # someone who does not follow the brand at the last sync
        age_days = (now - interaction.created_at).total_seconds() / 86_400
        weighted[row] += engagement_weight(interaction.kind, age_days)
        if interaction.kind in counts:
            counts[interaction.kind][row] += 1
    return {"engagement_weighted": weighted, **{f"{kind}_count": counts[kind] for kind in _INTERACTION_KINDS}}


# --- scoring a policy on the demo population ------------------------------------------------------------------


@dataclass(frozen=True)
class ClassResult:
    """How the policy sorted the followers of one true class (None: customers and engaged fans together)."""

    true_class: TrueClass | None
    goal: Goal
    followers: int
    suggested: int
    below_threshold: int
    never: int

    @property
    def name(self) -> str:
        return label(self.true_class) if self.true_class else "customers and fans"

    @property
    def held(self) -> int:
        return self.below_threshold + self.never

    @property
    def recall(self) -> float | None:
        """The share the policy treats as it should: suggested for "suggest", held or never for "hold"."""
        if self.goal == "either" or not self.followers:
            return None
        return (self.suggested if self.goal == "suggest" else self.held) / self.followers

    @property
    def bar(self) -> float | None:
        return RECALL_BAR if self.goal == "hold" else None

    @property
    def passed(self) -> bool:
        """Whether the class meets its bar (a class with no followers in the population has nothing to miss)."""
        return self.bar is None or self.recall is None or self.recall >= self.bar


@dataclass(frozen=True)
class DemoEvaluation:
    """A policy's verdicts on the demo population against its true classes, class by class."""

    size: int
    seed: int
    syncs: int
    classes: tuple[ClassResult, ...]

    @property
    def followers(self) -> int:
        return sum(result.followers for result in self.classes)

    @property
    def suggested(self) -> int:
        return sum(result.suggested for result in self.classes)

    @property
    def wanted(self) -> ClassResult:
        """Customers and engaged fans together."""
        wanted = [result for result in self.classes if result.goal == "suggest"]
        return ClassResult(
            None, "suggest", *(sum(getattr(r, name) for r in wanted)
            for name in ("followers", "suggested", "below_threshold", "never")),
        )  # fmt: skip

    @property
    def precision(self) -> float | None:
        """Of the followers the policy suggests, the share who are customers or engaged fans."""
        return self.wanted.suggested / self.suggested if self.suggested else None

    @property
    def precision_passed(self) -> bool:
        return self.precision is not None and self.precision >= PRECISION_BAR

    @property
    def failures(self) -> list[str]:
        """Each bar missed, in words; empty when the policy meets them all."""
        missed = []
        if not self.precision_passed:
            shown = "nothing suggested" if self.precision is None else f"{self.precision:.3f}"
            missed.append(f"precision of suggestions for customers and fans {shown} is below {PRECISION_BAR}")
        missed.extend(
            f"recall of {result.name} held {result.recall or 0:.3f} is below {result.bar}"
            for result in self.classes
            if not result.passed
        )
        return missed

    @property
    def passed(self) -> bool:
        return not self.failures


def label(true_class: TrueClass) -> str:
    return true_class.value.replace("_", " ")


def score_demo(verdicts: npt.NDArray[np.int8], classes: npt.NDArray[np.str_], *, size: int, seed: int,
               syncs: int) -> DemoEvaluation:  # fmt: skip
    """Count each class's verdicts."""
    results = []
    for true_class in TrueClass:
        of_class = verdicts[classes == true_class.value]
        per_verdict = np.bincount(of_class, minlength=len(Verdict))
        goal: Goal = (
            "suggest" if true_class in SUGGEST_CLASSES else "hold" if true_class in HOLD_CLASSES else "either"
        )
        results.append(
            ClassResult(
                true_class, goal, len(of_class), int(per_verdict[Verdict.SUGGEST]),
                int(per_verdict[Verdict.BELOW_THRESHOLD]), int(per_verdict[Verdict.NEVER]),
            )
        )  # fmt: skip
    return DemoEvaluation(size, seed, syncs, tuple(results))


def demo_context(settings: PolicySettings, handle: str, display_name: str) -> BrandContext:
    """The brand as signals see it, as `rules.population.brand_context` builds it, without the database."""
    return BrandContext(
        handle=handle,
        display_name=display_name,
        blocklist=settings.blocklist,
        always_follow=frozenset(settings.always_follow),
        never_follow=frozenset(settings.never_follow),
    )


def evaluate_demo(
    settings: PolicySettings,
    *,
    size: int = DEMO_SIZE,
    seed: int = DEMO_SEED,
    brand_handle: str = DEMO_BRAND_HANDLE,
    brand_name: str = DEMO_BRAND_NAME,
    population: DemoPopulation | None = None,
) -> DemoEvaluation:
    """The policy's verdict on every follower of the demo population, counted per true class.

    Pass ``population`` to score several policies on one population (it must have been built for
    ``brand_handle``, whose look-alikes the demo's impersonators use)."""
    population = population or demo_population(size, seed, brand_handle=brand_handle)
    context = demo_context(settings, brand_handle, brand_name)
    cols = population.cols
    verdicts = np.concatenate(
        [
            decide_followers(_rows(cols, start, start + CHUNK), context, settings)[0].verdict
            for start in range(0, len(cols), CHUNK)
        ]
        or [np.empty(0, dtype=np.int8)]
    )
    return score_demo(verdicts, population.classes, size=size, seed=seed, syncs=population.syncs)


def _rows(cols: FollowerColumns, start: int, stop: int) -> FollowerColumns:
    """Followers ``start`` to ``stop`` of ``cols``."""
    return FollowerColumns(**{column.name: getattr(cols, column.name)[start:stop] for column in fields(cols)})


# --- scoring a policy against reviewers' decisions -------------------------------------------------------------

# Decided suggestions: approved, rejected, or approved by a first reviewer and waiting for a second approver
# (counted as approved).
DECIDED = (SuggestionStatus.APPROVED, SuggestionStatus.AWAITING_APPROVAL, SuggestionStatus.REJECTED)
APPROVED = (SuggestionStatus.APPROVED, SuggestionStatus.AWAITING_APPROVAL)


@dataclass(frozen=True)
class StoredDecision:
    """One decided suggestion: what reviewers were shown and what they decided."""

    handle: str
    signals: Mapping[str, Any]  # the six policy signal values, keyed like `rules.policy.SIGNALS`
    unfollows: int
    status: str
    score: int
    policy_version: int

    @property
    def approved(self) -> bool:
        return self.status in APPROVED

    @property
    def has_signals(self) -> bool:
        return all(isinstance(self.signals.get(name), int | float) for name in SIGNALS)


def stored_decisions(brand: Brand) -> list[StoredDecision]:
    """The brand's decided suggestions, oldest first."""
    rows = (
        Suggestion.objects.for_brand(brand)
        .filter(status__in=DECIDED)
        .order_by("pk")
        .values_list("follower__handle", "signals", "follower__unfollow_count", "status", "score",
                     "policy_version__number")
    )  # fmt: skip
    return [
        StoredDecision(
            handle, signals if isinstance(signals, dict) else {}, unfollows, status, score, version
        )
        for handle, signals, unfollows, status, score, version in rows.iterator(chunk_size=5000)
    ]


def stored_flags(harmful: Floats) -> dict[str, Bools]:
    """The hard-rule flags, read back from the stored harmful value.

    Suggestions store only the harmful signal, the largest of its parts: 1 for a blocklist match or a handle or
    name that reads as the brand's, 0.8 for one a letter off, 0.9 for a harmful moderation label. A value of 1
    counts as both a blocklist match and an impersonation (so it is never suggested while either rule is on),
    0.8 as an impersonation and 0.9 as a label; a part hidden under a larger one is lost. Suggestions that
    reached reviewers passed every rule that was on when they were made, so this matters only when the
    evaluated policy switches on a rule that was off.
    """
    value = np.round(np.nan_to_num(harmful, nan=0.0), 2)
    exact = value >= 1.0
    return {
        "blocklisted": exact,
        "impersonation": exact | (value == NEAR_IMPERSONATION_VALUE),
        "harmful_label": value == HARMFUL_LABEL_VALUE,
    }


def decide_stored(decisions: Sequence[StoredDecision], settings: PolicySettings) -> Decisions:
    """The policy's verdict on each decided suggestion, from the signal values stored with it.

    Signals are used as stored (rounded to three decimals), so scores may differ from a fresh computation by a
    fraction of a point. The hard-rule flags come from the harmful value (`stored_flags`); the churn rule counts
    the follower's unfollows as they are now, which may be more than when the suggestion was made.
    """
    values = {
        name: np.array(
            [float(decision.signals.get(name, np.nan)) for decision in decisions], dtype=np.float64
        )
        for name in SIGNALS
    }
    unfollows = np.array([decision.unfollows for decision in decisions], dtype=np.int64)
    return decide(
        values,
        stored_flags(values["harmful"]),
        unfollows,
        [decision.handle for decision in decisions],
        settings,
    )


@dataclass(frozen=True)
class DecisionEvaluation:
    """A policy's verdicts on decided suggestions next to what people decided."""

    policy_version: int
    approved: tuple[int, int, int]  # people approved, by the policy's verdict (indexed by `Verdict`)
    rejected: tuple[int, int, int]  # people rejected, likewise
    awaiting: int  # of the approved, waiting for a second approver
    skipped: int  # decided suggestions without stored signal values
    made_by_version: int  # decisions on suggestions made by the evaluated version
    reproduced: int  # of those, how many get their stored score back (within a point)

    @property
    def decided(self) -> int:
        return sum(self.approved) + sum(self.rejected)

    @property
    def people_approved(self) -> int:
        return sum(self.approved)

    @property
    def people_rejected(self) -> int:
        return sum(self.rejected)

    @property
    def policy_suggests(self) -> int:
        return self.approved[Verdict.SUGGEST] + self.rejected[Verdict.SUGGEST]

    @property
    def both_approve(self) -> int:
        return self.approved[Verdict.SUGGEST]

    @property
    def both_reject(self) -> int:
        return self.people_rejected - self.rejected[Verdict.SUGGEST]

    @property
    def recall(self) -> float | None:
        """Of the followers people approved, the share the policy would suggest."""
        return _share(self.both_approve, self.people_approved)

    @property
    def precision(self) -> float | None:
        """Of the followers the policy would suggest, the share people approved."""
        return _share(self.both_approve, self.policy_suggests)

    @property
    def rejected_held(self) -> float | None:
        """Of the followers people rejected, the share the policy would not suggest."""
        return _share(self.both_reject, self.people_rejected)

    @property
    def agreement(self) -> float | None:
        return _share(self.both_approve + self.both_reject, self.decided)


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _per_verdict(verdicts: npt.NDArray[np.int8]) -> tuple[int, int, int]:
    suggest, below_threshold, never = np.bincount(verdicts, minlength=len(Verdict)).tolist()
    return suggest, below_threshold, never


def score_decisions(
    decisions: Sequence[StoredDecision], settings: PolicySettings, policy_version: int
) -> DecisionEvaluation:
    """Score ``settings`` (the brand's policy version ``policy_version``) against people's decisions."""
    usable = [decision for decision in decisions if decision.has_signals]
    verdicts = decide_stored(usable, settings)
    approved = np.array([decision.approved for decision in usable], dtype=np.bool_)
    same_version = np.array(
        [decision.policy_version == policy_version for decision in usable], dtype=np.bool_
    )
    stored_score = np.array([decision.score for decision in usable], dtype=np.float64)
    close = np.abs(np.floor(verdicts.score) - stored_score) <= 1
    return DecisionEvaluation(
        policy_version=policy_version,
        approved=_per_verdict(verdicts.verdict[approved]),
        rejected=_per_verdict(verdicts.verdict[~approved]),
        awaiting=sum(1 for decision in usable if decision.status == SuggestionStatus.AWAITING_APPROVAL),
        skipped=len(decisions) - len(usable),
        made_by_version=int(same_version.sum()),
        reproduced=int((same_version & close).sum()),
    )


def evaluate_decisions(brand: Brand, version: PolicyVersion) -> DecisionEvaluation:
    """Score one of the brand's policy versions against every decision its reviewers have recorded."""
    return score_decisions(stored_decisions(brand), version.policy, version.number)
