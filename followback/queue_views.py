"""The review queue: the day's suggestions for a brand, the decisions people take on them, and one suggestion's
page with its history and comments.

Every form posts for real and redirects back with a message; htmx enhances them, and then the view answers with
the row (or list) to swap in plus the tab counts and the navigation count out of band. The list is read with
keyset paging on (score desc, id), so a page costs the same few queries whatever its size or depth.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from django import forms
from django.contrib import messages
from django.db import connection
from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from accounts.http import AuthedRequest
from accounts.models import ConnectedAccount, Membership, Role
from accounts.permissions import can_approve, can_review, membership_for
from followback import review
from followback.models import Comment, Decision, DecisionKind
from followback.templatetags.queue_tags import COUNT_LIMIT
from rules.models import Suggestion, SuggestionStatus
from rules.services import current_policy

PAGE_SIZE = 25  # rows a page: rendering is most of the page's time; the next page loads before the end
S = SuggestionStatus


class Tab(StrEnum):
    PENDING = "pending"
    LATER = "later"
    AWAITING = "awaiting"
    HELD = "held"
    DECIDED = "decided"

    @property
    def label(self) -> str:
        return TAB_LABELS[self]


TAB_LABELS = {
    Tab.PENDING: "To review",
    Tab.LATER: "Later",
    Tab.AWAITING: "Awaiting second approval",
    Tab.HELD: "Held by rules",
    Tab.DECIDED: "Decided today",
}
TAB_STATUSES = {
    Tab.PENDING: [S.PENDING],
    Tab.LATER: [S.LATER],
    Tab.AWAITING: [S.AWAITING_APPROVAL],
    Tab.HELD: [S.HELD],
    Tab.DECIDED: [S.APPROVED, S.REJECTED, S.AWAITING_APPROVAL],
}
# The reasons people filter by: the signal behind a reason chip, in plain words.
REASONS = [
    ("engagement", "Engages with you"),
    ("customer", "On the customer list"),
    ("genuine_activity", "Genuine, active account"),
    ("churn", "Follow history"),
    ("bot_likelihood", "Looks automated"),
    ("harmful", "Possible harm or impersonation"),
    ("watch", "Anything to watch"),
]
ACTION_KINDS = [DecisionKind.APPROVE, DecisionKind.REJECT, DecisionKind.LATER, DecisionKind.SEND_BACK]


class QueueFilterForm(forms.Form):
    tab = forms.ChoiceField(choices=[(tab.value, tab.label) for tab in Tab], required=False)
    q = forms.CharField(required=False, max_length=100, label="Handle or name")
    account = forms.TypedChoiceField(coerce=int, required=False, empty_value=None, label="Account")
    reason = forms.ChoiceField(choices=[("", "Any reason"), *REASONS], required=False, label="Reason")
    min_score = forms.IntegerField(required=False, min_value=0, max_value=100, label="Score from")
    max_score = forms.IntegerField(required=False, min_value=0, max_value=100, label="to")
    customers = forms.BooleanField(required=False, label="Customers only")
    engaged = forms.BooleanField(required=False, label="Engaged with you")
    after = forms.RegexField(regex=r"^\d{1,3}\.\d{1,19}$", required=False)

    def __init__(self, data: QueryDict, accounts: list[ConnectedAccount]) -> None:
        super().__init__(data)
        self.fields["account"].choices = [("", "All accounts")] + [  # type: ignore[attr-defined]
            (account.pk, f"@{account.handle} ({account.get_platform_display()})") for account in accounts
        ]

    def value(self, name: str) -> Any:
        return self.cleaned_data.get(name) if self.is_valid() else None

    @property
    def current_tab(self) -> Tab:
        return Tab(self.value("tab") or Tab.PENDING)

    def is_filtered(self) -> bool:
        names = ("q", "account", "reason", "min_score", "max_score", "customers", "engaged")
        return any(self.value(name) not in (None, "", False) for name in names)

    def query(self, **changes: Any) -> str:
        """This view's query string with some values changed (None drops one)."""
        params = QueryDict(mutable=True)
        for name in self.fields:
            value = self.data.get(name)
            if value:
                params[name] = str(value)
        for name, value in changes.items():
            params.pop(name, None)
            if value is not None:
                params[name] = str(value)
        return params.urlencode()


