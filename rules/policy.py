"""A brand's follow-back policy: its settings, their validation and history, and a verdict for every follower.

Pure Python and numpy, no Django, so the same functions decide a preview of twenty thousand followers and a daily
queue of a million.

The score (0 to 100) of a follower, from the six trust signals of `rules/signals.py` (each in [0, 1]):

    positive = Σ wᵢ·sᵢ / Σ wᵢ   over engagement, customer, activity   (0 when all three weights are 0)
    negative = Σ wᵢ·sᵢ / Σ wᵢ   over bot, churn, harmful              (0 when all three weights are 0)
    score    = clip(50 + 50 · (positive - negative), 0, 100)

so a follower with no signal at all scores 50, positive signals alone lift it towards 100 and negative ones alone
push it towards 0. Signals are clipped to [0, 1] first and a missing value (NaN) counts as 0.

The verdict is "suggest", "below_threshold" or "never", decided by the first rule that applies, in this order:
the never-follow list; the hard never-rules (blocklist, impersonation, harmful label, bot likelihood, churn);
the always-follow list; always surfacing verified customers; and finally the score against the threshold.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from enum import IntEnum
from typing import Any, Literal

import numpy as np

POSITIVE_SIGNALS = ("engagement", "customer", "activity")
NEGATIVE_SIGNALS = ("bot", "churn", "harmful")
SIGNALS = POSITIVE_SIGNALS + NEGATIVE_SIGNALS
FLAGS = ("blocklisted", "impersonation", "harmful_label")
PLATFORMS = ("mastodon", "bluesky", "demo")
PLATFORM_NAMES = {"mastodon": "Mastodon", "bluesky": "Bluesky", "demo": "the demo platform"}
PLATFORM_LABELS = {"mastodon": "Mastodon", "bluesky": "Bluesky", "demo": "Demo platform"}

DEFAULT_WEIGHTS = {
    "engagement": 3.0,
    "customer": 2.0,
    "activity": 1.0,
    "bot": 3.0,
    "churn": 2.0,
    "harmful": 3.0,
}
# Our defaults, editable per brand: Mastodon refuses follows beyond 7,500 on most servers; Bluesky publishes no
# limit, so its default is effectively none; the demo platform is ours.
DEFAULT_FOLLOWING_CAPS = {"mastodon": 7_500, "bluesky": 1_000_000, "demo": 10_000}

# A customer signal of 1 means the follower is on the brand's customer list (Follower.is_customer).
VERIFIED_CUSTOMER = 1.0

MAX_PATTERN_LENGTH = 200
MAX_BLOCKLIST_ENTRIES = 500
MAX_HANDLES = 10_000
MAX_LISTED_IN_DIFF = 20
HANDLE = re.compile(r"[\w.\-]+(@[\w.\-]+)?")

Kind = Literal["number", "integer", "hour", "switch", "patterns", "handles"]
LIST_KINDS = ("patterns", "handles")


@dataclass(frozen=True)
class FieldInfo:
    """How one editable value is named, explained and bounded; the form and the history page read it too."""

    label: str
    help: str
    kind: Kind
    low: float | None = None
    high: float | None = None
    step: float | None = None
    why: str = ""  # why the default value is a sensible start, in plain words


def weight_key(signal: str) -> str:
    return f"weight_{signal}"


def cap_key(platform: str) -> str:
    return f"following_cap_{platform}"


WEIGHT_HELP = {
    "engagement": "How strongly replies, mentions, reposts and likes aimed at the brand raise a follower's score.",
    "customer": "How strongly being on the brand's customer list raises a follower's score.",
    "activity": "How strongly posting regularly and recently raises a follower's score.",
    "bot": "How strongly signs of an automated account lower a follower's score.",
    "churn": "How strongly a history of following and then unfollowing the brand lowers a follower's score.",
    "harmful": "How strongly signs of abusive or harmful posting lower a follower's score.",
}
WEIGHT_WHY = {
    "engagement": "Replies, mentions and reposts are the clearest sign that someone cares about the brand, so "
    "they count most of the signals that raise a score.",
    "customer": "Customers matter, but the list says nothing about being active here, and verified customers "
    "are always suggested anyway unless you switch that off below.",
    "activity": "Regular posting tells a living account from an abandoned one, but not a fan from a stranger, "
    "so it counts least.",
    "bot": "Following bots back costs the brand reach and credibility, so signs of automation weigh as much as "
    "engagement.",
    "churn": "Repeat unfollowers often follow only to be followed back; it counts less than bot signs, because "
    "people also unfollow for ordinary reasons.",
    "harmful": "Blocklisted words and look-alikes of the brand weigh as much as automation; the never-rules "
    "below keep the clear cases out whatever the score.",
}

CAP_WHY = {
    "mastodon": "Most Mastodon servers refuse to follow more than 7,500 accounts until the account has about "
    "as many followers, so a higher cap would only meet refusals.",
    "bluesky": "Bluesky publishes no limit, so this is effectively none and the ratio above is the guard that "
    "counts.",
    "demo": "The demo platform is ours; 10,000 leaves room to try every step of the workflow.",
}

# Every editable value, keyed by the flat name used in the stored JSON, validation errors, the form and the diff,
# in the order the page shows them.
FIELDS: dict[str, FieldInfo] = {
    **{
        weight_key(signal): FieldInfo(
            f"{signal.capitalize()} weight", WEIGHT_HELP[signal], "number", 0, 10, 0.5, why=WEIGHT_WHY[signal]
        )
        for signal in SIGNALS
    },
    "suggest_threshold": FieldInfo(
        "Suggest threshold",
        "Followers whose score (0 to 100) reaches this number are suggested; a follower with no signals scores 50.",
        "integer",
        0,
        100,
        why="Ten points above the neutral 50: a follower needs something in their favour, such as some "
        "engagement or a steady, human-looking account, before reviewers spend time on them.",
    ),
    "never_bot_above": FieldInfo(
        "Never suggest bots above",
        "A follower whose bot likelihood (0 to 1) is above this value is never suggested.",
        "number",
        0,
        1,
        0.05,
        why="At 0.8 the evidence of automation is overwhelming (on the demo population it holds back "
        "nearly every bot and almost no people); lower values start to catch new or quiet people.",
    ),
    "never_churn_cycles_at_least": FieldInfo(
        "Never suggest repeat unfollowers",
        "A follower who has followed and then unfollowed the brand at least this many times is never suggested.",
        "integer",
        1,
        why="Anyone may unfollow once; following and unfollowing twice is the follow-for-follow pattern.",
    ),
    "never_blocklisted": FieldInfo(
        "Never suggest blocklisted profiles",
        "A follower whose profile matches the blocklist below is never suggested.",
        "switch",
        why="The blocklist exists to keep people out; with it empty, as it starts, this matches nobody.",
    ),
    "never_impersonation": FieldInfo(
        "Never suggest likely impersonators",
        "A follower who seems to imitate the brand or another account, for example with look-alike characters, "
        "is never suggested.",
        "switch",
        why="Following an impersonator lends them the brand's credibility; the check never flags "
        "the brand's own accounts or those on the always-follow list.",
    ),
    "never_harmful_labels": FieldInfo(
        "Never suggest labelled accounts",
        "A follower whom the platform or a moderation service has labelled as harmful is never suggested.",
        "switch",
        why="A platform's moderators or a moderation service already judged these accounts.",
    ),
    "blocklist": FieldInfo(
        "Blocklist",
        "Words or phrases, one per line, that keep a follower out when their profile contains them; "
        "write /pattern/ for a regular expression.",
        "patterns",
        why="Every brand's words differ, so none are assumed.",
    ),
    "never_follow": FieldInfo(
        "Never-follow list",
        "Handles, one per line, that are never suggested, whatever else is true.",
        "handles",
        why="Nobody is kept out by name until someone on the team decides to.",
    ),
    "always_follow": FieldInfo(
        "Always-follow list",
        "Handles, one per line, that are always suggested unless the never-follow list or a never-rule applies.",
        "handles",
        why="Nobody is let in by name until someone on the team decides to.",
    ),
    "always_surface_customers": FieldInfo(
        "Always suggest customers",
        "Every verified customer is suggested, whatever their score, unless a never-rule applies.",
        "switch",
        why="Customers are the people a brand most wants to follow back; a person still decides each one.",
    ),
    "daily_follow_cap": FieldInfo(
        "Daily follow cap",
        "The most follows each connected account may make in one day (UTC): a brand with two accounts may "
        "follow up to twice this in all. Approvals past it are refused until the next day.",
        "integer",
        1,
        1000,
        why="Platforms treat bursts of follows as spam; a few dozen a day looks like a person at work and "
        "clears a typical day's approvals. Raise it once your platform has accepted that pace for a while.",
    ),
    "max_following_ratio": FieldInfo(
        "Following-to-followers ratio",
        "Approvals stop while the brand would follow more than this many accounts per follower.",
        "number",
        0.1,
        100,
        0.1,
        why="Accounts that follow far more than follow them look like follow-for-follow accounts to "
        "people and to platforms; 1.5 leaves room to follow back every follower and some more.",
    ),
    **{
        cap_key(platform): FieldInfo(
            f"{PLATFORM_LABELS[platform]} following cap",
            f"Approvals stop when the brand's account on {PLATFORM_NAMES[platform]} would follow more accounts "
            "than this.",
            "integer",
            1,
            10_000_000,
            why=CAP_WHY[platform],
        )
        for platform in PLATFORMS
    },
    "queue_hour": FieldInfo(
        "Queue hour",
        "The hour (UTC) at which the day's review queue is built.",
        "hour",
        0,
        23,
        why="06:00 UTC is before the working day in Europe and Africa and overnight in the Americas, so "
        "the day's queue is ready when people start.",
    ),
    "queue_size": FieldInfo(
        "Queue size",
        "The most suggestions in one day's queue, highest scores first.",
        "integer",
        1,
        2000,
        why="About what one person can read with care in a working session; the best-scoring come first.",
    ),
    "suggestion_ttl_days": FieldInfo(
        "Days a suggestion waits",
        "Suggestions nobody decided on expire after this many days.",
        "integer",
        1,
        60,
        why="Two weeks covers holidays and busy weeks; older suggestions have usually gone stale.",
    ),
    "second_approver": FieldInfo(
        "Second approver",
        "Every approved follow also needs the final approval of a second person with the approver role.",
        "switch",
        why="One reviewer's approval is enough for most brands; switch this on when every follow "
        "must be seen by two people.",
    ),
}


def normalise_handle(text: str) -> str:
    """The form in which handles are stored and compared: trimmed, without a leading @, case folded (as in
    rules/signals.py)."""
    return text.strip().lstrip("@").casefold()


def _unique_handles(handles: Sequence[str]) -> tuple[str, ...]:
    normalised = (normalise_handle(handle) for handle in handles)
    return tuple(dict.fromkeys(handle for handle in normalised if handle))


@dataclass(frozen=True)
class PolicySettings:
    """Everything a brand decides about follow-back suggestions; `FIELDS` explains each value."""

    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    suggest_threshold: int = 60
    never_bot_above: float = 0.8
    never_churn_cycles_at_least: int = 2
    never_blocklisted: bool = True
    never_impersonation: bool = True
    never_harmful_labels: bool = True
    always_surface_customers: bool = True
    blocklist: tuple[str, ...] = ()
    always_follow: tuple[str, ...] = ()
    never_follow: tuple[str, ...] = ()
    daily_follow_cap: int = 50
    max_following_ratio: float = 1.5
    platform_following_caps: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_FOLLOWING_CAPS))
    second_approver: bool = False
    queue_hour: int = 6
    queue_size: int = 200
    suggestion_ttl_days: int = 14

    def __post_init__(self) -> None:
        # One weight per signal and one cap per platform (missing ones take their default); blank blocklist lines
        # dropped; handles normalised and de-duplicated.
        object.__setattr__(self, "weights", {s: self.weights.get(s, DEFAULT_WEIGHTS[s]) for s in SIGNALS})
        caps = self.platform_following_caps
        object.__setattr__(
            self, "platform_following_caps", {p: caps.get(p, DEFAULT_FOLLOWING_CAPS[p]) for p in PLATFORMS}
        )
        object.__setattr__(self, "blocklist", tuple(e.strip() for e in self.blocklist if e.strip()))
        object.__setattr__(self, "always_follow", _unique_handles(self.always_follow))
        object.__setattr__(self, "never_follow", _unique_handles(self.never_follow))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe and flat, keyed like `FIELDS`."""
        values: dict[str, Any] = {}
        for key in FIELDS:
            if key.startswith("weight_"):
                values[key] = self.weights[key.removeprefix("weight_")]
            elif key.startswith("following_cap_"):
                values[key] = self.platform_following_caps[key.removeprefix("following_cap_")]
            else:
                value = getattr(self, key)
                values[key] = list(value) if isinstance(value, tuple) else value
        return values

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PolicySettings:
        """The settings stored by `to_dict`; missing keys take their defaults and unknown keys are ignored.

        Values are taken as they are: `validate()` reports any out of range or of the wrong type.
        """
        weights = {s: data[weight_key(s)] for s in SIGNALS if weight_key(s) in data}
        caps = {p: data[cap_key(p)] for p in PLATFORMS if cap_key(p) in data}
        scalars: dict[str, Any] = {}
        for settings_field in fields(cls):
            name = settings_field.name
            if name in data and name in FIELDS:
                value = data[name]
                scalars[name] = _as_strings(value) if FIELDS[name].kind in LIST_KINDS else value
        return cls(weights=weights, platform_following_caps=caps, **scalars)

    def validate(self) -> dict[str, str]:
        """One message per invalid value, keyed like `FIELDS`; empty when the settings can be saved."""
        errors = {}
        for key, value in self.to_dict().items():
            problem = value_problem(FIELDS[key], value)
            if problem:
                errors[key] = problem
        on_both_lists = [handle for handle in self.always_follow if handle in set(self.never_follow)]
        if on_both_lists and "always_follow" not in errors:
            errors["always_follow"] = (
                f"Also on the never-follow list, which wins: {_items_text(on_both_lists, '@')}. "
                "Remove each from one of the lists."
            )
        return errors


