"""Workflows over brands and teams: each is one transaction that also writes its audit event."""

from __future__ import annotations

from typing import Any

from axes.utils import reset as reset_sign_in_attempts
from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Model
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts import lockouts
from accounts.jobs import send_jobs
from accounts.models import AuditEvent, Brand, Invitation, Membership, Role, User

INVITATION_SALT = "followback.invitation"


class LastAdminError(ValidationError):
    pass


def record(
    brand: Brand, verb: str, summary: str, *, actor: User | None, target: Model | None = None, **data: Any
) -> AuditEvent:
    limit = AuditEvent._meta.get_field("summary").max_length or 300
    return AuditEvent.objects.create(
        brand=brand,
        actor=actor,
        verb=verb,
        summary=summary if len(summary) <= limit else summary[: limit - 1] + "…",
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        data=data,
    )


def create_brand(name: str, slug: str, *, owner: User) -> Brand:
    with transaction.atomic():
        brand = Brand.objects.create(name=name, slug=slug)
        Membership.objects.create(user=owner, brand=brand, role=Role.ADMIN)
        record(brand, "brand.created", f"{owner} created {name}", actor=owner, target=brand)
    return brand


def invite(brand: Brand, email: str, role: Role, *, by: User) -> Invitation:
    email = email.strip().lower()
    with transaction.atomic():
        if Membership.objects.filter(brand=brand, user__email__iexact=email).exists():
            raise ValidationError(f"{email} is already a member of {brand}.")
        if Invitation.objects.open().filter(brand=brand, email__iexact=email).exists():
            raise ValidationError(f"{email} already has an open invitation.")
        invitation = Invitation.objects.create(brand=brand, email=email, role=role, invited_by=by)
        record(
            brand,
            "member.invited",
            f"{by} invited {email} as {role.label.lower()}",
            actor=by,
            target=invitation,
        )
        send_jobs(Invitation, [invitation.pk])
    return invitation


def invitation_token(invitation: Invitation) -> str:
    return signing.dumps(invitation.pk, salt=INVITATION_SALT)


def invitation_from_token(token: str) -> Invitation:
    """The open invitation a link points to; a ValidationError says why the link no longer works."""
    max_age = settings.INVITATION_MAX_AGE_DAYS * 24 * 3600
    try:
        invitation_id = signing.loads(token, salt=INVITATION_SALT, max_age=max_age)
    except signing.SignatureExpired:
        raise ValidationError(
            "This invitation has expired. Ask an admin of the brand for a new one."
        ) from None
    except signing.BadSignature:
        raise ValidationError("This invitation link is not valid.") from None
    invitation = Invitation.objects.select_related("brand").filter(pk=invitation_id).open().first()
    if invitation is None:
        raise ValidationError("This invitation was already used or withdrawn.")
    return invitation


def send_invitation_email(invitation: Invitation) -> None:
    link = settings.SITE_URL.rstrip("/") + reverse(
        "accounts:accept_invitation", args=[invitation_token(invitation)]
    )
    context = {"invitation": invitation, "link": link, "days": settings.INVITATION_MAX_AGE_DAYS}
    send_mail(
        subject=f"You are invited to review follow-backs for {invitation.brand}",
        message=render_to_string("accounts/email/invitation.txt", context),
        from_email=None,
        recipient_list=[invitation.email],
    )


def accept_invitation(
    invitation: Invitation, *, user: User | None, name: str = "", password: str = ""
) -> User:
    """Join the brand: an existing user joins as themself; a new person gets an account with that password."""
    with transaction.atomic():
        locked = Invitation.objects.select_for_update().open().filter(pk=invitation.pk).first()
        if locked is None:
            raise ValidationError("This invitation was already used or withdrawn.")
        if user is None:
            user = User.objects.create_user(locked.email, password, name=name)
        elif user.email.lower() != locked.email.lower():
            raise ValidationError(
                f"This invitation is for {locked.email}; you are signed in as {user.email}."
            )
        Membership.objects.get_or_create(user=user, brand=locked.brand, defaults={"role": locked.role})
        locked.accepted_at = timezone.now()
        locked.save(update_fields=["accepted_at"])
        record(
            locked.brand,
            "member.joined",
            f"{user} joined as {locked.get_role_display().lower()}",
            actor=user,
            target=locked,
        )
    return user


def revoke_invitation(invitation: Invitation, *, by: User) -> None:
    with transaction.atomic():
        updated = Invitation.objects.open().filter(pk=invitation.pk).update(revoked_at=timezone.now())
        if updated:
            record(
                invitation.brand,
                "member.invitation_revoked",
                f"{by} withdrew the invitation of {invitation.email}",
                actor=by,
                target=invitation,
            )


def _lock_admins(brand: Brand) -> list[int]:
    return list(
        Membership.objects.select_for_update().filter(brand=brand).admins().values_list("pk", flat=True)
    )


def change_role(membership: Membership, role: Role, *, by: User) -> Membership:
    with transaction.atomic():
        admin_ids = _lock_admins(membership.brand)
        membership = (
            Membership.objects.select_for_update().select_related("user", "brand").get(pk=membership.pk)
        )
        if membership.role == role:
            return membership
        if membership.pk in admin_ids and len(admin_ids) == 1:
            raise LastAdminError(
                f"{membership.user} is the last admin of {membership.brand}; "
                "make someone else an admin first."
            )
        old = membership.get_role_display().lower()
        membership.role = role
        membership.save(update_fields=["role"])
        record(
            membership.brand,
            "member.role_changed",
            f"{by} changed {membership.user} from {old} to {role.label.lower()}",
            actor=by,
            target=membership,
            old=old,
            new=role.value,
        )
    return membership


def remove_member(membership: Membership, *, by: User) -> None:
    with transaction.atomic():
        admin_ids = _lock_admins(membership.brand)
        membership = (
            Membership.objects.select_for_update().select_related("user", "brand").get(pk=membership.pk)
        )
        if membership.pk in admin_ids and len(admin_ids) == 1:
            raise LastAdminError(
                f"{membership.user} is the last admin of {membership.brand} and cannot be removed."
            )
        record(
            membership.brand,
            "member.removed",
            f"{by} removed {membership.user}",
            actor=by,
            target=membership,
            email=membership.user.email,
        )
        membership.delete()


def unlock_member(membership: Membership, *, by: User) -> bool:
    """Let a member locked out after wrong passwords sign in again; False when they were not locked out."""
    user = membership.user
    with transaction.atomic():
        if not lockouts.locked_out([user.email]):
            return False
        reset_sign_in_attempts(username=user.email)
        record(
            membership.brand,
            "member.unlocked",
            f"{by} let {user} sign in again after too many wrong passwords",
            actor=by,
            target=membership,
        )
    return True
