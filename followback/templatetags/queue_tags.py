"""Template helpers for the review queue: the nav's waiting count and safe links to platform profiles."""

from __future__ import annotations

from typing import Any

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma

from accounts.models import Brand
from rules.models import Suggestion

register = template.Library()

# Counts stop at this many: "1,000+" says enough, and counting a bounded index range stays cheap at any size.
COUNT_LIMIT = 1000


def capped_count(queryset: Any) -> int:
    """COUNT(*) over at most COUNT_LIMIT + 1 rows: an index range scan that stops early, never a full count."""
    return int(queryset.order_by()[: COUNT_LIMIT + 1].count())


@register.filter
def count_label(count: int) -> str:
    return f"{intcomma(COUNT_LIMIT)}+" if count > COUNT_LIMIT else str(intcomma(count))


@register.filter
def external_url(url: str) -> str:
    """A platform's profile or avatar link, only when it is plain http(s); anything else becomes empty."""
    return url if url.startswith(("https://", "http://")) else ""


@register.inclusion_tag("followback/queue_badge.html", takes_context=True)
def queue_badge(context: template.Context, oob: bool = False) -> dict[str, Any]:
    """The number of suggestions waiting for the current brand, for the navigation bar.

    Pages that already counted (the queue) pass `queue_counts`; others count here, capped.
    """
    counts = context.get("queue_counts")
    if counts is not None:
        pending = counts["pending"]
    else:
        membership = context.get("membership")
        brand: Brand | None = getattr(membership, "brand", None)
        pending = capped_count(Suggestion.objects.for_brand(brand).pending()) if brand else 0
    return {"pending": pending, "oob": oob}
