"""Reading the audit log: plain words for every step, the page's filters, keyset cursors and safe CSV cells.

The events themselves are written by `accounts.services.record()` in the same transaction as each change.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast

from django import forms

from accounts.models import AuditEvent, AuditEventQuerySet, Brand, Membership

AuditEvents = AuditEventQuerySet

PAGE_SIZE = 50

# Every verb the code writes, in the words people use. Kinds group them for the filter ("every decision").
KINDS: dict[str, tuple[str, dict[str, str]]] = {
    "suggestion": (
        "Decisions and comments",
        {
            "suggestion.approved": "Approved a follow-back",
            "suggestion.proposed": "Approved, for a second approver",
            "suggestion.rejected": "Rejected a suggestion",
            "suggestion.later": "Left a suggestion for later",
            "suggestion.sent_back": "Sent back for review",
            "suggestion.undone": "Undid a decision",
            "suggestion.commented": "Commented",
        },
    ),
    "follow": (
        "Follows",
        {
            "follow.queued": "Follow queued",
            "follow.executed": "Follow executed",
            "follow.waiting": "Follow waits",
            "follow.failed": "Follow failed",
            "follow.retried": "Follow retried",
            "follow.cancelled": "Follow cancelled",
        },
    ),
    "queue": ("Daily queue", {"queue.built": "Daily queue built"}),
    "policy": (
        "Policy",
        {"policy.changed": "Changed the policy", "policy.reverted": "Restored a policy version"},
    ),
    "sync": ("Syncs", {"sync.finished": "Sync finished", "sync.failed": "Sync failed"}),
    "account": (
        "Connected accounts",
        {
            "account.connected": "Connected an account",
            "account.reconnected": "Reconnected an account",
            "account.disconnected": "Disconnected an account",
            "account.auth_expired": "Account needs reconnecting",
        },
    ),
    "member": (
        "Team",
        {
            "member.invited": "Invited someone",
            "member.joined": "Joined the team",
            "member.invitation_revoked": "Withdrew an invitation",
            "member.role_changed": "Changed a role",
            "member.removed": "Removed a member",
            "member.unlocked": "Let a member sign in again",
        },
    ),
    "brand": ("Brand", {"brand.created": "Created the brand"}),
    "customers": ("Customers", {"customers.imported": "Imported the customer list"}),
    "digest": ("Daily digest", {"digest.sent": "Daily digest e-mailed"}),
}
VERB_LABELS: dict[str, str] = {verb: label for _, verbs in KINDS.values() for verb, label in verbs.items()}
SYSTEM = "system"  # the person filter's value for steps Followback took by itself


def verb_label(verb: str) -> str:
    """The plain words for a verb; one written by newer code than this map reads as its own words."""
    return VERB_LABELS.get(verb) or verb.replace(".", " ").replace("_", " ").capitalize()


PROBLEMS = ("follow.failed", "sync.failed", "account.auth_expired")


def verb_kind(verb: str) -> str:
    """The group a verb belongs to, or "problem" for failures, for the page's colour coding."""
    return "problem" if verb in PROBLEMS else verb.partition(".")[0]