class DecideForm(forms.Form):
    kind = forms.ChoiceField(choices=[(kind.value, kind.label) for kind in ACTION_KINDS])
    reason = forms.CharField(required=False, max_length=500)


class BulkForm(forms.Form):
    kind = forms.ChoiceField(
        choices=[(k.value, k.label) for k in (DecisionKind.APPROVE, DecisionKind.REJECT)]
    )
    ids = forms.TypedMultipleChoiceField(coerce=int, required=False)
    reason = forms.CharField(required=False, max_length=500)
    # Without JavaScript the first post shows what would be decided; only the confirmation's post decides.
    confirmed = forms.BooleanField(required=False)

    def __init__(self, data: QueryDict) -> None:
        super().__init__(data)
        # Any whole numbers; the service fetches each through the brand, so a stranger's id is simply refused.
        self.fields["ids"].choices = [(v, v) for v in data.getlist("ids") if v.isdigit()]  # type: ignore[attr-defined]


class CommentForm(forms.Form):
    body = forms.CharField(max_length=review.COMMENT_MAX_LENGTH, widget=forms.Textarea(attrs={"rows": 3}))


@dataclass(frozen=True)
class QueuePage:
    rows: Sequence[Suggestion]
    next_query: str | None  # the query string of the next page, None on the last


def _today() -> datetime:
    return timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)


def _tab_queryset(brand_id: int, tab: Tab) -> QuerySet[Suggestion]:
    suggestions = Suggestion.objects.filter(brand_id=brand_id, status__in=TAB_STATUSES[tab])
    if tab in (Tab.PENDING, Tab.LATER):
        suggestions = suggestions.unexpired()  # the next daily build marks them expired
    if tab == Tab.DECIDED:
        suggestions = suggestions.filter(decided_at__gte=_today())
    return suggestions


def can_bulk_decide(membership: Membership, tab: Tab) -> bool:
    """Whether the tab offers this person row checkboxes and bulk buttons: only where they can decide."""
    if tab in (Tab.HELD, Tab.DECIDED):
        return False
    return can_approve(membership) if tab == Tab.AWAITING else can_review(membership)


def tab_counts(brand_id: int) -> dict[str, int]:
    """A capped COUNT per tab (see docs/review.md), each reading at most COUNT_LIMIT + 1 index entries, all five
    as scalar subqueries of one statement: one round trip instead of five (see docs/performance.md)."""
    parts: list[str] = []
    params: list[Any] = []
    for tab in Tab:
        capped = _tab_queryset(brand_id, tab).order_by().values("pk")[: COUNT_LIMIT + 1]
        sql, tab_params = capped.query.sql_with_params()
        parts.append(f"(SELECT COUNT(*) FROM ({sql}) AS capped_{tab.value})")  # noqa: S608 (compiled, bound params)
        params.extend(tab_params)
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(parts), params)
        row = cursor.fetchone()
    return {tab.value: int(count) for tab, count in zip(Tab, row, strict=True)}


def _filtered(brand_id: int, form: QueueFilterForm) -> QuerySet[Suggestion]:
    suggestions = _tab_queryset(brand_id, form.current_tab)
    if search := (form.value("q") or "").strip().lstrip("@"):
        suggestions = suggestions.filter(
            Q(follower__handle__icontains=search) | Q(follower__display_name__icontains=search)
        )
    if (account := form.value("account")) is not None:
        suggestions = suggestions.filter(account_id=account)
    if reason := form.value("reason"):
        wanted = {"polarity": "watch"} if reason == "watch" else {"signal": reason}
        if connection.features.supports_json_field_contains:
            suggestions = suggestions.filter(reasons__contains=[wanted])
        else:  # SQLite, the embedded default: match the stored JSON text
            key, value = next(iter(wanted.items()))
            suggestions = suggestions.filter(reasons__icontains=f'"{key}": "{value}"')
    if (low := form.value("min_score")) is not None:
        suggestions = suggestions.filter(score__gte=low)
    if (high := form.value("max_score")) is not None:
        suggestions = suggestions.filter(score__lte=high)
    if form.value("customers"):
        suggestions = suggestions.filter(follower__is_customer=True)
    if form.value("engaged"):
        suggestions = suggestions.filter(signals__engagement__gt=0)
    return suggestions


