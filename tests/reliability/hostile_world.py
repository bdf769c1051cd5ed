"""A brand whose every text field holds the XSS corpus, and the list of pages a member can reach in it.

`build_world()` writes each payload of `tests/reliability/xss_corpus.py` into every follower field (handle,
display name, bio, avatar and profile URLs), the reasons and rule of a suggestion, decision reasons, comments,
audit summaries, member names, follow reasons, blocklist entries and policy notes, and a sample of it into the
connected accounts, sync errors, invitations and brand names. Where a real form or service takes the text
(comments, rejections, invitations, the policy form), it goes through that; the rest is written as a sync would.
`pages()` then lists every page to render, following "more" and "older" links to the end.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlencode

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import services as account_services
from accounts.jobs import JobStatus
from accounts.models import (
    AccountStatus,
    AuditEvent,
    Brand,
    ConnectedAccount,
    Follower,
    Membership,
    Platform,
    Role,
    SyncRun,
    User,
)
from accounts.platforms.base import storable_text
from followback import review
from followback.models import Decision, DecisionKind, FollowAction, FollowState
from rules import services as rule_services
from rules.models import Suggestion, SuggestionStatus
from rules.policy import MAX_LISTED_IN_DIFF, blocklist_entry_problem
from tests.factories import BrandFactory, UserFactory
from tests.reliability.xss_corpus import PAYLOADS, Payload, cycle

ACCOUNTS = 10
EXTRA_BRANDS = 12
# Every member is listed on the members page and in the audit log's person filter: a sample of the corpus.
MEMBERS = 120
DETAIL_PAGES = 10
BLOCKLIST_CHUNK = MAX_LISTED_IN_DIFF
REFLECTED_PER_REQUEST = 100
S = SuggestionStatus
# Suggestion i takes status STATUS_CYCLE[i % 10], so every queue tab holds a tenth or more of the corpus.
STATUS_CYCLE = [S.PENDING] * 4 + [S.LATER, S.HELD, S.AWAITING_APPROVAL, S.APPROVED, S.REJECTED, S.PENDING]


@dataclass
class World:
    brand: Brand
    owner: User
    viewer: User
    detail_ids: list[int]
    account_ids: list[int]
    display_names: dict[int, str]  # suggestion id → the follower's display name, exactly as stored
    placements: dict[str, int] = field(default_factory=dict)  # field → payloads written into it

    def placed(self, where: str, count: int) -> None:
        self.placements[where] = self.placements.get(where, 0) + count


def _cut(text: str, limit: int | None = None) -> str:
    """The text as a sync or a form stores it: PostgreSQL refuses NUL, so those are dropped (as parsers do)."""
    return storable_text(text)[:limit]


def build_world(owner_email: str = "owner@hostile.test") -> World:
    count = len(PAYLOADS)
    texts = [payload.text for payload in PAYLOADS]
    brand = BrandFactory(name=_cut(_pick("attribute breakout").text, 120), slug="acme")
    owner = UserFactory(email=owner_email, name=_cut(_pick("script").text, 150))
    viewer = UserFactory(email="viewer@hostile.test", name=_cut(_pick("event handler").text, 150))
    Membership.objects.create(user=owner, brand=brand, role=Role.ADMIN)
    Membership.objects.create(user=viewer, brand=brand, role=Role.VIEWER)
    for payload in itertools.islice(cycle(7), EXTRA_BRANDS):
        other = BrandFactory(name=_cut(payload.text, 120))
        Membership.objects.create(user=owner, brand=other, role=Role.VIEWER)

    members = User.objects.bulk_create(
        User(email=f"member{index}@hostile.test", name=_cut(payload.text, 150))
        for index, payload in enumerate(itertools.islice(cycle(3), MEMBERS))
    )
    Membership.objects.bulk_create(Membership(user=user, brand=brand, role=Role.APPROVER) for user in members)

    accounts = [
        ConnectedAccount.objects.create(
            brand=brand,
            platform=Platform.MASTODON if index % 2 else Platform.BLUESKY,
            platform_user_id=f"brand-account-{index}",
            handle=_cut(payload.text, 255),
            display_name=_cut(texts[(index + 1) % count], 255),
            profile_url=_cut(texts[(index + 2) % count], 200),
            status=AccountStatus.ACTIVE if index % 3 else AccountStatus.AUTH_EXPIRED,
            status_reason=_cut(texts[(index + 3) % count], 300),
            followers_count=1000,
            following_count=10,
        )
        for index, payload in enumerate(itertools.islice(cycle(11), ACCOUNTS))
    ]
    now = timezone.now()
    for index, account in enumerate(accounts):
        SyncRun.objects.bulk_create(
            SyncRun(account=account, status=JobStatus.FAILED, last_error=_cut(texts[(index * 10 + run) % count]),
                    started_at=now - timedelta(minutes=run), finished_at=now, bad_records=run)
            for run in range(10)
        )  # fmt: skip

    names, handles, bios, avatars, profiles = (cycle(offset) for offset in range(5))
    followers = Follower.objects.bulk_create(
        Follower(
            account=accounts[index % ACCOUNTS],
            platform_id=f"follower-{index}",
            handle=_cut(next(handles).text, 255),
            display_name=_cut(next(names).text, 255),
            bio=_cut(next(bios).text),
            avatar_url=_cut(next(avatars).text, 500),
            avatar_is_default=False,
            profile_url=_cut(next(profiles).text, 500),
            created_at=now - timedelta(days=400),
            followers_count=100,
            following_count=90,
            posts_count=50,
            is_customer=index % 7 == 0,
        )
        for index in range(count)
    )
    policy_version = rule_services.current_policy(brand)
    suggest_reasons, watch_reasons, rules = cycle(5), cycle(6), cycle(8)
    suggestions = Suggestion.objects.bulk_create(
        Suggestion(
            brand=brand,
            account=follower.account,
            follower=follower,
            policy_version=policy_version,
            status=STATUS_CYCLE[index % len(STATUS_CYCLE)],
            score=100 - index % 100,
            rule=_cut(next(rules).text, 300),
            reasons=[
                {"signal": "engagement", "text": _cut(next(suggest_reasons).text), "polarity": "suggest"},
                {"signal": "bot_likelihood", "text": _cut(next(watch_reasons).text), "polarity": "watch"},
            ],
            signals={"engagement": 0.5, "customer": 0.0, "bot": 0.1},
            expires_at=now + timedelta(days=14),
            proposed_by=members[index % MEMBERS]
            if STATUS_CYCLE[index % len(STATUS_CYCLE)] == S.AWAITING_APPROVAL
            else None,
            decided_by=members[(index + 1) % MEMBERS] if index % 10 in (6, 7, 8) else None,
            decided_at=now if index % 10 in (6, 7, 8) else None,
        )
        for index, follower in enumerate(followers)
    )
    world = World(
        brand=brand,
        owner=owner,
        viewer=viewer,
        detail_ids=[],
        account_ids=[account.pk for account in accounts],
        display_names={suggestion.pk: suggestion.follower.display_name for suggestion in suggestions},
    )
    for where in (
        "follower handle",
        "follower display name",
        "follower bio",
        "avatar URL",
        "profile URL",
        "suggestion reason (suggest)",
        "suggestion reason (watch)",
        "suggestion rule",
        "member name",
    ):
        world.placed(where, count)  # fmt: skip
    world.placed("member name", MEMBERS)
    world.placed("connected account handle, name, profile URL, status", ACCOUNTS * 4)
    world.placed("sync error", ACCOUNTS * 10)
    world.placed("brand name", EXTRA_BRANDS + 1)

    _follows(world, suggestions, members, now)
    _detail_pages(world, suggestions, members, now)
    _audit_events(world, members)
    _invitations(world)
    _policy_versions(world)
    return world


def _pick(category: str) -> Payload:
    return next(payload for payload in PAYLOADS if payload.category == category)


def _follows(world: World, suggestions: list[Suggestion], members: list[User], now: object) -> None:
    approved = [s for s in suggestions if s.status == S.APPROVED]
    waiting, platform = cycle(9), cycle(10)
    states = [FollowState.FAILED, FollowState.QUEUED, FollowState.DONE, FollowState.NEEDS_RECONCILE]
    FollowAction.objects.bulk_create(
        FollowAction(
            brand=world.brand, account=s.account, follower=s.follower, suggestion=s,
            approved_by=members[index % MEMBERS], state=states[index % len(states)],
            waiting_reason=_cut(next(waiting).text, 300), platform_reason=_cut(next(platform).text),
            executed_at=now if states[index % len(states)] == FollowState.DONE else None,
        )
        for index, s in enumerate(approved)
    )  # fmt: skip
    world.placed("follow waiting reason", len(approved))
    world.placed("follow platform answer", len(approved))


def _detail_pages(world: World, suggestions: list[Suggestion], members: list[User], now: object) -> None:
    """Every payload as a comment (through review.add_comment) and as a decision reason on a few suggestions."""
    count = len(PAYLOADS)
    open_ones = [s for s in suggestions if s.status in (S.PENDING, S.LATER)][:DETAIL_PAGES]
    world.detail_ids = [s.pk for s in open_ones]
    for index, payload in enumerate(PAYLOADS):
        target = open_ones[index % DETAIL_PAGES]
        review.add_comment(
            world.brand, target.pk, members[index % MEMBERS], _cut(payload.text, review.COMMENT_MAX_LENGTH)
        )
    world.placed("comment", count)
    reasons = cycle(12)
    Decision.objects.bulk_create(
        Decision(
            brand=world.brand, suggestion=open_ones[index % DETAIL_PAGES], actor=members[(index + 5) % MEMBERS],
            kind=DecisionKind.REJECT if index % 2 else DecisionKind.LATER, from_status=S.PENDING,
            to_status=S.LATER, reason=_cut(next(reasons).text, 500),
            policy_version_id=open_ones[0].policy_version_id, score=50, signals={}, created_at=now,
        )
        for index in range(count)
    )  # fmt: skip
    world.placed("decision reason", count)
    for index, suggestion in enumerate(
        s for s in suggestions if s.status == S.PENDING and s not in open_ones
    ):
        if index >= 40:
            break
        review.decide(
            world.brand, suggestion.pk, members[index], DecisionKind.REJECT, _cut(PAYLOADS[index].text)
        )
    world.placed("rejection reason (review.decide)", 40)


def _audit_events(world: World, members: list[User]) -> None:
    summaries = cycle(13)
    AuditEvent.objects.bulk_create(
        AuditEvent(brand=world.brand, actor=members[index % MEMBERS], verb="sync.finished",
                   summary=_cut(next(summaries).text, 300), target_type="accounts.follower",
                   target_id=str(index), data={"note": _cut(payload.text, 200)})
        for index, payload in enumerate(PAYLOADS)
    )  # fmt: skip
    world.placed("audit summary", len(PAYLOADS))


def _invitations(world: World) -> None:
    invited = 0
    for payload in PAYLOADS:
        email = f'"{payload.text}"@example.com'
        try:
            validate_email(email)
            account_services.invite(world.brand, email, Role.REVIEWER, by=world.owner)
        except ValidationError:
            continue
        invited += 1
    world.placed("invitation e-mail (quoted local part)", invited)


def blocklist_entries() -> list[str]:
    """The payloads the blocklist can hold as they are: one line, at most 200 characters, no NUL."""
    return [
        payload.text
        for payload in PAYLOADS
        if "\x00" not in payload.text
        and len(payload.text.splitlines()) == 1
        and payload.text == payload.text.strip()
        and blocklist_entry_problem(payload.text) is None
    ]


def _policy_versions(world: World) -> None:
    """One version per chunk of blocklist payloads, saved through the policy form, each with a payload note."""
    from tests.rules.test_policy_views import policy_form_data

    client = Client()
    client.force_login(world.owner)
    url = reverse("rules:policy", kwargs={"brand": world.brand.slug})
    entries = blocklist_entries()
    notes = (p.text for p in PAYLOADS if "\x00" not in p.text and len(p.text) <= 300)
    saved = 0
    for start in range(0, len(entries), BLOCKLIST_CHUNK):
        chunk = entries[start : start + BLOCKLIST_CHUNK]
        data = policy_form_data(blocklist="\n".join(chunk), note=next(notes))
        response = client.post(url, data)
        if response.status_code != 302:
            raise AssertionError(f"the policy form refused a blocklist chunk: {response.content[:2000]!r}")
        saved += 1
    world.placed("blocklist entry (policy form)", len(entries))
    world.placed("policy note (policy form)", saved)


def customer_csv() -> bytes:
    """A customer list whose every handle and e-mail cell is a payload."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["handle", "email"])
    for handle, email in zip(PAYLOADS, cycle(1), strict=True):
        writer.writerow([handle.text[:300], email.text[:300]])
    return out.getvalue().encode()


def invalid_policy_post() -> dict[str, str]:
    """A policy form whose handle lists are all payloads: refused, and every line is quoted back."""
    from tests.rules.test_policy_views import policy_form_data

    lines = "\n".join(payload.text[:300] for payload in PAYLOADS)
    return policy_form_data(always_follow=lines, never_follow=lines, note=PAYLOADS[0].text[:300])


def reflected_queries() -> Iterator[str]:
    """Query strings carrying every payload: `q` is shown back in the search box, the rest in `next` fields."""
    for start in range(0, len(PAYLOADS), REFLECTED_PER_REQUEST):
        chunk = PAYLOADS[start : start + REFLECTED_PER_REQUEST]
        params = [("q", chunk[0].text)] + [(f"x{index}", payload.text) for index, payload in enumerate(chunk)]
        yield urlencode(params)
