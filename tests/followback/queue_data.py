"""Suggestions for review tests: a connected account, followers and their suggestions, without a queue build."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from django.utils import timezone

from accounts.models import Brand, ConnectedAccount, Follower, Platform, User
from rules import services
from rules.models import Suggestion, SuggestionStatus
from rules.policy import PolicySettings

ENGAGED_REASON = {"signal": "engagement", "text": "replied twice in the last 3 months", "polarity": "suggest"}
CUSTOMER_REASON = {"signal": "customer", "text": "on your customer list", "polarity": "suggest"}
WATCH_REASON = {"signal": "bot_likelihood", "text": "account is 3 weeks old", "polarity": "watch"}


def connected_account(brand: Brand, handle: str = "acme.demo", **fields: Any) -> ConnectedAccount:
    defaults = {"platform": Platform.MASTODON, "followers_count": 1000, "following_count": 100}
    return ConnectedAccount.objects.create(
        brand=brand, platform_user_id=handle, handle=handle, **{**defaults, **fields}
    )


def make_follower(account: ConnectedAccount, handle: str, **fields: Any) -> Follower:
    now = timezone.now()
    profile = {
        "display_name": handle.replace("_", " ").title(),
        "bio": "Coffee lover and runner",
        "avatar_is_default": False,
        "created_at": now - timedelta(days=900),
        "followers_count": 300,
        "following_count": 250,
        "posts_count": 1200,
        "profile_url": f"https://social.example/@{handle}",
    }
    return Follower.objects.create(
        account=account, platform_id=handle, handle=handle, **{**profile, **fields}
    )


def make_suggestion(
    account: ConnectedAccount,
    handle: str,
    status: SuggestionStatus = SuggestionStatus.PENDING,
    score: int = 70,
    reasons: list[dict[str, str]] | None = None,
    engagement: float = 0.0,
    follower: dict[str, Any] | None = None,
    **fields: Any,
) -> Suggestion:
    defaults = {"expires_at": timezone.now() + timedelta(days=14)}
    return Suggestion.objects.create(
        brand=account.brand,
        account=account,
        follower=make_follower(account, handle, **(follower or {})),
        policy_version=services.current_policy(account.brand),
        status=status,
        score=score,
        rule="score 70 reaches the threshold of 60",
        reasons=reasons if reasons is not None else [ENGAGED_REASON],
        signals={"engagement": engagement, "customer": 0.0, "bot": 0.1},
        **{**defaults, **fields},
    )


def require_second_approver(brand: Brand, by: User, on: bool = True) -> None:
    services.save_policy(brand, replace(PolicySettings(), second_approver=on), by=by)