def queue_page(
    brand_id: int,
    form: QueueFilterForm,
    size: int | None = None,
    accounts: Sequence[ConnectedAccount] = (),
) -> QueuePage:
    """One page of the tab, best score first, after the (score, id) the `after` cursor names: one query.

    Rows share the brand's few connected accounts: given them (`accounts`, already read for the filter), each row
    takes its own from that list instead of a joined copy per row."""
    size = size or PAGE_SIZE
    by_id = {account.pk: account for account in accounts}
    suggestions = _filtered(brand_id, form)
    if after := form.value("after"):
        score, last_id = (int(part) for part in after.split("."))
        suggestions = suggestions.filter(Q(score__lt=score) | Q(score=score, id__gt=last_id))
    comments = (
        Comment.objects.filter(suggestion=OuterRef("pk"))
        .order_by()
        .values("suggestion")
        .annotate(n=Count("id"))
        .values("n")
    )
    related = ["follower", "proposed_by", "decided_by"] + ([] if by_id else ["account"])
    rows = list(
        suggestions.select_related(*related)
        .annotate(comment_count=Coalesce(Subquery(comments, output_field=IntegerField()), Value(0)))
        .order_by("-score", "id")[: size + 1]
    )
    for row in rows if by_id else ():
        row.account = by_id[row.account_id]
    if len(rows) <= size:
        return QueuePage(rows, None)
    last = rows[size - 1]
    return QueuePage(rows[:size], form.query(after=f"{last.score}.{last.pk}"))


def _queue_context(
    request: AuthedRequest, membership: Membership, data: QueryDict, *, current: str | None = None
) -> dict[str, Any]:
    brand = membership.brand
    accounts = list(ConnectedAccount.objects.filter(brand=brand).order_by("platform", "handle"))
    form = QueueFilterForm(data, accounts)
    form.is_valid()
    policy = current_policy(brand).policy
    counts = tab_counts(brand.pk)
    return {
        "membership": membership,
        "form": form,
        "tab": form.current_tab,
        "tabs": [(tab, counts[tab.value]) for tab in Tab],
        "queue_counts": counts,
        "page": queue_page(brand.pk, form, accounts=accounts),
        "accounts": accounts,
        "second_approver": policy.second_approver,
        "can_review": can_review(membership),
        "can_approve": can_approve(membership),
        "can_bulk": can_bulk_decide(membership, form.current_tab),
        "here": current or request.get_full_path(),
        "undo_seconds": review.undo_window().seconds,
    }


@require_GET
@vary_on_headers("HX-Request")
def queue(request: AuthedRequest, brand: str) -> HttpResponse:
    """The day's suggestions in tabs, filtered; htmx filter changes and "more" ask for the list alone."""
    membership = membership_for(request.user, brand)
    context = _queue_context(request, membership, request.GET)
    if request.htmx and request.htmx.target == "queue-list":
        return render(request, "followback/queue.html#queue-list", context)
    if request.htmx and request.htmx.target == "queue-rows":
        return render(request, "followback/queue.html#queue-more", context)
    return render(request, "followback/queue.html", context)


def _back(request: AuthedRequest, membership: Membership) -> str:
    """Where a plain form post returns: the page it came from (our own, same host), else the queue."""
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}) and target.startswith("/"):
        return target
    return reverse("queue", kwargs={"brand": membership.brand.slug})


def _decided_text(decision: Decision) -> str:
    handle = f"@{decision.suggestion.follower.handle}"
    if decision.kind == DecisionKind.APPROVE and (waiting := _follow_waiting(decision)):
        return f"Approved {handle}. {waiting}, so the follow runs then."
    return {
        DecisionKind.APPROVE: f"Approved {handle}; the follow is queued.",
        DecisionKind.PROPOSE: f"Approved {handle}; it now waits for a second approver.",
        DecisionKind.REJECT: f"Rejected {handle}.",
        DecisionKind.LATER: f"Left {handle} for later.",
        DecisionKind.SEND_BACK: f"Sent {handle} back for review.",
        DecisionKind.UNDO: f"Undone: {handle} is {decision.suggestion.get_status_display().lower()} again.",
    }[DecisionKind(decision.kind)]


def _follow_waiting(decision: Decision) -> str:
    """Why a final approval's follow waits (today's cap), empty when it runs after the undo window."""
    return decision.suggestion.follow_action.waiting_reason


