"""Malformed customer lists through the real upload form: a clear answer, nothing half saved, nothing lost.

Every file goes through `accounts:customer_list` as a multipart upload, on top of a list already on file. A file
that cannot be read is refused whole with the reason on the page (422) and leaves the list as it was; a readable
file with bad rows keeps every valid row and names each bad one by line. Cells a spreadsheet would run as a
formula are not handles, so they are refused, never stored.
"""

from __future__ import annotations

import random

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from accounts import customers
from accounts.models import AuditEvent, Brand, Customer, User
from tests.conftest import client_for

pytestmark = pytest.mark.django_db
PREVIOUS = ["alice", "bob@example.social"]


@pytest.fixture
def existing_list(brand: Brand, owner: User) -> set[tuple[str, str]]:
    customers.import_customers(brand, ("handle\n" + "\n".join(PREVIOUS) + "\n").encode(), by=owner)
    return on_file(brand)


def on_file(brand: Brand) -> set[tuple[str, str]]:
    return set(Customer.objects.filter(brand=brand).values_list("handle", "email_hash"))


def upload(client: Client, brand: Brand, data: bytes, name: str = "customers.csv") -> tuple[int, str]:
    response = client.post(
        reverse("accounts:customer_list", kwargs={"brand": brand.slug}),
        {"file": SimpleUploadedFile(name, data, content_type="text/csv")},
    )
    return response.status_code, response.content.decode()


garbage = random.Random(7)
UNREADABLE = {
    "latin-1": ("handle\nJosé\nZoë\n".encode("latin-1"), "The file is not UTF-8 text"),
    "UTF-16 with a BOM": ("handle\nalice2\n".encode("utf-16"), "The file is not UTF-8 text"),
    "UTF-16 without a BOM": ("handle\nalice2\n".encode("utf-16-le"), "must name a “handle” column"),
    "binary garbage": (bytes(garbage.randrange(256) for _ in range(4096)), "not UTF-8"),
    "a PNG image": (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "not UTF-8"),
    "empty": (b"", "The field is empty|The submitted file is empty"),
    "no known column": (b"name,phone\nAlice,123\n", "must name a “handle” column"),
    "larger than the limit": (
        b"handle\n" + b"carol\n" * (customers.MAX_UPLOAD_BYTES // 6 + 1),
        "larger than 5 MB",
    ),
}


@pytest.mark.parametrize("case", UNREADABLE, ids=list(UNREADABLE))
def test_an_unreadable_file_is_refused_whole_and_the_list_on_file_stays(
    brand: Brand, owner: User, existing_list: set[tuple[str, str]], case: str
) -> None:
    data, reason = UNREADABLE[case]
    events = AuditEvent.objects.count()

    status, page = upload(client_for(owner), brand, data)

    assert status == 422
    assert any(part in page for part in reason.split("|")), page[:3000]
    assert on_file(brand) == existing_list
    assert AuditEvent.objects.count() == events


ROWS = {
    "ragged rows": (
        b"handle,email\ncarol\ndave,dave@example.com,extra,cells\n,\n\n  erin  ,\n",
        {"carol", "dave", "erin"},
        [],
    ),
    "only a header": (b"handle,email\n", set(), []),
    "an unterminated quote": (b'handle\nfrank\n"grace\n', {"frank", "grace"}, []),
    "formula cells": (
        b'handle\n=HYPERLINK("http://evil.example","x")\n+cmd|calc\n-2+3\n@SUM(A1)\n\t=1+1\nheidi\n',
        {"heidi"},
        [2, 3, 4, 5, 6],
    ),
    "NUL bytes in cells": (b"handle,email\nal\x00ice2\nivan,iv\x00an@example.com\njudy\n", {"judy"}, [2, 3]),
    "bad e-mail addresses": (b"email\nnot-an-address\nkate@example.com\n", {""}, [2]),
}


@pytest.mark.parametrize("case", ROWS, ids=list(ROWS))
def test_bad_rows_are_named_by_line_and_every_good_row_is_kept(
    brand: Brand, owner: User, existing_list: set[tuple[str, str]], case: str
) -> None:
    data, added_handles, bad_lines = ROWS[case]

    status, page = upload(client_for(owner), brand, data)

    assert status == 200
    added = on_file(brand) - existing_list
    assert {handle for handle, _ in added} == added_handles
    assert existing_list <= on_file(brand)
    for line in bad_lines:
        assert f"Line {line}:" in page
    assert "rejected" in page


def test_no_stored_handle_starts_like_a_spreadsheet_formula(brand: Brand, owner: User) -> None:
    starts = ["=", "+", "-", "@", "\t", "\r", "|", "%"]
    rows = "\n".join(f'"{start}{body}"' for start in starts for body in ("1+1", "cmd", 'HYPERLINK("x")', "a"))

    report = customers.import_customers(brand, f"handle\n{rows}\n".encode(), by=owner)

    stored = list(Customer.objects.filter(brand=brand).values_list("handle", flat=True))
    assert not any(handle.startswith(("=", "+", "-", "@", "\t", "\r")) for handle in stored)
    assert report.imported == len(stored)
    assert report.imported + report.rejected + report.duplicates == len(starts) * 4
