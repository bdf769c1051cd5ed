"""Follow execution: the follow a final approval asks for, queued, guarded and run at most once.

A final approval queues one `FollowAction` (`queue_follow`), which waits out the undo window so that undoing the
decision can still cancel it (`cancel_follow`). A worker then runs it (`execute_follow`):

1. it claims the job (a conditional UPDATE, so a duplicate broker message does nothing);
2. if the platform may already have been asked (a previous run died mid-call, or this is a retry), it reads the
   relationship back first and, when the brand's account already follows, records the follow as done;
3. under a lock on the connected account it checks the daily cap and the following guards again, moves the
   action to `executing` and COMMITS, before any platform call;
4. it asks the platform to follow; success is `done`, an answer that says no is `failed` with the platform's
   reason, and an error after which nobody knows whether the follow happened is `needs_reconcile`, retried
   later starting at step 2. A worker that dies during the call leaves `executing` behind; when its lease runs
   out the sweeper sends the job again, and step 2 finds out what happened.

The daily cap counts per connected account, which is what platforms limit: follows done today (UTC) plus, at
approval, follows approved and due to run today. A follow waiting from yesterday uses today's cap; one approved
a minute before midnight uses tomorrow's. When only today's cap says no at approval, the approval stands and its
follow waits for tomorrow; tomorrow the follows queued first run first. The following guards (the ratio and the
platform's own cap) and an unusable account refuse the approval instead.

The platform's request budget is respected before it says no: each answer's rate-limit headers
(`connector.rate_limit`) are kept per account (`AccountRateLimit`), and while the platform has said that nothing is
left, the account's follows wait for the reset without asking and without spending an attempt. A 429 is
remembered the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from accounts.connections import connector_for, mark_auth_expired
from accounts.crypto import CredentialsUnreadable
from accounts.jobs import JobStatus, claim_job, defer_job, fail_job, finish_job, send_jobs
from accounts.models import AccountStatus, ConnectedAccount, Follower, User
from accounts.platforms.base import (
    AuthExpired,
    BadPayload,
    FollowResult,
    NotFound,
    PlatformError,
    PlatformUnavailable,
    RateLimited,
    RateLimitState,
)
from accounts.services import record
from followback.models import AccountRateLimit, FollowAction, FollowState
from rules.models import Suggestion, SuggestionStatus
from rules.policy import PolicySettings, ratio_guard_allows
from rules.services import current_policy

log = logging.getLogger(__name__)

RETRY_BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1))
# The longest a follow waits for a rate limit to reset: a skewed or nonsensical reset time stalls follows no longer.
MAX_RATE_LIMIT_WAIT = timedelta(days=1)


class FollowRefused(Exception):
    """A follow that may not be queued or retried now; the message says why, in plain words."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def undo_delay() -> timedelta:
    return timedelta(seconds=settings.FOLLOWBACK_UNDO_SECONDS)


def day_start(now: datetime) -> datetime:
    """Midnight UTC at the start of `now`'s day."""
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class FollowCheck:
    """Whether an account may take on one more follow now, and why (not), in plain words."""

    allowed: bool
    why: str
    cap_reached: bool = False  # only today's cap says no: the follow can wait for tomorrow
    cap: int = 0

    @property
    def waiting_reason(self) -> str:
        follows = f"{self.cap:,} follow{'s' if self.cap != 1 else ''}"
        return f"Waiting for tomorrow: today's cap of {follows} is reached"