def _as_strings(value: object) -> tuple[str, ...]:
    """A stored list as a tuple of strings; anything that is not a list counts as missing."""
    return tuple(str(item) for item in value) if isinstance(value, list | tuple) else ()


def _number_text(value: float) -> str:
    if isinstance(value, int) or value.is_integer():
        return f"{int(value):,}"
    return f"{value:g}"


def _range_text(info: FieldInfo) -> str:
    whole = "a whole number" if info.kind in ("integer", "hour") else "a number"
    if info.low is not None and info.high is not None:
        return f"Enter {whole} from {_number_text(info.low)} to {_number_text(info.high)}."
    return f"Enter {whole} of at least {_number_text(info.low or 0)}."


def value_problem(info: FieldInfo, value: object) -> str | None:
    """Why this value cannot be saved for this field, or None."""
    if info.kind == "switch":
        return None if isinstance(value, bool) else "Choose yes or no."
    if info.kind == "patterns":
        return _blocklist_problem(value)
    if info.kind == "handles":
        return _handles_problem(value)
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or (isinstance(value, float) and not math.isfinite(value))
    ):
        return _range_text(info)
    if info.kind != "number" and not isinstance(value, int):
        return _range_text(info)
    if (info.low is not None and value < info.low) or (info.high is not None and value > info.high):
        return _range_text(info)
    return None


