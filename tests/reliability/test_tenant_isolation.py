"""Tenant isolation: every URL, every method, every persona, with both brands' object ids — and zero leaks.

Two brands (isolation_world.py) carry a marker of their own in every text field. For every URL pattern of the
URLconf (a new one without a route here fails), for GET, HEAD, POST, PUT, PATCH and DELETE, plain and through
htmx, each persona asks: the four roles of brand A, the four of brand B, an outsider who belongs to no brand, and
someone signed out. Brand URLs are asked with brand A's and brand B's slug and object ids in every combination.

Each answer has the expected status (404 for another brand or another brand's object, 403 for too low a role,
405 for a method the page does not take, a redirect to the login page when signed out); carries no marker of a
brand the person is not in, in its body, headers or cookies; and a refused request writes no row: row triggers
on every table log each insert, update, delete and truncate, and a fingerprint (row count and checksum of every
table) is the same before and after. Allowed writes run in a savepoint that is rolled back, so every request
meets the same world; those expected to write must show up in the trigger log, which proves it watches.

The Django admin's patterns (generated from the admin site) get the same checks: none of the personas is site
staff, so each is sent to a login and shown nothing.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode

import pytest
from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.contrib.messages.storage.cookie import MessageSerializer
from django.core import signing
from django.db import connection, transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts import services
from accounts.models import Brand, Role, User
from tests.reliability.isolation_world import BRAND_ROWS, Side, World, build_world, unmarked_text_fields
from tests.rules.test_policy_views import policy_form_data
from tests.test_permission_table import url_names

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
LOGIN_URL = "/account/login/"
ADMIN_LOGIN_URL = "/admin/login/"
# The Django admin lets in site staff only, whatever their brand role: none of these is staff, brand admins are the
# highest role there is.
ADMIN_PERSONAS = ("anonymous", "outsider", "a:admin", "b:admin")
WRITE_LOG = "isolation_write_log"
MESSAGES_SALT = "django.contrib.messages"  # django.contrib.messages' CookieStorage.key_salt

Kwargs = Callable[[Side, Side], dict[str, Any]]
Data = Callable[[Side, Side], dict[str, Any]]


@dataclass(frozen=True)
class Answer:
    """What one method of one URL answers when the person may use it, and when the object is another brand's."""

    ok: int = 200
    ok_htmx: int | None = None
    need: Role = Role.VIEWER
    missing: int = 404
    missing_htmx: int | None = None
    data: Data | None = None
    writes: bool = False  # every allowed request of this kind writes rows
    # Pages outside brands whose answer depends on who asks: "anonymous", "outsider" or "member".
    by_persona: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Route:
    kwargs: Kwargs
    methods: dict[str, Answer]
    scope: str = "brand"  # "brand", "object" (brand and object id), "link" (an object, no brand) or "site"
    public: bool = False  # reachable signed out


def _brand(slug: Side, ids: Side) -> dict[str, Any]:
    return {"brand": slug.brand.slug}


def _with(name: str, value: Callable[[Side], int]) -> Kwargs:
    return lambda slug, ids: {"brand": slug.brand.slug, name: value(ids)}


def _none(slug: Side, ids: Side) -> dict[str, Any]:
    return {}


def _reset_link(slug: Side, ids: Side) -> dict[str, Any]:
    return {"uidb64": urlsafe_base64_encode(force_bytes(ids.users["admin"].pk)), "token": "not-a-valid-token"}


def _constant(data: dict[str, Any]) -> Data:
    return lambda slug, ids: data


def _reject_pending(slug: Side, ids: Side) -> dict[str, Any]:
    """Confirmed: without JavaScript a bulk decision first asks on a page of its own."""
    return {"kind": "reject", "ids": [ids.pending.pk], "confirmed": "on"}


def _policy_form(slug: Side, ids: Side) -> dict[str, Any]:
    return policy_form_data()


