"""The daily digest: who gets what, once per person and brand a day, only after the day's queue is built."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import cast

import pytest
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.utils import timezone

from accounts.models import AuditEvent, Brand, Role, User
from followback import digest, tasks
from followback.models import FollowAction, FollowState
from rules.models import QueueBuild
from rules.models import SuggestionStatus as S
from rules.services import current_policy
from tests.factories import MembershipFactory
from tests.followback.queue_data import connected_account, make_suggestion


def build_queue(brand: Brand, at=None) -> QueueBuild:
    return QueueBuild.objects.create(
        brand=brand, policy_version=current_policy(brand), built_at=at or timezone.now()
    )


@pytest.fixture
def queue(brand, owner, approver, reviewer, viewer) -> Brand:
    """Today's queue: 3 pending, 2 proposals waiting (one by the approver), 1 failed follow."""
    account = connected_account(brand)
    for i in range(3):
        make_suggestion(account, f"pending{i}")
    make_suggestion(account, "proposed_by_reviewer", status=S.AWAITING_APPROVAL, proposed_by=reviewer)
    make_suggestion(account, "proposed_by_approver", status=S.AWAITING_APPROVAL, proposed_by=approver)
    failed = make_suggestion(account, "failed", status=S.APPROVED)
    FollowAction.objects.create(
        brand=brand, account=account, follower=failed.follower, suggestion=failed, state=FollowState.FAILED
    )
    build_queue(brand)
    return brand


def sent_to(address: str) -> list[mail.EmailMessage]:
    return [message for message in mail.outbox if message.to == [address]]


def test_reviewers_approvers_and_admins_get_one_email_each_viewers_none(
    queue, owner, approver, reviewer, viewer
):
    assert digest.send_due_digests() == 3
    assert sorted(m.to[0] for m in mail.outbox) == sorted([owner.email, approver.email, reviewer.email])
    assert sent_to(viewer.email) == []


def test_reviewers_hear_about_pending_suggestions_only(queue, reviewer):
    digest.send_due_digests()
    (message,) = sent_to(reviewer.email)
    assert message.subject == "Acme Coffee: 3 to review today"
    assert "3 suggestions waiting for review" in message.body
    assert "http://127.0.0.1:8000/b/acme/queue/" in message.body
    assert "second approver" not in message.body
    assert "failed" not in message.body


def test_pending_suggestions_whose_time_ran_out_are_not_counted(queue, reviewer):
    account = queue.connected_accounts.get()
    make_suggestion(account, "stale", expires_at=timezone.now() - timedelta(minutes=1))
    digest.send_due_digests()
    (message,) = sent_to(reviewer.email)
    assert message.subject == "Acme Coffee: 3 to review today"


def test_approvers_also_hear_what_waits_for_their_approval_and_failed_follows(queue, approver, owner):
    digest.send_due_digests()
    (message,) = sent_to(approver.email)
    # Two proposals wait, but one is the approver's own, which they may not approve.
    assert message.subject == "Acme Coffee: 3 to review, 1 to approve, 1 failed follow today"
    assert "1 approval waiting for you as second approver" in message.body
    assert "/b/acme/queue/?tab=awaiting" in message.body
    assert "1 follow that failed and can be retried" in message.body
    (admin_message,) = sent_to(owner.email)
    assert "2 approvals waiting" in admin_message.body


def test_the_digest_has_an_html_part_with_escaped_names(queue, reviewer):
    Brand.objects.filter(pk=queue.pk).update(name="<b>Acme</b> & Co")
    digest.send_due_digests()
    (message,) = sent_to(reviewer.email)
    assert isinstance(message, EmailMultiAlternatives)
    html, mimetype = message.alternatives[0]
    assert isinstance(html, str)
    assert mimetype == "text/html"
    assert "&lt;b&gt;Acme&lt;/b&gt; &amp; Co" in html
    assert '<a href="http://127.0.0.1:8000/b/acme/queue/">3 suggestions waiting for review</a>' in html