def _blocklist_problem(entries: object) -> str | None:
    if not isinstance(entries, list | tuple):
        return "Enter one word, phrase or /pattern/ per line."
    if len(entries) > MAX_BLOCKLIST_ENTRIES:
        return f"Keep the blocklist to {MAX_BLOCKLIST_ENTRIES} entries or fewer (it has {len(entries):,})."
    problems = [f"{entry}: {problem}." for entry in entries if (problem := blocklist_entry_problem(entry))]
    return " ".join(problems) or None


def _handles_problem(handles: object) -> str | None:
    if not isinstance(handles, list | tuple):
        return "Enter one handle per line."
    if len(handles) > MAX_HANDLES:
        return f"Keep the list to {MAX_HANDLES:,} handles or fewer (it has {len(handles):,})."
    wrong = [handle for handle in handles if handle_problem(handle)]
    if wrong:
        return f"Not handles: {_items_text([f'“{handle}”' for handle in wrong])}. {HANDLE_EXAMPLE}"
    return None


HANDLE_EXAMPLE = "Write one handle per line, like alice@mastodon.social or alice.bsky.social."


def handle_problem(handle: str) -> str | None:
    """Why this text, once normalised, is not a handle, or None."""
    normalised = normalise_handle(handle)
    if len(normalised) > 255:
        return "a handle is at most 255 characters"
    if not HANDLE.fullmatch(normalised):
        return f"“{handle.strip()}” is not a handle"
    return None