def follow_allowed(
    account: ConnectedAccount,
    settings: PolicySettings,
    now: datetime,
    *,
    executing: FollowAction | None = None,
) -> FollowCheck:
    """Whether `account` may take on one more follow now, and why (not), from one query.

    Following counts the account's following plus its approved follows that have not ended. The daily cap counts,
    per connected account, the follows done today (UTC) and, at approval, those due to run today (a follow that
    waits for tomorrow counts tomorrow). When `executing` is the action about to run, it counts instead the others
    that may be talking to the platform and those due now that were queued before it: first queued, first run.
    """
    today = day_start(now)
    actions = FollowAction.objects.filter(account=account)
    done_today = Q(state=FollowState.DONE, executed_at__gte=today)
    if executing is None:
        counted_today = done_today | Q(
            state__in=FollowState.in_flight(), run_after__lt=today + timedelta(days=1)
        )
    else:
        actions = actions.exclude(pk=executing.pk)
        queued_before = Q(created_at__lt=executing.created_at) | Q(
            created_at=executing.created_at, pk__lt=executing.pk
        )
        counted_today = (
            done_today
            | Q(state__in=FollowState.calling())
            | (Q(state=FollowState.QUEUED, run_after__lte=now) & queued_before)
        )
    counts = actions.aggregate(
        in_flight=Count("pk", filter=Q(state__in=FollowState.in_flight())),
        today=Count("pk", filter=counted_today),
    )
    cap = settings.daily_follow_cap

    def check(approvals_today: int) -> tuple[bool, str]:
        return ratio_guard_allows(
            following=account.following_count + counts["in_flight"],
            followers=account.followers_count,
            approvals_today=approvals_today,
            cap_today=cap,
            settings=settings,
            platform=account.platform,
        )

    allowed, why = check(counts["today"])
    if allowed or counts["today"] < cap:
        return FollowCheck(allowed, why, cap=cap)
    following_allowed, following_why = check(0)  # the cap is reached: would the following guards allow it?
    if not following_allowed:
        return FollowCheck(False, following_why, cap=cap)
    return FollowCheck(False, why, cap_reached=True, cap=cap)


def _lock_account(account_id: int) -> ConnectedAccount:
    """Lock the connected account: guard checks and the moves they allow happen one at a time per account."""
    return ConnectedAccount.objects.select_for_update().get(pk=account_id)


def _account_unusable(account: ConnectedAccount) -> str:
    if account.status == AccountStatus.ACTIVE:
        return ""
    if account.status == AccountStatus.AUTH_EXPIRED:
        return f"{account} needs reconnecting: an admin must connect it again on the Accounts page"
    return f"{account} is disconnected"


def queue_follow(
    suggestion: Suggestion,
    approved_by: User,
    now: datetime | None = None,
    *,
    policy: PolicySettings | None = None,
) -> FollowAction:
    """Queue the follow a final approval asks for; call inside the approval's transaction.

    Raises FollowRefused when the account cannot follow or the following guards say no. The follow runs after
    the undo window; when today's cap is reached, it waits for tomorrow instead. The broker message is sent when
    the caller's transaction commits. `policy` is the brand's current policy when the caller has read it.
    """
    now = now or timezone.now()
    with transaction.atomic():
        account = _lock_account(suggestion.account_id)
        action = FollowAction.objects.select_for_update().filter(suggestion=suggestion).first()
        if action is not None and action.state != FollowState.CANCELLED:
            return action  # this approval's follow is already queued or has run
        if problem := _account_unusable(account):
            raise FollowRefused(f"Cannot follow now: {problem}.")
        check = follow_allowed(account, policy or current_policy(suggestion.brand).policy, now)
        if not check.allowed and not check.cap_reached:
            raise FollowRefused(f"{account} cannot follow anyone else now: {check.why}.")
        run_after = now + undo_delay()
        waiting = ""
        if check.cap_reached:
            waiting = check.waiting_reason
            run_after = max(run_after, day_start(now) + timedelta(days=1))
        fields: dict[str, Any] = {
            "brand_id": suggestion.brand_id, "account": account, "follower_id": suggestion.follower_id,
            "approved_by": approved_by, "state": FollowState.QUEUED, "waiting_reason": waiting, "platform_reason": "",
            "created_at": now, "executed_at": None, "status": JobStatus.QUEUED, "run_after": run_after,
            "enqueued_at": None, "lease_expires_at": None, "attempts": 0, "last_error": "",
        }  # fmt: skip
        if action is None:
            action = FollowAction.objects.create(suggestion=suggestion, **fields)
        else:  # approved again after an undo cancelled it: the same row, since there is one per suggestion
            for name, value in fields.items():
                setattr(action, name, value)
            action.save()
        follower = suggestion.follower
        waits = (
            f"; it waits for tomorrow: {waiting.removeprefix('Waiting for tomorrow: ')}" if waiting else ""
        )
        record(
            suggestion.brand,
            "follow.queued",
            f"{approved_by} approved following @{follower.handle} from {account}{waits}",
            actor=approved_by,
            target=action,
            suggestion=suggestion.pk,
            follower=follower.pk,
            run_after=run_after.isoformat(),
            waiting=waiting,
        )
        send_jobs(FollowAction, [action.pk], eta=run_after if run_after > now else None)
    return action