def test_each_person_gets_the_digest_once_a_day(queue, reviewer):
    assert digest.send_due_digests() == 3
    assert digest.send_due_digests() == 0
    assert tasks.send_daily_digests() == 0
    assert len(mail.outbox) == 3
    event = AuditEvent.objects.get(verb="digest.sent", target_id=str(reviewer.pk))
    assert event.actor is None
    assert event.data["pending"] == 3
    assert event.summary.startswith(f"Daily digest e-mailed to {reviewer}: 3 to review")


def test_tomorrows_queue_brings_tomorrows_digest(queue):
    digest.send_due_digests()
    tomorrow = timezone.now() + timedelta(days=1)
    build_queue(queue, at=tomorrow)
    assert digest.send_due_digests(now=tomorrow) == 3


def test_no_digest_before_the_days_queue_is_built(brand, reviewer):
    make_suggestion(connected_account(brand), "pending0")
    build_queue(brand, at=timezone.now().astimezone(UTC) - timedelta(days=1))
    assert digest.send_due_digests() == 0
    assert mail.outbox == []


def test_nothing_waiting_means_no_email_until_something_does(brand, reviewer, approver):
    build_queue(brand)
    assert digest.send_due_digests() == 0
    make_suggestion(
        connected_account(brand), "late_arrival", status=S.AWAITING_APPROVAL, proposed_by=reviewer
    )
    assert digest.send_due_digests() == 1
    assert sent_to(approver.email)[0].subject == "Acme Coffee: 1 to approve today"


def test_someone_who_joins_later_in_the_day_gets_it_at_the_next_check(queue):
    digest.send_due_digests()
    newcomer = cast(User, MembershipFactory(brand=queue, role=Role.REVIEWER).user)
    assert digest.send_due_digests() == 1
    assert len(sent_to(newcomer.email)) == 1


def test_members_of_two_brands_get_one_digest_per_brand(queue, other_brand, reviewer):
    MembershipFactory(brand=other_brand, user=reviewer, role=Role.REVIEWER)
    make_suggestion(connected_account(other_brand, handle="globex.demo"), "globex_pending")
    build_queue(other_brand)
    digest.send_due_digests()
    subjects = sorted(m.subject for m in sent_to(reviewer.email))
    assert subjects == ["Acme Coffee: 3 to review today", "Globex: 1 to review today"]


def test_inactive_people_get_no_digest(queue, reviewer):
    User.objects.filter(pk=reviewer.pk).update(is_active=False)
    digest.send_due_digests()
    assert sent_to(reviewer.email) == []


def test_a_refused_email_is_not_recorded_and_goes_out_at_the_next_check(queue, reviewer, monkeypatch):
    from django.core.mail.backends.locmem import EmailBackend

    real_send = EmailBackend.send_messages

    def refuse_reviewer(self, messages):
        if messages[0].to == [reviewer.email]:
            raise ConnectionRefusedError("mail server down")
        return real_send(self, messages)

    monkeypatch.setattr(EmailBackend, "send_messages", refuse_reviewer)
    assert digest.send_due_digests() == 2
    assert not AuditEvent.objects.filter(verb="digest.sent", target_id=str(reviewer.pk)).exists()
    monkeypatch.setattr(EmailBackend, "send_messages", real_send)
    assert digest.send_due_digests() == 1
    assert len(sent_to(reviewer.email)) == 1


def test_finding_who_is_due_is_one_query_whatever_the_number_of_brands(
    queue, other_brand, django_assert_num_queries
):
    MembershipFactory(brand=other_brand, role=Role.REVIEWER)
    build_queue(other_brand)
    with django_assert_num_queries(1):
        due = list(digest.due_memberships(timezone.now().date()))
    assert len(due) == 4
    with django_assert_num_queries(2):
        counts = digest.brand_counts([queue.pk, other_brand.pk])
    assert (counts[queue.pk].pending, counts[queue.pk].awaiting_total, counts[queue.pk].failed_follows) == (
        3,
        2,
        1,
    )


def test_the_beat_schedule_runs_the_digest_every_ten_minutes():
    from followback.celery import app

    entry = app.conf.beat_schedule["daily-digests"]
    assert entry == {"task": "followback.tasks.send_daily_digests", "schedule": 600.0}