def is_pattern(entry: str) -> bool:
    """Whether a blocklist entry is a /regular expression/ rather than a word or phrase."""
    return len(entry) > 2 and entry.startswith("/") and entry.endswith("/")


def blocklist_entry_problem(entry: str) -> str | None:
    """Why one blocklist entry cannot be used, or None: too long, or a regular expression that is invalid,
    matches every profile, or nests repetitions (the usual cause of catastrophic backtracking)."""
    if len(entry) > MAX_PATTERN_LENGTH:
        return f"longer than {MAX_PATTERN_LENGTH} characters"
    if not is_pattern(entry):
        return None
    body = entry[1:-1]
    try:
        compiled = re.compile(body)
    except re.error as error:
        return f"not a valid regular expression ({error.msg})"
    if compiled.search("") is not None:
        return "this pattern matches every profile, even an empty one"
    if has_nested_quantifier(body):
        return "it repeats a group that itself repeats, like (a+)+, which can take forever to check"
    return _backtracking_problem(body)


COUNTED_REPEAT = re.compile(r"\{\d*,?\d*\}")


def has_nested_quantifier(pattern: str) -> bool:
    """Whether a group that contains a repetition (*, + or {…}) is itself repeated, like (a+)+ or (?:x*y){2,}.

    Escapes and character classes are skipped, so \\+ and [+*] are literals; ? alone repeats nothing.
    """
    groups: list[bool] = []  # per open group: whether something inside it repeats
    last_group_repeats = False  # the token just before this character is a group with a repetition inside
    i = 0
    while i < len(pattern):
        char = pattern[i]
        is_repeat = char in "*+" or (char == "{" and COUNTED_REPEAT.match(pattern, i) is not None)
        if is_repeat:
            if last_group_repeats:
                return True
            if groups:
                groups[-1] = True
        last_group_repeats = False
        if char == "\\":
            i += 1
        elif char == "[":
            i = _end_of_class(pattern, i)
        elif char == "(":
            groups.append(False)
        elif char == ")" and groups:
            last_group_repeats = groups.pop()
            if groups and last_group_repeats:
                groups[-1] = True
        i += 1
    return False


