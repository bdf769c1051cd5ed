from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET
from django_htmx.http import HttpResponseClientRefresh

from accounts.http import AuthedRequest
from accounts.models import Membership
from accounts.permissions import can_administer, can_approve, membership_for
from followback import dashboard

LAST_BRAND_SESSION_KEY = "last_brand"


@require_GET
def home(request: AuthedRequest) -> HttpResponse:
    """Send people to the brand they used last, or their first brand."""
    memberships = Membership.objects.for_user(request.user).select_related("brand").order_by("brand__name")
    last = request.session.get(LAST_BRAND_SESSION_KEY)
    chosen = next((m for m in memberships if m.brand.slug == last), None) or next(iter(memberships), None)
    if chosen is None:
        return render(request, "followback/no_brand.html")
    return redirect("brand_home", brand=chosen.brand.slug)


@require_GET
def brand_home(request: AuthedRequest, brand: str) -> HttpResponse:
    """The brand's dashboard: followers over time, what waits, today's work and the syncs (see dashboard.py)."""
    membership = membership_for(request.user, brand)
    if request.session.get(LAST_BRAND_SESSION_KEY) != membership.brand.slug:
        request.session[LAST_BRAND_SESSION_KEY] = membership.brand.slug  # a write only when it changes
    context = {
        "membership": membership,
        "can_administer": can_administer(membership),
        "can_read_audit": can_approve(membership),
        **dashboard.brand_dashboard(membership.brand),
    }
    return render(request, "followback/brand_home.html", context)


@login_not_required
def csrf_failure(request: AuthedRequest, reason: str = "") -> HttpResponse:
    """A stale or missing CSRF token (an expired session, a sign-in in another tab): reload rather than fail.

    For htmx the whole page reloads, which also sends a signed-out person to the login form; a plain form post
    gets a page that says what happened and that nothing was changed.
    """
    if request.htmx:
        return HttpResponseClientRefresh()
    return render(request, "403_csrf.html", status=403)


@login_not_required
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
