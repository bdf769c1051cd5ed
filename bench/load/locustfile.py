"""Locust users for `make bench-load`: each one a person of one load brand, working its review queue.

A user signs in through the login page, opens the queue and then, with a think time between steps, decides
suggestions through the htmx endpoints (approve, reject with or without a reason, later; approvers also give final
approvals and send back), sometimes undoes its last decision, sometimes posts the plain form and follows the
redirect, filters the queue, opens tabs, asks for more rows and opens a suggestion's page. Now and then it reaches
for another brand: its queue, one of its suggestions, a decision on one of them; each must be refused.

Every response is checked: a 5xx, no answer, or another status than the step expects is recorded, and so is any other
brand's marker or suggestion id in the body (a leak). Every decision the server confirmed (its message says which)
is recorded with the suggestion and the kind the server reports, for bench/load/drive.py to compare with the
database. bench/load/drive.py passes the world (LOAD_WORLD), where to write the record (LOAD_OUT), the think time
in seconds (LOAD_THINK, "low,high") and the server's undo window (LOAD_UNDO_SECONDS).
"""

from __future__ import annotations

import html
import itertools
import json
import os
import random
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from locust import FastHttpUser, between, events, task
from locust.exception import StopUser

WORLD: dict[str, Any] = json.loads(Path(os.environ["LOAD_WORLD"]).read_text())
OUT = Path(os.environ["LOAD_OUT"])
THINK = tuple(float(part) for part in os.environ.get("LOAD_THINK", "2,8").split(","))
# Undo only in the first half of the server's undo window: then it is refused only when someone acted since.
UNDO_WITHIN_S = int(os.environ.get("LOAD_UNDO_SECONDS", "120")) / 2

BRAND_OF = {sid: brand["slug"] for brand in WORLD["brands"] for sid in brand["suggestion_ids"]}
MARKERS = re.compile("|".join(re.escape(brand["marker"]) for brand in WORLD["brands"]))
IDS = re.compile(r"suggestion-(\d+)|/queue/(\d+)/")
ROW = re.compile(r'<li id="suggestion-(\d+)"')
HANDLE = re.compile(r'<span class="row-handle"><bdi>@([^<]*)</bdi>')
TOAST = re.compile(r'<div class="toast toast-(\w+)" data-toast>(.*?) <button', re.S)
PAGE_CSRF = re.compile(r'"X-CSRFToken": "([^"]+)"')
FORM_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
MORE = re.compile(r'hx-get="\?([^"]*)" hx-target="#queue-rows"')
# What the server says after each decision it recorded (followback/queue_views.py, _decided_text), by kind.
CONFIRMED = [
    (re.compile(r"Approved @(.*); the follow is queued\."), "approve"),
    (re.compile(r"Approved @(.*); it now waits for a second approver\."), "propose"),
    (re.compile(r"Rejected @(.*)\."), "reject"),
    (re.compile(r"Left @(.*) for later\."), "later"),
    (re.compile(r"Sent @(.*) back for review\."), "send_back"),
    (re.compile(r"Undone: @(.*) is [a-z ,]+ again\."), "undo"),
]
SEARCHES = ("maria", "an", "son", "kim", "li", "olga", "sato", "ar")
REASONS = ("engagement", "customer", "genuine_activity", "churn", "bot_likelihood", "harmful", "watch")
FORM = {"Content-Type": "application/x-www-form-urlencoded"}

RECORD: dict[str, list[Any]] = {
    "requests": [],  # [name, milliseconds, status (0: no answer), started (epoch seconds)]
    "decisions": [],  # confirmed by the server
    "refused": [],  # refused by the server, with its words
    "unknown": [],  # decisions sent whose outcome is not known: no answer, or not the answer expected
    "server_errors": [],  # a 5xx, or no answer at all
    "unexpected": [],  # another status than the step expects, a decision answered without a message
    "leaks": [],  # another brand's marker or suggestion in a response, or a decision on one of its suggestions
}
_PEOPLE = itertools.count()


