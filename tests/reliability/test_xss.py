"""The XSS corpus in every field, rendered through every page a member reaches: text stays text.

One brand holds the whole corpus (`hostile_world.py`); each test renders one group of pages through the test
client, parses them as a browser does (`markup_check.py`) and fails on any element, attribute, URL scheme or htmx
attribute a payload made. Where a field is shown whole (display names, comments, audit summaries) the text on
the page must equal the stored text exactly. Figures per test go to test-artifacts/xss/.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element

import html5lib
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from accounts.models import AuditEvent, Membership
from followback.audit import FORMULA_STARTS
from followback.models import Comment
from followback.queue_views import Tab
from rules.models import Suggestion, SuggestionStatus
from tests.reliability import hostile_world
from tests.reliability.hostile_world import World
from tests.reliability.markup_check import check_page
from tests.reliability.xss_corpus import BY_ID, PAYLOADS, markers_in
from tests.rules.test_policy_views import policy_form_data

FIGURES = Path(__file__).resolve().parents[2] / "test-artifacts" / "xss"
HTMX = {"HTTP_HX_REQUEST": "true"}
# Special characters: a payload's text from the first of them on must never reach the HTML unescaped.
SPECIAL = "<>\"'&"


@pytest.fixture(scope="module")
def world(django_db_setup: None, django_db_blocker: Any) -> Iterator[World]:
    """The hostile brand, built once for the module inside a transaction that is rolled back at the end."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield hostile_world.build_world()
        transaction.set_rollback(True)


@pytest.fixture
def owner_client(world: World, db: None) -> Client:
    client = Client()
    client.force_login(world.owner)
    return client


class Pages:
    """Renders and checks pages, and keeps the figures: pages, payloads met per page, problems."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.pages = 0
        self.pairs = 0
        self.problems: list[str] = []
        self.text_markers: set[str] = set()

    def check(self, label: str, response: HttpResponse, *, container: str | None = None) -> Element:
        assert response.status_code in (200, 422), f"{label}: HTTP {response.status_code}"
        html = response.content.decode()
        report = check_page(html, container=container)
        report.problems.extend(_raw_payloads(html))
        self.pages += 1
        self.pairs += len(markers_in(html))
        self.text_markers |= report.text_markers
        self.problems.extend(f"{label}: {problem}" for problem in report.problems)
        return _tree(html, container)

    def finish(self, *, expect_markers: set[str] | None = None) -> None:
        FIGURES.mkdir(parents=True, exist_ok=True)
        figures = {"pages": self.pages, "payload_page_pairs": self.pairs, "problems": len(self.problems),
                   "payloads_shown_as_text": len(self.text_markers)}  # fmt: skip
        (FIGURES / f"{self.name}.json").write_text(json.dumps(figures, indent=2) + "\n")
        assert not self.problems, "\n".join(self.problems[:40])
        assert self.pages
        assert self.pairs
        if expect_markers is not None:
            missing = expect_markers - self.text_markers
            assert not missing, f"{len(missing)} payloads never shown as text, e.g. {sorted(missing)[:10]}"


def _tree(html: str, container: str | None) -> Element:
    if container is None:
        return html5lib.parse(html, namespaceHTMLElements=False)
    return html5lib.parseFragment(html, container=container, namespaceHTMLElements=False)


def _raw_payloads(html: str) -> list[str]:
    """Payloads found in the HTML source as written: the one sign of missing escaping that needs no parsing.

    The window looked for joins the payload's marker to its nearest special character, so one payload's escaped
    text (which may be another payload's raw text) never counts."""
    found = []
    for marker in markers_in(html):
        window = raw_window(BY_ID[marker].text, marker)
        if window and window in html:
            found.append(f"payload {marker} is in the HTML unescaped: {window[:60]!r}")
    return found


def raw_window(text: str, marker: str) -> str:
    at = text.find(marker)
    before = max((text.rfind(char, 0, at) for char in SPECIAL), default=-1)
    if before >= 0:
        return text[before : at + len(marker)]
    after = [i for i in (text.find(char, at) for char in SPECIAL) if i >= 0]
    # Two characters past the special one: escaped, "&" itself starts "&amp;", so "&" alone would match.
    return text[at : min(after) + 2] if after else ""


def as_browser_reads(text: str) -> str:
    """Text as the HTML parser hands it back: CR LF and CR become LF, NUL becomes U+FFFD."""
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "\ufffd")


