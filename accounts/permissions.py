"""The one place that decides who may reach what.

Views and tasks never build access queries themselves: they ask `membership_for`, which answers 404 to
anyone outside the brand (so another brand's objects do not even reveal that they exist) and 403 to members
whose role is too low, or use the predicates below.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404

from accounts.models import Membership, Role, User


def membership_for(user: User, brand_slug: str, need: Role = Role.VIEWER) -> Membership:
    try:
        membership = Membership.objects.select_related("brand").get(user=user, brand__slug=brand_slug)
    except Membership.DoesNotExist:
        raise Http404("No such brand.") from None
    if not membership.has_role(need):
        raise PermissionDenied(f"This needs the {need.label.lower()} role.")
    return membership


def can_review(membership: Membership) -> bool:
    return membership.has_role(Role.REVIEWER)


def can_approve(membership: Membership) -> bool:
    return membership.has_role(Role.APPROVER)


def can_administer(membership: Membership) -> bool:
    return membership.has_role(Role.ADMIN)
