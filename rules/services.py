"""Workflows over a brand's policy: numbered, audited versions, and a preview of what a draft would suggest."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import BigIntegerField, ExpressionWrapper, F

from accounts.models import Brand, ConnectedAccount, Follower, User
from accounts.services import record
from rules.models import PolicyVersion
from rules.policy import FLAGS, SIGNALS, Decisions, PolicySettings, Rule, Verdict, decide, diff

PREVIEW_SAMPLE_SIZE = 20_000
PREVIEW_EXAMPLES = 5
# The preview sample is ordered by a multiplicative hash of the follower id: the same followers every time, spread
# over the whole table rather than the oldest rows. Small enough constants that the product fits in a bigint.
SAMPLE_HASH_MODULUS = 2**31
SAMPLE_HASH_MULTIPLIER = 1_103_515_245
NOT_SCORED = "not scored yet: the preview has no trust signals"


def current_policy(brand: Brand) -> PolicyVersion:
    """The brand's newest policy version; the first call creates version 1 with the default settings."""
    versions = PolicyVersion.objects.for_brand(brand).select_related("created_by")
    version = versions.current()
    if version is None:
        # get_or_create recovers from the unique constraint when two first visits race to create version 1.
        PolicyVersion.objects.get_or_create(
            brand=brand, number=1, defaults={"settings": PolicySettings().to_dict()}
        )
        version = versions.latest("number")
    return version


def _lock_newest_version(brand: Brand) -> PolicyVersion:
    """Lock the brand's newest version: every writer holds this lock while it adds the next number.

    PostgreSQL picks the newest row before waiting for its lock, so after the wait another writer may have added
    a newer one; look again, and lock that, until the version held is the newest.
    """
    versions = PolicyVersion.objects.for_brand(brand)
    current_policy(brand)
    while True:
        locked = versions.select_for_update().latest("number")
        if versions.latest("number").pk == locked.pk:
            return locked


def _add_version(
    brand: Brand, settings: PolicySettings, *, by: User, note: str, reverted_from: PolicyVersion | None
) -> PolicyVersion:
    errors = settings.validate()
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        newest = _lock_newest_version(brand)
        changes = diff(newest.policy, settings)
        if not changes:
            return newest
        version = PolicyVersion.objects.create(
            brand=brand,
            number=newest.number + 1,
            settings=settings.to_dict(),
            created_by=by,
            note=note,
            reverted_from=reverted_from,
        )
        if reverted_from is None:
            record(
                brand,
                "policy.changed",
                f"{by} saved policy version {version.number}",
                actor=by,
                target=version,
                version=version.number,
                changes=changes,
            )
        else:
            record(
                brand,
                "policy.reverted",
                f"{by} restored policy version {reverted_from.number} as version {version.number}",
                actor=by,
                target=version,
                version=version.number,
                reverted_from=reverted_from.number,
                changes=changes,
            )
    return version


def save_policy(brand: Brand, settings: PolicySettings, by: User, note: str = "") -> PolicyVersion:
    """Save `settings` as the brand's next policy version, audited with what changed.

    Settings identical to the newest version add nothing and return that version; invalid ones raise
    ValidationError with `PolicySettings.validate()`'s messages.
    """
    return _add_version(brand, settings, by=by, note=note, reverted_from=None)


def revert_policy(brand: Brand, version: PolicyVersion, by: User) -> PolicyVersion:
    """Make an older version's settings current again, as a new version that remembers where they came from."""
    return _add_version(brand, version.policy, by=by, note="", reverted_from=version)


@dataclass(frozen=True)
class PreviewSample:
    """The followers a preview decides: one entry per follower in each list."""

    handles: list[str]
    is_customer: np.ndarray


@dataclass(frozen=True)
class SampleDecisions:
    decisions: Decisions
    # False while the trust signals are not wired in: verdicts that only the score decides mean nothing yet.
    scored: bool


@dataclass(frozen=True)
class PreviewRow:
    handle: str
    reason: str