GET = Answer()
ADMIN_PAGE = Answer(need=Role.ADMIN)
# Django's own form views answer PUT as POST, with an empty form.
FORM_PAGE = {"GET": GET, "HEAD": GET, "POST": GET, "PUT": GET}
SITE_PAGE = {"GET": GET, "HEAD": GET}


def _write(
    need: Role, ok: int = 302, ok_htmx: int | None = 200, data: Data | None = None, **more: Any
) -> Answer:
    return Answer(ok=ok, ok_htmx=ok_htmx, need=need, data=data, **more)


ROUTES: dict[str, Route] = {
    "home": Route(_none, {"GET": Answer(by_persona={"outsider": 200, "member": 302})}, scope="site"),
    "brand_home": Route(_brand, {"GET": GET}),
    "healthz": Route(_none, {"GET": GET}, scope="site", public=True),
    "audit": Route(_brand, {"GET": Answer(need=Role.APPROVER)}),
    "audit_csv": Route(_brand, {"GET": Answer(need=Role.APPROVER)}),
    "queue": Route(_brand, {"GET": GET}),
    "queue_bulk": Route(
        _brand,
        {"POST": _write(Role.REVIEWER, missing=302, missing_htmx=200, data=_reject_pending)},
        scope="object",
    ),
    "queue_undo": Route(_brand, {"POST": _write(Role.REVIEWER)}),
    "suggestion_detail": Route(_with("suggestion_id", lambda side: side.pending.pk), {"GET": GET}, "object"),
    # Another brand's suggestion reads like one that left the queue meanwhile (a rebuild replaced it).
    "queue_decide": Route(
        _with("suggestion_id", lambda side: side.pending.pk),
        {
            "POST": _write(
                Role.REVIEWER, missing=302, missing_htmx=200, data=_constant({"kind": "later"}), writes=True
            )
        },
        "object",
    ),
    "suggestion_comment": Route(
        _with("suggestion_id", lambda side: side.pending.pk),
        {"POST": _write(Role.REVIEWER, data=_constant({"body": "Looks genuine."}), writes=True)},
        "object",
    ),
    "follows": Route(_brand, {"GET": GET}),
    "follow_retry": Route(
        _with("action", lambda side: side.failed_follow.pk),
        {"POST": _write(Role.APPROVER, writes=True)},
        "object",
    ),
    "accounts:members": Route(_brand, {"GET": ADMIN_PAGE}),
    "accounts:member_invite": Route(
        _brand,
        {
            "POST": _write(
                Role.ADMIN, data=_constant({"email": "new@example.com", "role": "viewer"}), writes=True
            )
        },
    ),
    "accounts:member_role": Route(
        _with("member_id", lambda side: side.target_member.pk),
        {"POST": _write(Role.ADMIN, data=_constant({"role": "approver"}), writes=True)},
        "object",
    ),
    "accounts:member_remove": Route(
        _with("member_id", lambda side: side.target_member.pk),
        {"POST": _write(Role.ADMIN, writes=True)},
        "object",
    ),
    "accounts:member_unlock": Route(
        _with("member_id", lambda side: side.locked_member.pk),
        {"POST": _write(Role.ADMIN, writes=True)},
        "object",
    ),
    "accounts:invitation_revoke": Route(
        _with("invitation_id", lambda side: side.invitation.pk),
        {"POST": _write(Role.ADMIN, writes=True)},
        "object",
    ),
    "accounts:accept_invitation": Route(
        lambda slug, ids: {"token": services.invitation_token(ids.invitation)},
        # Whoever holds the link may read it; accepting it signed in as someone else is refused.
        {"GET": GET, "POST": Answer(by_persona={"anonymous": 200, "outsider": 409, "member": 409})},
        scope="link",
        public=True,
    ),
    "accounts:account_list": Route(_brand, {"GET": GET}),
    "accounts:connect_demo": Route(
        _brand, {"POST": _write(Role.ADMIN, ok_htmx=302, data=_constant({"size": "100"}), writes=True)}
    ),
    "accounts:connect_mastodon": Route(
        _brand, {"POST": _write(Role.ADMIN, ok_htmx=302, data=_constant({"instance": "not a url"}))}
    ),
    "accounts:connect_bluesky": Route(
        _brand,
        {
            "GET": ADMIN_PAGE,
            "POST": Answer(ok=422, need=Role.ADMIN, data=_constant({"handle": "brand.example"})),
        },
    ),
    "accounts:account_detail": Route(
        _with("account_id", lambda side: side.account.pk), {"GET": GET}, "object"
    ),
    "accounts:account_progress": Route(
        _with("account_id", lambda side: side.account.pk), {"GET": GET}, "object"
    ),
    "accounts:account_sync": Route(
        _with("account_id", lambda side: side.account.pk),
        {"POST": _write(Role.REVIEWER, writes=True)},
        "object",
    ),
    "accounts:account_disconnect": Route(
        _with("account_id", lambda side: side.account.pk),
        {"POST": _write(Role.ADMIN, ok_htmx=302, writes=True)},
        "object",
    ),
    "accounts:customer_list": Route(
        _brand, {"GET": ADMIN_PAGE, "POST": Answer(ok=422, need=Role.ADMIN, data=_constant({"file": ""}))}
    ),
    "accounts:mastodon_callback": Route(_none, {"GET": Answer(ok=403)}, scope="site"),
    "rules:policy": Route(
        _brand,
        {"GET": GET, "POST": _write(Role.ADMIN, ok_htmx=302, data=_policy_form, writes=True)},
    ),
    "rules:policy_preview": Route(_brand, {"POST": Answer(need=Role.ADMIN, data=_policy_form)}),
    "rules:policy_history": Route(_brand, {"GET": GET}),
    "rules:policy_revert": Route(
        lambda slug, ids: {"brand": slug.brand.slug, "number": 1},
        {"POST": _write(Role.ADMIN, ok_htmx=302, writes=True)},
    ),
    "login": Route(
        _none,
        {
            **FORM_PAGE,
            "POST": Answer(data=_constant({"username": "nobody@example.com", "password": "wrong"})),
        },
        scope="site",
        public=True,
    ),
    "logout": Route(_none, {"POST": Answer(ok=302)}, scope="site"),
    "password_change": Route(_none, FORM_PAGE, scope="site"),
    "password_change_done": Route(_none, SITE_PAGE, scope="site"),
    "password_reset": Route(
        _none,
        {**FORM_PAGE, "POST": Answer(ok=302, data=_constant({"email": "nobody@example.com"}))},
        scope="site",
        public=True,
    ),
    "password_reset_done": Route(_none, SITE_PAGE, scope="site", public=True),
    # Django checks the link before the method: a bad link answers every method with the page saying so.
    "password_reset_confirm": Route(_reset_link, dict.fromkeys(METHODS, GET), scope="link", public=True),
    "password_reset_complete": Route(_none, SITE_PAGE, scope="site", public=True),
}