_ATOM = re.compile(r"\\.|\[\^?\]?(?:\\.|[^\]])*\]|[^\\()|*+?{}]")
_OPEN_REPEAT = re.compile(r"(?:[*+]|\{\d*,\})\??")
_PROBES = string.printable + "é\u00a0\u200b\u202e\uff21"


def _backtracking_problem(pattern: str) -> str | None:
    """The other two usual causes of catastrophic backtracking, which `has_nested_quantifier` lets through:
    a repeated group of alternatives, like (a|aa)+, and the same characters repeated twice in a row, like a+a+ or
    \\s*\\s*. Both hang Python's regular expressions on a long enough profile text."""
    alternatives: list[bool] = []
    previous: str | None = None  # the atom just before, when an open-ended repetition follows it
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "(":
            alternatives.append(False)
            i, previous = i + 1, None
            continue
        if char == "|" and alternatives:
            alternatives[-1] = True
        if char in "|)":
            had_alternatives = alternatives.pop() if char == ")" and alternatives else False
            i, previous = i + 1, None
            if had_alternatives and _OPEN_REPEAT.match(pattern, i):
                return "it repeats a group of alternatives, like (a|aa)+, which can take forever to check"
            continue
        atom = _ATOM.match(pattern, i)
        if atom is None:
            i, previous = i + 1, None
            continue
        i = atom.end()
        repeat = _OPEN_REPEAT.match(pattern, i)
        if repeat is None:
            previous = None
            continue
        i = repeat.end()
        if previous is not None and _overlap(previous, atom.group()):
            return "it repeats the same characters twice in a row, like a+a+, which can take forever to check"
        previous = atom.group()
    return None


def _overlap(first: str, second: str) -> bool:
    try:
        one, other = re.compile(first), re.compile(second)
    except re.error:
        return True
    return any(one.fullmatch(probe) and other.fullmatch(probe) for probe in _PROBES)


def _end_of_class(pattern: str, start: int) -> int:
    """The index of the ] that closes the character class opened at `start`."""
    i = start + 1
    if i < len(pattern) and pattern[i] == "^":
        i += 1
    if i < len(pattern) and pattern[i] == "]":
        i += 1
    while i < len(pattern) and pattern[i] != "]":
        i += 2 if pattern[i] == "\\" else 1
    return i