def _bulk_text(verb: str, decided: list[Decision]) -> str:
    text = f"{verb} {len(decided)} suggestion{'s' if len(decided) != 1 else ''}."
    waiting = [reason for decision in decided if decision.kind == DecisionKind.APPROVE
               if (reason := _follow_waiting(decision))]  # fmt: skip
    if waiting:
        n = len(waiting)
        follows = (
            "Its follow waits" if len(decided) == 1 else f"{n} of their follows wait{'s' if n == 1 else ''}"
        )
        text += f" {follows} for tomorrow: {waiting[-1].removeprefix('Waiting for tomorrow: ')}."
    return text


def _list_response(request: AuthedRequest, membership: Membership) -> HttpResponse:
    """The list for the page the request came from, with the counts out of band (after bulk and undo)."""
    back = _back(request, membership)
    context = _queue_context(request, membership, QueryDict(urlsplit(back).query), current=back)
    return render(request, "followback/queue.html#list-response", context)


@require_POST
@vary_on_headers("HX-Request")
def queue_decide(request: AuthedRequest, brand: str, suggestion_id: int) -> HttpResponse:
    """One decision on one suggestion. htmx gets the row's replacement: nothing when it left the tab, the row
    as it now stands when someone else got there first."""
    membership = membership_for(request.user, brand, need=Role.REVIEWER)
    form = DecideForm(request.POST)
    decided = False
    if not form.is_valid():
        messages.error(request, "That decision was not understood; nothing changed.")
    else:
        try:
            decision = review.decide(
                membership.brand,
                suggestion_id,
                request.user,
                form.cleaned_data["kind"],
                form.cleaned_data["reason"],
            )
        except review.DecisionRefused as refused:
            messages.error(request, refused.message)
        else:
            decided = True
            messages.success(request, _decided_text(decision))
    if not request.htmx:
        return redirect(_back(request, membership))
    tab = Tab(request.POST["tab"]) if request.POST.get("tab") in {t.value for t in Tab} else Tab.PENDING
    suggestion = (
        Suggestion.objects.filter(brand=membership.brand, pk=suggestion_id)
        .select_related("follower", "account", "proposed_by", "decided_by")
        .annotate(comment_count=Count("comments"))
        .first()
    )
    expired = (
        suggestion is not None
        and suggestion.status in review.OPEN
        and suggestion.expires_at <= timezone.now()
    )
    in_tab = suggestion is not None and suggestion.status in TAB_STATUSES[tab] and not expired
    here = _back(request, membership)
    counts = tab_counts(membership.brand.pk)
    context = {
        "membership": membership,
        "suggestion": suggestion if (in_tab or not decided) else None,
        "settled": not in_tab,
        "expired": expired,
        "tab": tab,
        "tabs": [(t, counts[t.value]) for t in Tab],
        "queue_counts": counts,
        "second_approver": current_policy(membership.brand).policy.second_approver,
        "can_review": True,
        "can_approve": can_approve(membership),
        "can_bulk": can_bulk_decide(membership, tab),
        "here": here,
        "form": QueueFilterForm(QueryDict(urlsplit(here).query), []),
    }
    return render(request, "followback/queue.html#decision-response", context)


@require_POST
@vary_on_headers("HX-Request")
def queue_bulk(request: AuthedRequest, brand: str) -> HttpResponse:
    """The same decision on the rows someone ticked, each recorded as their own decision.

    htmx asks for confirmation in the browser (hx-confirm); a plain form post first gets a page listing what
    would be decided, and only its confirmation decides."""
    membership = membership_for(request.user, brand, need=Role.REVIEWER)
    form = BulkForm(request.POST)
    if not form.is_valid() or not form.cleaned_data["ids"]:
        messages.info(request, "Tick the suggestions to decide first.")
    elif not request.htmx and not form.cleaned_data["confirmed"]:
        return _bulk_confirmation(request, membership, form)
    else:
        kind = DecisionKind(form.cleaned_data["kind"])
        outcome = review.decide_many(
            membership.brand, form.cleaned_data["ids"], request.user, kind, form.cleaned_data["reason"]
        )
        if outcome.decided:
            messages.success(
                request,
                _bulk_text("Approved" if kind == DecisionKind.APPROVE else "Rejected", outcome.decided),
            )
        if outcome.refused:
            why = "; ".join(dict.fromkeys(reason for _, reason in outcome.refused))
            messages.error(request, f"{len(outcome.refused)} not decided: {why}")
    if request.htmx:
        return _list_response(request, membership)
    return redirect(_back(request, membership))