def cancel_follow(suggestion: Suggestion, by: User | None = None) -> bool:
    """Cancel the suggestion's follow if it has not started; False when there is none or it has started."""
    with transaction.atomic():
        cancelled = FollowAction.objects.filter(suggestion=suggestion, state=FollowState.QUEUED).update(
            state=FollowState.CANCELLED,
            status=JobStatus.DONE,
            waiting_reason="",
            lease_expires_at=None,
        )
        if not cancelled:
            return False
        action = FollowAction.objects.select_related("follower", "brand").get(suggestion=suggestion)
        record(
            action.brand,
            "follow.cancelled",
            f"The follow of @{action.follower.handle} was cancelled before it ran",
            actor=by,
            target=action,
            suggestion=suggestion.pk,
        )
    return True


def retry_follow(action: FollowAction, by: User) -> FollowAction:
    """Queue a failed follow again, now, after checking the guards; it reads the relationship back first."""
    now = timezone.now()
    with transaction.atomic():
        account = _lock_account(action.account_id)
        locked = (
            FollowAction.objects.select_for_update().select_related("brand", "follower").get(pk=action.pk)
        )
        if locked.state != FollowState.FAILED:
            raise FollowRefused(
                f"Only a failed follow can be retried; this one is {locked.get_state_display().lower()}."
            )
        if problem := _account_unusable(account):
            raise FollowRefused(f"Cannot retry yet: {problem}.")
        check = follow_allowed(account, current_policy(locked.brand).policy, now)
        if not check.allowed:
            raise FollowRefused(f"Cannot retry now: {check.why}.")
        previous = locked.platform_reason
        locked.state = FollowState.QUEUED
        locked.waiting_reason = ""
        locked.platform_reason = ""
        locked.status = JobStatus.QUEUED
        locked.run_after = now
        locked.enqueued_at = None
        locked.lease_expires_at = None
        locked.attempts = 1  # so the next run counts as a retry and reads the relationship back first
        locked.last_error = ""
        locked.save(
            update_fields=["state", "waiting_reason", "platform_reason", "status", "run_after", "enqueued_at",
                           "lease_expires_at", "attempts", "last_error"]
        )  # fmt: skip
        record(
            locked.brand,
            "follow.retried",
            f"{by} retried following @{locked.follower.handle} from {account}",
            actor=by,
            target=locked,
            previous_reason=previous,
        )
        send_jobs(FollowAction, [locked.pk])
    return locked


# Running a follow (the worker's side).


def execute_follow(action_id: int) -> FollowAction | None:
    """Carry a follow forward: to done, failed, a wait (rate limit, cap) or a later check with the platform."""
    if claim_job(FollowAction, action_id) is None:
        return None
    action = FollowAction.objects.select_related("account", "follower", "brand", "suggestion").get(
        pk=action_id
    )
    if action.state not in FollowState.in_flight():  # cancelled, or finished by an earlier run
        finish_job(action)
        return action
    if not _belongs_together(action):
        log.error("follow action %s: its brand, account, follower and suggestion do not match", action.pk)
        _fail(
            action,
            "Not followed: this follow's records do not belong to one brand and one approved suggestion.",
            platform_reason="",
        )
        return action
    if problem := _account_unusable(action.account):
        _fail(action, f"Not followed: {problem}. Retry once it is connected.", platform_reason="")
        return action
    connector: Any = None
    try:
        connector = connector_for(action.account)
        _run(action, connector)
    except CredentialsUnreadable as error:
        _auth_expired(action, f"the stored credentials cannot be read ({error})")
    finally:
        if hasattr(connector, "close"):
            connector.close()
    return action


def _belongs_together(action: FollowAction) -> bool:
    """The worker trusts nothing it is handed: one brand, its account, that account's follower, their suggestion,
    which a person approved."""
    suggestion = action.suggestion
    return (
        suggestion.status == SuggestionStatus.APPROVED
        and action.account.brand_id == action.brand_id
        and action.follower.account_id == action.account_id
        and suggestion.brand_id == action.brand_id
        and suggestion.account_id == action.account_id
        and suggestion.follower_id == action.follower_id
    )


