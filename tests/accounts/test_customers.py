from django.urls import reverse

from accounts import customers
from accounts.models import AuditEvent, ConnectedAccount, Customer, Follower, Platform
from tests.conftest import client_for


def csv_bytes(text: str, encoding: str = "utf-8") -> bytes:
    return text.encode(encoding)


def test_bad_rows_are_reported_by_line_and_every_valid_row_is_kept(brand, owner):
    data = csv_bytes(
        "handle,email\n"
        "@Alice@example.social,alice@example.com\n"
        ",not-an-email\n"
        "bob,\n"
        ",\n"
        "has space,\n"
        ",carol@example.com\n"
        "bob,\n"
    )
    report = customers.import_customers(brand, data, by=owner)
    assert report.imported == 3
    assert report.duplicates == 1
    assert report.errors == [
        (3, "\u201cnot-an-email\u201d is not an e-mail address"),
        (6, "\u201chas space\u201d is not a handle"),
    ]
    assert set(Customer.objects.filter(brand=brand).values_list("handle", flat=True)) == {
        "alice@example.social",
        "bob",
        "",
    }
    assert AuditEvent.objects.filter(verb="customers.imported").count() == 1


def test_email_addresses_are_stored_only_as_salted_hashes(brand, other_brand, owner):
    customers.import_customers(brand, csv_bytes("email\nCarol@Example.com\n"), by=owner)
    stored = Customer.objects.get(brand=brand)
    assert "carol" not in stored.email_hash.lower()
    assert stored.email_hash == customers.hash_email(brand, "carol@example.com")
    assert customers.hash_email(other_brand, "carol@example.com") != stored.email_hash


def test_importing_the_same_file_twice_adds_nothing(brand, owner):
    data = csv_bytes("handle\nalice\nbob\n")
    customers.import_customers(brand, data, by=owner)
    again = customers.import_customers(brand, data, by=owner)
    assert (again.imported, again.duplicates) == (0, 2)
    assert Customer.objects.filter(brand=brand).count() == 2


def test_followers_on_the_list_are_marked_as_customers(brand, owner):
    account = ConnectedAccount.objects.create(
        brand=brand, platform=Platform.DEMO, platform_user_id="b", handle="acme.demo"
    )
    Follower.objects.create(account=account, platform_id="1", handle="Alice@Example.social")
    Follower.objects.create(account=account, platform_id="2", handle="mallory")
    report = customers.import_customers(brand, csv_bytes("handle\n@alice@example.social\n"), by=owner)
    assert report.matched_followers == 1
    assert list(Follower.objects.filter(is_customer=True).values_list("platform_id", flat=True)) == ["1"]


def test_files_that_cannot_be_read_are_refused_whole_with_a_clear_reason(brand, owner):
    import pytest

    for data, reason in [
        (csv_bytes("handle\nJosé\n", "latin-1"), "not UTF-8"),
        (b"", "empty"),
        (csv_bytes("name,phone\nx,1\n"), "must name"),
        (b"handle\n" + b"a" * (customers.MAX_UPLOAD_BYTES + 1), "larger than"),
    ]:
        with pytest.raises(customers.UnreadableFile, match=reason):
            customers.import_customers(brand, data, by=owner)
    assert not Customer.objects.exists()


def test_the_customers_page_uploads_a_file_and_shows_the_report(brand, owner):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = client_for(owner)
    upload = SimpleUploadedFile("customers.csv", b"handle,email\nalice,\n,bad\n", content_type="text/csv")
    response = client.post(reverse("accounts:customer_list", kwargs={"brand": brand.slug}), {"file": upload})
    page = response.content.decode()
    assert response.status_code == 200
    assert "Line 3: \u201cbad\u201d is not an e-mail address" in page
    assert "<strong>1</strong> new customer added" in page
