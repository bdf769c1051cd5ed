from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms

from rules.policy import (
    FIELDS,
    HANDLE_EXAMPLE,
    LIST_KINDS,
    PolicySettings,
    blocklist_entry_problem,
    handle_problem,
    value_text,
)


@dataclass(frozen=True)
class DefaultNote:
    """A setting's default value as people read it, and why it is a sensible start."""

    value: str
    why: str

    @classmethod
    def of(cls, key: str) -> DefaultNote:
        return cls(value_text(key, DEFAULT_VALUES[key]), FIELDS[key].why)


DEFAULT_VALUES = PolicySettings().to_dict()


@dataclass(frozen=True)
class Section:
    """A group of settings on the policy page; each row of keys sits side by side on wide screens."""

    title: str
    intro: str
    rows: tuple[tuple[str, ...], ...]

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(key for row in self.rows for key in row)


SECTIONS = (
    Section(
        "Score",
        "Each follower gets a score from 0 to 100: the weighted average of the signals that raise it, minus the "
        "weighted average of those that lower it, where a follower with no signals scores 50.",
        (
            ("weight_engagement", "weight_customer", "weight_activity"),
            ("weight_bot", "weight_churn", "weight_harmful"),
            ("suggest_threshold",),
        ),
    ),
    Section(
        "Never suggest",
        "These rules win over any score and over the always-follow list, except that the never-follow list "
        "comes first of all.",
        (
            ("never_bot_above", "never_churn_cycles_at_least"),
            ("never_blocklisted",),
            ("never_impersonation",),
            ("never_harmful_labels",),
            ("blocklist",),
            ("never_follow",),
        ),
    ),
    Section(
        "Always suggest",
        "These followers are suggested whatever their score, unless a rule above keeps them out.",
        (("always_follow",), ("always_surface_customers",)),
    ),
    Section(
        "Limits on following",
        "Checked when a person approves a follow and again when it runs.",
        (
            ("daily_follow_cap", "max_following_ratio"),
            ("following_cap_mastodon", "following_cap_bluesky", "following_cap_demo"),
        ),
    ),
    Section(
        "Review queue",
        "When the day's suggestions are gathered and how they are approved.",
        (("queue_hour", "queue_size", "suggestion_ttl_days"), ("second_approver",)),
    ),
)


def _number_attrs(key: str, step: float | None) -> dict[str, Any]:
    info = FIELDS[key]
    attrs: dict[str, Any] = {"step": step}
    if info.low is not None:
        attrs["min"] = info.low
    if info.high is not None:
        attrs["max"] = info.high
    return attrs


def policy_field(key: str) -> forms.Field:
    """The form field for one setting, labelled and explained as `FIELDS` says.

    Ranges are checked by `PolicySettings.validate()` in `PolicyForm.clean`, so every range message reads the
    same whether it comes from this form or from stored settings; the min and max attributes only guide input.
    """
    info = FIELDS[key]
    common: dict[str, Any] = {"label": info.label, "help_text": info.help}
    if info.kind == "number":
        return forms.FloatField(widget=forms.NumberInput(attrs=_number_attrs(key, info.step)), **common)
    if info.kind == "integer":
        return forms.IntegerField(widget=forms.NumberInput(attrs=_number_attrs(key, 1)), **common)
    if info.kind == "hour":
        hours = [(hour, f"{hour:02d}:00 UTC") for hour in range(24)]
        return forms.TypedChoiceField(choices=hours, coerce=int, **common)
    if info.kind == "switch":
        return forms.BooleanField(
            required=False, widget=forms.CheckboxInput(attrs={"role": "switch"}), **common
        )
    placeholder = "spam giveaway\n/crypto\\s*airdrop/" if info.kind == "patterns" else "alice@mastodon.social"
    textarea = forms.Textarea(attrs={"rows": 3, "placeholder": placeholder, "spellcheck": "false"})
    return forms.CharField(required=False, strip=False, widget=textarea, **common)


def _lines(text: str, problem_of: Callable[[str], str | None]) -> tuple[str, ...]:
    """The non-blank lines of a textarea; every bad line is reported with its line number."""
    entries, problems = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        entry = line.strip()
        if not entry:
            continue
        problem = problem_of(entry)
        if problem:
            problems.append(f"Line {number}: {problem}.")
        entries.append(entry)
    if problems:
        raise forms.ValidationError(problems)
    return tuple(entries)


