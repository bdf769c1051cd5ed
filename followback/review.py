"""Reviewing suggestions: people's decisions, the second approval, undo, bulk decisions and comments.

Every step is one transaction that locks the suggestion (`select_for_update`), checks the allowed-transition
table against the status it finds, writes the decision and the audit event, and at a final approval queues the
follow. Two people deciding the same suggestion at once queue behind the lock: the first wins, the second finds
the new status and is refused with a message that says who did what, so a double submit never records twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Brand, Membership, Role, User
from accounts.services import record
from followback import execution
from followback.models import Comment, Decision, DecisionKind
from rules.models import Suggestion, SuggestionStatus
from rules.services import current_policy

S = SuggestionStatus
K = DecisionKind

# Every move a person can make: (status found, decision) → status left. "approve" in the interface becomes
# PROPOSE when the brand's policy asks for a second approver (see `decide`). UNDO is not in the table: it
# returns a suggestion to the status the undone decision found, when nothing happened since.
TRANSITIONS: dict[tuple[SuggestionStatus, DecisionKind], SuggestionStatus] = {
    (S.PENDING, K.APPROVE): S.APPROVED,
    (S.PENDING, K.PROPOSE): S.AWAITING_APPROVAL,
    (S.PENDING, K.REJECT): S.REJECTED,
    (S.PENDING, K.LATER): S.LATER,
    (S.LATER, K.APPROVE): S.APPROVED,
    (S.LATER, K.PROPOSE): S.AWAITING_APPROVAL,
    (S.LATER, K.REJECT): S.REJECTED,
    (S.AWAITING_APPROVAL, K.APPROVE): S.APPROVED,
    (S.AWAITING_APPROVAL, K.REJECT): S.REJECTED,
    (S.AWAITING_APPROVAL, K.SEND_BACK): S.PENDING,
}
# Statuses no person moves on from: held by a rule (the policy decides; change it to change these), decided,
# or expired. Together with TRANSITIONS they cover every status (a test checks).
NO_DECISIONS: frozenset[SuggestionStatus] = frozenset({S.HELD, S.APPROVED, S.REJECTED, S.EXPIRED})
# Statuses that time runs out on: past `expires_at` they wait for the next daily build to mark them expired, and
# nobody decides them meanwhile.
OPEN: frozenset[SuggestionStatus] = frozenset({S.PENDING, S.LATER})

# Decisions that only someone with the approver role may take, from these statuses.
APPROVER_ONLY: frozenset[tuple[SuggestionStatus, DecisionKind]] = frozenset(
    {(S.AWAITING_APPROVAL, K.APPROVE), (S.AWAITING_APPROVAL, K.SEND_BACK), (S.AWAITING_APPROVAL, K.REJECT)}
)

VERBS = {
    K.APPROVE: ("suggestion.approved", "approved"),
    K.PROPOSE: ("suggestion.proposed", "approved, for a second approver,"),
    K.REJECT: ("suggestion.rejected", "rejected"),
    K.LATER: ("suggestion.later", "left for later"),
    K.SEND_BACK: ("suggestion.sent_back", "sent back for review"),
    K.UNDO: ("suggestion.undone", "undid a decision on"),
}
# How a status reads after "<who> already …".
DONE_WORDS = {
    S.APPROVED: "approved this",
    S.REJECTED: "rejected this",
    S.LATER: "left this for later",
    S.AWAITING_APPROVAL: "approved this; it waits for a second approver",
    S.PENDING: "sent this back for review",
}

COMMENT_MAX_LENGTH = 2000


class DecisionRefused(Exception):
    """A decision that cannot be taken; the message says why in words a person understands."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class BulkOutcome:
    decided: list[Decision] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)  # (suggestion id, why)


def undo_window() -> timedelta:
    return timedelta(seconds=settings.REVIEW_UNDO_SECONDS)


def _role(brand: Brand, actor: User) -> Role:
    membership = Membership.objects.filter(brand=brand, user=actor).only("role").first()
    if membership is None or not membership.has_role(Role.REVIEWER):
        raise DecisionRefused("Your role does not allow deciding suggestions.")
    return membership.role_enum


def _who(user: User | None, actor: User) -> str:
    if user is None:
        return "Someone"
    return "You" if user.pk == actor.pk else str(user)


def _lock(brand: Brand, suggestion_id: int) -> Suggestion:
    """Lock the suggestion's row, then read it with its people: a fresh read after any wait for the lock, so it
    sees what the winner of a race committed (a locking read with joins could pair the new row with old joins)."""
    suggestions = Suggestion.objects.for_brand(brand).filter(pk=suggestion_id)
    if not suggestions.select_for_update().values_list("pk", flat=True).first():
        raise DecisionRefused("This suggestion is no longer in the queue.")
    suggestion = suggestions.select_related("follower", "decided_by", "proposed_by").get()
    suggestion.brand = brand
    return suggestion


