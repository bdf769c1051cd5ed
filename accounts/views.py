from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from accounts import lockouts, services
from accounts.forms import InviteForm, JoinForm, RoleForm
from accounts.http import AuthedRequest
from accounts.models import Invitation, Membership, Role, User
from accounts.permissions import membership_for


def _members_page(
    request: AuthedRequest, membership: Membership, invite_form: InviteForm | None = None, status: int = 200
) -> HttpResponse:
    brand = membership.brand
    members = list(Membership.objects.filter(brand=brand).select_related("user").order_by("user__email"))
    context = {
        "membership": membership,
        "members": members,
        "locked_out": lockouts.locked_out([member.user.email for member in members]),
        "invitations": Invitation.objects.filter(brand=brand).open().select_related("invited_by"),
        "invite_form": invite_form or InviteForm(),
        "roles": Role,
    }
    template = "accounts/members.html#members-panel" if request.htmx else "accounts/members.html"
    return render(request, template, context, status=status)


def _after_member_change(request: AuthedRequest, membership: Membership) -> HttpResponse:
    if request.htmx:
        return _members_page(request, membership)
    return redirect("accounts:members", brand=membership.brand.slug)


@require_http_methods(["GET"])
def members(request: AuthedRequest, brand: str) -> HttpResponse:
    membership = membership_for(request.user, brand, need=Role.ADMIN)
    return _members_page(request, membership)


@require_POST
@vary_on_headers("HX-Request")
def member_invite(request: AuthedRequest, brand: str) -> HttpResponse:
    membership = membership_for(request.user, brand, need=Role.ADMIN)
    form = InviteForm(request.POST)
    if form.is_valid():
        try:
            invitation = services.invite(
                membership.brand, form.cleaned_data["email"], form.cleaned_role(), by=request.user
            )
        except ValidationError as error:
            form.add_error("email", error)
        else:
            messages.success(request, f"Invitation sent to {invitation.email}.")
            return _after_member_change(request, membership)
    return _members_page(request, membership, form, status=422 if request.htmx else 200)


@require_POST
@vary_on_headers("HX-Request")
def member_role(request: AuthedRequest, brand: str, member_id: int) -> HttpResponse:
    membership = membership_for(request.user, brand, need=Role.ADMIN)
    target = get_object_or_404(
        Membership.objects.select_related("user"), pk=member_id, brand=membership.brand
    )
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose one of the roles.")
        return _after_member_change(request, membership)
    try:
        changed = services.change_role(target, form.cleaned_role(), by=request.user)
    except ValidationError as error:
        messages.error(request, error.messages[0])
    else:
        messages.success(request, f"{changed.user} is now {changed.get_role_display().lower()}.")
    return _after_member_change(request, membership)


@require_POST
@vary_on_headers("HX-Request")
def member_remove(request: AuthedRequest, brand: str, member_id: int) -> HttpResponse:
    membership = membership_for(request.user, brand, need=Role.ADMIN)
    target = get_object_or_404(
        Membership.objects.select_related("user"), pk=member_id, brand=membership.brand
    )
    try:
        services.remove_member(target, by=request.user)
    except ValidationError as error:
        messages.error(request, error.messages[0])
    else:
        messages.success(request, f"{target.user} no longer has access to {membership.brand}.")
    return _after_member_change(request, membership)


@require_POST
@vary_on_headers("HX-Request")
def member_unlock(request: AuthedRequest, brand: str, member_id: int) -> HttpResponse:
    membership = membership_for(request.user, brand, need=Role.ADMIN)
    target = get_object_or_404(
        Membership.objects.select_related("user", "brand"), pk=member_id, brand=membership.brand
    )
    if services.unlock_member(target, by=request.user):
        messages.success(request, f"{target.user} can sign in again.")
    else:
        messages.info(request, f"{target.user} was not locked out.")
    return _after_member_change(request, membership)


@require_POST
@vary_on_headers("HX-Request")
def invitation_revoke(request: AuthedRequest, brand: str, invitation_id: int) -> HttpResponse:
    membership = membership_for(request.user, brand, need=Role.ADMIN)
    invitation = get_object_or_404(Invitation.objects.open(), pk=invitation_id, brand=membership.brand)
    services.revoke_invitation(invitation, by=request.user)
    messages.success(request, f"The invitation of {invitation.email} was withdrawn.")
    return _after_member_change(request, membership)


@login_not_required
@require_http_methods(["GET", "POST"])
def accept_invitation(request: AuthedRequest, token: str) -> HttpResponse:
    try:
        invitation = services.invitation_from_token(token)
    except ValidationError as error:
        return render(request, "accounts/invitation_invalid.html", {"reason": error.messages[0]}, status=410)
    signed_in = request.user.is_authenticated
    needs_sign_in = not signed_in and User.objects.filter(email__iexact=invitation.email).exists()
    form = JoinForm(request.POST or None, email=invitation.email)
    if request.method == "POST" and not needs_sign_in and (signed_in or form.is_valid()):
        try:
            if signed_in:
                user = services.accept_invitation(invitation, user=request.user)
            else:
                user = services.accept_invitation(
                    invitation,
                    user=None,
                    name=form.cleaned_data["name"],
                    password=form.cleaned_data["password1"],
                )
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        except ValidationError as error:
            return render(
                request, "accounts/invitation_invalid.html", {"reason": error.messages[0]}, status=409
            )
        messages.success(request, f"Welcome to {invitation.brand}.")
        return redirect("brand_home", brand=invitation.brand.slug)
    context = {"invitation": invitation, "form": form, "signed_in": signed_in, "needs_sign_in": needs_sign_in}
    return render(request, "accounts/invitation_accept.html", context)