class PolicyForm(forms.Form):
    """Every setting of a brand's policy, plus a note for the history; `policy_settings()` builds the result."""

    weight_engagement = policy_field("weight_engagement")
    weight_customer = policy_field("weight_customer")
    weight_activity = policy_field("weight_activity")
    weight_bot = policy_field("weight_bot")
    weight_churn = policy_field("weight_churn")
    weight_harmful = policy_field("weight_harmful")
    suggest_threshold = policy_field("suggest_threshold")
    never_bot_above = policy_field("never_bot_above")
    never_churn_cycles_at_least = policy_field("never_churn_cycles_at_least")
    never_blocklisted = policy_field("never_blocklisted")
    never_impersonation = policy_field("never_impersonation")
    never_harmful_labels = policy_field("never_harmful_labels")
    blocklist = policy_field("blocklist")
    never_follow = policy_field("never_follow")
    always_follow = policy_field("always_follow")
    always_surface_customers = policy_field("always_surface_customers")
    daily_follow_cap = policy_field("daily_follow_cap")
    max_following_ratio = policy_field("max_following_ratio")
    following_cap_mastodon = policy_field("following_cap_mastodon")
    following_cap_bluesky = policy_field("following_cap_bluesky")
    following_cap_demo = policy_field("following_cap_demo")
    queue_hour = policy_field("queue_hour")
    queue_size = policy_field("queue_size")
    suggestion_ttl_days = policy_field("suggestion_ttl_days")
    second_approver = policy_field("second_approver")
    note = forms.CharField(
        label="Note for the history",
        max_length=300,
        required=False,
        help_text="Optional: why you are changing the policy, for whoever reads the history later.",
    )

    @classmethod
    def for_settings(cls, settings: PolicySettings) -> PolicyForm:
        """An unbound form showing these settings."""
        return cls(initial={key: _initial(key, value) for key, value in settings.to_dict().items()})

    def clean_blocklist(self) -> tuple[str, ...]:
        return _lines(self.cleaned_data["blocklist"], blocklist_entry_problem)

    def clean_never_follow(self) -> tuple[str, ...]:
        return _lines(self.cleaned_data["never_follow"], _handle_line_problem)

    def clean_always_follow(self) -> tuple[str, ...]:
        return _lines(self.cleaned_data["always_follow"], _handle_line_problem)

    def clean(self) -> dict[str, Any]:
        """Check the settings as a whole; fields that already failed keep their own message."""
        data = super().clean() or {}
        draft = PolicySettings.from_dict({key: data[key] for key in FIELDS if key in data})
        for key, message in draft.validate().items():
            if key in data:
                self.add_error(key, message)
        return data

    def policy_settings(self) -> PolicySettings:
        """The settings of a valid form."""
        return PolicySettings.from_dict({key: self.cleaned_data[key] for key in FIELDS})

    def sections(self) -> list[tuple[Section, list[list[tuple[forms.BoundField, DefaultNote]]]]]:
        """Each section's rows of fields, each field with its default."""
        return [
            (section, [[(self[key], DefaultNote.of(key)) for key in row] for row in section.rows])
            for section in SECTIONS
        ]


def _initial(key: str, value: Any) -> Any:
    """A stored value as its input shows it: one entry per line, and 3 rather than 3.0."""
    kind = FIELDS[key].kind
    if kind in LIST_KINDS:
        return "\n".join(value)
    return f"{value:g}" if kind == "number" else value


def _handle_line_problem(text: str) -> str | None:
    problem = handle_problem(text)
    return f"{problem}. {HANDLE_EXAMPLE.removesuffix('.')}" if problem else None


@dataclass(frozen=True)
class ReadOnlySetting:
    label: str
    text: str
    help: str
    default: DefaultNote


def read_only_sections(settings: PolicySettings) -> list[tuple[Section, list[ReadOnlySetting]]]:
    """The settings as text, grouped like the form, for members who may read the policy but not change it."""
    values = settings.to_dict()
    return [
        (
            section,
            [
                ReadOnlySetting(
                    FIELDS[key].label, value_text(key, values[key]), FIELDS[key].help, DefaultNote.of(key)
                )
                for key in section.keys
            ],
        )
        for section in SECTIONS
    ]