@events.request.add_listener
def _timed(name: str, response_time: float, response: Any, start_time: float, **_: Any) -> None:
    status = getattr(response, "status_code", 0) or 0
    RECORD["requests"].append([name, round(response_time, 2), status, round(start_time, 3)])


@events.quitting.add_listener
def _write(**_: Any) -> None:
    OUT.write_text(json.dumps(RECORD))


@dataclass
class Row:
    sid: int
    handle: str
    kinds: tuple[str, ...]  # the decisions its forms offer


@dataclass
class Last:
    sid: int
    handle: str
    at: float


def rows_of(body: str) -> list[Row]:
    """The queue rows in a response, with the decisions each one's forms offer."""
    starts = [match.start() for match in ROW.finditer(body)] + [len(body)]
    rows = []
    for start, end in itertools.pairwise(starts):
        chunk = body[start:end]
        sid = int(ROW.match(chunk).group(1))  # type: ignore[union-attr]
        handle = HANDLE.search(chunk)
        kinds = tuple(kind for kind in ("approve", "later", "send_back") if f'value="{kind}"' in chunk)
        kinds += ("reject",) if 'class="reject-form"' in chunk else ()
        rows.append(Row(sid, handle.group(1) if handle else "", kinds))
    return rows


def more_of(body: str) -> str | None:
    more = MORE.search(body)
    return html.unescape(more.group(1)) if more else None