@dataclass(frozen=True)
class Persona:
    name: str
    side: Side | None
    role: Role | None


@dataclass(frozen=True)
class Expected:
    status: int
    refused: bool
    writes: bool = False
    to_login: bool = False


def expect(
    route: Route, method: str, persona: Persona, slug: Side | None, ids: Side | None, htmx: bool
) -> Expected:
    if persona.name == "anonymous" and not route.public:
        return Expected(200 if htmx else 302, refused=True, to_login=True)
    answer = route.methods.get(method)
    if answer is None:
        return Expected(405, refused=True)
    ok = answer.ok_htmx if htmx and answer.ok_htmx is not None else answer.ok
    if route.scope in ("site", "link"):
        kind = persona.name if persona.name in ("anonymous", "outsider") else "member"
        return Expected(answer.by_persona.get(kind, ok), refused=False)
    if persona.side is not slug:
        return Expected(404, refused=True)
    assert persona.role is not None
    if not persona.role.at_least(answer.need):
        return Expected(403, refused=True)
    if ids is not slug:
        missing = answer.missing_htmx if htmx and answer.missing_htmx is not None else answer.missing
        return Expected(missing, refused=True)
    return Expected(ok, refused=False, writes=answer.writes)


def variants(route: Route, world: World) -> list[tuple[Side | None, Side | None]]:
    a, b = world.a, world.b
    return {
        "site": [(None, None)],
        "link": [(None, a), (None, b)],
        "brand": [(a, a), (b, b)],
        "object": [(a, a), (a, b), (b, b), (b, a)],
    }[route.scope]


