from typing import Any

from django.http import HttpRequest

from accounts.models import Membership


def brands(request: HttpRequest) -> dict[str, Any]:
    """The brands the signed-in person belongs to, for the brand switcher, in one query."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"my_memberships": []}
    memberships = Membership.objects.for_user(user).select_related("brand").order_by("brand__name")
    return {"my_memberships": memberships}
