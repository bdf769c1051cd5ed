"""The audit log page and its CSV export: filters, keyset paging, a constant query count, safe CSV cells."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import AuditEvent, Brand, Role, User
from followback.audit import PAGE_SIZE, Cursor, safe_cell, verb_label
from tests.conftest import client_for

START = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def event(
    brand: Brand, verb: str, summary: str, *, actor: User | None = None, at: datetime = START, **data: object
) -> AuditEvent:
    return AuditEvent.objects.create(
        brand=brand, actor=actor, verb=verb, summary=summary, created_at=at, data=data
    )


def audit_url(brand: Brand, **query: str) -> str:
    url = reverse("audit", kwargs={"brand": brand.slug})
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def csv_of(response: StreamingHttpResponse) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(text)))


def summaries(response) -> list[str]:
    return [row.event.summary for row in response.context["events"]]


@pytest.fixture
def log(brand, owner, approver, reviewer) -> dict[str, AuditEvent]:
    """A small day of events in the brand, one an hour, plus one in another brand."""
    steps = [
        ("suggestion.approved", "Reviewer approved @ana", reviewer),
        ("suggestion.rejected", "Reviewer rejected @bot123", reviewer),
        ("policy.changed", "Owner changed the threshold", owner),
        ("sync.finished", "Followers sync of @acme finished", None),
        ("follow.executed", "@acme followed @ana", None),
        ("suggestion.approved", "Approver approved @cafe_lover", approver),
    ]
    made = {}
    for hour, (verb, summary, actor) in enumerate(steps):
        made[summary] = event(brand, verb, summary, actor=actor, at=START + timedelta(hours=hour))
    return made


def test_the_log_lists_the_brands_events_newest_first_in_plain_words(brand, other_brand, approver, log):
    event(other_brand, "policy.changed", "Globex changed its policy")
    response = client_for(approver).get(audit_url(brand))
    assert response.status_code == 200
    assert summaries(response)[0] == "Approver approved @cafe_lover"
    assert summaries(response)[-1] == "Reviewer approved @ana"
    page = response.content.decode()
    assert "Globex changed its policy" not in page
    assert "Approved a follow-back" in page
    assert "Follow executed" in page


def test_every_verb_the_code_writes_has_plain_words():
    assert verb_label("sync.failed") == "Sync failed"
    assert verb_label("digest.sent") == "Daily digest e-mailed"
    assert verb_label("something.brand_new") == "Something brand new"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            {"verb": "suggestion"},
            ["Approver approved @cafe_lover", "Reviewer rejected @bot123", "Reviewer approved @ana"],
        ),
        ({"verb": "suggestion.rejected"}, ["Reviewer rejected @bot123"]),
        ({"person": "system"}, ["@acme followed @ana", "Followers sync of @acme finished"]),
        ({"q": "THRESHOLD"}, ["Owner changed the threshold"]),
        ({"since": "2025-03-01", "until": "2025-03-01"}, None),
        ({"since": "2025-03-02"}, []),
    ],
)
def test_filters_narrow_the_log(brand, approver, log, query, expected):
    response = client_for(approver).get(audit_url(brand, **query))
    if expected is None:
        expected = [e.summary for e in sorted(log.values(), key=lambda e: e.created_at, reverse=True)]
    assert summaries(response) == expected


def test_the_person_filter_shows_one_persons_steps(brand, approver, reviewer, log):
    response = client_for(approver).get(audit_url(brand, person=str(reviewer.pk)))
    assert summaries(response) == ["Reviewer rejected @bot123", "Reviewer approved @ana"]


def test_an_end_date_before_the_start_date_is_explained_and_left_out(brand, approver, log):
    response = client_for(approver).get(audit_url(brand, since="2025-03-01", until="2025-02-01"))
    assert "The end date comes before the start date." in response.content.decode()
    assert len(summaries(response)) == len(log)


def test_unknown_filter_values_are_ignored_not_an_error(brand, approver, log):
    response = client_for(approver).get(audit_url(brand, verb="drop.table", person="99999", before="garbage"))
    assert response.status_code == 200
    assert len(summaries(response)) == len(log)


def test_keyset_pages_cover_every_event_once_even_with_equal_times(brand, approver):
    # Many events share a timestamp: paging must order by (created_at, id), never skip or repeat.
    total = PAGE_SIZE * 2 + 7
    for i in range(total):
        event(brand, "queue.built", f"build {i}", at=START + timedelta(minutes=i // 10))
    client = client_for(approver)
    seen: list[str] = []
    url = audit_url(brand)
    pages = 0
    while url:
        response = client.get(url)
        seen += summaries(response)
        pages += 1
        next_query = response.context["next_query"]
        url = audit_url(brand) + "?" + next_query if next_query else ""
    assert pages == 3
    assert len(seen) == total
    assert len(set(seen)) == total
    stored = (
        AuditEvent.objects.filter(brand=brand)
        .order_by("-created_at", "-id")
        .values_list("summary", flat=True)
    )
    assert seen == list(stored)


def test_the_next_page_keeps_the_filters(brand, approver):
    for i in range(PAGE_SIZE + 3):
        event(brand, "sync.finished", f"sync {i}", at=START + timedelta(seconds=i))
        event(brand, "queue.built", f"build {i}", at=START + timedelta(seconds=i))
    client = client_for(approver)
    first = client.get(audit_url(brand, verb="sync"))
    second = client.get(audit_url(brand) + "?" + first.context["next_query"])
    assert [s.split()[0] for s in summaries(second)] == ["sync"] * 3


def test_the_page_runs_the_same_number_of_queries_for_5_or_50_events(
    brand, approver, django_assert_num_queries
):
    client = client_for(approver)
    for i in range(5):
        event(brand, "queue.built", f"build {i}", actor=approver, at=START + timedelta(seconds=i))
    client.get(audit_url(brand))  # the session is warm
    with django_assert_num_queries(7) as few:
        client.get(audit_url(brand))
    for i in range(5, 60):
        event(brand, "policy.changed", f"change {i}", actor=approver, at=START + timedelta(seconds=i))
    with django_assert_num_queries(len(few.captured_queries)):
        response = client.get(audit_url(brand, person=str(approver.pk), q="change"))
    assert len(summaries(response)) == PAGE_SIZE


def test_cursor_round_trips_microseconds():
    cursor = Cursor(datetime(2025, 3, 1, 9, 0, 0, 123456, tzinfo=UTC), 42)
    assert Cursor.decode(cursor.encode()) == cursor
    assert Cursor.decode("not-a-cursor") is None


def test_csv_export_has_the_same_filters_and_a_row_per_event(brand, approver, reviewer, log):
    response = client_for(approver).get(
        reverse("audit_csv", kwargs={"brand": brand.slug}) + "?verb=suggestion"
    )
    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="audit-acme-')
    rows = csv_of(response)
    assert rows[0][:6] == ["time (UTC)", "person", "e-mail", "step", "verb", "summary"]
    assert [row[5] for row in rows[1:]] == [
        "Approver approved @cafe_lover",
        "Reviewer rejected @bot123",
        "Reviewer approved @ana",
    ]
    assert rows[2][2] == reviewer.email
    assert rows[2][3] == "Rejected a suggestion"
    assert rows[2][0] == "2025-03-01T10:00:00+00:00"


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t"])
def test_csv_cells_that_a_spreadsheet_would_run_are_quoted(brand, approver, start):
    evil = f'{start}HYPERLINK("http://evil.example","click")'
    event(brand, "suggestion.commented", evil, actor=approver, note=evil)
    rows = csv_of(client_for(approver).get(reverse("audit_csv", kwargs={"brand": brand.slug})))
    assert rows[1][5] == "'" + evil
    assert not any(cell.startswith(("=", "+", "-", "@", "\t")) for row in rows for cell in row)


def test_safe_cell_leaves_ordinary_text_alone():
    assert safe_cell("Approved @ana") == "Approved @ana"
    assert safe_cell(None) == ""
    assert safe_cell("-1") == "'-1"


def test_csv_export_reads_the_events_only_while_streaming_them(brand, approver, monkeypatch):
    monkeypatch.setattr("followback.audit.CSV_CHUNK", 10)
    for i in range(30):
        event(brand, "queue.built", f"build {i}", at=START + timedelta(seconds=i))
    client = client_for(approver)
    with CaptureQueriesContext(connection) as before_streaming:
        response = client.get(reverse("audit_csv", kwargs={"brand": brand.slug}))
    assert isinstance(response, StreamingHttpResponse)
    assert not any("accounts_auditevent" in q["sql"] for q in before_streaming.captured_queries)
    chunks = iter(response.streaming_content)
    assert next(chunks).decode().startswith("time (UTC),person")
    with CaptureQueriesContext(connection) as streaming:
        rest = b"".join(chunks).decode().splitlines()
    assert len(rest) == 30
    assert sum("accounts_auditevent" in q["sql"] for q in streaming.captured_queries) == 1


@pytest.mark.parametrize("role", [Role.VIEWER, Role.REVIEWER])
def test_viewers_and_reviewers_cannot_read_the_audit_log(brand, role, log):
    from tests.factories import MembershipFactory

    user = MembershipFactory(brand=brand, role=role).user
    client = client_for(user)
    assert client.get(audit_url(brand)).status_code == 403
    assert client.get(reverse("audit_csv", kwargs={"brand": brand.slug})).status_code == 403
    assert "Audit log" not in client.get(reverse("brand_home", kwargs={"brand": brand.slug})).content.decode()


def test_the_audit_log_is_in_the_navigation_for_approvers(brand, approver):
    page = client_for(approver).get(reverse("brand_home", kwargs={"brand": brand.slug})).content.decode()
    assert f'href="{audit_url(brand)}"' in page


def test_outsiders_get_404_and_no_hint_of_the_brand(brand, outsider, log):
    response = client_for(outsider).get(reverse("audit_csv", kwargs={"brand": brand.slug}))
    assert response.status_code == 404