def _refusal(suggestion: Suggestion, kind: DecisionKind, actor: User, role: Role) -> str:
    """Why `kind` is not possible now, naming who got there first where someone did."""
    status = S(suggestion.status)
    decided_by = _who(suggestion.decided_by, actor)
    if status == S.HELD:
        return f"A rule holds this one back ({suggestion.rule}); only a policy change can change that."
    if status == S.EXPIRED:
        return "This suggestion expired before anyone decided it."
    if status in (S.APPROVED, S.REJECTED) or (status == S.LATER and kind == K.LATER):
        return f"{decided_by} already {DONE_WORDS[status]}."
    if status == S.AWAITING_APPROVAL:
        proposer = _who(suggestion.proposed_by, actor)
        if kind == K.APPROVE and not role.at_least(Role.APPROVER):
            return f"{proposer} already {DONE_WORDS[status]} with the approver role."
        if kind == K.APPROVE:
            return f"{proposer} approved this first; a different approver has to give the final approval."
        if kind in (K.SEND_BACK, K.REJECT):
            return "Only someone with the approver role can reject this or send it back now."
    if status == S.PENDING and kind == K.SEND_BACK:
        if suggestion.decided_by_id:
            return f"{decided_by} already {DONE_WORDS[status]}."
        return "This is not waiting for a second approval, so there is nothing to send back."
    return f"This cannot be {VERBS[kind][1]} while it is {suggestion.get_status_display().lower()}."


def _allowed(
    suggestion: Suggestion, kind: DecisionKind, actor: User, role: Role, now: datetime
) -> SuggestionStatus:
    status = S(suggestion.status)
    target = TRANSITIONS.get((status, kind))
    if target is None:
        raise DecisionRefused(_refusal(suggestion, kind, actor, role))
    if (status, kind) in APPROVER_ONLY and not role.at_least(Role.APPROVER):
        raise DecisionRefused(_refusal(suggestion, kind, actor, role))
    if status == S.AWAITING_APPROVAL and suggestion.proposed_by_id == actor.pk:
        # Nobody decides their own proposal, not even by sending it back or rejecting it; undo takes back a
        # recent approval of one's own.
        raise DecisionRefused(
            "You approved this first; a different person with the approver role decides it now. "
            "To take your approval back, use undo."
        )
    if status in OPEN and suggestion.expires_at <= now:
        raise DecisionRefused("This suggestion expired before anyone decided it.")
    return target


def _audit(decision: Decision, suggestion: Suggestion, actor: User) -> None:
    verb, words = VERBS[DecisionKind(decision.kind)]
    summary = f"{actor} {words} @{suggestion.follower.handle}"
    if decision.reason:
        summary += f": {decision.reason}"
    record(
        suggestion.brand,
        verb,
        summary[:300],
        actor=actor,
        target=suggestion,
        decision=decision.pk,
        kind=decision.kind,
        from_status=decision.from_status,
        to_status=decision.to_status,
        reason=decision.reason,
        score=decision.score,
        follower=suggestion.follower.handle,
    )


def _new_decision(
    suggestion: Suggestion, actor: User, kind: DecisionKind, from_status: str, now: datetime, **extra: object
) -> Decision:
    return Decision.objects.create(
        brand=suggestion.brand,
        suggestion=suggestion,
        actor=actor,
        kind=kind,
        from_status=from_status,
        to_status=suggestion.status,
        policy_version_id=suggestion.policy_version_id,
        score=suggestion.score,
        signals=suggestion.signals,
        created_at=now,
        **extra,
    )


def decide(
    brand: Brand,
    suggestion_id: int,
    actor: User,
    kind: DecisionKind | str,
    reason: str = "",
    *,
    now: datetime | None = None,
) -> Decision:
    """Record `actor`'s decision on one suggestion, or raise DecisionRefused saying why not.

    `kind` is what the person pressed: approve, reject, later or send back. Approving a pending suggestion
    proposes it instead when the policy asks for a second approver; the final approval (by someone else with
    the approver role) queues the follow, which waits for tomorrow when today's cap is reached. The approval is
    refused with the guard's words when the following guards say no or the account cannot follow.
    """
    kind = DecisionKind(kind)
    if kind in (K.UNDO, K.PROPOSE):
        raise ValueError(f"{kind} is not a decision a person picks; use approve or undo_last")
    now = now or timezone.now()
    reason = reason.strip()[:500] if kind == K.REJECT else ""
    role = _role(brand, actor)
    with transaction.atomic():
        suggestion = _lock(brand, suggestion_id)
        found = suggestion.status
        policy = current_policy(brand).policy if kind == K.APPROVE else None
        if policy is not None and found in (S.PENDING, S.LATER) and policy.second_approver:
            kind = K.PROPOSE
        suggestion.status = _allowed(suggestion, kind, actor, role, now)
        update = ["status", "decided_by", "decided_at"]
        suggestion.decided_by, suggestion.decided_at = actor, now
        if kind == K.PROPOSE:
            suggestion.proposed_by = actor
            update.append("proposed_by")
        suggestion.save(update_fields=update)
        decision = _new_decision(suggestion, actor, kind, found, now, reason=reason)
        if suggestion.status == S.APPROVED:
            try:
                suggestion.follow_action = execution.queue_follow(suggestion, actor, now=now, policy=policy)
            except execution.FollowRefused as refused:
                raise DecisionRefused(f"Not approved: {refused}") from None
        _audit(decision, suggestion, actor)
    return decision