def _items_text(items: Sequence[str], prefix: str = "") -> str:
    shown = ", ".join(f"{prefix}{item}" for item in items[:MAX_LISTED_IN_DIFF])
    rest = len(items) - MAX_LISTED_IN_DIFF
    return f"{shown} and {rest:,} more" if rest > 0 else shown


def value_text(key: str, value: Any) -> str:
    """A stored value as people read it on the policy and history pages."""
    kind = FIELDS[key].kind
    if kind == "switch":
        return "yes" if value else "no"
    if kind == "hour":
        return f"{int(value):02d}:00 UTC"
    if kind in LIST_KINDS:
        return _items_text(value, "@" if kind == "handles" else "") if value else "none"
    return _number_text(value)


def diff(old: PolicySettings, new: PolicySettings) -> list[tuple[str, str, str]]:
    """What changed from `old` to `new`, as (label, old text, new text) in page order.

    For lists the old text names what was removed and the new text what was added.
    """
    changes = []
    before, after = old.to_dict(), new.to_dict()
    for key, info in FIELDS.items():
        if info.kind in LIST_KINDS:
            prefix = "@" if info.kind == "handles" else ""
            removed = [item for item in before[key] if item not in set(after[key])]
            added = [item for item in after[key] if item not in set(before[key])]
            if removed or added:
                changes.append(
                    (
                        info.label,
                        f"removed {_items_text(removed, prefix)}" if removed else "—",
                        f"added {_items_text(added, prefix)}" if added else "—",
                    )
                )
        elif before[key] != after[key]:
            changes.append((info.label, value_text(key, before[key]), value_text(key, after[key])))
    return changes


class Verdict(IntEnum):
    SUGGEST = 0
    BELOW_THRESHOLD = 1
    NEVER = 2


class Rule(IntEnum):
    """The rule that decided a verdict, in the order the rules are tried."""

    NEVER_FOLLOW_LIST = 0
    BLOCKLISTED = 1
    IMPERSONATION = 2
    HARMFUL_LABEL = 3
    BOT = 4
    CHURN = 5
    ALWAYS_FOLLOW_LIST = 6
    CUSTOMER = 7
    REACHES_THRESHOLD = 8
    BELOW_THRESHOLD = 9


VERDICT_OF_RULE = np.array(
    [Verdict.NEVER] * 6 + [Verdict.SUGGEST, Verdict.SUGGEST, Verdict.SUGGEST, Verdict.BELOW_THRESHOLD],
    dtype=np.int8,
)


@dataclass(frozen=True, eq=False)
class Decisions:
    """One verdict per follower, in the order of the handles given to `decide`."""

    score: np.ndarray  # float64, from 0 to 100
    verdict: np.ndarray  # int8 `Verdict` codes
    rule: np.ndarray  # int8 `Rule` codes
    bot: np.ndarray
    churn_cycles: np.ndarray
    settings: PolicySettings

    def verdict_name(self, index: int) -> str:
        """The verdict as a word: suggest, below_threshold or never."""
        return Verdict(self.verdict[index]).name.lower()

    def counts(self) -> dict[str, int]:
        per_code = np.bincount(self.verdict, minlength=len(Verdict))
        return {verdict.name.lower(): int(per_code[verdict]) for verdict in Verdict}

    def rule_text(self, index: int) -> str:
        """Why this follower got their verdict, in words, e.g. "never: bot likelihood 0.93 above 0.80"."""
        settings = self.settings
        rule = Rule(self.rule[index])
        score = math.floor(self.score[index])
        texts = {
            Rule.NEVER_FOLLOW_LIST: "never: on the never-follow list",
            Rule.BLOCKLISTED: "never: matches the blocklist",
            Rule.IMPERSONATION: "never: looks like an impersonation",
            Rule.HARMFUL_LABEL: "never: labelled as harmful",
            Rule.ALWAYS_FOLLOW_LIST: "always: on the always-follow list",
            Rule.CUSTOMER: "always: verified customer",
            Rule.REACHES_THRESHOLD: f"score {score} reaches the threshold of {settings.suggest_threshold}",
            Rule.BELOW_THRESHOLD: f"score {score} is below the threshold of {settings.suggest_threshold}",
        }
        if rule == Rule.BOT:
            return f"never: bot likelihood {self.bot[index]:.2f} above {settings.never_bot_above:.2f}"
        if rule == Rule.CHURN:
            return (
                f"never: {self.churn_cycles[index]} follow-unfollow cycles, "
                f"at least {settings.never_churn_cycles_at_least}"
            )
        return texts[rule]


