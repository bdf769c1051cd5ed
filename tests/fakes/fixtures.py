"""Fixtures for the fake platform servers, shared by every test folder (a plugin of tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.mastodon import FakeMastodon


@pytest.fixture
def fake() -> Iterator[FakeMastodon]:
    """A fake Mastodon server with no followers, where follows are carried out (`follows_done`)."""
    with FakeMastodon(follower_count=0) as server:
        yield server