def _run(action: FollowAction, connector: Any) -> None:
    platform_id = action.follower.platform_id
    asked_before = action.state in FollowState.calling() or action.attempts > 1
    called = False

    def ask(call: Callable[[], Any]) -> Any:
        try:
            return call()
        finally:
            _remember_rate_limit(action.account_id, getattr(connector, "rate_limit", None))

    try:
        if (until := AccountRateLimit.objects.spent_until(action.account_id, timezone.now())) is not None:
            _wait_for_rate_limit(action, until, asked=False)
            return
        if asked_before:
            relationship = ask(lambda: connector.relationships([platform_id])).get(platform_id)
            if relationship is not None and (relationship.following or relationship.requested):
                result = FollowResult(following=relationship.following, requested=relationship.requested)
                _succeed(action, result, reconciled=True)
                return
            if (until := _spent_until(getattr(connector, "rate_limit", None))) is not None:
                _wait_for_rate_limit(action, until, asked=False)
                return
        if not _start(action):
            return
        called = True
        result = ask(lambda: connector.follow(platform_id))
    except RateLimited as limited:
        until = timezone.now() + timedelta(seconds=limited.retry_after)
        _remember_rate_limit(action.account_id, RateLimitState(remaining=0, reset_at=until))
        _wait_for_rate_limit(action, until, asked=called)
        return
    except AuthExpired as error:
        _auth_expired(action, str(error))
        return
    except NotFound as error:
        _fail(action, "Not followed: the account is no longer on the platform.", platform_reason=str(error))
        return
    except (PlatformUnavailable, BadPayload) as error:
        _check_later(action, str(error))
        return
    except PlatformError as error:
        _fail(action, "Not followed: the platform refused.", platform_reason=str(error))
        return
    except Exception as error:
        if not called:
            raise
        log.exception("follow action %s: unexpected error after asking the platform", action.pk)
        _check_later(action, f"unexpected error: {type(error).__name__}")
        return
    _succeed(action, result, reconciled=False)


def _start(action: FollowAction) -> bool:
    """Check the guards again and mark the action executing, committed before the platform is asked."""
    now = timezone.now()
    with transaction.atomic():
        account = _lock_account(action.account_id)
        check = follow_allowed(account, current_policy(action.brand).policy, now, executing=action)
        active = FollowAction.objects.filter(pk=action.pk, state__in=FollowState.in_flight())
        if not check.allowed:
            reason = check.waiting_reason if check.cap_reached else f"Waiting for tomorrow: {check.why}"[:300]
            if not active.update(state=FollowState.QUEUED, waiting_reason=reason):
                finish_job(action)  # cancelled meanwhile
                return False
            action.state, action.waiting_reason = FollowState.QUEUED, reason
            defer_job(action, day_start(now) + timedelta(days=1), reason)
            record(action.brand, "follow.waiting",
                   f"The follow of @{action.follower.handle} waits: {reason.removeprefix('Waiting ')}",
                   actor=None, target=action, reason=check.why)  # fmt: skip
            return False
        if not active.update(state=FollowState.EXECUTING, waiting_reason=""):
            finish_job(action)
            return False
    action.state, action.waiting_reason = FollowState.EXECUTING, ""
    return True


def _succeed(action: FollowAction, result: FollowResult, *, reconciled: bool) -> None:
    follower = action.follower
    with transaction.atomic():
        _move(action, FollowState.DONE)
        action.executed_at = timezone.now()
        action.waiting_reason = ""
        action.platform_reason = (
            "" if result.following else f"Follow request sent: @{follower.handle} approves followers by hand."
        )
        action.save(update_fields=["state", "executed_at", "waiting_reason", "platform_reason"])
        finish_job(action)
        if result.following:
            ConnectedAccount.objects.filter(pk=action.account_id).update(
                following_count=F("following_count") + 1
            )
            Follower.objects.filter(pk=follower.pk).update(brand_follows=True)
        verb = "followed" if result.following else "asked to follow"
        found = " (found already done when checking after an interrupted attempt)" if reconciled else ""
        record(
            action.brand,
            "follow.executed",
            f"{action.account} {verb} @{follower.handle}{found}",
            actor=None,
            target=action,
            follower=follower.pk,
            approved_by=action.approved_by_id,
            requested=result.requested,
            reconciled=reconciled,
        )