def scores(values: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
    """The score (0 to 100) of every follower (see the module docstring for the formula)."""

    def weighted_mean(signals: Sequence[str]) -> np.ndarray | float:
        total = sum(weights[s] for s in signals)
        if total == 0:
            return 0.0
        clipped = (np.clip(np.nan_to_num(values[s], nan=0.0), 0.0, 1.0) for s in signals)
        return sum(weights[s] * signal for s, signal in zip(signals, clipped, strict=True)) / total

    difference = weighted_mean(POSITIVE_SIGNALS) - weighted_mean(NEGATIVE_SIGNALS)
    length = len(values[SIGNALS[0]])
    return np.clip(50.0 + 50.0 * np.broadcast_to(difference, (length,)), 0.0, 100.0)


def _on_list(handles: Sequence[str], listed: tuple[str, ...]) -> np.ndarray:
    if not listed:
        return np.zeros(len(handles), dtype=bool)
    members = set(listed)
    return np.fromiter((normalise_handle(h) in members for h in handles), dtype=bool, count=len(handles))


def decide(
    values: Mapping[str, np.ndarray],
    flags: Mapping[str, np.ndarray],
    churn_cycles: np.ndarray,
    handles: Sequence[str],
    settings: PolicySettings,
) -> Decisions:
    """The verdict for every follower: arrays of one entry per handle, every signal and flag of that length."""
    length = len(handles)
    for name, array in [*values.items(), *flags.items(), ("churn_cycles", churn_cycles)]:
        if len(array) != length:
            raise ValueError(f"{name} has {len(array)} entries for {length} followers")
    score = scores(values, settings.weights)
    bot = np.nan_to_num(values["bot"], nan=0.0)
    conditions = [
        _on_list(handles, settings.never_follow),
        flags["blocklisted"] & settings.never_blocklisted,
        flags["impersonation"] & settings.never_impersonation,
        flags["harmful_label"] & settings.never_harmful_labels,
        bot > settings.never_bot_above,
        churn_cycles >= settings.never_churn_cycles_at_least,
        _on_list(handles, settings.always_follow),
        (values["customer"] >= VERIFIED_CUSTOMER) & settings.always_surface_customers,
        score >= settings.suggest_threshold,
    ]
    rule = np.select(conditions, [int(r) for r in Rule][:-1], default=int(Rule.BELOW_THRESHOLD)).astype(
        np.int8
    )
    return Decisions(score, VERDICT_OF_RULE[rule], rule, bot, churn_cycles, settings)


def ratio_guard_allows(
    following: int,
    followers: int,
    approvals_today: int,
    cap_today: int,
    settings: PolicySettings,
    platform: str,
) -> tuple[bool, str]:
    """Whether the brand's account may take on one more follow, and why (not).

    `following` and `followers` are the account's counts, with follows approved but not yet run counted as
    following; `approvals_today` is how many follows were approved today (UTC); `cap_today` is the most allowed
    today: the policy's daily cap, or less when the caller must hold back (a platform's remaining rate limit).
    Checked when a follow is approved and again before it runs.
    """
    daily_cap = min(cap_today, settings.daily_follow_cap)
    if approvals_today >= daily_cap:
        return (
            False,
            f"the daily cap of {daily_cap:,} follows is reached ({approvals_today:,} approved today)",
        )
    after = following + 1
    platform_cap = settings.platform_following_caps[platform]
    if after > platform_cap:
        return False, (
            f"following {after:,} accounts would pass the cap of {platform_cap:,} on {PLATFORM_NAMES[platform]}"
        )
    ratio_cap = math.floor(round(settings.max_following_ratio * followers, 6))
    if after > ratio_cap:
        ratio = _number_text(settings.max_following_ratio)
        return False, (
            f"following {after:,} accounts would pass {ratio} times {followers:,} followers, {ratio_cap:,}"
        )
    return True, (
        f"within today's cap ({approvals_today + 1:,} of {daily_cap:,}) "
        f"and the following limit ({after:,} of {min(platform_cap, ratio_cap):,})"
    )
