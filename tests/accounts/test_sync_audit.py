"""Every sync run that ends, finished or failed, leaves an audit event written with its final state."""

from __future__ import annotations

import pytest

from accounts import sync
from accounts.jobs import JobStatus, claim_job
from accounts.models import AccountStatus, AuditEvent, ConnectedAccount, Platform, SyncKind, SyncRun
from tests.accounts.test_sync import ScriptedConnector, pages_of


@pytest.fixture
def account(brand) -> ConnectedAccount:
    return ConnectedAccount.objects.create(
        brand=brand, platform=Platform.MASTODON, platform_user_id="1", handle="acme@example.social"
    )


@pytest.fixture
def use_connector(monkeypatch):
    def install(connector: ScriptedConnector) -> None:
        monkeypatch.setattr(sync, "connector_for", lambda account: connector)

    return install


def claimed_run(account: ConnectedAccount, attempts_before: int = 0) -> SyncRun:
    run = SyncRun.objects.create(account=account, kind=SyncKind.FOLLOWERS, attempts=attempts_before)
    claimed = claim_job(SyncRun, run.pk)
    assert claimed is not None
    return claimed


def test_a_platform_error_with_attempts_left_retries_without_an_audit_event(account, use_connector):
    use_connector(ScriptedConnector(pages_of(range(0, 2)), fail_at=0))
    run = claimed_run(account)
    sync.execute_sync(run)
    run.refresh_from_db()
    assert run.status == JobStatus.QUEUED
    assert not AuditEvent.objects.filter(verb="sync.failed").exists()


def test_a_platform_error_on_the_last_attempt_fails_the_run_with_an_audit_event(account, use_connector):
    use_connector(ScriptedConnector(pages_of(range(0, 2)), fail_at=0))
    run = claimed_run(account, attempts_before=SyncRun.max_attempts - 1)
    sync.execute_sync(run)
    run.refresh_from_db()
    assert (run.status, run.last_error) == (JobStatus.FAILED, "connection reset")
    assert run.finished_at is not None
    event = AuditEvent.objects.get(verb="sync.failed")
    assert event.target_id == str(run.pk)
    assert "connection reset" in event.summary


def test_a_run_for_a_disconnected_account_fails_with_an_audit_event(account):
    ConnectedAccount.objects.filter(pk=account.pk).update(status=AccountStatus.DISCONNECTED)
    run = claimed_run(account)
    sync.execute_sync(run)
    run.refresh_from_db()
    assert run.status == JobStatus.FAILED
    assert AuditEvent.objects.filter(verb="sync.failed", target_id=str(run.pk)).count() == 1


def test_the_final_state_and_its_audit_event_commit_together(account, use_connector, monkeypatch):
    use_connector(ScriptedConnector(pages_of(range(0, 2)), fail_at=0))
    run = claimed_run(account, attempts_before=SyncRun.max_attempts - 1)

    def audit_write_fails(*args, **kwargs):
        raise RuntimeError("the audit write failed")

    monkeypatch.setattr(sync, "record", audit_write_fails)
    with pytest.raises(RuntimeError):
        sync.execute_sync(run)
    run.refresh_from_db()
    assert run.status == JobStatus.RUNNING  # not failed without its event; the lease brings it back
