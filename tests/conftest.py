import pytest
from django.test import Client

from accounts.models import Brand, Role, User
from tests.factories import BrandFactory, MembershipFactory

pytest_plugins = ["tests.workers", "tests.fakes.fixtures", "tests.chromium"]


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def brand(db) -> Brand:
    return BrandFactory(name="Acme Coffee", slug="acme")


@pytest.fixture
def other_brand(db) -> Brand:
    return BrandFactory(name="Globex", slug="globex")


def _member(brand: Brand, role: Role, email: str) -> User:
    return MembershipFactory(brand=brand, role=role, user__email=email).user


@pytest.fixture
def owner(brand) -> User:
    return _member(brand, Role.ADMIN, "owner@acme.test")


@pytest.fixture
def approver(brand) -> User:
    return _member(brand, Role.APPROVER, "approver@acme.test")


@pytest.fixture
def reviewer(brand) -> User:
    return _member(brand, Role.REVIEWER, "reviewer@acme.test")


@pytest.fixture
def viewer(brand) -> User:
    return _member(brand, Role.VIEWER, "viewer@acme.test")


@pytest.fixture
def outsider(other_brand) -> User:
    return _member(other_brand, Role.ADMIN, "outsider@globex.test")


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client