def personas(world: World) -> list[Persona]:
    found = [Persona("anonymous", None, None), Persona("outsider", None, None)]
    for side in world.sides():
        for role in Role:
            found.append(Persona(f"{side.tag}:{role.value}", side, role))
    return found


# Watching the database.


def install_write_log() -> None:
    """Row triggers on every table that log each insert, update and delete, and statement triggers for truncate."""
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
        cursor.execute(f"CREATE TABLE {WRITE_LOG} (entry text NOT NULL)")
        cursor.execute(
            f"""CREATE FUNCTION {WRITE_LOG}_add() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN INSERT INTO {WRITE_LOG} VALUES (TG_OP || ' ' || TG_TABLE_NAME); RETURN NULL; END $$"""
        )
        for table in tables:
            quoted = connection.ops.quote_name(table)
            cursor.execute(
                f"CREATE TRIGGER {WRITE_LOG}_rows AFTER INSERT OR UPDATE OR DELETE ON {quoted}"
                f" FOR EACH ROW EXECUTE FUNCTION {WRITE_LOG}_add()"
            )
            cursor.execute(
                f"CREATE TRIGGER {WRITE_LOG}_truncate AFTER TRUNCATE ON {quoted}"
                f" FOR EACH STATEMENT EXECUTE FUNCTION {WRITE_LOG}_add()"
            )


def logged_writes() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT entry FROM {WRITE_LOG}")
        return [entry for (entry,) in cursor.fetchall()]


def fingerprint() -> dict[str, tuple[int, str]]:
    """Row count and an MD5 over the sorted rows of every table."""
    result = {}
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            if table == WRITE_LOG:
                continue
            quoted = connection.ops.quote_name(table)
            cursor.execute(
                f"SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM {quoted} t"
            )
            result[table] = cursor.fetchone()
    return result


# Asking.


def send(client: Client, method: str, url: str, data: dict[str, Any] | None, htmx: bool) -> tuple[Any, str]:
    """The answer, and everything in it a person could read: body, headers, cookies and queued messages."""
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    if method in ("GET", "HEAD"):
        response = client.generic(method, url, **headers)
    else:
        body = urlencode(data or {}, doseq=True)
        response = client.generic(method, url, body, "application/x-www-form-urlencoded", **headers)
    content = response.getvalue()
    messages = ""
    if response.cookies.get("messages", None) is not None and response.cookies["messages"].value:
        signer = signing.get_cookie_signer(salt=MESSAGES_SALT)
        decoded = signer.unsign_object(response.cookies["messages"].value, serializer=MessageSerializer)
        messages = " ".join(str(message) for message in decoded)
    readable = "\n".join(
        [content.decode(errors="replace"), *(f"{k}: {v}" for k, v in response.items()),
         response.cookies.output(), messages]
    )  # fmt: skip
    return response, readable


