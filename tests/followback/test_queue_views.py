"""The queue pages through the test client: plain and htmx paths, tabs, filters, keyset paging, query counts."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from followback import queue_views
from followback.models import Comment, Decision, DecisionKind, FollowAction
from rules import services
from rules.models import Suggestion, SuggestionStatus
from rules.policy import PolicySettings
from tests.conftest import client_for
from tests.followback.queue_data import (
    CUSTOMER_REASON,
    WATCH_REASON,
    connected_account,
    make_suggestion,
    require_second_approver,
)

S = SuggestionStatus
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def account(brand):
    return connected_account(brand)


def queue_url(brand, **params) -> str:
    url = reverse("queue", kwargs={"brand": brand.slug})
    return url + ("?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else "")


def decide_url(suggestion) -> str:
    return reverse("queue_decide", kwargs={"brand": suggestion.brand.slug, "suggestion_id": suggestion.pk})


def handles(response) -> list[str]:
    return re.findall(r'class="row-handle"><bdi>@([^<]+)</bdi>', response.content.decode())


def test_the_queue_shows_pending_suggestions_best_first_with_their_details(brand, viewer, account):
    make_suggestion(account, "second", score=65)
    make_suggestion(
        account, "first", score=90, reasons=[CUSTOMER_REASON, WATCH_REASON], engagement=0.4,
        follower={"display_name": "Ann \u202eevil", "is_customer": True, "bio": "<script>x</script>"},
    )  # fmt: skip
    make_suggestion(account, "held_one", status=S.HELD)
    response = client_for(viewer).get(queue_url(brand))
    assert response.status_code == 200
    assert handles(response) == ["first", "second"]
    html = response.content.decode()
    assert "<bdi>Ann \u202eevil</bdi>" in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html
    assert "Customer</span>" in html
    assert "Engaged</span>" in html
    assert 'chip-watch"><span class="visually-hidden">To watch: </span>account is 3 weeks old' in html
    assert 'href="https://social.example/@first" target="_blank" rel="noopener noreferrer"' in html
    assert 'name="kind" value="approve"' not in html, "a viewer sees no decision buttons"
    assert 'id="queue-count" class="badge">2<' in html


def test_tabs_show_later_awaiting_held_and_decided_today(brand, reviewer, approver, account):
    make_suggestion(account, "pending_one")
    make_suggestion(account, "later_one", status=S.LATER)
    make_suggestion(account, "waiting_one", status=S.AWAITING_APPROVAL, proposed_by=reviewer)
    make_suggestion(account, "held_one", status=S.HELD)
    client = client_for(approver)
    decided = make_suggestion(account, "decided_one")
    client.post(decide_url(decided), {"kind": "reject"})
    expected = {
        "pending": ["pending_one"], "later": ["later_one"], "awaiting": ["waiting_one"], "held": ["held_one"],
        "decided": ["decided_one"],
    }  # fmt: skip
    for tab, rows in expected.items():
        response = client.get(queue_url(brand, tab=tab))
        assert handles(response) == rows, tab
    page = client.get(queue_url(brand, tab="awaiting")).content.decode()
    assert "Give final approval" in page
    assert 'data-count="held">1<' in page


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"q": "ann"}, ["ann_fan"]),
        ({"q": "@Bob"}, ["bob"]),
        ({"reason": "customer"}, ["ann_fan"]),
        ({"reason": "watch"}, ["bob"]),
        ({"min_score": 80}, ["ann_fan"]),
        ({"max_score": 79}, ["bob", "carol"]),
        ({"customers": "on"}, ["ann_fan"]),
        ({"engaged": "on"}, ["bob"]),
    ],
)
def test_filters(params, expected, brand, viewer, account):
    make_suggestion(account, "ann_fan", score=90, reasons=[CUSTOMER_REASON], follower={"is_customer": True})
    make_suggestion(account, "bob", score=70, reasons=[WATCH_REASON], engagement=0.3)
    make_suggestion(account, "carol", score=60, reasons=[], follower={"display_name": "Carol"})
    assert handles(client_for(viewer).get(queue_url(brand, **params))) == expected


def test_the_account_filter(brand, viewer, account):
    other = connected_account(brand, "acme.other")
    make_suggestion(account, "mine")
    make_suggestion(other, "theirs")
    assert handles(client_for(viewer).get(queue_url(brand, account=other.pk))) == ["theirs"]


def test_keyset_paging_walks_every_row_once_in_score_order(brand, viewer, account, monkeypatch):
    monkeypatch.setattr(queue_views, "PAGE_SIZE", 4)
    for n in range(10):
        make_suggestion(account, f"fan{n:02}", score=50 + (n % 3))
    client = client_for(viewer)
    seen: list[str] = []
    url: str | None = queue_url(brand)
    while url:
        html = client.get(url).content.decode()
        seen += handles_in(html)
        more = re.search(r'<a href="\?([^"]+)" role="button"', html)
        url = queue_url(brand) + "?" + more.group(1).replace("&amp;", "&") if more else None
    assert len(seen) == 10 == len(set(seen))


def handles_in(html: str) -> list[str]:
    return re.findall(r'class="row-handle"><bdi>@([^<]+)</bdi>', html)


def test_show_more_with_htmx_appends_rows_and_replaces_the_pager(brand, viewer, account, monkeypatch):
    monkeypatch.setattr(queue_views, "PAGE_SIZE", 2)
    rows = [make_suggestion(account, f"fan{n}", score=90 - n) for n in range(3)]
    response = client_for(viewer).get(
        queue_url(brand, after=f"{rows[1].score}.{rows[1].pk}"), HTTP_HX_TARGET="queue-rows", **HTMX
    )
    html = response.content.decode()
    assert handles_in(html) == ["fan2"]
    assert '<nav id="queue-more"' in html
    assert 'hx-swap-oob="true"' in html
    assert "<html" not in html


# Session, user, membership with its brand, the brand switcher, the accounts for the filter, the current policy, the
# five tab counts (one statement) and the rows with their follower, people and comment count.
QUEUE_PAGE_QUERIES = 8
TAB_ROWS = {"pending": S.PENDING, "later": S.LATER, "awaiting": S.AWAITING_APPROVAL, "held": S.HELD}


def fill_tab(tab: str, account, total: int, client, proposer) -> None:
    """`total` rows in `tab` (decided today: rejected through the client)."""
    for n in range(total):
        suggestion = make_suggestion(
            account, f"fan{total}_{n}", status=TAB_ROWS.get(tab, S.PENDING), proposed_by=proposer
        )
        if tab == "decided":
            client.post(decide_url(suggestion), {"kind": "reject"})


@pytest.mark.parametrize("tab", [tab.value for tab in queue_views.Tab])
def test_every_tab_runs_the_same_queries_for_10_and_50_rows(
    tab, brand, approver, reviewer, django_assert_num_queries
):
    client = client_for(approver)
    client.get(queue_url(brand))
    for total, account in (
        (10, connected_account(brand, "acme.ten")),
        (50, connected_account(brand, "acme.fifty")),
    ):
        fill_tab(tab, account, total, client, reviewer)
        with django_assert_num_queries(QUEUE_PAGE_QUERIES):
            response = client.get(queue_url(brand, tab=tab, account=account.pk))
        assert len(handles(response)) == min(total, queue_views.PAGE_SIZE)
    with django_assert_num_queries(QUEUE_PAGE_QUERIES):
        client.get(queue_url(brand, tab=tab, q="fan", reason="engagement", min_score=1, customers="on"))


# An htmx decision: session, user, membership; the service's role check, lock, fresh read, policy (approve
# only), update, decision, audit event, and for a final approval the follow (account lock, existing follow, the
# cap's count, insert, audit event, two savepoints); then the row as it now stands, the policy and the counts.
DECISION_QUERIES = {"approve": 22, "reject": 14, "later": 14}


@pytest.mark.parametrize("kind", sorted(DECISION_QUERIES))
def test_an_htmx_decision_runs_the_same_queries_whatever_the_queue_holds(
    kind, brand, reviewer, account, django_assert_num_queries
):
    client = client_for(reviewer)
    for total in (10, 50):
        rows = [make_suggestion(account, f"fan{total}_{n}") for n in range(total)]
        with django_assert_num_queries(DECISION_QUERIES[kind]):
            response = client.post(decide_url(rows[0]), {"kind": kind, "tab": "pending"}, **HTMX)
        assert response.status_code == 200
        assert Decision.objects.filter(suggestion=rows[0], kind=kind).exists()


# A bulk decision: a fixed part (session, user, membership, and the list response: accounts, policy, counts,
# rows) and a part per decided row, each row being one `decide` of its own.
BULK_BASE_QUERIES = 7
BULK_QUERIES_PER_ROW = {"approve": 16, "approve (1 of 2)": 9, "reject": 8}


@pytest.mark.parametrize("kind", sorted(BULK_QUERIES_PER_ROW))
def test_a_bulk_decision_runs_a_fixed_number_of_queries_per_decided_row(
    kind, brand, owner, reviewer, account, django_assert_num_queries
):
    if kind == "approve (1 of 2)":
        require_second_approver(brand, owner)
    client = client_for(reviewer)
    url = reverse("queue_bulk", kwargs={"brand": brand.slug})
    for total in (10, 50):
        rows = [make_suggestion(account, f"fan{total}_{n}") for n in range(total)]
        for ticked in (rows[:1], rows[1:6]):
            expected = BULK_BASE_QUERIES + len(ticked) * BULK_QUERIES_PER_ROW[kind]
            with django_assert_num_queries(expected):
                response = client.post(
                    url,
                    {"kind": kind.split()[0], "ids": [r.pk for r in ticked], "next": queue_url(brand)},
                    **HTMX,
                )
            assert len(handles_in(response.content.decode())) == min(
                Suggestion.objects.pending().count(), queue_views.PAGE_SIZE
            )
    assert Decision.objects.filter(actor=reviewer).count() == 12


# Undo: session, user, membership, the role check, the latest decision, the lock and fresh read, whether it is
# undone already, anything since, the earlier decision, the update, the undo decision, its audit event, two
# savepoints; then the list response (accounts, policy, counts, rows).
UNDO_QUERIES = 19


def test_an_htmx_undo_runs_the_same_queries_whatever_the_queue_holds(
    brand, reviewer, account, django_assert_num_queries
):
    client = client_for(reviewer)
    undo = reverse("queue_undo", kwargs={"brand": brand.slug})
    for total in (10, 50):
        rows = [make_suggestion(account, f"fan{total}_{n}") for n in range(total)]
        client.post(decide_url(rows[0]), {"kind": "reject"})
        with django_assert_num_queries(UNDO_QUERIES):
            response = client.post(undo, {"next": queue_url(brand)}, **HTMX)
        assert "Undone: @" in response.content.decode()


def test_a_plain_decision_redirects_back_with_a_message(brand, reviewer, account):
    suggestion = make_suggestion(account, "ann_fan")
    client = client_for(reviewer)
    back = queue_url(brand, q="ann")
    response = client.post(decide_url(suggestion), {"kind": "approve", "next": back}, follow=True)
    assert response.redirect_chain == [(back, 302)]
    assert "Approved @ann_fan; the follow is queued." in response.content.decode()
    assert Decision.objects.get().kind == DecisionKind.APPROVE


def test_a_redirect_never_leaves_the_site(brand, reviewer, account):
    suggestion = make_suggestion(account, "ann_fan")
    response = client_for(reviewer).post(
        decide_url(suggestion), {"kind": "later", "next": "https://evil.test/"}
    )
    assert response["Location"] == queue_url(brand)


def test_an_htmx_decision_removes_the_row_and_updates_the_counts_out_of_band(brand, reviewer, account):
    suggestion = make_suggestion(account, "ann_fan")
    make_suggestion(account, "bob")
    response = client_for(reviewer).post(decide_url(suggestion), {"kind": "later", "tab": "pending"}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="suggestion-' not in html
    assert '<nav id="queue-tabs" class="queue-tabs" aria-label="Queue tabs" hx-swap-oob="true">' in html
    assert 'data-count="pending">1<' in html
    assert 'data-count="later">1<' in html
    assert '<span id="queue-count" class="badge" hx-swap-oob="true">1<' in html
    assert "Left @ann_fan for later." in html  # the toast, out of band


def test_an_htmx_decision_someone_else_beat_shows_the_row_as_it_now_stands(
    brand, reviewer, approver, account
):
    suggestion = make_suggestion(account, "ann_fan")
    client_for(approver).post(decide_url(suggestion), {"kind": "reject"})
    response = client_for(reviewer).post(
        decide_url(suggestion), {"kind": "approve", "tab": "pending"}, **HTMX
    )
    html = response.content.decode()
    assert f'id="suggestion-{suggestion.pk}" class="queue-row queue-row-settled"' in html
    assert f"Rejected by {approver}." in html
    assert f"{approver} already rejected this." in html
    assert Decision.objects.count() == 1


def test_a_nonsense_decision_changes_nothing(brand, reviewer, account):
    suggestion = make_suggestion(account, "ann_fan")
    response = client_for(reviewer).post(decide_url(suggestion), {"kind": "undo"}, follow=True)
    assert "not understood" in response.content.decode()
    assert not Decision.objects.exists()


def test_a_reviewer_with_a_second_approver_sees_the_approval_wait(brand, owner, reviewer, account):
    require_second_approver(brand, owner)
    suggestion = make_suggestion(account, "ann_fan")
    client = client_for(reviewer)
    assert "(1 of 2)" in client.get(queue_url(brand)).content.decode()
    response = client.post(decide_url(suggestion), {"kind": "approve"}, follow=True)
    assert "it now waits for a second approver" in response.content.decode()
    page = client.get(queue_url(brand, tab="awaiting")).content.decode()
    assert "waiting for a second approver" in page
    assert "Give final approval" not in page


def test_bulk_approve_plain_and_htmx(brand, reviewer, account):
    rows = [make_suggestion(account, f"fan{n}", score=90 - n) for n in range(4)]
    client = client_for(reviewer)
    url = reverse("queue_bulk", kwargs={"brand": brand.slug})
    response = client.post(
        url, {"kind": "approve", "ids": [rows[0].pk, rows[1].pk], "confirmed": "on"}, follow=True
    )
    assert "Approved 2 suggestions." in response.content.decode()
    response = client.post(
        url, {"kind": "reject", "ids": [rows[1].pk, rows[2].pk], "next": queue_url(brand)}, **HTMX
    )
    html = response.content.decode()
    assert handles_in(html) == ["fan3"]
    assert "Rejected 1 suggestion." in html
    assert "1 not decided: You already approved this." in html
    assert 'data-count="pending">1<' in html
    assert Decision.objects.filter(actor=reviewer).count() == 3


def test_a_plain_bulk_decision_asks_on_a_page_listing_them_and_decides_only_on_confirm(
    brand, reviewer, account
):
    rows = [
        make_suggestion(account, f"fan{n}", score=90 - n, follower={"display_name": f"Fan {n}"})
        for n in range(9)
    ]
    ticked = [r.pk for r in rows[:7]] + [999_999]
    back = queue_url(brand, min_score=80)
    client = client_for(reviewer)
    url = reverse("queue_bulk", kwargs={"brand": brand.slug})

    response = client.post(url, {"kind": "approve", "ids": ticked, "next": back})

    page = response.content.decode()
    assert response.status_code == 200
    assert '<h1 id="bulk-confirm-title">Approve 7 suggestions?</h1>' in page
    assert re.findall(r"<bdi>@(fan\d)</bdi>", page) == [f"fan{n}" for n in range(7)]
    assert "1 of the ticked suggestion is no longer in the queue" in page
    assert page.count('type="hidden" name="ids"') == 8
    assert '<input type="hidden" name="confirmed" value="on">' in page
    assert (
        f'<a href="{back.replace("&", "&amp;")}" role="button" class="secondary outline">Cancel</a>' in page
    )
    assert not Decision.objects.exists(), "nothing is decided before the confirmation"

    confirm = dict(re.findall(r'<input type="hidden" name="(kind|next|confirmed)" value="([^"]*)"', page))
    response = client.post(url, {**confirm, "ids": ticked}, follow=True)

    assert response.redirect_chain == [(back, 302)]
    html = response.content.decode()
    assert "Approved 7 suggestions." in html
    assert "1 not decided: This suggestion is no longer in the queue." in html
    assert Decision.objects.filter(actor=reviewer, kind=DecisionKind.APPROVE).count() == 7


def test_a_plain_bulk_rejection_keeps_its_reason_through_the_confirmation(brand, reviewer, account):
    rows = [make_suggestion(account, f"spam{n}") for n in range(2)]
    url = reverse("queue_bulk", kwargs={"brand": brand.slug})
    page = client_for(reviewer).post(url, {"kind": "reject", "ids": [r.pk for r in rows], "reason": "bots"})
    html = page.content.decode()
    assert "Reject 2 suggestions?" in html
    assert "Reason: <q>bots</q>." in html
    assert '<input type="hidden" name="reason" value="bots">' in html
    assert '<button type="submit" class="danger">Reject 2 suggestions</button>' in html


def test_htmx_bulk_decides_at_once_because_the_browser_confirmed(brand, reviewer, account):
    rows = [make_suggestion(account, f"fan{n}") for n in range(2)]
    url = reverse("queue_bulk", kwargs={"brand": brand.slug})
    response = client_for(reviewer).post(url, {"kind": "approve", "ids": [r.pk for r in rows]}, **HTMX)
    assert "Approved 2 suggestions." in response.content.decode()
    assert Decision.objects.count() == 2


def test_bulk_tools_appear_only_where_the_person_can_decide(brand, owner, reviewer, approver, account):
    require_second_approver(brand, owner)
    mine = make_suggestion(account, "proposed_by_me", status=S.AWAITING_APPROVAL, proposed_by=approver)
    theirs = make_suggestion(account, "proposed_by_them", status=S.AWAITING_APPROVAL, proposed_by=reviewer)
    make_suggestion(account, "pending_one")
    make_suggestion(account, "held_one", status=S.HELD)
    checkbox = 'class="row-select"'

    reviewer_awaiting = client_for(reviewer).get(queue_url(brand, tab="awaiting")).content.decode()
    assert checkbox not in reviewer_awaiting
    assert 'id="bulk-form"' not in reviewer_awaiting
    assert checkbox in client_for(reviewer).get(queue_url(brand)).content.decode()

    approver_awaiting = client_for(approver).get(queue_url(brand, tab="awaiting")).content.decode()
    assert "Give final approval to selected" in approver_awaiting
    assert f'name="ids" value="{theirs.pk}"' in approver_awaiting
    assert f'name="ids" value="{mine.pk}"' not in approver_awaiting, "nobody ticks their own proposal"
    for tab in ("held", "decided"):
        assert 'id="bulk-form"' not in client_for(approver).get(queue_url(brand, tab=tab)).content.decode()


def test_the_proposer_cannot_send_back_or_reject_their_own_proposal_by_posting(
    brand, owner, approver, account
):
    require_second_approver(brand, owner)
    suggestion = make_suggestion(account, "ann_fan", status=S.AWAITING_APPROVAL, proposed_by=approver)
    client = client_for(approver)
    for kind in ("send_back", "reject", "approve"):
        response = client.post(decide_url(suggestion), {"kind": kind, "tab": "awaiting"}, **HTMX)
        assert "a different person with the approver role decides it now" in response.content.decode()
    suggestion.refresh_from_db()
    assert suggestion.status == S.AWAITING_APPROVAL
    assert not Decision.objects.exists()


def test_an_approval_over_the_daily_cap_says_the_follow_waits_for_tomorrow(brand, owner, reviewer, account):
    services.save_policy(brand, replace(PolicySettings(), daily_follow_cap=1), by=owner)
    first, second = make_suggestion(account, "first"), make_suggestion(account, "second")
    client = client_for(reviewer)
    client.post(decide_url(first), {"kind": "approve"})

    response = client.post(decide_url(second), {"kind": "approve", "tab": "pending"}, **HTMX)

    assert (
        "Approved @second. Waiting for tomorrow: today&#x27;s cap of 1 follow is reached, so the follow runs then."
        in response.content.decode()
    )
    assert FollowAction.objects.get(suggestion=second).run_after > timezone.now() + timedelta(minutes=3)


def test_a_bulk_approval_over_the_daily_cap_says_how_many_follows_wait(brand, owner, reviewer, account):
    services.save_policy(brand, replace(PolicySettings(), daily_follow_cap=2), by=owner)
    rows = [make_suggestion(account, f"fan{n}", score=90 - n) for n in range(5)]
    url = reverse("queue_bulk", kwargs={"brand": brand.slug})
    response = client_for(reviewer).post(url, {"kind": "approve", "ids": [r.pk for r in rows]}, **HTMX)
    assert (
        "Approved 5 suggestions. 3 of their follows wait for tomorrow: today&#x27;s cap of 2 follows is reached."
        in response.content.decode()
    )
    assert FollowAction.objects.exclude(waiting_reason="").count() == 3


def test_pending_and_later_suggestions_whose_time_ran_out_leave_the_queue_and_its_counts(
    brand, viewer, account
):
    gone = timezone.now() - timedelta(minutes=1)
    make_suggestion(account, "fresh")
    make_suggestion(account, "stale", expires_at=gone)
    make_suggestion(account, "later_fresh", status=S.LATER)
    make_suggestion(account, "later_stale", status=S.LATER, expires_at=gone)
    client = client_for(viewer)

    html = client.get(queue_url(brand)).content.decode()
    assert handles_in(html) == ["fresh"]
    assert 'data-count="pending">1<' in html
    assert 'data-count="later">1<' in html
    assert 'id="queue-count" class="badge">1<' in html
    assert handles(client.get(queue_url(brand, tab="later"))) == ["later_fresh"]
    home = client.get(reverse("brand_home", kwargs={"brand": brand.slug})).content.decode()
    assert 'id="queue-count" class="badge">1<' in home
    assert f'<a href="{reverse("queue", kwargs={"brand": brand.slug})}">1</a>' in home


def test_deciding_a_suggestion_whose_time_ran_out_shows_it_expired(brand, reviewer, account):
    suggestion = make_suggestion(account, "stale", expires_at=timezone.now() - timedelta(minutes=1))
    response = client_for(reviewer).post(
        decide_url(suggestion), {"kind": "approve", "tab": "pending"}, **HTMX
    )
    html = response.content.decode()
    assert "Expired: nobody decided it in time." in html
    assert "This suggestion expired before anyone decided it." in html
    assert not Decision.objects.exists()


def test_bulk_with_nothing_ticked_says_so(brand, reviewer):
    url = reverse("queue_bulk", kwargs={"brand": brand.slug})
    response = client_for(reviewer).post(url, {"kind": "approve"}, follow=True)
    assert "Tick the suggestions to decide first." in response.content.decode()


def test_undo_plain_and_htmx(brand, reviewer, account):
    suggestion = make_suggestion(account, "ann_fan")
    client = client_for(reviewer)
    undo = reverse("queue_undo", kwargs={"brand": brand.slug})
    client.post(decide_url(suggestion), {"kind": "reject"})
    response = client.post(undo, {"next": queue_url(brand)}, **HTMX)
    html = response.content.decode()
    assert handles_in(html) == ["ann_fan"]
    assert "Undone: @ann_fan is waiting for review again." in html
    response = client.post(undo, follow=True)
    assert "is already undone" in response.content.decode()


def test_the_detail_page_shows_history_and_comments_and_takes_new_ones(brand, reviewer, approver, account):
    suggestion = make_suggestion(account, "ann_fan")
    client = client_for(reviewer)
    client.post(decide_url(suggestion), {"kind": "reject", "reason": "sells followers"})
    url = reverse("suggestion_comment", kwargs={"brand": brand.slug, "suggestion_id": suggestion.pk})
    response = client.post(url, {"body": "Checked their site: a bot farm."}, follow=True)
    assert response.redirect_chain[-1][0].endswith("#comments")
    html = response.content.decode()
    assert "Checked their site: a bot farm." in html
    assert "rejected — <q>sells followers</q>" in html
    response = client_for(approver).post(url, {"body": "Agreed <b>"}, **HTMX)
    assert response.status_code == 200
    assert "Agreed &lt;b&gt;" in response.content.decode()
    assert "<html" not in response.content.decode()
    assert Comment.objects.count() == 2
    empty = client.post(url, {"body": "  "}, **HTMX)
    assert empty.status_code == 422


def test_the_nav_shows_the_waiting_count_on_every_brand_page(brand, viewer, account):
    for n in range(3):
        make_suggestion(account, f"fan{n}")
    html = client_for(viewer).get(reverse("brand_home", kwargs={"brand": brand.slug})).content.decode()
    assert 'id="queue-count" class="badge">3<' in html


def test_counts_stop_at_the_limit(brand, viewer, account, monkeypatch):
    from followback.templatetags import queue_tags

    monkeypatch.setattr(queue_tags, "COUNT_LIMIT", 2)
    for n in range(3):
        make_suggestion(account, f"fan{n}")
    html = client_for(viewer).get(queue_url(brand)).content.decode()
    assert 'data-count="pending">2+<' in html