@dataclass(frozen=True)
class PolicyPreview:
    """How a draft policy would sort the brand's followers, from a deterministic sample of them."""

    sampled: int
    is_everyone: bool  # the sample holds every follower: there are fewer than PREVIEW_SAMPLE_SIZE
    scored: bool
    suggest: int
    held: int
    never: int
    suggest_examples: list[PreviewRow]
    held_examples: list[PreviewRow]
    never_examples: list[PreviewRow]


def _preview_sample(brand: Brand) -> PreviewSample:
    spread = ExpressionWrapper(
        (F("id") % SAMPLE_HASH_MODULUS) * SAMPLE_HASH_MULTIPLIER % SAMPLE_HASH_MODULUS,
        output_field=BigIntegerField(),
    )
    rows = list(
        Follower.objects.following()
        .filter(account__in=ConnectedAccount.objects.connected().filter(brand=brand))
        .annotate(spread=spread)
        .order_by("spread", "id")
        .values_list("handle", "is_customer")[:PREVIEW_SAMPLE_SIZE]
    )
    return PreviewSample(
        handles=[handle for handle, _ in rows],
        is_customer=np.fromiter((customer for _, customer in rows), dtype=bool, count=len(rows)),
    )


def score_sample(followers: PreviewSample, settings: PolicySettings) -> SampleDecisions:
    """Decide the preview sample under `settings`: the hook where the trust signals of rules/signals.py plug in.

    They are not wired in yet, so this passes `decide` neutral signals: every signal 0 and no flag or churn,
    except the customer signal, which is 1 for followers marked as customers (Follower.is_customer). The
    never-follow and always-follow lists and the customer rule are therefore decided for real; bots, churn,
    blocklist, impersonation, labels and the score are not, so the result says `scored=False` and the preview
    shows the followers whom the score would decide as held and not scored. To wire the signals, compute them for
    these followers here and return `scored=True`.
    """
    count = len(followers.handles)
    values = {signal: np.zeros(count) for signal in SIGNALS}
    values["customer"] = followers.is_customer.astype(float)
    flags = {flag: np.zeros(count, dtype=bool) for flag in FLAGS}
    decisions = decide(values, flags, np.zeros(count, dtype=np.int64), followers.handles, settings)
    return SampleDecisions(decisions, scored=False)


def preview_policy(brand: Brand, settings: PolicySettings) -> PolicyPreview:
    """Counts of suggested, held and never-suggested followers under `settings`, with a few examples of each.

    Reads at most PREVIEW_SAMPLE_SIZE of the brand's current followers (of its connected accounts), always the same
    ones for the same followers, and decides them with `score_sample`, which today applies only the follow lists
    and the customer rule (see its docstring).
    """
    sample = _preview_sample(brand)
    result = score_sample(sample, settings)
    decisions = result.decisions
    decided_by_score = np.isin(decisions.rule, [Rule.REACHES_THRESHOLD, Rule.BELOW_THRESHOLD])
    verdicts = decisions.verdict
    if not result.scored:
        verdicts = np.where(decided_by_score, np.int8(Verdict.BELOW_THRESHOLD), verdicts)

    def examples(verdict: Verdict) -> list[PreviewRow]:
        return [
            PreviewRow(
                sample.handles[index],
                NOT_SCORED if decided_by_score[index] and not result.scored else decisions.rule_text(index),
            )
            for index in np.flatnonzero(verdicts == verdict)[:PREVIEW_EXAMPLES]
        ]

    per_verdict = np.bincount(verdicts, minlength=len(Verdict))
    return PolicyPreview(
        sampled=len(sample.handles),
        is_everyone=len(sample.handles) < PREVIEW_SAMPLE_SIZE,
        scored=result.scored,
        suggest=int(per_verdict[Verdict.SUGGEST]),
        held=int(per_verdict[Verdict.BELOW_THRESHOLD]),
        never=int(per_verdict[Verdict.NEVER]),
        suggest_examples=examples(Verdict.SUGGEST),
        held_examples=examples(Verdict.BELOW_THRESHOLD),
        never_examples=examples(Verdict.NEVER),
    )
