"""Pages for a brand's connected platform accounts, their syncs, and the customer list."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from accounts import connections, customers
from accounts.forms import BlueskyConnectForm, CustomerUploadForm, DemoConnectForm, MastodonConnectForm
from accounts.http import AuthedRequest
from accounts.models import ConnectedAccount, Customer, Membership, Role, SyncKind, SyncRun
from accounts.permissions import can_administer, can_review, membership_for
from accounts.platforms.base import PlatformError, PlatformUnavailable

MASTODON_SESSION_KEY = "mastodon_oauth"


def _account(membership: Membership, account_id: int) -> ConnectedAccount:
    return get_object_or_404(ConnectedAccount.objects.connected(), pk=account_id, brand=membership.brand)


def _mastodon_redirect_uri() -> str:
    return settings.SITE_URL.rstrip("/") + reverse("accounts:mastodon_callback")


@require_GET
def account_list(request: AuthedRequest, brand: str) -> HttpResponse:
    membership = membership_for(request.user, brand)
    accounts = ConnectedAccount.objects.connected().filter(brand=membership.brand)
    context = {
        "membership": membership,
        "accounts": accounts,
        "can_administer": can_administer(membership),
        "demo_form": DemoConnectForm(),
        "mastodon_form": MastodonConnectForm(),
        "bluesky_form": BlueskyConnectForm(),
    }
    return render(request, "accounts/account_list.html", context)


@require_POST
def connect_demo(request: AuthedRequest, brand: str) -> HttpResponse:
    membership = membership_for(request.user, brand, need=Role.ADMIN)
    form = DemoConnectForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose how many followers to simulate.")
        return redirect("accounts:account_list", brand=brand)
    account = connections.connect_demo(membership.brand, form.cleaned_data["size"], by=request.user)
    messages.success(request, f"Connected {account}. The first sync has started.")
    return redirect("accounts:account_detail", brand=brand, account_id=account.pk)


@require_POST
def connect_mastodon(request: AuthedRequest, brand: str) -> HttpResponse:
    membership = membership_for(request.user, brand, need=Role.ADMIN)
    form = MastodonConnectForm(request.POST)
    if form.is_valid():
        try:
            authorization = connections.start_mastodon_authorization(
                form.cleaned_data["instance"], _mastodon_redirect_uri()
            )
        except ValueError:
            form.add_error("instance", "That does not look like a Mastodon server address.")
        except PlatformUnavailable as error:
            form.add_error("instance", f"{error}. Check the address, or try again later.")
        except PlatformError as error:
            form.add_error("instance", f"The server did not accept Followback: {error}")
        else:
            request.session[MASTODON_SESSION_KEY] = {
                "brand": membership.brand.slug, "state": authorization.state,
                "instance_url": authorization.instance_url, "verifier": authorization.code_verifier,
            }  # fmt: skip
            host = urlsplit(authorization.instance_url).netloc
            return render(request, "accounts/mastodon_continue.html",
                          {"authorization_url": authorization.url, "host": host})  # fmt: skip
    for problem in form.errors.get("instance", []):
        messages.error(request, str(problem))
    return redirect("accounts:account_list", brand=brand)


@require_GET
def mastodon_callback(request: AuthedRequest) -> HttpResponse:
    pending = request.session.pop(MASTODON_SESSION_KEY, None)
    if not pending or request.GET.get("state") != pending["state"]:
        raise PermissionDenied("This sign-in answer does not match a connection you started. Start again.")
    membership = membership_for(request.user, pending["brand"], need=Role.ADMIN)
    if "code" not in request.GET:
        messages.error(request, "Mastodon did not grant access, so nothing was connected.")
        return redirect("accounts:account_list", brand=membership.brand.slug)
    try:
        account = connections.finish_mastodon_authorization(
            membership.brand,
            pending["instance_url"],
            request.GET["code"],
            pending["verifier"],
            by=request.user,
        )
    except PlatformError as error:
        messages.error(request, f"Mastodon refused the connection: {error}")
        return redirect("accounts:account_list", brand=membership.brand.slug)
    messages.success(request, f"Connected {account}. The first sync has started.")
    return redirect("accounts:account_detail", brand=membership.brand.slug, account_id=account.pk)


@require_http_methods(["GET", "POST"])
def connect_bluesky(request: AuthedRequest, brand: str) -> HttpResponse:
    membership = membership_for(request.user, brand, need=Role.ADMIN)
    form = BlueskyConnectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            account = connections.connect_bluesky(
                membership.brand, form.cleaned_data["handle"], form.cleaned_data["app_password"],
                by=request.user, service_url=settings.BLUESKY_SERVICE_URL, plc_url=settings.BLUESKY_PLC_URL,
            )  # fmt: skip
        except PlatformError as error:
            form.add_error(None, f"Bluesky did not accept these details: {error}")
        else:
            messages.success(request, f"Connected {account}. The first sync has started.")
            return redirect("accounts:account_detail", brand=brand, account_id=account.pk)
    return render(request, "accounts/connect_bluesky.html", {"membership": membership, "form": form},
                  status=422 if form.errors else 200)  # fmt: skip


def _detail_context(membership: Membership, account: ConnectedAccount) -> dict[str, object]:
    runs = list(SyncRun.objects.filter(account=account).order_by("-id")[:10])
    return {
        "membership": membership,
        "account": account,
        "runs": runs,
        "active_runs": [run for run in runs if run.status in ("queued", "running")],
        "can_sync": can_review(membership),
        "can_administer": can_administer(membership),
    }


@require_GET
def account_detail(request: AuthedRequest, brand: str, account_id: int) -> HttpResponse:
    membership = membership_for(request.user, brand)
    account = _account(membership, account_id)
    return render(request, "accounts/account_detail.html", _detail_context(membership, account))


@require_GET
def account_progress(request: AuthedRequest, brand: str, account_id: int) -> HttpResponse:
    membership = membership_for(request.user, brand)
    # A page left open on an account disconnected meanwhile polls here: answer with its (now idle) progress,
    # which stops the polling, rather than a 404 every second.
    account = get_object_or_404(ConnectedAccount, pk=account_id, brand=membership.brand)
    return render(request, "accounts/account_detail.html#sync-progress", _detail_context(membership, account))


@require_POST
@vary_on_headers("HX-Request")
def account_sync(request: AuthedRequest, brand: str, account_id: int) -> HttpResponse:
    membership = membership_for(request.user, brand, need=Role.REVIEWER)
    account = _account(membership, account_id)
    if account.status != "active":
        messages.error(request, f"{account} needs reconnecting before it can sync.")
    else:
        connections.request_sync(account, SyncKind.FOLLOWERS, by=request.user)
        messages.success(request, f"Syncing {account}.")
    if request.htmx:
        return render(
            request, "accounts/account_detail.html#sync-progress", _detail_context(membership, account)
        )
    return redirect("accounts:account_detail", brand=brand, account_id=account.pk)


@require_POST
def account_disconnect(request: AuthedRequest, brand: str, account_id: int) -> HttpResponse:
    membership = membership_for(request.user, brand, need=Role.ADMIN)
    account = _account(membership, account_id)
    connections.disconnect(account, by=request.user)
    messages.success(request, f"Disconnected {account}; its credentials are deleted.")
    return redirect("accounts:account_list", brand=brand)


@require_http_methods(["GET", "POST"])
def customer_list(request: AuthedRequest, brand: str) -> HttpResponse:
    membership = membership_for(request.user, brand, need=Role.ADMIN)
    form = CustomerUploadForm(request.POST or None, request.FILES or None)
    report = None
    if request.method == "POST" and form.is_valid():
        try:
            report = customers.import_customers(
                membership.brand,
                form.cleaned_data["file"].read(customers.MAX_UPLOAD_BYTES + 1),
                by=request.user,
            )
        except customers.UnreadableFile as error:
            form.add_error("file", str(error))
    context = {
        "membership": membership,
        "form": form,
        "report": report,
        "customer_count": Customer.objects.filter(brand=membership.brand).count(),
    }
    return render(request, "accounts/customers.html", context, status=422 if form.errors else 200)
