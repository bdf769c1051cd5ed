from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts import crypto
from accounts.models import ConnectedAccount, MastodonApp

BATCH = 500


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored credential with the first key of FIELD_ENCRYPTION_KEYS. Safe to stop and run "
        "again: each batch commits on its own, and old and new ciphertexts both stay readable while the old key "
        "is still listed. Remove the old key only after this finishes. A credential no listed key opens is left "
        "as it is and named at the end; its account needs connecting again."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        unreadable: list[str] = []
        accounts = self._rotate(
            ConnectedAccount.objects.exclude(credentials_ciphertext=""), "credentials_ciphertext", unreadable
        )
        apps = self._rotate(MastodonApp.objects.all(), "client_secret_ciphertext", unreadable)
        self.stdout.write(f"Re-encrypted {accounts:,} account credentials and {apps:,} Mastodon app secrets.")
        if unreadable:
            raise CommandError(
                f"No listed key opens {len(unreadable):,} stored credentials, left as they were: "
                f"{', '.join(unreadable)}. Connect those accounts again."
            )

    def _rotate(self, queryset: Any, field: str, unreadable: list[str]) -> int:
        done, after = 0, 0
        while True:
            with transaction.atomic():
                rows = list(queryset.select_for_update().filter(pk__gt=after).order_by("pk")[:BATCH])
                if not rows:
                    return done
                rotated = []
                for row in rows:
                    try:
                        setattr(row, field, crypto.rotate(getattr(row, field)))
                    except crypto.CredentialsUnreadable:
                        unreadable.append(f"{queryset.model._meta.verbose_name} {row.pk}")
                    else:
                        rotated.append(row)
                queryset.model.objects.bulk_update(rotated, [field])
            done += len(rotated)
            after = rows[-1].pk
