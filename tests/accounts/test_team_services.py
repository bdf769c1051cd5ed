import io

import pytest
from django.core import mail
from django.core.exceptions import ValidationError

from accounts import services
from accounts.models import AuditEvent, Invitation, Membership, Role, User
from accounts.tasks import send_invitation


def test_inviting_records_an_audit_event_and_queues_the_email_job(
    brand, owner, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        invitation = services.invite(brand, "New.Person@Example.com", Role.REVIEWER, by=owner)
    assert invitation.email == "new.person@example.com"
    assert invitation.status == "queued"
    assert len(callbacks) == 1
    event = AuditEvent.objects.get(brand=brand, verb="member.invited")
    assert event.actor == owner
    assert "new.person@example.com" in event.summary


def test_invitation_email_carries_a_link_that_opens_the_invitation(brand, owner):
    invitation = Invitation.objects.create(
        brand=brand, email="new@example.com", role=Role.REVIEWER, invited_by=owner
    )
    send_invitation.run(invitation.pk)
    invitation.refresh_from_db()
    assert invitation.status == "done"
    assert len(mail.outbox) == 1
    body = mail.outbox[0].body
    token = body.split("/invitations/")[1].split("/")[0]
    assert services.invitation_from_token(token) == invitation


def test_a_second_open_invitation_for_the_same_email_is_refused(brand, owner):
    services.invite(brand, "twice@example.com", Role.VIEWER, by=owner)
    with pytest.raises(ValidationError, match="already has an open invitation"):
        services.invite(brand, "TWICE@example.com", Role.VIEWER, by=owner)


def test_inviting_an_existing_member_is_refused(brand, owner, reviewer):
    with pytest.raises(ValidationError, match="already a member"):
        services.invite(brand, reviewer.email, Role.VIEWER, by=owner)


def test_accepting_creates_the_account_and_membership_once(brand, owner):
    invitation = services.invite(brand, "new@example.com", Role.APPROVER, by=owner)
    user = services.accept_invitation(invitation, user=None, name="New Person", password="a-long-password-1")
    assert user.check_password("a-long-password-1")
    assert Membership.objects.get(user=user, brand=brand).role == Role.APPROVER
    with pytest.raises(ValidationError, match="already used"):
        services.accept_invitation(invitation, user=None, name="Again", password="a-long-password-1")
    assert User.objects.filter(email="new@example.com").count() == 1


def test_a_signed_in_person_cannot_accept_someone_elses_invitation(brand, owner, outsider):
    invitation = services.invite(brand, "someone@example.com", Role.ADMIN, by=owner)
    with pytest.raises(ValidationError, match=r"This invitation is for someone@example\.com"):
        services.accept_invitation(invitation, user=outsider)
    assert not Membership.objects.filter(user=outsider, brand=brand).exists()


def test_expired_and_tampered_invitation_links_are_refused(brand, owner, settings):
    invitation = services.invite(brand, "late@example.com", Role.VIEWER, by=owner)
    token = services.invitation_token(invitation)
    with pytest.raises(ValidationError, match="not valid"):
        services.invitation_from_token(token + "x")
    settings.INVITATION_MAX_AGE_DAYS = -1
    with pytest.raises(ValidationError, match="expired"):
        services.invitation_from_token(token)


def test_revoked_invitations_can_no_longer_be_used(brand, owner):
    invitation = services.invite(brand, "gone@example.com", Role.VIEWER, by=owner)
    services.revoke_invitation(invitation, by=owner)
    with pytest.raises(ValidationError, match="withdrawn"):
        services.invitation_from_token(services.invitation_token(invitation))


def test_changing_a_role_is_audited(brand, owner, reviewer):
    membership = Membership.objects.get(user=reviewer, brand=brand)
    services.change_role(membership, Role.APPROVER, by=owner)
    membership.refresh_from_db()
    assert membership.role == Role.APPROVER
    event = AuditEvent.objects.get(brand=brand, verb="member.role_changed")
    assert event.data == {"old": "reviewer", "new": "approver"}


def test_the_last_admin_cannot_be_demoted_or_removed(brand, owner):
    membership = Membership.objects.get(user=owner, brand=brand)
    with pytest.raises(services.LastAdminError):
        services.change_role(membership, Role.VIEWER, by=owner)
    with pytest.raises(services.LastAdminError):
        services.remove_member(membership, by=owner)
    membership.refresh_from_db()
    assert membership.role == Role.ADMIN
    assert not AuditEvent.objects.filter(verb__in=["member.role_changed", "member.removed"]).exists()


def test_an_admin_can_step_down_once_another_admin_exists(brand, owner, approver):
    services.change_role(Membership.objects.get(user=approver, brand=brand), Role.ADMIN, by=owner)
    services.change_role(Membership.objects.get(user=owner, brand=brand), Role.REVIEWER, by=owner)
    assert Membership.objects.get(user=owner, brand=brand).role == Role.REVIEWER


def test_removing_a_member_keeps_the_audit_trail(brand, owner, viewer):
    services.remove_member(Membership.objects.get(user=viewer, brand=brand), by=owner)
    assert not Membership.objects.filter(user=viewer, brand=brand).exists()
    assert AuditEvent.objects.get(verb="member.removed").data == {"email": viewer.email}


def test_roles_are_ordered_from_viewer_to_admin():
    assert [role.rank for role in Role] == [0, 1, 2, 3]
    assert Role.ADMIN.at_least(Role.APPROVER)
    assert not Role.REVIEWER.at_least(Role.APPROVER)


def test_rotating_credentials_re_encrypts_every_row_with_the_new_key(brand, settings):
    from cryptography.fernet import Fernet
    from django.core.management import call_command

    from accounts import crypto
    from accounts.models import ConnectedAccount, Platform

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    crypto.reset_key_cache()
    for n in range(3):
        ConnectedAccount.objects.create(
            brand=brand,
            platform=Platform.MASTODON,
            platform_user_id=str(n),
            handle=f"a{n}",
            credentials_ciphertext=crypto.encrypt_json({"access_token": f"t{n}"}),
        )
    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    crypto.reset_key_cache()
    call_command("rotate_credentials", stdout=io.StringIO())
    settings.FIELD_ENCRYPTION_KEYS = [new]
    crypto.reset_key_cache()
    try:
        tokens = sorted(
            crypto.decrypt_json(a.credentials_ciphertext)["access_token"]
            for a in ConnectedAccount.objects.all()
        )
        assert tokens == ["t0", "t1", "t2"]
    finally:
        settings.FIELD_ENCRYPTION_KEYS = []
        crypto.reset_key_cache()


def test_an_audit_summary_longer_than_its_column_is_cut_with_an_ellipsis(brand, owner):
    event = services.record(brand, "comment.added", "x" * 1000, actor=owner)
    event.refresh_from_db()
    assert len(event.summary) == 300
    assert event.summary.endswith("x…")