def text_of(element: Element) -> str:
    parts: list[str] = []
    for node in element.iter():
        if node.tag == "br":
            parts.append("\n")
        if node.text and node.tag != "br":
            parts.append(node.text)
        if node.tail and node is not element:
            parts.append(node.tail)
    return "".join(parts)


def find_all(tree: Element, tag: str, css_class: str) -> list[Element]:
    return [e for e in tree.iter(tag) if css_class in (e.get("class") or "").split()]


def all_markers() -> set[str]:
    return {payload.id for payload in PAYLOADS}


def _next_link(tree: Element, *, pager_id: str | None = None) -> str | None:
    for anchor in tree.iter("a"):
        if anchor.get("rel") == "next":
            return anchor.get("href")
    if pager_id:
        for nav in tree.iter("nav"):
            if nav.get("id") == pager_id:
                anchor = next(nav.iter("a"), None)
                return anchor.get("href") if anchor is not None else None
    return None


def url(world: World, name: str, **kwargs: Any) -> str:
    return reverse(name, kwargs={"brand": world.brand.slug, **kwargs})


# --- the checker itself ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "problem"),
    [
        ("<p><img src=x onerror=__xss('fbx0001')></p>", "unexpected attribute 'onerror'"),
        ("<p><script>__xss('fbx0001')</script></p>", "a script that is not one of our static files"),
        ('<a href=" jav&#x09;ascript:__xss(1)">x</a>', "unsafe URL in href"),
        ('<div hx-on:click="__xss(1)">x</div>', "unexpected attribute"),
        ('<div data-hx-get="/x" data-hx-trigger="load">x</div>', "an htmx attribute from text"),
        ('<div hx-get="/fbx0001">x</div>', "payload text in the hx-get attribute"),
        ("<b>fbx0001</b>", "unexpected element <b"),
        ('<p style="x:y">fbx0001</p>', "unexpected attribute 'style'"),
        ("<!--fbx0001--><p>x</p>", "a comment appeared"),
        ("<svg><a xlink:href='javascript:x'><text>y</text></a></svg>", "unexpected element"),
        ('<p id="fbx0001">x</p>', "payload text in the id attribute"),
        ("<meta http-equiv=refresh content='0;url=/x'>", "unexpected meta element"),
    ],
)
def test_the_checker_reports_markup_that_came_from_text(html: str, problem: str) -> None:
    report = check_page(f"<!doctype html><html><head></head><body>{html}</body></html>")

    assert any(problem in found for found in report.problems), report.problems


def test_the_checker_accepts_escaped_payloads_and_counts_them_as_text() -> None:
    html = "<p>&lt;img src=x onerror=__xss('fbx0001')&gt;</p><input value=\"&quot;&gt;fbx0002\">"
    report = check_page(f"<html><head></head><body>{html}</body></html>")

    assert report.problems == []
    assert report.text_markers == {"fbx0001", "fbx0002"}


def test_the_raw_source_check_finds_an_unescaped_payload() -> None:
    payload = next(p for p in PAYLOADS if p.text.startswith("<script>"))

    assert _raw_payloads(f"<p>{payload.text}</p>")
    assert not _raw_payloads(f"<p>{escape(payload.text)}</p>")


# --- the pages ---------------------------------------------------------------------------------------------


def test_queue_tabs_show_every_payload_as_text_in_full_pages_and_htmx_pages(
    world: World, owner_client: Client
) -> None:
    pages = Pages("queue")
    shown_names: dict[int, str] = {}
    seen_more: set[str] = set()
    for tab in Tab:
        query: str | None = f"?tab={tab.value}"
        while query is not None:
            full = pages.check(f"queue {query[:40]}", owner_client.get(url(world, "queue") + query))
            if "after=" in query and f"more {tab}" not in seen_more:
                seen_more.add(f"more {tab}")
                more = owner_client.get(url(world, "queue") + query, HTTP_HX_TARGET="queue-rows", **HTMX)
                pages.check(f"queue more {query[:40]}", more, container="ol")
            for row in find_all(full, "li", "queue-row"):
                name = next(e for e in row.iter("h2")).find("bdi")
                assert name is not None
                shown_names[int(row.get("id", "").removeprefix("suggestion-"))] = text_of(name)
            query = _next_link(full, pager_id="queue-more")
    pages.finish(expect_markers=all_markers())
    open_ids = set(Suggestion.objects.exclude(status=SuggestionStatus.EXPIRED).values_list("pk", flat=True))
    assert set(shown_names) == open_ids
    wrong = {
        pk: shown for pk, shown in shown_names.items() if shown != as_browser_reads(world.display_names[pk])
    }
    assert not wrong, f"{len(wrong)} display names not shown exactly as stored"


