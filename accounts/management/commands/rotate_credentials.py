from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts import crypto
from accounts.models import ConnectedAccount, MastodonApp

BATCH = 500


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored credential with the first key of FIELD_ENCRYPTION_KEYS. Safe to stop and run "
        "again: each batch commits on its own, and old and new ciphertexts both stay readable while the old key "
        "is still listed. Remove the old key only after this finishes."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        accounts = self._rotate(
            ConnectedAccount.objects.exclude(credentials_ciphertext=""), "credentials_ciphertext"
        )
        apps = self._rotate(MastodonApp.objects.all(), "client_secret_ciphertext")
        self.stdout.write(f"Re-encrypted {accounts:,} account credentials and {apps:,} Mastodon app secrets.")

    def _rotate(self, queryset: Any, field: str) -> int:
        done, after = 0, 0
        while True:
            with transaction.atomic():
                rows = list(queryset.select_for_update().filter(pk__gt=after).order_by("pk")[:BATCH])
                if not rows:
                    return done
                for row in rows:
                    setattr(row, field, crypto.rotate(getattr(row, field)))
                queryset.model.objects.bulk_update(rows, [field])
            done += len(rows)
            after = rows[-1].pk