@dataclass
class Sweep:
    world: World
    clients: dict[str, Client]
    cookies: dict[str, SimpleCookie]
    requests: int = 0
    refused_writes: int = 0
    problems: list[str] = field(default_factory=list)

    def ask(self, name: str, route: Route, htmx: bool) -> None:
        for slug, ids in variants(route, self.world):
            url = reverse(name, kwargs=route.kwargs(slug or ids or self.world.a, ids or self.world.a))
            for persona in personas(self.world):
                for method in METHODS:
                    self._one(route, url, persona, method, slug, ids, htmx)

    def _one(
        self, route: Route, url: str, persona: Persona, method: str, slug: Side | None, ids: Side | None,
        htmx: bool,
    ) -> None:  # fmt: skip
        expected = expect(route, method, persona, slug, ids, htmx)
        answer = route.methods.get(method)
        data = None
        if answer is not None and answer.data is not None:
            data = answer.data(slug or ids or self.world.a, ids or self.world.a)
        # An invitation link shows whoever holds it the brand, the inviter and the invited address.
        shown = ids.invitation_page_markers if route.scope == "link" and ids is not None else set()
        location = LOGIN_URL if expected.to_login else ""
        self.check(persona, method, url, data, htmx, expected, location, shown)

    def admin(self, name: str, path: str, model_page: bool, persona: Persona, method: str) -> None:
        """Nobody here is staff: the admin's login page answers, its logout goes home, the rest to a login."""
        if name == "login":
            expected, location = Expected(405 if method in ("PATCH", "DELETE") else 200, refused=True), ""
        elif name == "logout":
            expected = Expected(302, refused=True)
            location = ADMIN_LOGIN_URL if persona.name == "anonymous" else "/admin/"
        else:
            # Signed out, the pages of a model admin meet our login-required middleware first.
            expected = Expected(302, refused=True)
            location = LOGIN_URL if persona.name == "anonymous" and model_page else ADMIN_LOGIN_URL
        self.check(persona, method, path, None, False, expected, location, set())

    def check(
        self, persona: Persona, method: str, url: str, data: dict[str, Any] | None, htmx: bool,
        expected: Expected, location: str, shown: set[str],
    ) -> None:  # fmt: skip
        """Ask once, in a savepoint kept only when refused, and note every way the answer is wrong."""
        where = f"{persona.name} {method}{' htmx' if htmx else ''} {url}"
        client = self.clients[persona.name]
        savepoint = transaction.savepoint()
        response, readable = send(client, method, url, data, htmx)
        writes = logged_writes()
        if expected.refused:
            transaction.savepoint_commit(savepoint)
        else:
            transaction.savepoint_rollback(savepoint)
        client.cookies = SimpleCookie(self.cookies[persona.name].output(header="", sep="\n"))
        self.requests += 1
        if response.status_code != expected.status:
            self.problems.append(f"{where}: answered {response.status_code}, expected {expected.status}")
        sent_to = response.get("HX-Redirect" if htmx else "Location", "")
        if location and not sent_to.startswith(location):
            self.problems.append(f"{where}: sent to {sent_to!r}, not {location}")
        if expected.refused and method not in ("GET", "HEAD"):
            self.refused_writes += 1
        if expected.refused and writes:
            self.problems.append(f"{where}: refused, yet wrote {sorted(set(writes))}")
        if expected.writes and not writes:
            self.problems.append(f"{where}: allowed, yet no write was logged (is the write log watching?)")
        for other in self.world.sides():
            if other is persona.side:
                continue
            allowed = shown if other is not persona.side else set()
            leaks = [
                found for found in other.markers.found_in(readable) if found.split(" ")[0] not in allowed
            ]
            if leaks:
                self.problems.append(f"{where}: shows brand {other.tag}'s {sorted(set(leaks))}")


@dataclass
class Totals:
    requests: int = 0
    refused_writes: int = 0
    patterns: set[str] = field(default_factory=set)


TOTALS = Totals()


@pytest.fixture(scope="module", autouse=True)
def report_totals() -> Iterator[None]:
    yield
    if TOTALS.requests:
        print(
            f"\ntenant isolation: {TOTALS.requests:,} requests over {len(TOTALS.patterns)} URL patterns, "
            f"{TOTALS.refused_writes:,} of them refused writes; 0 leaks, 0 rows changed",
            flush=True,
        )


@pytest.fixture
def world(db: None) -> World:
    return build_world()


