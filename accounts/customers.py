"""Importing a brand's customer list (CSV of platform handles and/or e-mail addresses) and matching followers.

E-mail addresses are never stored: only an HMAC of each, keyed by a per-brand secret salt. Every valid row is
kept; every bad row is reported with its line number and reason.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import re
from dataclasses import dataclass, field

from django.core.validators import EmailValidator
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.db.models.functions import Lower

from accounts.db import refresh_planner_statistics
from accounts.models import Brand, Customer, Follower, User
from accounts.services import record

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_ROWS = 100_000
_validate_email = EmailValidator()
# A platform handle, with or without its server: what a spreadsheet formula (=, +, -, @…) or NUL never is.
_HANDLE = re.compile(r"\w[\w.\-]*(?:@\w[\w.\-]*)?")


@dataclass
class ImportReport:
    imported: int = 0
    duplicates: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    matched_followers: int = 0

    @property
    def rejected(self) -> int:
        return len(self.errors)


class UnreadableFile(ValueError):
    pass


def normalize_handle(handle: str) -> str:
    return handle.strip().removeprefix("@").lower()


def hash_email(brand: Brand, email: str) -> str:
    return hmac.new(brand.customer_salt.encode(), email.strip().lower().encode(), hashlib.sha256).hexdigest()


def _decode(data: bytes) -> str:
    if len(data) > MAX_UPLOAD_BYTES:
        raise UnreadableFile(f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB; split it.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UnreadableFile(
            "The file is not UTF-8 text. Save it as \u201cCSV UTF-8\u201d and upload it again."
        ) from None


def _columns(header: list[str]) -> tuple[int | None, int | None]:
    names = [name.strip().lower() for name in header]
    handle = next((i for i, name in enumerate(names) if name in {"handle", "username", "account"}), None)
    email = next((i for i, name in enumerate(names) if name in {"email", "e-mail", "email address"}), None)
    if handle is None and email is None:
        raise UnreadableFile(
            "The first line must name a \u201chandle\u201d column, an \u201cemail\u201d column, or both."
        )
    return handle, email


def _cell(row: list[str], index: int | None) -> str:
    return row[index].strip() if index is not None and index < len(row) else ""


def parse_customer_rows(brand: Brand, data: bytes) -> tuple[list[Customer], ImportReport]:
    reader = csv.reader(io.StringIO(_decode(data)))
    report = ImportReport()
    try:
        header = next(reader)
    except StopIteration:
        raise UnreadableFile("The file is empty.") from None
    except csv.Error as error:
        raise UnreadableFile(f"The file is not valid CSV: {error}") from None
    handle_at, email_at = _columns(header)
    customers: dict[tuple[str, str], Customer] = {}
    try:
        for row in reader:
            line = reader.line_num
            if len(customers) + report.rejected >= MAX_ROWS:
                report.errors.append((line, f"stopped: at most {MAX_ROWS:,} rows per file"))
                break
            if not any(cell.strip() for cell in row):
                continue
            handle, email = normalize_handle(_cell(row, handle_at)), _cell(row, email_at)
            problem = _row_error(handle, email)
            if problem:
                report.errors.append((line, problem))
                continue
            key = (handle, hash_email(brand, email) if email else "")
            if key in customers:
                report.duplicates += 1
                continue
            customers[key] = Customer(brand=brand, handle=key[0], email_hash=key[1])
    except csv.Error as error:
        report.errors.append((reader.line_num, f"not valid CSV from here on: {error}"))
    return list(customers.values()), report


def _row_error(handle: str, email: str) -> str:
    if not handle and not email:
        return "no handle and no e-mail address"
    if handle and (len(handle) > 255 or not _HANDLE.fullmatch(handle)):
        return f"\u201c{handle[:40]}\u201d is not a handle"
    if email:
        try:
            _validate_email(email)
        except Exception:
            return f"\u201c{email[:60]}\u201d is not an e-mail address"
    return ""


def import_customers(brand: Brand, data: bytes, *, by: User) -> ImportReport:
    customers, report = parse_customer_rows(brand, data)
    with transaction.atomic():
        before = Customer.objects.filter(brand=brand).count()
        Customer.objects.bulk_create(customers, ignore_conflicts=True, batch_size=2000)
        report.imported = Customer.objects.filter(brand=brand).count() - before
        report.duplicates += len(customers) - report.imported
        report.matched_followers = match_customers(brand)
        record(brand, "customers.imported",
               f"{by} imported {report.imported:,} customers ({report.rejected:,} rows rejected)",
               actor=by, imported=report.imported, rejected=report.rejected)  # fmt: skip
    return report


def match_customers(brand: Brand) -> int:
    """Flag every follower of the brand whose handle is on the customer list; returns how many are customers."""
    if not Customer.objects.filter(brand=brand).exists():
        return 0  # nothing to match, and no reason to sample a million followers' statistics
    refresh_planner_statistics(Customer, Follower)
    on_list = Customer.objects.filter(brand=brand, handle=Lower(OuterRef("handle")))
    Follower.objects.filter(account__brand=brand, is_customer=False).filter(Exists(on_list)).update(
        is_customer=True
    )
    return Follower.objects.filter(account__brand=brand, is_customer=True).count()
