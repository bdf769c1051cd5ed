"""`python -m tests.reliability.seed_private_database SERVER_URL`, with DATABASE_URL naming an empty database of a
private PostgreSQL cluster: migrates it, connects a brand's Mastodon account on the fake server at SERVER_URL and
requests its followers sync (whose broker message goes out on commit, as in the product); prints the run's id.

The outage test's own database connection is the shared cluster's test database, so the world the worker syncs
is built here, in a process of its own, with the product's own models and services."""

import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "followback.settings")
django.setup()

from django.core.management import call_command  # noqa: E402

from accounts import crypto  # noqa: E402
from accounts.connections import request_sync  # noqa: E402
from accounts.models import Brand, ConnectedAccount, Platform, SyncKind  # noqa: E402
from tests.fakes.mastodon import BRAND_ID, DEFAULT_ACCESS_TOKEN  # noqa: E402


def seed(server_url: str) -> int:
    call_command("migrate", verbosity=0)
    brand = Brand.objects.create(name="Acme Coffee", slug="acme")
    account = ConnectedAccount.objects.create(
        brand=brand,
        platform=Platform.MASTODON,
        platform_user_id=BRAND_ID,
        handle="acmecoffee@fake.social",
        server_url=server_url,
        credentials_ciphertext=crypto.encrypt_json({"access_token": DEFAULT_ACCESS_TOKEN}),
    )
    return request_sync(account, SyncKind.FOLLOWERS, by=None).pk


if __name__ == "__main__":
    print(seed(sys.argv[1]))
