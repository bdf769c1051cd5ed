"""Key rotation: `manage.py rotate_credentials` survives being killed, and leaves every credential on the new key.

The slow test stores 10,000 connected-account credentials and 20 Mastodon app secrets under an old key, then
runs the real command in a subprocess with the new key first and SIGKILLs it three times, each once the rows it
has committed (they are re-encrypted in id order, a batch per transaction) pass a seeded random point; between
kills every row must still open with the keys the site runs with. The fourth run finishes, and then every row
opens with the new key alone, to the same plaintext.
"""

from __future__ import annotations

import io
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.core.management import CommandError, call_command

from accounts import crypto
from accounts.models import Brand, ConnectedAccount, MastodonApp, Platform
from tests.workers import ROOT, test_database_url

ACCOUNTS = 10_000
APPS = 20
KILLS = 3
SEED = 20261204


@pytest.fixture
def keys(settings: Any) -> Iterator[tuple[bytes, bytes]]:
    """An old key the credentials are stored under, and a new one to rotate to."""
    old, new = Fernet.generate_key(), Fernet.generate_key()
    settings.FIELD_ENCRYPTION_KEYS = [old.decode()]
    crypto.reset_key_cache()
    yield old, new
    crypto.reset_key_cache()


def store_credentials(brand: Brand, accounts: int, apps: int) -> dict[str, str]:
    """Accounts and app secrets under the configured key; returns each row's plaintext by "table:id"."""
    ConnectedAccount.objects.bulk_create(
        ConnectedAccount(
            brand=brand, platform=Platform.MASTODON, platform_user_id=str(n), handle=f"brand{n}@social.example",
            credentials_ciphertext=crypto.encrypt_json({"access_token": f"token-{n}"}),
        )
        for n in range(accounts)
    )  # fmt: skip
    MastodonApp.objects.bulk_create(
        MastodonApp(
            instance_url=f"https://server{n}.example", redirect_uri="https://followback.example/connect/",
            client_id=f"client-{n}", client_secret_ciphertext=crypto.encrypt_json({"secret": f"secret-{n}"}),
        )
        for n in range(apps)
    )  # fmt: skip
    return stored_plaintexts(MultiFernet([Fernet(key) for key in crypto.encryption_keys()]))


def stored_ciphertexts() -> dict[str, str]:
    rows = {
        f"account:{pk}": text
        for pk, text in ConnectedAccount.objects.values_list("pk", "credentials_ciphertext")
    }
    rows.update(
        (f"app:{pk}", text) for pk, text in MastodonApp.objects.values_list("pk", "client_secret_ciphertext")
    )
    return rows


def stored_plaintexts(fernet: Fernet | MultiFernet) -> dict[str, str]:
    """Every row's plaintext; a row this key set cannot open reads as "unreadable"."""
    plaintexts = {}
    for row, token in stored_ciphertexts().items():
        try:
            plaintexts[row] = fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            plaintexts[row] = "unreadable"
    return plaintexts


def rotated_prefix(ids: list[int], new: Fernet) -> int:
    """How many accounts, in id order, the new key alone opens: the command commits batches in id order."""

    def opens(pk: int) -> bool:
        token = ConnectedAccount.objects.values_list("credentials_ciphertext", flat=True).get(pk=pk)
        try:
            new.decrypt(token.encode())
        except InvalidToken:
            return False
        return True

    low, high = 0, len(ids)
    while low < high:
        middle = (low + high) // 2
        low, high = (middle + 1, high) if opens(ids[middle]) else (low, middle)
    return low


def start_rotation(old: bytes, new: bytes) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "FIELD_ENCRYPTION_KEYS": f"{new.decode()},{old.decode()}",
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "rotate_credentials"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def wait_for(condition: Callable[[], bool], seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not within {seconds}s"
        time.sleep(0.01)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_rotation_killed_three_times_leaves_every_credential_readable_with_the_new_key_alone(brand, keys):
    old, new = keys
    plaintexts = store_credentials(brand, ACCOUNTS, APPS)
    ids = list(ConnectedAccount.objects.order_by("pk").values_list("pk", flat=True))
    both_keys, new_key = MultiFernet([Fernet(new), Fernet(old)]), Fernet(new)
    rng = random.Random(SEED)
    kill_points = sorted(rng.sample(range(ACCOUNTS // 10, ACCOUNTS * 8 // 10), KILLS))
    killed_at = []

    for point in kill_points:
        process = start_rotation(old, new)
        wait_for(lambda: rotated_prefix(ids, new_key) >= point or process.poll() is not None)  # noqa: B023
        assert process.poll() is None, f"the rotation finished before reaching row {point}"
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=60)
        assert process.returncode == -signal.SIGKILL
        killed_at.append(rotated_prefix(ids, new_key))
        assert stored_plaintexts(both_keys) == plaintexts, "a killed rotation left a row unreadable"

    process = start_rotation(old, new)
    out, err = process.communicate(timeout=300)

    assert process.returncode == 0, err.decode()
    assert f"Re-encrypted {ACCOUNTS:,} account credentials and {APPS:,} Mastodon app secrets." in out.decode()
    assert stored_plaintexts(new_key) == plaintexts
    assert all(point <= row < ACCOUNTS for point, row in zip(kill_points, killed_at, strict=True))
    print(f"\nkey rotation: {ACCOUNTS + APPS:,} rows, killed at rows {killed_at}, 0 unreadable", flush=True)


def test_a_credential_no_key_opens_is_named_and_the_others_are_still_rotated(brand, keys, settings):
    old, new = keys
    plaintexts = store_credentials(brand, 1200, 2)
    lost = ConnectedAccount.objects.order_by("pk")[600]
    ConnectedAccount.objects.filter(pk=lost.pk).update(
        credentials_ciphertext=Fernet(Fernet.generate_key()).encrypt(b'{"access_token": "lost"}').decode()
    )
    plaintexts[f"account:{lost.pk}"] = "unreadable"
    settings.FIELD_ENCRYPTION_KEYS = [new.decode(), old.decode()]
    crypto.reset_key_cache()
    out = io.StringIO()

    with pytest.raises(CommandError) as unreadable:
        call_command("rotate_credentials", stdout=out)

    assert str(unreadable.value) == (
        f"No listed key opens 1 stored credentials, left as they were: connected account {lost.pk}. "
        "Connect those accounts again."
    )
    assert "Re-encrypted 1,199 account credentials and 2 Mastodon app secrets." in out.getvalue()
    assert stored_plaintexts(Fernet(new)) == plaintexts