def test_suggestion_pages_show_comments_and_decision_reasons_as_text(
    world: World, owner_client: Client
) -> None:
    pages = Pages("suggestion-detail")
    samples = [
        Suggestion.objects.filter(status=status).values_list("pk", flat=True).first()
        for status in SuggestionStatus
    ]
    for pk in [*world.detail_ids, *(pk for pk in samples if pk)]:
        tree = pages.check(
            f"suggestion {pk}", owner_client.get(url(world, "suggestion_detail", suggestion_id=pk))
        )
        bodies = [text_of(p) for p in find_all(tree, "p", "comment-body")]
        stored = [
            as_browser_reads(c.body)
            for c in Comment.objects.filter(suggestion_id=pk).order_by("created_at", "id")
        ]
        assert bodies == stored, f"suggestion {pk}: comments not shown exactly as written"
    target = world.detail_ids[0]
    for payload in PAYLOADS[:25]:
        response = owner_client.post(
            url(world, "suggestion_comment", suggestion_id=target), {"body": payload.text[:2000]}, **HTMX
        )
        pages.check(f"comment partial {payload.id}", response, container="div")
        decided = owner_client.post(
            url(world, "queue_decide", suggestion_id=target),
            {"kind": "later" if payload.id.endswith(("0", "2", "4", "6", "8")) else "reject",
             "reason": payload.text[:500], "tab": "pending", "next": f"/b/acme/queue/?q={payload.text[:80]}"},
            **HTMX,
        )  # fmt: skip
        pages.check(f"decision partial {payload.id}", decided, container="ol")
    pages.finish(expect_markers=all_markers())


def test_the_follows_pages_show_reasons_and_profiles_as_text(world: World, owner_client: Client) -> None:
    pages = Pages("follows")
    for show in ("all", "waiting", "failed", "done"):
        query: str | None = f"?show={show}"
        while query is not None:
            tree = pages.check(f"follows {query[:40]}", owner_client.get(url(world, "follows") + query))
            link = _next_link(tree)
            query = link[link.index("?") :] if link else None
    pages.finish()


def test_the_audit_log_shows_every_summary_exactly_and_its_filters_as_text(
    world: World, owner_client: Client
) -> None:
    pages = Pages("audit")
    shown: list[str] = []
    query: str | None = ""
    while query is not None:
        tree = pages.check(f"audit {query[:40]}", owner_client.get(url(world, "audit") + query))
        shown.extend(text_of(td) for td in find_all(tree, "td", "audit-summary"))
        link = _next_link(tree)
        query = link[link.index("?") :] if link else None
    stored = [
        as_browser_reads(s)
        for s in AuditEvent.objects.filter(brand=world.brand).newest_first().values_list("summary", flat=True)
    ]
    assert shown == stored
    member = Membership.objects.filter(brand=world.brand).exclude(user=world.owner).first()
    assert member is not None
    pages.check("audit by person", owner_client.get(url(world, "audit") + f"?person={member.user_id}"))
    pages.finish(expect_markers=all_markers())


def test_the_audit_csv_neutralises_every_cell_a_spreadsheet_would_run(
    world: World, owner_client: Client
) -> None:
    response = owner_client.get(url(world, "audit_csv"))
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))  # type: ignore[attr-defined]
    events = AuditEvent.objects.filter(brand=world.brand).count()
    formulas = [cell for row in rows for cell in row if cell.startswith(FORMULA_STARTS)]
    quoted = [
        cell for row in rows for cell in row if cell.startswith("'") and cell[1:].startswith(FORMULA_STARTS)
    ]
    _figures("audit-csv", {"rows": len(rows) - 1, "cells": sum(map(len, rows)), "cells_neutralised": len(quoted),
                           "cells_a_spreadsheet_would_run": len(formulas)})  # fmt: skip
    assert len(rows) == events + 1
    assert formulas == []
    assert quoted, "the corpus has cells starting with = + - @: some must have been quoted"
    summaries = {unquoted(row[5]) for row in rows[1:]}
    assert summaries == set(AuditEvent.objects.filter(brand=world.brand).values_list("summary", flat=True))


