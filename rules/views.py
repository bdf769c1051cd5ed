"""The policy page, its live preview, and the version history."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from accounts.http import AuthedRequest
from accounts.models import Membership, Role
from accounts.permissions import can_administer, membership_for
from rules import services
from rules.forms import PolicyForm, read_only_sections
from rules.models import PolicyVersion
from rules.policy import diff

HISTORY_LIMIT = 50


def _policy_page(
    request: AuthedRequest,
    membership: Membership,
    version: PolicyVersion,
    form: PolicyForm | None,
    preview: services.PolicyPreview | None,
    status: int = 200,
) -> HttpResponse:
    context = {
        "membership": membership,
        "version": version,
        "form": form,
        "read_only": None if form else read_only_sections(version.policy),
        "preview": preview,
    }
    return render(request, "rules/policy.html", context, status=status)


@require_http_methods(["GET", "POST"])
def policy(request: AuthedRequest, brand: str) -> HttpResponse:
    """Every member reads the policy; admins edit it here, and each save adds a version."""
    membership = membership_for(
        request.user, brand, need=Role.ADMIN if request.method == "POST" else Role.VIEWER
    )
    current = services.current_policy(membership.brand)
    if request.method == "GET":
        if not can_administer(membership):
            return _policy_page(request, membership, current, None, None)
        preview = services.preview_policy(membership.brand, current.policy)
        return _policy_page(request, membership, current, PolicyForm.for_settings(current.policy), preview)
    form = PolicyForm(request.POST)
    if not form.is_valid():
        return _policy_page(request, membership, current, form, None, status=422)
    version = services.save_policy(
        membership.brand, form.policy_settings(), by=request.user, note=form.cleaned_data["note"]
    )
    if version.pk == current.pk:
        messages.info(request, f"Nothing changed: the policy is still version {version.number}.")
    else:
        messages.success(
            request, f"Policy saved as version {version.number}. Today's queue is being rebuilt with it."
        )
    return redirect("rules:policy", brand=membership.brand.slug)


@require_POST
@vary_on_headers("HX-Request")
def policy_preview(request: AuthedRequest, brand: str) -> HttpResponse:
    """What a draft would suggest: the preview panel for htmx, the whole page with the draft kept otherwise."""
    membership = membership_for(request.user, brand, need=Role.ADMIN)
    form = PolicyForm(request.POST)
    valid = form.is_valid()
    preview = services.preview_policy(membership.brand, form.policy_settings()) if valid else None
    status = 200 if valid else 422
    if request.htmx:
        context = {"membership": membership, "form": form, "preview": preview}
        return render(request, "rules/policy.html#policy-preview", context, status=status)
    current = services.current_policy(membership.brand)
    return _policy_page(request, membership, current, form, preview, status=status)


@require_GET
def policy_history(request: AuthedRequest, brand: str) -> HttpResponse:
    """Every version, newest first, with who saved it and what it changed from the one before."""
    membership = membership_for(request.user, brand)
    services.current_policy(membership.brand)
    versions = list(
        PolicyVersion.objects.for_brand(membership.brand)
        .select_related("created_by", "reverted_from")
        .order_by("-number")[: HISTORY_LIMIT + 1]
    )
    entries = [
        (version, diff(older.policy, version.policy) if older else None)
        for version, older in zip(versions, [*versions[1:], None], strict=True)
    ][:HISTORY_LIMIT]
    context = {
        "membership": membership,
        "entries": entries,
        "current": versions[0],
        "has_older": len(versions) > HISTORY_LIMIT,
        "can_administer": can_administer(membership),
    }
    return render(request, "rules/history.html", context)


@require_POST
def policy_revert(request: AuthedRequest, brand: str, number: int) -> HttpResponse:
    membership = membership_for(request.user, brand, need=Role.ADMIN)
    old = get_object_or_404(PolicyVersion.objects.for_brand(membership.brand), number=number)
    current = services.current_policy(membership.brand)
    try:
        version = services.revert_policy(membership.brand, old, by=request.user)
    except ValidationError as error:
        messages.error(request, f"Version {old.number} cannot be restored: {' '.join(error.messages)}")
    else:
        if version.pk != current.pk:
            messages.success(
                request,
                f"Restored version {old.number} as version {version.number}. "
                "Today's queue is being rebuilt with it.",
            )
        else:
            messages.info(request, f"Nothing changed: version {version.number} already has these settings.")
    return redirect("rules:policy_history", brand=membership.brand.slug)
