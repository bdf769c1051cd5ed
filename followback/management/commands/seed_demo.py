import csv
import io
from dataclasses import replace
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts import connections, customers, services
from accounts.models import Brand, ConnectedAccount, Membership, Platform, Role, User
from rules.services import current_policy, save_policy

DEMO_PASSWORD = "followback-demo"
DEMO_BRANDS = [("Acme Coffee", "acme-coffee"), ("Northwind Outdoors", "northwind")]
DEMO_FOLLOWERS = 2_000
DEMO_QUEUE_SIZE = 20
DEMO_BLOCKLIST = ("scam", "crypto giveaway", "hate", "fraud")


class Command(BaseCommand):
    help = (
        "Create (or refresh) the demo brands with one user per role and a demo platform account whose first "
        "sync a worker runs, and print the logins."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--followers", type=int, default=DEMO_FOLLOWERS, help="size of the demo account")

    def handle(self, *args: Any, followers: int, **options: Any) -> None:
        with transaction.atomic():
            people = {role: self._user(f"{role.value}@demo.test", f"Demo {role.label}") for role in Role}
            brands = []
            for name, slug in DEMO_BRANDS:
                brand = Brand.objects.filter(slug=slug).first()
                if brand is None:
                    brand = services.create_brand(name, slug, owner=people[Role.ADMIN])
                for role, user in people.items():
                    Membership.objects.update_or_create(user=user, brand=brand, defaults={"role": role})
                brands.append(brand)
            self._connect_demo_account(brands[0], followers, people[Role.ADMIN])
            self._set_demo_policy(brands[0], people[Role.ADMIN])
        self.stdout.write("Demo brands: " + ", ".join(name for name, _ in DEMO_BRANDS))
        self.stdout.write(f"Sign in at http://127.0.0.1:8000/ with any of these (password: {DEMO_PASSWORD}):")
        for role, user in people.items():
            self.stdout.write(f"  {role.label:<9} {user.email}")

    def _set_demo_policy(self, brand: Brand, admin: User) -> None:
        """A short queue that one sitting clears, two people for every follow, and the demo's harmful words."""
        settings = replace(
            current_policy(brand).policy,
            second_approver=True,
            queue_size=DEMO_QUEUE_SIZE,
            blocklist=DEMO_BLOCKLIST,
        )
        save_policy(brand, settings, by=admin, note="Demo settings")

    def _user(self, email: str, name: str) -> User:
        user = User.objects.filter(email=email).first() or User(email=email, name=name)
        user.set_password(DEMO_PASSWORD)
        user.save()
        return user

    def _connect_demo_account(self, brand: Brand, followers: int, admin: User) -> None:
        if ConnectedAccount.objects.filter(brand=brand, platform=Platform.DEMO).exists():
            return
        account = connections.connect_demo(brand, followers, by=admin)
        rows = io.StringIO()
        writer = csv.writer(rows)
        writer.writerow(["handle", "email"])
        for row in connections.connector_for(account).customer_list():  # type: ignore[attr-defined]
            writer.writerow([row.handle, row.email])
        report = customers.import_customers(brand, rows.getvalue().encode(), by=admin)
        self.stdout.write(
            f"Connected {account} ({followers:,} simulated followers; a worker runs its first sync) "
            f"and imported {report.imported:,} demo customers."
        )