class Reviewer(FastHttpUser):
    wait_time = between(*THINK)

    def on_start(self) -> None:
        number = next(_PEOPLE)
        if number >= len(WORLD["users"]):
            raise StopUser()
        person = WORLD["users"][number]
        self.email: str = person["email"]
        self.slug: str = person["brand"]
        self.marker: str = person["marker"]
        self.approver = person["role"] == "approver"
        self.queue = f"/b/{self.slug}/queue/"
        self.others = [brand for brand in WORLD["brands"] if brand["slug"] != self.slug]
        self.rows: list[Row] = []
        self.view: dict[str, str] = {}
        self.more: str | None = None
        self.last: Last | None = None
        self.token = ""
        self.sign_in(person["password"])
        self.open_queue()

    # --- requests, each one checked ---------------------------------------------------------------------------

    def send(self, method: str, path: str, name: str, expect: int = 200, **kwargs: Any) -> str | None:
        """One request: the body (a redirect's Location) when the status is the one expected and nothing leaked,
        else None, with what went wrong recorded."""
        with self.client.request(
            method, path, name=name, catch_response=True, allow_redirects=False, **kwargs
        ) as response:
            status = response.status_code or 0
            body = (response.text or "") if status else ""
            problem = {"user": self.email, "name": name, "path": path, "status": status}
            if status == 0 or status >= 500:
                RECORD["server_errors"].append({**problem, "error": str(response.error)[:300]})
                response.failure(f"status {status}: {response.error}")
                return None
            if leaked := self.leaks(body):
                RECORD["leaks"].append({**problem, **leaked})
                response.failure(f"another brand's data: {leaked}")
                return None
            if reload := response.headers.get("HX-Refresh") or response.headers.get("HX-Redirect"):
                # What the server answers htmx on a stale CSRF token or an expired session: nothing was done.
                RECORD["unexpected"].append({**problem, "htmx told to reload": reload})
                response.failure("htmx told to reload")
                return None
            if status != expect:
                RECORD["unexpected"].append({**problem, "expected": expect})
                response.failure(f"status {status}, expected {expect}")
                return None
            response.success()
            return body if status != 302 else response.headers.get("Location", "")

    def post(
        self, path: str, name: str, fields: dict[str, str], target: str | None, expect: int = 200
    ) -> str | None:
        """A form post, as htmx sends it when `target` names the element to swap, else as the browser does."""
        headers = {**FORM, **(self.htmx(target, self.here()) if target else {})}
        return self.send("POST", path, name, expect, data=urlencode(fields), headers=headers)

    def leaks(self, body: str) -> dict[str, Any]:
        markers = sorted(set(MARKERS.findall(body)) - {self.marker})
        ids = {int(a or b) for a, b in IDS.findall(body)}
        foreign = sorted(sid for sid in ids if BRAND_OF.get(sid) != self.slug)
        return {"markers": markers, "suggestions": foreign[:20]} if markers or foreign else {}

    def htmx(self, target: str, current: str) -> dict[str, str]:
        return {"HX-Request": "true", "HX-Target": target, "HX-Current-URL": f"{self.host}{current}",
                "X-CSRFToken": self.token}  # fmt: skip

    def here(self) -> str:
        return f"{self.queue}?{urlencode(self.view)}" if self.view else self.queue

    # --- signing in and reading the queue ---------------------------------------------------------------------

    def sign_in(self, password: str) -> None:
        page = self.send("GET", "/account/login/", "sign in: the page")
        token = FORM_CSRF.search(page or "")
        if token is None:
            raise StopUser()
        fields = {
            "csrfmiddlewaretoken": token.group(1),
            "username": self.email,
            "password": password,
            "next": "",
        }
        if self.post("/account/login/", "sign in: the form", fields, target=None, expect=302) is None:
            raise StopUser()

    def read_page(self, body: str) -> None:
        self.rows = rows_of(body)
        self.more = more_of(body)
        if token := PAGE_CSRF.search(body):
            self.token = token.group(1)

    def open_queue(self, path: str | None = None, name: str = "queue page") -> str | None:
        body = self.send("GET", path or self.here(), name)
        if body is not None:
            self.read_page(body)
        return body

    def show(self, view: dict[str, str]) -> None:
        """Filter the queue or change tab, as the filter form does through htmx: the list alone."""
        self.view = view
        body = self.send(
            "GET", self.here(), "queue list (htmx filter, tab)", headers=self.htmx("queue-list", self.queue)
        )
        if body is not None:
            self.read_page(body)

    # --- decisions --------------------------------------------------------------------------------------------

    def confirmed(self, body: str | None, sid: int, handle: str, sent: str) -> bool:
        """Whether the server says it recorded the decision; records the kind it names, or its refusal."""
        if body is None:
            RECORD["unknown"].append({"user": self.email, "suggestion": sid, "sent": sent})
            return False
        toasts = [(level, text.strip()) for level, text in TOAST.findall(body)]
        for pattern, kind in CONFIRMED:
            for level, text in toasts:
                found = pattern.fullmatch(text) if level == "success" else None
                if found and found.group(1) == handle:
                    RECORD["decisions"].append(
                        {"user": self.email, "suggestion": sid, "kind": kind, "at": time.time()}
                    )
                    return True
        if toasts:
            words = html.unescape(" ".join(text for _, text in toasts))
            RECORD["refused"].append({"user": self.email, "suggestion": sid, "sent": sent, "message": words})
        else:
            RECORD["unexpected"].append(
                {"user": self.email, "name": "a decision without a message", "suggestion": sid}
            )
        return False

    def pick(self) -> tuple[Row, str] | None:
        """One of the first rows on screen, and what to do with it."""
        decidable = [row for row in self.rows[:20] if row.kinds]
        if not decidable:
            return None
        row = random.choice(decidable)
        if "send_back" in row.kinds:  # waiting for a final approval
            kind = random.choices(["approve", "send_back", "reject"], [70, 15, 15])[0]
        else:
            kind = random.choices(["approve", "reject", "later"], [45, 35, 20])[0]
        return row, (kind if kind in row.kinds else "approve")

    def fields(self, kind: str) -> dict[str, str]:
        """A decision form's fields: the hidden ones (`row_form_fields`), the button pressed, maybe a reason."""
        fields = {"csrfmiddlewaretoken": self.token, "next": self.here(), "tab": self.view.get("tab", "pending"),
                  "kind": kind}  # fmt: skip
        if kind == "reject" and random.random() < 0.5:
            fields["reason"] = f"not for {self.marker}"
        return fields

    def decided(self, row: Row) -> None:
        self.last = Last(row.sid, row.handle, time.monotonic())

    @task(12)
    def decide(self) -> None:
        picked = self.pick()
        if picked is None:
            self.show({"tab": "awaiting"} if self.approver and random.random() < 0.5 else {})
            return
        row, kind = picked
        body = self.post(
            f"{self.queue}{row.sid}/decide/", "decide (htmx)", self.fields(kind), f"suggestion-{row.sid}"
        )
        self.rows = [other for other in self.rows if other.sid != row.sid]
        if self.confirmed(body, row.sid, row.handle, kind):
            self.decided(row)

    @task(2)
    def decide_without_javascript(self) -> None:
        """The plain form post: a redirect back, and the message on the page it leads to."""
        picked = self.pick()
        if picked is None:
            self.open_queue()
            return
        row, kind = picked
        location = self.post(
            f"{self.queue}{row.sid}/decide/", "decide (plain POST)", self.fields(kind), None, 302
        )
        body = None if location is None else self.open_queue(location, "queue page (after a plain POST)")
        if self.confirmed(body, row.sid, row.handle, kind):
            self.decided(row)

    @task(2)
    def undo(self) -> None:
        last = self.last
        if last is None or time.monotonic() - last.at > UNDO_WITHIN_S:
            self.decide()
            return
        self.last = None  # one level only: a second undo would be refused
        fields = {"csrfmiddlewaretoken": self.token, "next": self.here()}
        body = self.post(f"{self.queue}undo/", "undo (htmx)", fields, "queue-list")
        self.confirmed(body, last.sid, last.handle, "undo")
        if body is not None:
            self.read_page(body)

    # --- looking around ---------------------------------------------------------------------------------------

    @task(3)
    def filter(self) -> None:
        views: list[dict[str, str]] = [
            {}, {}, {"q": random.choice(SEARCHES)}, {"reason": random.choice(REASONS)}, {"min_score": "70"},
            {"min_score": "60", "max_score": "80"}, {"customers": "on"}, {"engaged": "on"}, {"tab": "later"},
            {"tab": "decided"}, {"tab": "held"},
        ]  # fmt: skip
        if self.approver:
            views += [{"tab": "awaiting"}] * 4
        self.show(random.choice(views))

    @task(2)
    def show_more(self) -> None:
        if self.more is None:
            self.filter()
            return
        body = self.send(
            "GET",
            f"{self.queue}?{self.more}",
            "show more (htmx)",
            headers=self.htmx("queue-rows", self.here()),
        )
        if body is not None:
            self.rows += rows_of(body)
            self.more = more_of(body)

    @task(1)
    def reload(self) -> None:
        self.open_queue()

    @task(1)
    def details(self) -> None:
        if self.rows:
            self.send("GET", f"{self.queue}{random.choice(self.rows).sid}/", "suggestion page")

    @task(1)
    def probe_another_brand(self) -> None:
        """Reach for another brand's data: each way must answer as if it did not exist."""
        if not self.others:
            return
        other = random.choice(self.others)
        sid = random.choice(other["suggestion_ids"])
        probe = random.randrange(3)
        if probe == 0:
            self.send("GET", f"/b/{other['slug']}/queue/", "probe: another brand's queue", expect=404)
        elif probe == 1:
            self.send("GET", f"{self.queue}{sid}/", "probe: another brand's suggestion", expect=404)
        else:
            fields = {
                "csrfmiddlewaretoken": self.token,
                "next": self.here(),
                "tab": "pending",
                "kind": "approve",
            }
            body = self.post(f"{self.queue}{sid}/decide/", "probe: decide another brand's suggestion", fields,
                             f"suggestion-{sid}")  # fmt: skip
            if body is not None and "toast-success" in body:
                RECORD["leaks"].append(
                    {"user": self.email, "name": "decided another brand's suggestion", "suggestion": sid}
                )
