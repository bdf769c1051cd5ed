from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts import services
from accounts.models import Brand, Membership, Role, User

DEMO_PASSWORD = "followback-demo"
DEMO_BRANDS = [("Acme Coffee", "acme-coffee"), ("Northwind Outdoors", "northwind")]


class Command(BaseCommand):
    help = "Create (or refresh) the demo brands with one user per role, and print their logins."

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            people = {role: self._user(f"{role.value}@demo.test", f"Demo {role.label}") for role in Role}
            for name, slug in DEMO_BRANDS:
                brand = Brand.objects.filter(slug=slug).first()
                if brand is None:
                    brand = services.create_brand(name, slug, owner=people[Role.ADMIN])
                for role, user in people.items():
                    Membership.objects.update_or_create(user=user, brand=brand, defaults={"role": role})
        self.stdout.write("Demo brands: " + ", ".join(name for name, _ in DEMO_BRANDS))
        self.stdout.write(f"Sign in at http://127.0.0.1:8000/ with any of these (password: {DEMO_PASSWORD}):")
        for role, user in people.items():
            self.stdout.write(f"  {role.label:<9} {user.email}")

    def _user(self, email: str, name: str) -> User:
        user = User.objects.filter(email=email).first() or User(email=email, name=name)
        user.set_password(DEMO_PASSWORD)
        user.save()
        return user