@pytest.fixture
def quiet_refusals(caplog: pytest.LogCaptureFixture) -> None:
    """Thousands of 403, 404 and 405 answers: keep Django's warning for each (and its traceback) out of the log."""
    caplog.set_level(logging.ERROR, logger="django.request")


def signed_in_clients(world: World) -> tuple[dict[str, Client], dict[str, SimpleCookie]]:
    clients = {"anonymous": Client()}
    users: dict[str, User] = {"outsider": world.outsider}
    for side in world.sides():
        for role in Role:
            users[f"{side.tag}:{role.value}"] = side.users[role.value]
    for name, user in users.items():
        clients[name] = Client()
        clients[name].force_login(user)
    cookies = {
        name: SimpleCookie(client.cookies.output(header="", sep="\n")) for name, client in clients.items()
    }
    return clients, cookies


def admin_urls(world: World) -> Iterator[tuple[str, str, bool]]:
    """(name, path, whether it is a model's page) of every pattern of the Django admin, with brand B's ids."""
    brand_type = ContentType.objects.get_for_model(Brand).pk
    registered = {model._meta.label_lower for model in admin.site._registry}

    def walk(patterns: list[URLPattern | URLResolver], prefix: str) -> Iterator[tuple[str, str, bool]]:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
                continue
            route = prefix + str(pattern.pattern)
            if route.startswith("/admin/^"):  # the app index, a regular expression over the app labels
                route = "/admin/accounts/"
            found = re.match(r"/admin/(\w+)/(\w+)/", route)
            label = f"{found[1]}.{found[2]}" if found else ""
            rows = BRAND_ROWS.get(label)
            row = rows(world.b.brand).first() if rows else None
            object_id = str(row.pk if row else 1)
            path = route.replace("<path:object_id>", object_id).replace("<id>", object_id)
            path = path.replace("<path:content_type_id>", str(brand_type))
            yield pattern.name or route, path, label in registered

    return walk(admin.site.urls[0], "/admin/")


def test_every_url_pattern_has_a_route_in_the_isolation_table():
    names = {name for name in url_names() if not name.startswith("admin:")}
    assert names - ROUTES.keys() == set(), "add these URLs to ROUTES"
    assert ROUTES.keys() - names == set(), "these routes no longer match a URL"


def test_every_text_field_of_both_brands_carries_its_brands_marker(world):
    assert unmarked_text_fields(world) == []


def test_the_django_admin_sends_everyone_but_site_staff_to_a_login_and_shows_them_nothing(
    world, quiet_refusals
):
    clients, cookies = signed_in_clients(world)
    install_write_log()
    before = fingerprint()
    sweep = Sweep(world, clients, cookies)
    urls = list(admin_urls(world))

    for name, path, model_page in urls:
        for persona in personas(world):
            if persona.name not in ADMIN_PERSONAS:
                continue
            for method in METHODS:
                sweep.admin(name, path, model_page, persona, method)

    assert len(urls) > 60
    assert sweep.problems == []
    assert fingerprint() == before
    TOTALS.requests += sweep.requests
    TOTALS.refused_writes += sweep.refused_writes
    TOTALS.patterns.update(f"admin:{name}" for name, _, _ in urls)


@pytest.mark.parametrize("htmx", [False, pytest.param(True, marks=pytest.mark.slow)], ids=["plain", "htmx"])
@pytest.mark.parametrize("name", sorted(ROUTES))
def test_no_persona_reaches_or_sees_another_brand_and_refused_requests_write_nothing(
    name, htmx, world, quiet_refusals
):
    clients, cookies = signed_in_clients(world)
    install_write_log()
    before = fingerprint()
    sweep = Sweep(world, clients, cookies)

    sweep.ask(name, ROUTES[name], htmx)

    assert sweep.problems == []
    assert fingerprint() == before, "a refused request changed rows"
    assert logged_writes() == []
    TOTALS.requests += sweep.requests
    TOTALS.refused_writes += sweep.refused_writes
    TOTALS.patterns.add(name)
