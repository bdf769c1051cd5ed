"""Policy versions, their audit trail and preview (services), and the policy pages (views)."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccountStatus, AuditEvent, Brand, ConnectedAccount, Follower, Platform, Role, User
from rules import services
from rules.forms import SECTIONS, PolicyForm
from rules.models import PolicyVersion, Suggestion, SuggestionStatus
from rules.policy import FIELDS, PolicySettings
from rules.population import brand_context, decide_followers, follower_batch, follower_rows
from rules.signals import Polarity, Reason, SignalResult, explain
from tests.conftest import client_for
from tests.factories import MembershipFactory

HTMX: dict[str, Any] = {"HTTP_HX_REQUEST": "true"}
DEFAULTS = PolicySettings()


def policy_form_data(settings: PolicySettings = DEFAULTS, **overrides: str) -> dict[str, str]:
    """What a browser posts for a policy form showing these settings, with some fields typed over."""
    form = PolicyForm.for_settings(settings)
    data = {}
    for name in form.fields:
        value = form[name].value()
        if name in FIELDS and FIELDS[name].kind == "switch":
            if value:
                data[name] = "on"
        else:
            data[name] = "" if value is None else str(value)
    data.update(overrides)
    return data


def add_followers(brand: Brand, *handles: str, customers: tuple[str, ...] = (), **account: Any) -> None:
    connected, _ = ConnectedAccount.objects.get_or_create(
        brand=brand,
        platform=Platform.DEMO,
        platform_user_id=account.pop("platform_user_id", f"{brand.slug}-demo"),
        defaults={"handle": f"{brand.slug}.demo", **account},
    )
    Follower.objects.bulk_create(
        Follower(account=connected, platform_id=handle, handle=handle, is_customer=handle in customers)
        for handle in handles
    )


def counts(preview: services.PolicyPreview) -> dict[str, int]:
    return {group.key: group.count for group in preview.groups}


def decide_one(brand: Brand, handle: str) -> dict[str, SignalResult]:
    """Every signal of one follower, computed as the daily queue computes them."""
    follower = Follower.objects.get(handle=handle)
    rows = list(follower_rows(Follower.objects.filter(pk=follower.pk), timezone.now()))
    return decide_followers(follower_batch(rows, {}).columns, brand_context(brand, DEFAULTS), DEFAULTS)[1]


def policy_url(brand: Brand, name: str = "rules:policy", **kwargs: Any) -> str:
    return reverse(name, kwargs={"brand": brand.slug, **kwargs})


# --- form ----------------------------------------------------------------------------------------------------


def test_the_form_has_one_field_per_setting_each_in_exactly_one_section():
    assert set(PolicyForm.base_fields) == {*FIELDS, "note"}
    in_sections = [key for section in SECTIONS for key in section.keys]
    assert sorted(in_sections) == sorted(FIELDS)


def test_the_form_shows_and_gives_back_the_same_settings():
    settings = replace(
        DEFAULTS, never_follow=("a.example", "b.example"), blocklist=("/x+y/",), second_approver=True
    )
    form = PolicyForm(policy_form_data(settings))
    assert form.is_valid(), form.errors
    assert form.policy_settings() == settings


# --- services ------------------------------------------------------------------------------------------------


def test_the_first_look_at_a_policy_creates_version_1_with_the_defaults(brand):
    version = services.current_policy(brand)
    assert (version.number, version.created_by, version.policy) == (1, None, DEFAULTS)
    assert services.current_policy(brand).pk == version.pk
    assert PolicyVersion.objects.count() == 1


def test_saving_a_policy_numbers_each_version_after_the_last(brand, owner):
    second = services.save_policy(brand, replace(DEFAULTS, suggest_threshold=70), by=owner, note="Stricter")
    third = services.save_policy(brand, replace(DEFAULTS, suggest_threshold=80), by=owner)
    assert (second.number, third.number) == (2, 3)
    assert (second.note, second.created_by) == ("Stricter", owner)
    assert services.current_policy(brand).policy.suggest_threshold == 80


def test_each_brand_numbers_its_own_versions(brand, other_brand, owner, outsider):
    services.save_policy(brand, replace(DEFAULTS, queue_size=10), by=owner)
    theirs = services.save_policy(other_brand, replace(DEFAULTS, queue_size=20), by=outsider)
    assert theirs.number == 2
    assert services.current_policy(brand).policy.queue_size == 10


def test_saving_identical_settings_creates_no_version_and_no_audit_event(brand, owner):
    first = services.current_policy(brand)
    assert services.save_policy(brand, PolicySettings(), by=owner).pk == first.pk
    assert PolicyVersion.objects.count() == 1
    assert not AuditEvent.objects.filter(verb__startswith="policy.").exists()


def test_saving_writes_an_audit_event_with_the_changes(brand, owner):
    version = services.save_policy(
        brand, replace(DEFAULTS, suggest_threshold=70, never_follow=("spam.example",)), by=owner
    )
    event = AuditEvent.objects.get(verb="policy.changed")
    assert (event.brand, event.actor, event.target_id) == (brand, owner, str(version.pk))
    assert event.summary == f"{owner} saved policy version 2"
    assert event.data == {
        "version": 2,
        "changes": [
            ["Suggest threshold", "60", "70"],
            ["Never-follow list", "—", "added @spam.example"],
        ],
    }


def test_invalid_settings_are_refused_and_nothing_is_saved(brand, owner):
    with pytest.raises(ValidationError) as refused:
        services.save_policy(brand, replace(DEFAULTS, daily_follow_cap=0), by=owner)
    assert refused.value.message_dict == {"daily_follow_cap": ["Enter a whole number from 1 to 1,000."]}
    assert PolicyVersion.objects.filter(number__gt=1).count() == 0
    assert not AuditEvent.objects.exists()


def test_reverting_copies_an_old_version_into_a_new_one_and_audits_it(brand, owner):
    services.save_policy(brand, replace(DEFAULTS, suggest_threshold=70), by=owner)
    services.save_policy(brand, replace(DEFAULTS, suggest_threshold=90, second_approver=True), by=owner)
    version_2 = PolicyVersion.objects.get(brand=brand, number=2)

    restored = services.revert_policy(brand, version_2, by=owner)

    assert (restored.number, restored.reverted_from, restored.settings) == (4, version_2, version_2.settings)
    event = AuditEvent.objects.get(verb="policy.reverted")
    assert event.summary == f"{owner} restored policy version 2 as version 4"
    assert event.data == {
        "version": 4,
        "reverted_from": 2,
        "changes": [["Suggest threshold", "90", "70"], ["Second approver", "yes", "no"]],
    }


def test_reverting_to_the_settings_already_in_force_adds_nothing(brand, owner):
    first = services.current_policy(brand)
    assert services.revert_policy(brand, first, by=owner).pk == first.pk
    assert PolicyVersion.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_saves_racing_each_other_get_one_number_each(brand, owner):
    services.current_policy(brand)
    racers = 6
    start = threading.Barrier(racers)
    failures: list[BaseException] = []

    def save(threshold: int) -> None:
        try:
            start.wait()
            services.save_policy(brand, replace(DEFAULTS, suggest_threshold=threshold), by=owner)
        except BaseException as error:  # reported below: an exception in a thread would pass unnoticed
            failures.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=save, args=(61 + i,)) for i in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    numbers = sorted(PolicyVersion.objects.for_brand(brand).values_list("number", flat=True))
    assert numbers == list(range(1, racers + 2))
    assert AuditEvent.objects.filter(verb="policy.changed").count() == racers


def test_the_preview_applies_the_follow_lists_the_customer_rule_and_the_score(brand):
    add_followers(
        brand, "fan.example", "loyal.example", "spam.example", "quiet.example", customers=("loyal.example",)
    )
    settings = replace(DEFAULTS, always_follow=("fan.example",), never_follow=("spam.example",))

    preview = services.preview_policy(brand, settings)

    assert (preview.sampled, preview.is_everyone) == (4, True)
    assert counts(preview) == {"suggested": 2, "below_threshold": 1, "held_by_rule": 1}
    assert {(row.handle, row.rule) for row in preview.group("suggested").examples} == {
        ("fan.example", "always: on the always-follow list"),
        ("loyal.example", "always: verified customer"),
    }
    assert [(row.handle, row.rule) for row in preview.group("held_by_rule").examples] == [
        ("spam.example", "never: on the never-follow list")
    ]
    [below] = preview.group("below_threshold").examples
    assert below.handle == "quiet.example"
    assert below.rule.startswith("score ")
    assert "below the threshold of 60" in below.rule
    assert [group.title for group in preview.groups] == ["Suggested", "Below the threshold", "Held by a rule"]


def test_each_preview_example_shows_the_signal_reasons_the_queue_shows(brand):
    add_followers(brand, "loyal.example", "quiet.example", customers=("loyal.example",))
    preview = services.preview_policy(brand, DEFAULTS)
    [loyal] = preview.group("suggested").examples
    assert Reason("customer", "on your customer list", Polarity.SUGGEST) in loyal.reasons
    [quiet] = preview.group("below_threshold").examples
    assert [reason.text for reason in quiet.reasons] == [
        reason.text for reason in explain(decide_one(brand, "quiet.example"), 0)
    ]


def test_the_preview_leaves_followers_waiting_for_a_second_approver_as_they_are(brand, owner):
    add_followers(brand, "waiting.example", "loyal.example", customers=("waiting.example", "loyal.example"))
    waiting = Follower.objects.get(handle="waiting.example")
    Suggestion.objects.create(
        brand=brand, account=waiting.account, follower=waiting, status=SuggestionStatus.AWAITING_APPROVAL,
        policy_version=services.current_policy(brand), score=90, rule="", expires_at=timezone.now(),
    )  # fmt: skip
    preview = services.preview_policy(brand, DEFAULTS)
    assert preview.in_flight == 1
    assert counts(preview) == {"suggested": 1, "below_threshold": 0, "held_by_rule": 0}
    page = client_for(owner).get(policy_url(brand)).content.decode()
    assert "1 sampled follower is waiting for a second approver and stays as they are." in page


def test_the_preview_estimates_every_group_for_all_current_followers_from_its_sample(brand, monkeypatch):
    monkeypatch.setattr(services, "PREVIEW_SAMPLE_SIZE", 10)
    add_followers(brand, *[f"f{n:03}.example" for n in range(200)], customers=("f007.example",))
    ConnectedAccount.objects.filter(brand=brand).update(followers_count=200)
    preview = services.preview_policy(brand, DEFAULTS)
    assert (preview.sampled, preview.followers, preview.is_everyone) == (10, 200, False)
    assert sum(group.count for group in preview.groups) == 10
    assert [group.estimate for group in preview.groups] == [group.count * 20 for group in preview.groups]


def test_the_preview_holds_customers_when_they_are_not_always_surfaced(brand):
    add_followers(brand, "loyal.example", customers=("loyal.example",))
    preview = services.preview_policy(
        brand, replace(DEFAULTS, always_surface_customers=False, suggest_threshold=100)
    )
    assert counts(preview) == {"suggested": 0, "below_threshold": 1, "held_by_rule": 0}


def test_the_preview_reads_only_current_followers_of_the_brands_connected_accounts(brand, other_brand):
    add_followers(brand, "mine.example")
    add_followers(other_brand, "theirs.example")
    add_followers(brand, "old.example", platform_user_id="gone", status=AccountStatus.DISCONNECTED)
    add_followers(brand, "left.example")
    Follower.objects.filter(handle="left.example").update(is_following=False)

    preview = services.preview_policy(brand, DEFAULTS)

    assert preview.sampled == 1
    assert [row.handle for row in preview.group("below_threshold").examples] == ["mine.example"]


def test_the_preview_samples_the_same_spread_of_followers_every_time(brand, monkeypatch):
    monkeypatch.setattr(services, "PREVIEW_SAMPLE_SIZE", 10)
    monkeypatch.setattr(services, "PREVIEW_EXAMPLES", 10)
    add_followers(brand, *[f"f{n:03}.example" for n in range(200)])

    first = services.preview_policy(brand, DEFAULTS)
    second = services.preview_policy(brand, DEFAULTS)

    handles = [row.handle for row in first.group("below_threshold").examples]
    assert (first.sampled, first.is_everyone) == (10, False)
    assert handles == [row.handle for row in second.group("below_threshold").examples]
    assert handles != sorted(handles), "the sample should spread over the table, not take its first rows"


def test_the_preview_of_a_brand_without_followers_is_empty(brand):
    preview = services.preview_policy(brand, DEFAULTS)
    assert preview.sampled == 0
    assert counts(preview) == {"suggested": 0, "below_threshold": 0, "held_by_rule": 0}


# --- views ---------------------------------------------------------------------------------------------------


def test_an_admin_sees_the_policy_as_a_form_with_a_live_preview(brand, owner):
    add_followers(brand, "quiet.example")
    response = client_for(owner).get(policy_url(brand))
    page = response.content.decode()
    assert response.status_code == 200
    assert 'name="suggest_threshold"' in page
    assert f'hx-post="{policy_url(brand, "rules:policy_preview")}"' in page
    assert 'id="policy-preview"' in page
    assert '<strong data-count="below_threshold">1</strong>' in page
    assert "Save as version 2" in page


@pytest.mark.parametrize("role", [Role.ADMIN, Role.VIEWER])
def test_every_setting_shows_its_default_and_why_it_is_sensible(brand, owner, role):
    member = owner if role == Role.ADMIN else MembershipFactory(brand=brand, role=role).user
    page = client_for(member).get(policy_url(brand)).content.decode()
    assert page.count("data-default") == len(FIELDS)
    assert "<strong>Default: 60.</strong> Ten points above the neutral 50" in page
    assert "<strong>Default: 06:00 UTC.</strong>" in page
    assert "each connected account" in page


@pytest.mark.parametrize("role", [Role.VIEWER, Role.REVIEWER, Role.APPROVER])
def test_members_below_admin_read_the_policy_without_a_form(brand, role):
    member = MembershipFactory(brand=brand, role=role).user
    response = client_for(member).get(policy_url(brand))
    page = response.content.decode()
    assert response.status_code == 200
    assert "<form" not in page.split('<main id="main"')[1]
    assert "Suggest threshold" in page
    assert "Only admins of Acme Coffee can change the policy." in page


@pytest.mark.parametrize("role", [Role.VIEWER, Role.REVIEWER, Role.APPROVER])
def test_members_below_admin_cannot_save_the_policy(brand, role):
    member = MembershipFactory(brand=brand, role=role).user
    response = client_for(member).post(policy_url(brand), policy_form_data(suggest_threshold="10"))
    assert response.status_code == 403
    assert not PolicyVersion.objects.exists()


def test_saving_the_form_adds_a_version_and_says_which(brand, owner):
    data = policy_form_data(
        suggest_threshold="72", never_follow="@Spam.example\n\n", note="Fewer suggestions"
    )
    response = client_for(owner).post(policy_url(brand), data, follow=True)
    assert response.redirect_chain == [(policy_url(brand), 302)]
    assert "Policy saved as version 2." in response.content.decode()
    version = services.current_policy(brand)
    assert (version.number, version.note, version.created_by) == (2, "Fewer suggestions", owner)
    assert version.policy == replace(DEFAULTS, suggest_threshold=72, never_follow=("spam.example",))


def test_saving_the_form_unchanged_says_nothing_changed(brand, owner):
    response = client_for(owner).post(policy_url(brand), policy_form_data(), follow=True)
    assert "Nothing changed: the policy is still version 1." in response.content.decode()
    assert PolicyVersion.objects.count() == 1


def test_an_invalid_form_answers_422_with_each_error_at_its_field_and_saves_nothing(brand, owner):
    data = policy_form_data(
        suggest_threshold="150",
        weight_bot="11",
        blocklist="spam\n\n/(a+)+/\n/[/",
        always_follow="friend.example\nnot a handle",
    )
    response = client_for(owner).post(policy_url(brand), data)
    page = response.content.decode()
    assert response.status_code == 422
    assert "The policy was not saved." in page
    assert "Enter a whole number from 0 to 100." in page
    assert "Enter a number from 0 to 10." in page
    assert (
        "Line 3: it repeats a group that itself repeats, like (a+)+, which can take forever to check." in page
    )
    assert "Line 4: not a valid regular expression (unterminated character set)." in page
    assert "Line 2: “not a handle” is not a handle." in page
    assert 'aria-invalid="true"' in page
    assert PolicyVersion.objects.count() == 1
    assert not AuditEvent.objects.exists()


def test_the_htmx_preview_answers_with_only_the_preview_panel(brand, owner):
    add_followers(brand, "fan.example", "quiet.example")
    data = policy_form_data(always_follow="fan.example")
    response = client_for(owner).post(policy_url(brand, "rules:policy_preview"), data, **HTMX)
    page = response.content.decode()
    assert response.status_code == 200
    assert page.lstrip().startswith('<section id="policy-preview"')
    assert "<html" not in page
    assert '<strong data-count="suggested">1</strong>' in page
    assert "always: on the always-follow list" in page
    assert response["Vary"] == "HX-Request, Cookie"
    assert PolicyVersion.objects.count() == 0


def test_the_htmx_preview_of_an_invalid_draft_lists_what_to_fix(brand, owner):
    data = policy_form_data(queue_size="0")
    response = client_for(owner).post(policy_url(brand, "rules:policy_preview"), data, **HTMX)
    page = response.content.decode()
    assert response.status_code == 422
    assert "Fix these to see a preview:" in page
    assert "<strong>Queue size</strong>: Enter a whole number from 1 to 2,000." in page


def test_the_preview_without_javascript_shows_the_whole_page_with_the_draft_kept(brand, owner):
    add_followers(brand, "fan.example")
    data = policy_form_data(always_follow="fan.example", suggest_threshold="65")
    response = client_for(owner).post(policy_url(brand, "rules:policy_preview"), data)
    page = response.content.decode()
    assert response.status_code == 200
    assert "<html" in page
    assert 'value="65"' in page
    assert '<strong data-count="suggested">1</strong>' in page
    assert not PolicyVersion.objects.filter(number__gt=1).exists()


def test_the_history_lists_versions_newest_first_with_what_each_changed(brand, owner, viewer):
    services.save_policy(brand, replace(DEFAULTS, suggest_threshold=70), by=owner, note="Stricter")
    services.save_policy(brand, replace(DEFAULTS, suggest_threshold=70, queue_hour=9), by=owner)
    response = client_for(viewer).get(policy_url(brand, "rules:policy_history"))
    page = response.content.decode()
    assert response.status_code == 200
    assert page.index("Version 3") < page.index("Version 2") < page.index("Version 1")
    assert "Stricter" in page
    assert (
        '<th scope="row">Queue hour</th><td class="diff-old">06:00 UTC</td><td class="diff-new">09:00 UTC</td>'
        in page
    )
    assert (
        '<th scope="row">Suggest threshold</th><td class="diff-old">60</td><td class="diff-new">70</td>'
        in page
    )
    assert "Restore version" not in page


def test_an_admin_restores_an_old_version_from_the_history(brand, owner):
    services.save_policy(brand, replace(DEFAULTS, suggest_threshold=70), by=owner)
    client = client_for(owner)
    assert "Restore version 1" in client.get(policy_url(brand, "rules:policy_history")).content.decode()

    response = client.post(policy_url(brand, "rules:policy_revert", number=1), follow=True)

    assert response.redirect_chain == [(policy_url(brand, "rules:policy_history"), 302)]
    assert "Restored version 1 as version 3." in response.content.decode()
    assert "restores version 1" in response.content.decode()
    assert services.current_policy(brand).policy == DEFAULTS


def test_restoring_the_version_in_force_says_nothing_changed(brand, owner):
    services.current_policy(brand)
    response = client_for(owner).post(policy_url(brand, "rules:policy_revert", number=1), follow=True)
    assert "Nothing changed: version 1 already has these settings." in response.content.decode()


def test_a_version_that_no_longer_validates_is_not_restored_and_says_why(brand, owner):
    services.current_policy(brand)
    PolicyVersion.objects.create(brand=brand, number=2, settings={"queue_size": 5000})
    services.save_policy(brand, DEFAULTS, by=owner)
    response = client_for(owner).post(policy_url(brand, "rules:policy_revert", number=2), follow=True)
    assert "Version 2 cannot be restored: Enter a whole number from 1 to 2,000." in response.content.decode()
    assert services.current_policy(brand).number == 3


def test_another_brands_version_cannot_be_restored(brand, other_brand, owner, outsider):
    services.save_policy(other_brand, replace(DEFAULTS, queue_size=5), by=outsider)
    response = client_for(owner).post(policy_url(brand, "rules:policy_revert", number=2))
    assert response.status_code == 404
    assert services.current_policy(brand).number == 1


@pytest.mark.parametrize("persona", ["owner", "viewer"])
def test_the_policy_page_needs_the_same_queries_however_many_versions_there_are(
    brand, owner, viewer, persona
):
    client = client_for(owner if persona == "owner" else viewer)
    add_followers(brand, "quiet.example")
    client.get(policy_url(brand))
    with CaptureQueriesContext(connection) as one_version:
        client.get(policy_url(brand))
    for threshold in range(61, 71):
        services.save_policy(brand, replace(DEFAULTS, suggest_threshold=threshold), by=owner)
    with CaptureQueriesContext(connection) as eleven_versions:
        client.get(policy_url(brand))
    assert len(eleven_versions) == len(one_version)


def test_the_history_needs_the_same_queries_however_many_versions_there_are(brand, owner: User):
    client = client_for(owner)
    services.save_policy(brand, replace(DEFAULTS, suggest_threshold=61), by=owner)
    with CaptureQueriesContext(connection) as two_versions:
        client.get(policy_url(brand, "rules:policy_history"))
    for threshold in range(62, 72):
        services.save_policy(brand, replace(DEFAULTS, suggest_threshold=threshold), by=owner)
    with CaptureQueriesContext(connection) as twelve_versions:
        client.get(policy_url(brand, "rules:policy_history"))
    assert len(twelve_versions) == len(two_versions)
