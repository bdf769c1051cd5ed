"""`manage.py seed_demo`: the demo brands, one login per role, a demo account and a policy made for a demo morning."""

from io import StringIO

import pytest
from django.core.management import call_command

from accounts.models import Brand, ConnectedAccount, Customer, Membership, Platform, Role
from rules.services import current_policy


@pytest.mark.django_db
def test_seed_demo_creates_the_brands_logins_account_and_a_two_person_policy(
    django_capture_on_commit_callbacks,
):
    out = StringIO()
    with django_capture_on_commit_callbacks():
        call_command("seed_demo", "--followers", "300", stdout=out)
    acme = Brand.objects.get(slug="acme-coffee")
    assert set(Membership.objects.filter(brand=acme).values_list("user__email", "role")) == {
        (f"{role.value}@demo.test", role.value) for role in Role
    }
    assert ConnectedAccount.objects.get(brand=acme).platform == Platform.DEMO
    assert Customer.objects.filter(brand=acme).exists()
    policy = current_policy(acme).policy
    assert (policy.second_approver, policy.queue_size) == (True, 20)
    assert "scam" in policy.blocklist
    assert "reviewer@demo.test" in out.getvalue()
    with django_capture_on_commit_callbacks():
        call_command("seed_demo", "--followers", "300", stdout=StringIO())
    assert ConnectedAccount.objects.filter(brand=acme).count() == 1
    assert current_policy(acme).number == 2
