"""The brand's audit log: a filterable page, newest first with keyset paging, and the same rows as CSV."""

from __future__ import annotations

import csv
from urllib.parse import urlencode

from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.http import AuthedRequest
from accounts.models import AuditEvent, Role
from accounts.permissions import membership_for
from followback.audit import AuditFilterForm, Cursor, csv_rows, page_of


@require_GET
def audit(request: AuthedRequest, brand: str) -> HttpResponse:
    """Every human and machine step in the brand, for approvers and admins: a constant number of queries."""
    membership = membership_for(request.user, brand, need=Role.APPROVER)
    form = AuditFilterForm(request.GET, brand=membership.brand)
    form.is_valid()
    cursor = Cursor.decode(request.GET.get("before", ""))
    events, next_cursor = page_of(form.filter(AuditEvent.objects.for_brand(membership.brand)), cursor)
    filters = form.query_items()
    context = {
        "membership": membership,
        "form": form,
        "events": events,
        "paged": cursor is not None,
        "filtered": bool(filters),
        "next_query": urlencode([*filters, ("before", next_cursor.encode())]) if next_cursor else "",
        "filter_query": urlencode(filters),
    }
    return render(request, "followback/audit.html", context)


class _Echo:
    """A file-like object whose write hands the line back, so csv.writer can feed a streaming response."""

    def write(self, value: str) -> str:
        return value


@require_GET
def audit_csv(request: AuthedRequest, brand: str) -> StreamingHttpResponse:
    """The filtered audit log as CSV, streamed row by row from a server-side cursor (memory stays flat)."""
    membership = membership_for(request.user, brand, need=Role.APPROVER)
    form = AuditFilterForm(request.GET, brand=membership.brand)
    form.is_valid()
    events = form.filter(AuditEvent.objects.for_brand(membership.brand))
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in csv_rows(events)), content_type="text/csv; charset=utf-8"
    )
    filename = f"audit-{membership.brand.slug}-{timezone.now():%Y-%m-%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
