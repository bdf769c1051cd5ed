"""The load run's world: brands seeded through the project's own services, each brand's text marked.

Every brand gets a marker (`qzm01x`, `qzm02x`, …): it is in the brand's name and slug, its people's names and
e-mail addresses, and every follower's handle and display name, so any response that shows another brand's marker
is a cross-brand leak. A brand is made the way `manage.py seed_demo` makes the demo: `accounts.services.create_brand`,
memberships, `connections.connect_demo` with the demo customer list imported, then its syncs (followers, profiles,
engagement) driven in this process by bench/run.py's `drive_sync_runs`; the marker goes on the synced follower rows (one UPDATE),
then the policy is saved and `rules.queue.build_daily_queue` builds the queue.

Brands alternate between one approval and the second-approver policy; in a second-approver brand the first person
is an approver, who also gives final approvals. Everyone signs in with LOAD_PASSWORD.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from run import drive_sync_runs  # bench/run.py, on the path bench/load/drive.py sets

LOAD_PASSWORD = "followback-load"
SLUG_PREFIX = "load-"
EMAIL_DOMAIN = "load.test"
QUEUE_SIZE = (
    2000  # the most a policy allows (rules/policy.py), so brands rather than one huge queue carry the load
)
DAILY_FOLLOW_CAP = 1000  # the most a policy allows: approvals are not stopped by the cap during a run


def marker(number: int) -> str:
    """The brand's marker: fixed width, so no marker is part of another."""
    return f"qzm{number:02d}x"


@dataclass(frozen=True)
class Spec:
    brands: int
    users: int
    followers: int
    queue_size: int = QUEUE_SIZE


def drop_world() -> None:
    """Remove every brand and person an earlier load run made: followers set-based (a cascade would read them all
    first), then the brands with what hangs from them, then the people."""
    from django.db import connection, transaction

    from accounts.models import Brand, User

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """SELECT c.conrelid::regclass::text, a.attname FROM pg_constraint c
               JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
               WHERE c.contype = 'f' AND c.confrelid = 'accounts_follower'::regclass"""
        )
        referencing = cursor.fetchall()
        accounts = (
            "SELECT id FROM accounts_connectedaccount"
            " WHERE brand_id IN (SELECT id FROM accounts_brand WHERE slug LIKE %s)"
        )
        followers = f"SELECT id FROM accounts_follower WHERE account_id IN ({accounts})"
        like = [f"{SLUG_PREFIX}%"]
        # Rows that protect the policy versions the brand's cascade removes go first.
        for table in ("followback_decision", "followback_comment", "rules_queuebuild"):
            cursor.execute(f"DELETE FROM {table} WHERE brand_id IN (SELECT id FROM accounts_brand WHERE slug LIKE %s)",
                           like)  # fmt: skip
        for table, column in referencing:
            cursor.execute(f'DELETE FROM {table} WHERE "{column}" IN ({followers})', like)
        cursor.execute(f"DELETE FROM accounts_follower WHERE account_id IN ({accounts})", like)
        Brand.objects.filter(slug__startswith=SLUG_PREFIX).delete()
        User.objects.filter(email__endswith=f".{EMAIL_DOMAIN}").delete()
    # The shared PostgreSQL here runs without autovacuum: seeded on top of the last world's dead rows (half a
    # million follower rows), the sync's customer match turns into minutes of disk reads.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")


def _mark_followers(account_id: int, mark: str) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """UPDATE accounts_follower SET handle = %s || '_' || handle,
                   display_name = CASE WHEN display_name = '' THEN '' ELSE display_name || ' ' || %s END
               WHERE account_id = %s""",
            [mark, mark, account_id],
        )


def _people(brand_number: int, count: int, second_approver: bool, password_hash: str) -> list[Any]:
    from accounts.models import Role, User

    mark = marker(brand_number)
    people = []
    for number in range(count):
        role = Role.APPROVER if second_approver and number == 0 else Role.REVIEWER
        email = f"{role.value}-{number + 1:02d}@{mark}.{EMAIL_DOMAIN}"
        name = f"{role.label} {number + 1} of {mark}"
        people.append((User.objects.create(email=email, name=name, password=password_hash), role))
    return people


def _seed_brand(
    number: int, people_count: int, followers: int, queue_size: int, password_hash: str
) -> dict[str, Any]:
    from django.db import transaction

    from accounts import connections, customers, services
    from accounts.models import Membership, Role, User
    from rules.models import Suggestion
    from rules.queue import build_daily_queue
    from rules.services import current_policy, save_policy

    mark = marker(number)
    second_approver = number % 2 == 0
    with transaction.atomic():
        admin = User.objects.create(email=f"admin@{mark}.{EMAIL_DOMAIN}", name=f"Admin of {mark}",
                                    password=password_hash)  # fmt: skip
        brand = services.create_brand(f"Load Brand {mark}", f"{SLUG_PREFIX}{mark}", owner=admin)
        people = _people(number, people_count, second_approver, password_hash)
        Membership.objects.bulk_create(Membership(user=user, brand=brand, role=role) for user, role in people)
        account = connections.connect_demo(brand, followers, by=admin)
        rows = io.StringIO()
        writer = csv.writer(rows)
        writer.writerow(["handle", "email"])
        for row in connections.connector_for(account).customer_list():  # type: ignore[attr-defined]
            writer.writerow([row.handle, row.email])
        customers.import_customers(brand, rows.getvalue().encode(), by=admin)
    drive_sync_runs(account.pk)
    _mark_followers(account.pk, mark)
    settings = replace(
        current_policy(brand).policy,
        queue_size=queue_size,
        daily_follow_cap=DAILY_FOLLOW_CAP,
        second_approver=second_approver,
    )
    save_policy(brand, settings, by=admin, note="Load run settings")
    build = build_daily_queue(brand)
    suggestions = Suggestion.objects.for_brand(brand)
    return {
        "number": number,
        "slug": brand.slug,
        "name": brand.name,
        "marker": mark,
        "second_approver": second_approver,
        "followers": followers,
        "pending": suggestions.pending().count(),
        "held": build.held,
        "suggestion_ids": list(suggestions.order_by("pk").values_list("pk", flat=True)),
        "people": [{"email": user.email, "role": role.value} for user, role in people],
        "role_counts": {
            role.value: sum(1 for _, r in people if r == role) for role in (Role.REVIEWER, Role.APPROVER)
        },
    }


def build_world(spec: Spec, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Drop the previous load world and seed a new one; returns it as JSON-ready data for the load users.

    Users go round-robin over the brands, one person each, so nobody's undo meets another simulated user's
    decisions."""
    from django.contrib.auth.hashers import make_password

    drop_world()
    password_hash = make_password(LOAD_PASSWORD)
    brands = []
    for number in range(1, spec.brands + 1):
        people = len(range(number - 1, spec.users, spec.brands))
        brands.append(_seed_brand(number, people, spec.followers, spec.queue_size, password_hash))
        say(f"  seeded {brands[-1]['name']}: {spec.followers:,} followers, {brands[-1]['pending']:,} pending, "
            f"{len(brands[-1]['people'])} people" + (", second approver" if brands[-1]["second_approver"] else ""))  # fmt: skip
    users = []
    for index in range(spec.users):
        brand = brands[index % spec.brands]
        person = brand["people"][index // spec.brands]
        users.append({**person, "password": LOAD_PASSWORD, "brand": brand["slug"], "marker": brand["marker"]})
    return {"brands": brands, "users": users}