def decide_many(
    brand: Brand,
    suggestion_ids: list[int],
    actor: User,
    kind: DecisionKind | str,
    reason: str = "",
    *,
    now: datetime | None = None,
) -> BulkOutcome:
    """The same decision on several suggestions, each its own transaction and its own recorded decision.

    One refusal (someone else decided first, the following guards say no) does not stop the others.
    """
    outcome = BulkOutcome()
    for suggestion_id in dict.fromkeys(suggestion_ids):
        try:
            outcome.decided.append(decide(brand, suggestion_id, actor, kind, reason, now=now))
        except DecisionRefused as refused:
            outcome.refused.append((suggestion_id, refused.message))
    return outcome


def _undoable(brand: Brand, actor: User, now: datetime) -> Decision:
    """The actor's latest decision; one level only, so a double press of undo never takes back two."""
    last = (
        Decision.objects.for_brand(brand)
        .filter(actor=actor)
        .exclude(kind=K.UNDO)
        .order_by("-created_at", "-id")
        .first()
    )
    minutes = settings.REVIEW_UNDO_SECONDS // 60
    window = f"{minutes} minute{'s' if minutes != 1 else ''}" if minutes else "moment"
    if last is None or last.created_at < now - undo_window():
        raise DecisionRefused(f"Nothing to undo: you have decided nothing in the last {window}.")
    return last


def undo_last(brand: Brand, actor: User, *, now: datetime | None = None) -> Decision:
    """Undo `actor`'s most recent decision if it is recent and nothing happened to the suggestion since.

    Undoing a final approval cancels its follow, which is refused once the follow has started.
    """
    now = now or timezone.now()
    _role(brand, actor)
    last = _undoable(brand, actor, now)
    with transaction.atomic():
        suggestion = _lock(brand, last.suggestion_id)
        if Decision.objects.filter(undoes=last).exists():
            raise DecisionRefused(f"Your last decision, on @{suggestion.follower.handle}, is already undone.")
        since = (
            Decision.objects.filter(suggestion=suggestion, id__gt=last.pk)
            .select_related("actor")
            .order_by("-id")
            .first()
        )
        if since is not None or suggestion.status != last.to_status:
            who = _who(since.actor if since else suggestion.decided_by, actor)
            raise DecisionRefused(
                f"{who} changed @{suggestion.follower.handle} since, so your decision can no longer be undone."
            )
        if last.to_status == S.APPROVED and not execution.cancel_follow(suggestion, by=actor):
            raise DecisionRefused(
                f"The follow of @{suggestion.follower.handle} has already started, so it cannot be undone."
            )
        earlier = (
            Decision.objects.filter(suggestion=suggestion, id__lt=last.pk, undone_by__isnull=True)
            .exclude(kind=K.UNDO)
            .order_by("-id")
            .first()
        )
        suggestion.status = last.from_status
        suggestion.decided_by_id = earlier.actor_id if earlier else None
        suggestion.decided_at = earlier.created_at if earlier else None
        if last.kind == K.PROPOSE:
            suggestion.proposed_by = None
        suggestion.save(update_fields=["status", "decided_by", "decided_at", "proposed_by"])
        undo = _new_decision(suggestion, actor, K.UNDO, last.to_status, now, undoes=last)
        _audit(undo, suggestion, actor)
    return undo


def add_comment(brand: Brand, suggestion_id: int, author: User, body: str) -> Comment:
    """A note for the brand's team on one suggestion."""
    body = body.strip()
    if not body:
        raise DecisionRefused("Write something before posting a comment.")
    if len(body) > COMMENT_MAX_LENGTH:
        raise DecisionRefused(f"Comments are at most {COMMENT_MAX_LENGTH:,} characters long.")
    _role(brand, author)
    with transaction.atomic():
        suggestion = (
            Suggestion.objects.for_brand(brand).select_related("follower").filter(pk=suggestion_id).first()
        )
        if suggestion is None:
            raise DecisionRefused("This suggestion is no longer in the queue.")
        if suggestion.status == SuggestionStatus.HELD:
            # The daily build deletes and rewrites held rows (rules.queue): a comment would pin them.
            raise DecisionRefused(
                "Each day's queue rewrites what a rule holds back, so held followers take no comments."
            )
        suggestion.brand = brand
        comment = Comment.objects.create(brand=brand, suggestion=suggestion, author=author, body=body)
        record(
            brand,
            "suggestion.commented",
            f"{author} commented on @{suggestion.follower.handle}",
            actor=author,
            target=suggestion,
            comment=comment.pk,
        )
    return comment
