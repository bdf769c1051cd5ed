"""Connecting a brand's platform accounts, building their connectors, and asking for syncs."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import crypto
from accounts.jobs import send_jobs
from accounts.models import (
    AccountStatus,
    Brand,
    ConnectedAccount,
    MastodonApp,
    Platform,
    SyncKind,
    SyncRun,
    User,
)
from accounts.platforms import bluesky, mastodon
from accounts.platforms.base import Connector, ProfileData
from accounts.platforms.demo import DemoConnector
from accounts.services import record

DEMO_SIZES = (100, 1_000, 10_000, 50_000, 200_000, 1_000_000)


@dataclass(frozen=True)
class MastodonAuthorization:
    """What the OAuth round trip must remember between the redirect out and the callback."""

    instance_url: str
    state: str
    code_verifier: str
    url: str


class CredentialsOfAnotherAccount(crypto.CredentialsUnreadable):
    """The stored credentials sign in as another platform account than the one they are stored with."""


def credentials_of(account: ConnectedAccount) -> dict[str, Any]:
    return crypto.decrypt_json(account.credentials_ciphertext)


def _save_account(
    brand: Brand,
    platform: Platform,
    profile: ProfileData,
    *,
    server_url: str,
    credentials: dict[str, Any],
    by: User,
    settings: dict[str, Any] | None = None,
) -> ConnectedAccount:
    with transaction.atomic():
        account, created = ConnectedAccount.objects.update_or_create(
            brand=brand, platform=platform, platform_user_id=profile.platform_id,
            defaults={
                "handle": profile.handle, "display_name": profile.display_name, "server_url": server_url,
                "profile_url": profile.profile_url, "status": AccountStatus.ACTIVE, "status_reason": "",
                "credentials_ciphertext": crypto.encrypt_json(credentials),
                "followers_count": profile.followers_count, "following_count": profile.following_count,
                "connected_by": by, "connected_at": timezone.now(),
            },
        )  # fmt: skip
        if settings is not None:
            account.settings = {**account.settings, **settings}
            account.save(update_fields=["settings"])
        verb = "account.connected" if created else "account.reconnected"
        record(brand, verb, f"{by} connected {account}", actor=by, target=account)
        request_sync(account, SyncKind.FOLLOWERS, by=by)
    return account


def connect_demo(brand: Brand, size: int, *, by: User) -> ConnectedAccount:
    handle = f"{brand.slug}.demo"
    profile = ProfileData(
        platform_id=f"demo-brand:{brand.slug}",
        handle=handle,
        display_name=brand.name,
        followers_count=size,
        following_count=size // 20,
    )
    seed = int.from_bytes(brand.slug.encode()[:6].ljust(6, b"\0"), "big")
    return _save_account(
        brand,
        Platform.DEMO,
        profile,
        server_url="",
        credentials={},
        by=by,
        settings={"seed": seed, "size": size, "sync_number": 0},
    )


def start_mastodon_authorization(instance: str, redirect_uri: str) -> MastodonAuthorization:
    """Register (once per server) and build the authorize URL; raises ValueError or PlatformError."""
    instance_url = mastodon.normalize_instance_url(instance)
    app = MastodonApp.objects.filter(instance_url=instance_url, redirect_uri=redirect_uri).first()
    if app is None:
        registered = mastodon.register_app(instance_url, redirect_uri)
        app, _ = MastodonApp.objects.get_or_create(
            instance_url=instance_url,
            defaults={"redirect_uri": redirect_uri, "client_id": registered.client_id,
                      "client_secret_ciphertext": crypto.encrypt_json({"secret": registered.client_secret})},
        )  # fmt: skip
    pkce = mastodon.make_pkce_pair()
    state = secrets.token_urlsafe(24)
    url = mastodon.authorization_url(instance_url, app.client_id, redirect_uri, state, pkce.challenge)
    return MastodonAuthorization(instance_url, state, pkce.verifier, url)


def finish_mastodon_authorization(
    brand: Brand, instance_url: str, code: str, code_verifier: str, *, by: User
) -> ConnectedAccount:
    app = MastodonApp.objects.get(instance_url=instance_url)
    app_credentials = mastodon.AppCredentials(
        instance_url=app.instance_url, client_id=app.client_id,
        client_secret=crypto.decrypt_json(app.client_secret_ciphertext)["secret"], redirect_uri=app.redirect_uri,
    )  # fmt: skip
    token = mastodon.exchange_code(app_credentials, code, code_verifier)
    profile = mastodon.verify_credentials(instance_url, token)
    return _save_account(
        brand, Platform.MASTODON, profile, server_url=instance_url, credentials={"access_token": token}, by=by
    )


def connect_bluesky(
    brand: Brand, handle: str, app_password: str, *, by: User, service_url: str, plc_url: str
) -> ConnectedAccount:
    session = bluesky.create_session(handle, app_password, service_url=service_url, plc_url=plc_url)
    with bluesky.BlueskyConnector(session) as connector:
        profiles = connector.get_profiles([session.did])
    profile = profiles[0] if profiles else ProfileData(platform_id=session.did, handle=session.handle)
    return _save_account(
        brand,
        Platform.BLUESKY,
        profile,
        server_url=session.pds_url,
        credentials=_bluesky_credentials(session),
        by=by,
    )


def _bluesky_credentials(session: bluesky.BlueskySession) -> dict[str, Any]:
    return {"did": session.did, "handle": session.handle, "pds_url": session.pds_url,
            "access_jwt": session.access_jwt, "refresh_jwt": session.refresh_jwt}  # fmt: skip


def _store_refreshed_bluesky_session(account_id: int) -> Any:
    def store(session: bluesky.BlueskySession) -> None:
        ConnectedAccount.objects.filter(pk=account_id).update(
            credentials_ciphertext=crypto.encrypt_json(_bluesky_credentials(session))
        )

    return store


def connector_for(account: ConnectedAccount) -> Connector:
    """The platform client for this account, with its decrypted credentials (never logged)."""
    if account.platform == Platform.DEMO:
        # The demo platform keeps whom the brand follows in our own table (the follower_followed_back index).
        followed = account.followers.filter(brand_follows=True).values_list("platform_id", flat=True)
        return DemoConnector(
            seed=account.settings["seed"], follower_count=account.settings["size"], brand_handle=account.handle,
            sync_number=account.settings.get("sync_number", 0), followed=list(followed),
        )  # fmt: skip
    credentials = credentials_of(account)
    if account.platform == Platform.BLUESKY and credentials.get("did") != account.platform_user_id:
        raise CredentialsOfAnotherAccount("the stored Bluesky session is for another account")
    if account.platform == Platform.MASTODON:
        return mastodon.MastodonConnector(
            account.server_url, credentials["access_token"], account.platform_user_id
        )
    session = bluesky.BlueskySession(
        did=credentials["did"], handle=credentials["handle"], pds_url=credentials["pds_url"],
        access_jwt=credentials["access_jwt"], refresh_jwt=credentials["refresh_jwt"],
    )  # fmt: skip
    return bluesky.BlueskyConnector(
        session, on_session_refreshed=_store_refreshed_bluesky_session(account.pk)
    )


def disconnect(account: ConnectedAccount, *, by: User) -> None:
    with transaction.atomic():
        account.credentials_ciphertext = ""
        account.status = AccountStatus.DISCONNECTED
        account.status_reason = f"disconnected by {by}"
        account.save(update_fields=["credentials_ciphertext", "status", "status_reason"])
        SyncRun.objects.filter(account=account).active().update(
            status="failed", last_error="account disconnected"
        )
        record(
            account.brand, "account.disconnected", f"{by} disconnected {account}", actor=by, target=account
        )


def mark_auth_expired(account: ConnectedAccount, reason: str) -> None:
    with transaction.atomic():
        account.status = AccountStatus.AUTH_EXPIRED
        account.status_reason = reason[:300]
        account.save(update_fields=["status", "status_reason"])
        record(
            account.brand,
            "account.auth_expired",
            f"{account} needs reconnecting: {reason}",
            actor=None,
            target=account,
        )


def request_sync(account: ConnectedAccount, kind: SyncKind, *, by: User | None) -> SyncRun:
    """The account's active run of this kind, or a new one: one sync per account and kind at a time."""
    existing = SyncRun.objects.filter(account=account, kind=kind).active().first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            expected = account.following_count if kind == SyncKind.FOLLOWING else account.followers_count
            run = SyncRun.objects.create(account=account, kind=kind, requested_by=by, expected_total=expected)
            send_jobs(SyncRun, [run.pk])
    except IntegrityError:
        return SyncRun.objects.filter(account=account, kind=kind).active().get()
    return run


def request_daily_syncs() -> list[SyncRun]:
    """A followers sync for every connected account whose brand's daily hour has come and not yet synced today."""
    now = timezone.now()
    hour_start = now.replace(minute=0, second=0, microsecond=0)
    due = (
        ConnectedAccount.objects.filter(status=AccountStatus.ACTIVE, brand__sync_hour=now.hour)
        .exclude(last_synced_at__gte=hour_start)
        .select_related("brand")
    )
    return [request_sync(account, SyncKind.FOLLOWERS, by=None) for account in due]