def test_the_brand_home_and_accounts_pages_show_platform_text_as_text(
    world: World, owner_client: Client
) -> None:
    pages = Pages("home-and-accounts")
    pages.check("brand home", owner_client.get(url(world, "brand_home")))
    pages.check("accounts", owner_client.get(url(world, "accounts:account_list")))
    pages.check("connect bluesky", owner_client.get(url(world, "accounts:connect_bluesky")))
    for account_id in world.account_ids:
        pages.check(
            f"account {account_id}",
            owner_client.get(url(world, "accounts:account_detail", account_id=account_id)),
        )
        progress = owner_client.get(url(world, "accounts:account_progress", account_id=account_id), **HTMX)
        pages.check(f"account progress {account_id}", progress, container="div")
    pages.finish()


def test_the_customer_import_report_shows_rejected_rows_as_text(world: World, owner_client: Client) -> None:
    pages = Pages("customers")
    pages.check("customers", owner_client.get(url(world, "accounts:customer_list")))
    upload = SimpleUploadedFile("customers.csv", hostile_world.customer_csv(), content_type="text/csv")
    pages.check("customers import", owner_client.post(url(world, "accounts:customer_list"), {"file": upload}))
    pages.finish()
    assert pages.text_markers, "the import report quoted no rejected row"


def test_the_members_page_shows_names_and_invitations_as_text(world: World, owner_client: Client) -> None:
    pages = Pages("members")
    pages.check("members", owner_client.get(url(world, "accounts:members")))
    for payload in PAYLOADS[:30]:
        response = owner_client.post(
            url(world, "accounts:member_invite"), {"email": payload.text[:300], "role": "reviewer"}, **HTMX
        )
        pages.check(f"invite {payload.id}", response, container="div")
    pages.finish()


def test_the_policy_pages_show_lists_notes_and_errors_as_text(world: World, owner_client: Client) -> None:
    pages = Pages("policy")
    viewer = Client()
    viewer.force_login(world.viewer)
    pages.check("policy (admin)", owner_client.get(url(world, "rules:policy")))
    pages.check("policy (viewer)", viewer.get(url(world, "rules:policy")))
    pages.check("queue (viewer)", viewer.get(url(world, "queue")))
    pages.check("history", owner_client.get(url(world, "rules:policy_history")))
    invalid = owner_client.post(url(world, "rules:policy"), hostile_world.invalid_policy_post())
    assert invalid.status_code == 422
    pages.check("policy refused", invalid)
    draft = policy_form_data(
        blocklist="\n".join(hostile_world.blocklist_entries()[:20]), note=PAYLOADS[5].text[:300]
    )
    pages.check("preview (no JavaScript)", owner_client.post(url(world, "rules:policy_preview"), draft))
    pages.check(
        "preview (htmx)",
        owner_client.post(url(world, "rules:policy_preview"), draft, **HTMX),
        container="div",
    )
    refused = owner_client.post(
        url(world, "rules:policy_preview"), hostile_world.invalid_policy_post(), **HTMX
    )
    pages.check("preview refused (htmx)", refused, container="div")
    pages.finish()
    entries = {m for entry in hostile_world.blocklist_entries() for m in markers_in(entry)}
    assert entries <= pages.text_markers, "some blocklist entries were not shown as text on the history page"


def test_query_strings_are_shown_back_only_as_text(world: World, owner_client: Client) -> None:
    pages = Pages("reflected")
    detail = Suggestion.objects.filter(status=SuggestionStatus.HELD).values_list("pk", flat=True)[0]
    for query in hostile_world.reflected_queries():
        for name, kwargs in [
            ("queue", {}),
            ("audit", {}),
            ("follows", {}),
            ("suggestion_detail", {"suggestion_id": detail}),
        ]:
            pages.check(f"{name} ?{query[:30]}", owner_client.get(f"{url(world, name, **kwargs)}?{query}"))
    pages.finish()


def unquoted(cell: str) -> str:
    """A CSV cell as stored, before the export put a quote in front of a formula."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_STARTS) else cell


def _figures(name: str, figures: dict[str, int]) -> None:
    FIGURES.mkdir(parents=True, exist_ok=True)
    (FIGURES / f"{name}.json").write_text(json.dumps(figures, indent=2) + "\n")