def _bulk_confirmation(request: AuthedRequest, membership: Membership, form: BulkForm) -> HttpResponse:
    """The page a bulk decision without JavaScript asks on: what would be decided, with confirm and cancel."""
    ids = list(dict.fromkeys(form.cleaned_data["ids"]))
    suggestions = list(
        Suggestion.objects.filter(brand=membership.brand, pk__in=ids)
        .select_related("follower", "account")
        .order_by("-score", "id")
    )
    kind = DecisionKind(form.cleaned_data["kind"])
    context = {
        "membership": membership,
        "kind": kind,
        "verb": "Approve" if kind == DecisionKind.APPROVE else "Reject",
        "ids": ids,
        "suggestions": suggestions,
        "missing": len(ids) - len(suggestions),
        "reason": form.cleaned_data["reason"],
        "here": _back(request, membership),
    }
    return render(request, "followback/queue_bulk_confirm.html", context)


@require_POST
@vary_on_headers("HX-Request")
def queue_undo(request: AuthedRequest, brand: str) -> HttpResponse:
    """Take back your own last decision, while it is recent and nobody acted on that suggestion since."""
    membership = membership_for(request.user, brand, need=Role.REVIEWER)
    try:
        undo = review.undo_last(membership.brand, request.user)
    except review.DecisionRefused as refused:
        messages.error(request, refused.message)
    else:
        messages.success(request, _decided_text(undo))
    if request.htmx:
        return _list_response(request, membership)
    return redirect(_back(request, membership))


def _detail_context(membership: Membership, suggestion: Suggestion) -> dict[str, Any]:
    return {
        "membership": membership,
        "suggestion": suggestion,
        "decisions": Decision.objects.filter(suggestion=suggestion)
        .select_related("actor", "undoes")
        .order_by("created_at", "id"),
        "comments": Comment.objects.filter(suggestion=suggestion).select_related("author"),
        "comment_form": CommentForm(),
        "can_review": can_review(membership),
        "can_approve": can_approve(membership),
        "second_approver": current_policy(membership.brand).policy.second_approver,
    }


def _suggestion(membership: Membership, suggestion_id: int) -> Suggestion:
    return get_object_or_404(
        Suggestion.objects.filter(brand=membership.brand).select_related(
            "follower", "account", "proposed_by", "decided_by", "policy_version"
        ),
        pk=suggestion_id,
    )


@require_GET
def suggestion_detail(request: AuthedRequest, brand: str, suggestion_id: int) -> HttpResponse:
    """One suggestion: the profile, why it was suggested, every decision on it and the team's comments."""
    membership = membership_for(request.user, brand)
    suggestion = _suggestion(membership, suggestion_id)
    context = _detail_context(membership, suggestion)
    context["here"] = request.get_full_path()
    context["tab"] = next((tab for tab in Tab if suggestion.status in TAB_STATUSES[tab]), Tab.DECIDED)
    return render(request, "followback/queue_suggestion.html", context)


@require_POST
@vary_on_headers("HX-Request")
def suggestion_comment(request: AuthedRequest, brand: str, suggestion_id: int) -> HttpResponse:
    membership = membership_for(request.user, brand, need=Role.REVIEWER)
    suggestion = _suggestion(membership, suggestion_id)
    form = CommentForm(request.POST)
    status = 200
    if form.is_valid():
        try:
            review.add_comment(membership.brand, suggestion.pk, request.user, form.cleaned_data["body"])
        except review.DecisionRefused as refused:
            form.add_error("body", refused.message)
    if form.errors:
        status = 422
    elif not request.htmx:
        messages.success(request, "Comment posted.")
    if not request.htmx:
        if form.errors:
            messages.error(request, " ".join(str(error) for error in form.errors["body"]))
        url = reverse("suggestion_detail", kwargs={"brand": brand, "suggestion_id": suggestion.pk})
        return redirect(f"{url}#comments")
    context = _detail_context(membership, suggestion)
    if form.errors:
        context["comment_form"] = form
    return render(request, "followback/queue_suggestion.html#suggestion-comments", context, status=status)