def _fail(action: FollowAction, summary: str, *, platform_reason: str) -> None:
    with transaction.atomic():
        _move(action, FollowState.FAILED)
        action.waiting_reason = ""
        action.platform_reason = platform_reason
        action.save(update_fields=["state", "waiting_reason", "platform_reason"])
        fail_job(action, platform_reason or summary)
        record(
            action.brand,
            "follow.failed",
            f"The follow of @{action.follower.handle} from {action.account} failed. {summary}",
            actor=None,
            target=action,
            platform_reason=platform_reason,
        )


def _auth_expired(action: FollowAction, reason: str) -> None:
    mark_auth_expired(action.account, reason)
    _fail(
        action,
        f"Not followed: {action.account} needs reconnecting. An admin must connect it again, then retry.",
        platform_reason=reason,
    )


def _move(action: FollowAction, state: FollowState) -> None:
    if not action.can_move_to(state):
        raise ValueError(f"a follow action cannot go from {action.state} to {state}")
    action.state = state


def _spent_until(state: RateLimitState | None) -> datetime | None:
    """When the budget comes back, if the platform said nothing is left of it; None when something is or it did
    not say. A reset further off than MAX_RATE_LIMIT_WAIT counts as that far."""
    if state is None or state.remaining != 0 or state.reset_at is None:
        return None
    now = timezone.now()
    return min(state.reset_at, now + MAX_RATE_LIMIT_WAIT) if state.reset_at > now else None


def _remember_rate_limit(account_id: int, state: RateLimitState | None) -> None:
    """Keep what the platform's answer said about the account's budget, for the account's next follows."""
    if state is None or (state.remaining is None and state.reset_at is None):
        return
    reset_at = state.reset_at
    if reset_at is not None:
        reset_at = min(reset_at, timezone.now() + MAX_RATE_LIMIT_WAIT)
    AccountRateLimit.objects.bulk_create(
        [AccountRateLimit(account_id=account_id, remaining=state.remaining, reset_at=reset_at)],
        update_conflicts=True,
        unique_fields=["account"],
        update_fields=["remaining", "reset_at", "updated_at"],
    )


def _wait_for_rate_limit(action: FollowAction, until: datetime, *, asked: bool) -> None:
    """The platform's rate limit is spent: wait for it, without spending an attempt.

    `asked` says whether the follow itself was asked (and refused with a 429, so it did not happen)."""
    reason = f"Waiting for the platform's rate limit until {until:%H:%M} UTC"
    with transaction.atomic():
        # Not having asked after an interrupted attempt leaves the question open: check before asking again.
        unknown = action.state in FollowState.calling() and not asked
        _move(action, FollowState.NEEDS_RECONCILE if unknown else FollowState.QUEUED)
        action.waiting_reason = reason
        action.save(update_fields=["state", "waiting_reason"])
        defer_job(action, until, f"the platform's request budget is used up until {until:%H:%M:%S} UTC")


def _check_later(action: FollowAction, error: str) -> None:
    """A failure that may pass (server error, no answer); when it came after asking, check before asking again."""
    unknown = action.state in FollowState.calling()
    backoff = RETRY_BACKOFF[min(action.attempts, len(RETRY_BACKOFF)) - 1]
    with transaction.atomic():
        fail_job(action, error, retry_in=backoff)
        if action.status == JobStatus.FAILED:
            _move(action, FollowState.FAILED)
            action.waiting_reason = ""
            action.platform_reason = error
            action.save(update_fields=["state", "waiting_reason", "platform_reason"])
            maybe = " It may have happened: a retry checks with the platform first." if unknown else ""
            record(
                action.brand,
                "follow.failed",
                f"The follow of @{action.follower.handle} from {action.account} failed after "
                f"{action.attempts} tries.{maybe}",
                actor=None,
                target=action,
                platform_reason=error,
            )
            return
        _move(action, FollowState.NEEDS_RECONCILE if unknown else FollowState.QUEUED)
        action.waiting_reason = (
            f"{'Checking with the platform' if unknown else 'Trying again'} at {action.run_after:%H:%M} UTC "
            f"after an error: {error}"
        )[:300]
        action.save(update_fields=["state", "waiting_reason"])
        send_jobs(FollowAction, [action.pk], eta=action.run_after)
