"""Template helpers for the review queue: the nav's waiting count and safe links to platform profiles."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

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


@register.filter
def image_url(url: str) -> str:
    """A platform's avatar, only over https: the page's CSP (img-src) refuses plain-http images."""
    return url if url.startswith("https://") else ""


# An id no real suggestion has, reversed once per URL name and brand, then replaced by each row's id.
_ROW_ID_PLACEHOLDER = 9_081_726_354_453_627_189


@lru_cache(maxsize=1024)
def _row_url_parts(name: str, brand: str, urlconf: str | None, script_prefix: str) -> tuple[str, str]:
    url = reverse(name, urlconf=urlconf, kwargs={"brand": brand, "suggestion_id": _ROW_ID_PLACEHOLDER})
    prefix, _, suffix = url.partition(str(_ROW_ID_PLACEHOLDER))
    return prefix, suffix


@register.simple_tag
def suggestion_url(name: str, brand: str, suggestion_id: int | str) -> str:
    """`{% url name brand=… suggestion_id=… %}` for a queue row, without resolving the URL pattern for every row
    (the queue page renders 50 rows with two links each; see docs/performance.md)."""
    prefix, suffix = _row_url_parts(name, brand, get_urlconf(), get_script_prefix())
    return f"{prefix}{int(suggestion_id)}{suffix}"


@register.simple_tag(takes_context=True)
def row_form_fields(context: template.Context) -> SafeString:
    """The hidden fields of every decision form on a row: `{% csrf_token %}`, `next` (this page) and `tab`.

    They are the same for every row of a page, so they are built once per render and reused: three forms on each of
    50 rows otherwise resolve them 150 times (see docs/performance.md)."""
    here, tab = context.get("here", ""), getattr(context.get("tab"), "value", "")
    key = f"row_form_fields {tab} {here}"
    fields = context.render_context.get(key)
    if fields is None:
        token = context.get("csrf_token")
        csrf = (
            ""
            if not token or token == "NOTPROVIDED"
            else format_html('<input type="hidden" name="csrfmiddlewaretoken" value="{}">', token)
        )
        fields = format_html(
            '{}<input type="hidden" name="next" value="{}"><input type="hidden" name="tab" value="{}">',
            csrf,
            here,
            tab,
        )
        context.render_context[key] = fields
    return fields


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
        pending = capped_count(Suggestion.objects.for_brand(brand).pending().unexpired()) if brand else 0
    return {"pending": pending, "oob": oob}