def _verb_choices() -> list[tuple[str, Any]]:
    choices: list[tuple[str, Any]] = [("", "Every step")]
    for kind, (label, verbs) in KINDS.items():
        options = [(kind, f"All: {label.lower()}")] if len(verbs) > 1 else []
        choices.append((label, options + list(verbs.items())))
    return choices


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: the last row shown, as (created_at, id)."""

    created_at: datetime
    pk: int

    def encode(self) -> str:
        return f"{self.created_at.astimezone(UTC).strftime('%Y%m%dT%H%M%S.%f')}_{self.pk}"

    @classmethod
    def decode(cls, text: str) -> Cursor | None:
        stamp, _, pk = text.partition("_")
        try:
            created_at = datetime.strptime(stamp, "%Y%m%dT%H%M%S.%f").replace(tzinfo=UTC)
            return cls(created_at, int(pk))
        except ValueError:
            return None


class AuditFilterForm(forms.Form):
    """The audit page's filters; the CSV export takes the same ones."""

    verb = forms.ChoiceField(label="Step", required=False, choices=_verb_choices)
    person = forms.ChoiceField(label="Person", required=False)
    since = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    q = forms.CharField(label="Summary contains", required=False, max_length=100)

    def __init__(self, data: Any, *, brand: Brand) -> None:
        super().__init__(data)
        members = Membership.objects.filter(brand=brand).select_related("user").order_by("user__email")
        cast(forms.ChoiceField, self.fields["person"]).choices = [
            ("", "Anyone"),
            (SYSTEM, "Followback (automatic steps)"),
            *((str(m.user_id), str(m.user)) for m in members),
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", "The end date comes before the start date.")
        return data

    def filter(self, events: AuditEvents) -> AuditEvents:
        """Narrow `events` by the valid filters (call after `is_valid`; invalid fields are ignored)."""
        data = getattr(self, "cleaned_data", {})
        verb = data.get("verb")
        if verb:
            events = events.filter(verb=verb) if "." in verb else events.filter(verb__startswith=f"{verb}.")
        person = data.get("person")
        if person == SYSTEM:
            events = events.filter(actor__isnull=True)
        elif person:
            events = events.filter(actor_id=int(person))
        if data.get("since"):
            events = events.filter(created_at__gte=_day_start(data["since"]))
        if data.get("until"):
            events = events.filter(created_at__lt=_day_start(data["until"] + timedelta(days=1)))
        if data.get("q"):
            events = events.filter(summary__icontains=data["q"])
        return events

    def query_items(self) -> list[tuple[str, str]]:
        """The valid, non-empty filters as query-string pairs, for the next-page and CSV links."""
        data = getattr(self, "cleaned_data", {})
        return [(name, data[name].isoformat() if isinstance(data[name], date) else data[name])
                for name in self.fields if data.get(name)]  # fmt: skip


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


@dataclass(frozen=True)
class AuditRow:
    event: AuditEvent
    label: str
    kind: str


def page_of(events: AuditEvents, cursor: Cursor | None) -> tuple[list[AuditRow], Cursor | None]:
    """One page, newest first, and the cursor of the next (older) page if there is one: one query."""
    if cursor is not None:
        events = events.older_than(cursor.created_at, cursor.pk)
    found = list(events.newest_first().select_related("actor")[: PAGE_SIZE + 1])
    rows = [AuditRow(e, verb_label(e.verb), verb_kind(e.verb)) for e in found[:PAGE_SIZE]]
    if len(found) <= PAGE_SIZE:
        return rows, None
    last = found[PAGE_SIZE - 1]
    return rows, Cursor(last.created_at, last.pk)


# A spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_HEADER = [
    "time (UTC)",
    "person",
    "e-mail",
    "step",
    "verb",
    "summary",
    "target type",
    "target id",
    "details",
]
CSV_CHUNK = 2000


def safe_cell(value: object) -> str:
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def csv_rows(events: AuditEvents) -> Iterator[list[str]]:
    """The header, then one row per event, read from the database in chunks with a server-side cursor."""
    yield CSV_HEADER
    columns = (
        "created_at",
        "actor__name",
        "actor__email",
        "verb",
        "summary",
        "target_type",
        "target_id",
        "data",
    )
    rows: Iterable[tuple[Any, ...]] = (
        events.newest_first().values_list(*columns).iterator(chunk_size=CSV_CHUNK)
    )
    for created_at, name, email, verb, summary, target_type, target_id, data in rows:
        person = (name or email) if email else "Followback"
        details = json.dumps(data, ensure_ascii=False, sort_keys=True) if data else ""
        cells = [created_at.astimezone(UTC).isoformat(timespec="seconds"), person, email or "",
                 verb_label(verb), verb, summary, target_type, target_id, details]  # fmt: skip
        yield [safe_cell(cell) for cell in cells]
