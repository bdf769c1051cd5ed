"""The brand's follows: what approvals asked for, what ran, what waits and why, and retrying failed ones."""

from __future__ import annotations

from datetime import UTC, datetime

from django.contrib import messages
from django.db.models import Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from accounts.http import AuthedRequest
from accounts.models import Membership, Role
from accounts.permissions import can_approve, membership_for
from followback import execution
from followback.models import FollowAction, FollowActionQuerySet, FollowState

PAGE_SIZE = 100
# The list's tabs: which states each shows.
FILTERS: dict[str, tuple[str, tuple[FollowState, ...]]] = {
    "all": ("All", ()),
    "waiting": ("Waiting", FollowState.in_flight()),
    "failed": ("Failed", (FollowState.FAILED,)),
    "done": ("Followed", (FollowState.DONE,)),
}


def _cursor(action: FollowAction) -> str:
    return f"{action.created_at.timestamp():.6f}_{action.pk}"


def _parse_cursor(value: str) -> tuple[datetime, int] | None:
    stamp, _, pk = value.partition("_")
    try:
        return datetime.fromtimestamp(float(stamp), tz=UTC), int(pk)
    except (ValueError, OverflowError, OSError):
        return None


def _actions(membership: Membership) -> FollowActionQuerySet:
    return FollowAction.objects.for_brand(membership.brand).select_related(
        "account", "follower", "approved_by"
    )


def _row_context(membership: Membership, action: FollowAction) -> dict[str, object]:
    return {"membership": membership, "action": action, "can_retry": can_approve(membership)}


@require_GET
def follows(request: AuthedRequest, brand: str) -> HttpResponse:
    """The newest follows first, a hundred at a time, with an "older" link (keyset on created time and id)."""
    membership = membership_for(request.user, brand)
    shown = request.GET.get("show", "all")
    if shown not in FILTERS:
        shown = "all"
    actions = _actions(membership).newest_first()
    states = FILTERS[shown][1]
    if states:
        actions = actions.filter(state__in=states)
    before = _parse_cursor(request.GET.get("before", ""))
    if before is not None:
        created_at, pk = before
        actions = actions.filter(Q(created_at__lt=created_at) | Q(created_at=created_at, pk__lt=pk))
    page = list(actions[: PAGE_SIZE + 1])
    older = _cursor(page[PAGE_SIZE - 1]) if len(page) > PAGE_SIZE else ""
    context = {
        "membership": membership,
        "actions": page[:PAGE_SIZE],
        "can_retry": can_approve(membership),
        "filters": [(key, label) for key, (label, _) in FILTERS.items()],
        "shown": shown,
        "older": older,
        "paged": before is not None,
        "undo_seconds": int(execution.undo_delay().total_seconds()),
    }
    return render(request, "followback/follows.html", context)


@require_POST
@vary_on_headers("HX-Request")
def follow_retry(request: AuthedRequest, brand: str, action: int) -> HttpResponse:
    """Approvers retry a failed follow; htmx swaps its row, a plain form comes back to the list."""
    membership = membership_for(request.user, brand, need=Role.APPROVER)
    follow = get_object_or_404(_actions(membership), pk=action)
    try:
        execution.retry_follow(follow, by=request.user)
    except execution.FollowRefused as refused:
        messages.error(request, refused.message)
    else:
        messages.success(request, f"Retrying the follow of @{follow.follower.handle}.")
    if request.htmx:
        follow = _actions(membership).get(pk=follow.pk)
        return render(request, "followback/follows.html#follow-row", _row_context(membership, follow))
    return redirect(reverse("follows", kwargs={"brand": membership.brand.slug}) + f"#follow-{follow.pk}")
