from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.db import transaction

from accounts import connections, services, sync
from accounts.jobs import claim_job, fail_job, finish_job
from accounts.models import Invitation, Membership, Role, SyncRun

log = logging.getLogger(__name__)

# Who may ask for a sync: the roles of the "Sync now" button and of connecting an account.
SYNC_ROLES = (Role.REVIEWER, Role.APPROVER, Role.ADMIN)


def _invited_by_an_admin(invitation: Invitation) -> bool:
    inviter = invitation.invited_by_id
    return inviter is not None and (
        Membership.objects.admins().filter(brand_id=invitation.brand_id, user_id=inviter).exists()
    )


def _asked_by_nobody_or_the_team(run: SyncRun) -> bool:
    """Followback's own runs have no requester; a person's must be able to sync the account's brand."""
    requester = run.requested_by_id
    return requester is None or (
        Membership.objects.filter(
            brand_id=run.account.brand_id, user_id=requester, role__in=SYNC_ROLES
        ).exists()
    )


@shared_task(name="accounts.tasks.send_invitation")
def send_invitation(invitation_id: int) -> None:
    invitation = claim_job(Invitation, invitation_id)
    if invitation is None:
        return
    if invitation.accepted_at or invitation.revoked_at:
        finish_job(invitation)
        return
    if not _invited_by_an_admin(invitation):
        log.error("invitation %s: its inviter is not an admin of its brand", invitation_id)
        fail_job(invitation, "Not sent: the person who invited is not an admin of this brand any more.")
        return
    try:
        services.send_invitation_email(invitation)
    except OSError as error:
        log.warning("invitation %s: e-mail not sent: %s", invitation_id, error)
        fail_job(invitation, f"e-mail not sent: {error}", retry_in=timedelta(minutes=2**invitation.attempts))
    else:
        finish_job(invitation)


@shared_task(name="accounts.tasks.run_sync")
def run_sync(run_id: int) -> None:
    run = claim_job(SyncRun, run_id)
    if run is None:
        return
    account = run.account
    if not _asked_by_nobody_or_the_team(run):
        log.error("sync run %s: asked for by someone who may not sync this account", run_id)
        reason = "Not synced: asked for by someone who may not sync this account."
        with transaction.atomic():
            fail_job(run, reason)
            services.record(
                account.brand, "sync.failed", f"{run.get_kind_display()} sync of {account}: {reason}",
                actor=None, target=run,
            )  # fmt: skip
        return
    sync.execute_sync(run)


@shared_task(name="accounts.tasks.schedule_daily_syncs")
def schedule_daily_syncs() -> int:
    return len(connections.request_daily_syncs())
