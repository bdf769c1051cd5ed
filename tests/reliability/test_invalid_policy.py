"""Invalid values through the real policy form: a clear message, nothing saved, the current version unchanged.

tests/rules/test_policy_views.py already posts an out-of-range threshold and weight, a nested repetition and an
unterminated class; this adds what it leaves out: negative, NaN, infinite and huge numbers in every numeric
field, malformed regular expressions, the catastrophic-backtracking patterns that nest no repetition, and
handles on both lists. A blocklist pattern that got through would hang the preview and the daily queue build, so
each refused pattern is also timed out in a child process to show it really backtracks.
"""

from __future__ import annotations

import multiprocessing
import re

import pytest
from django.urls import reverse

from accounts.models import AuditEvent, Brand, User
from rules import services
from rules.models import PolicyVersion
from rules.policy import FIELDS, blocklist_entry_problem
from tests.conftest import client_for
from tests.rules.test_policy_views import policy_form_data

pytestmark = pytest.mark.django_db
NUMERIC = [key for key, info in FIELDS.items() if info.kind in ("number", "integer")]
BAD_NUMBERS = [
    "-1",
    "-0.5",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "Infinity",
    "1e309",
    "1" + "0" * 400,
    "10**9",
    "0x10",
    "",
    " ",
]
MALFORMED = ["/[/", "/(/", "/)/", "/a{2,1}/", "/(?P<x>a)(?P<x>b)/", "/\\/", "/*a/", "/(?<=a+)b/", "/\\p{L}/"]
# Each pattern with a text it backtracks on for ever: the repeated characters, then one that fails the match.
CATASTROPHIC = {
    "/(a|a)*b/": "a" * 600 + "!",
    "/(a|aa)+$/": "a" * 600 + "!",
    "/(x|x?)+y/": "x" * 600 + "!",
    "/a*a*a*b/": "a" * 600 + "!",
    "/\\s*\\s*\\s*x/": " " * 600 + "!",
    "/.*.*.*x/": "y" * 600,
    "/(\\s|\\s)+x/": " " * 600 + "!",
}


def post(owner: User, brand: Brand, **fields: str) -> tuple[int, str]:
    response = client_for(owner).post(
        reverse("rules:policy", kwargs={"brand": brand.slug}), policy_form_data(**fields)
    )
    return response.status_code, response.content.decode()


def assert_nothing_saved(brand: Brand, before: dict[str, object]) -> None:
    current = services.current_policy(brand)
    assert current.number == 1
    assert current.settings == before
    assert PolicyVersion.objects.filter(brand=brand).count() == 1
    assert not AuditEvent.objects.filter(verb__startswith="policy.").exists()


@pytest.mark.parametrize("key", NUMERIC)
def test_every_numeric_field_refuses_negative_nan_infinite_and_huge_values(
    brand: Brand, owner: User, key: str
) -> None:
    before = services.current_policy(brand).settings
    for value in BAD_NUMBERS:
        if value.startswith("1000") and FIELDS[key].high is None:
            continue  # no upper bound: a huge whole number is a valid "never"
        status, page = post(owner, brand, **{key: value})
        assert status == 422, f"{key}={value!r} was accepted"
        assert "The policy was not saved." in page
        assert f'id="id_{key}_error"' in page, f"{key}={value!r}: no message at the field"
    assert_nothing_saved(brand, before)


@pytest.mark.parametrize("key", [key for key in NUMERIC if FIELDS[key].high is not None])
def test_a_value_just_past_each_bound_is_refused_and_the_bound_itself_is_kept(
    brand: Brand, owner: User, key: str
) -> None:
    info = FIELDS[key]
    step = 1 if info.kind == "integer" else 0.01
    text = (lambda v: str(int(v))) if info.kind == "integer" else (lambda v: f"{v:g}")
    for value in (info.low - step, info.high + step):  # type: ignore[operator]
        status, _ = post(owner, brand, **{key: text(value)})
        assert status == 422, f"{key}={value} was accepted"
    status, _ = post(owner, brand, **{key: text(info.high)})
    assert status == 302


@pytest.mark.parametrize("entry", MALFORMED + list(CATASTROPHIC))
def test_malformed_and_catastrophic_patterns_are_refused_with_their_line(
    brand: Brand, owner: User, entry: str
) -> None:
    before = services.current_policy(brand).settings

    status, page = post(owner, brand, blocklist=f"spam\n{entry}")

    assert status == 422
    assert "Line 2:" in page
    assert blocklist_entry_problem(entry) is not None
    assert_nothing_saved(brand, before)


def _search(pattern: str, text: str) -> None:
    re.search(pattern, text)


@pytest.mark.slow
@pytest.mark.parametrize("entry", CATASTROPHIC)
def test_each_refused_catastrophic_pattern_really_hangs_python(entry: str) -> None:
    """Why the check matters: in a child process, each pattern is still searching a 600-letter text after 3 s."""
    text = CATASTROPHIC[entry]
    child = multiprocessing.get_context("fork").Process(target=_search, args=(entry[1:-1], text))
    child.start()
    child.join(timeout=3)
    still_searching = child.is_alive()
    child.kill()
    child.join()

    assert still_searching


def test_safe_patterns_that_look_alike_are_still_accepted(brand: Brand, owner: User) -> None:
    safe = [
        "/crypto\\s*airdrop/",
        "/free\\s+\\w+\\s+giveaway/",
        "/(crypto|nft) airdrop/",
        "/\\d+\\.\\d+ btc/",
        "/.*scam/",
    ]

    status, _ = post(owner, brand, blocklist="\n".join(safe))

    assert status == 302
    assert services.current_policy(brand).policy.blocklist == tuple(safe)


def test_handles_on_both_lists_are_refused_even_when_written_differently(brand: Brand, owner: User) -> None:
    before = services.current_policy(brand).settings

    status, page = post(
        owner,
        brand,
        always_follow="Ana@Social.Example\nbob.bsky.social\nbob.bsky.social",
        never_follow="@ana@social.example",
    )

    assert status == 422
    assert "Also on the never-follow list, which wins: @ana@social.example." in page
    assert_nothing_saved(brand, before)


def test_duplicates_within_one_list_are_kept_once(brand: Brand, owner: User) -> None:
    status, _ = post(owner, brand, always_follow="bob.bsky.social\n@BOB.bsky.social\nbob.bsky.social")

    assert status == 302
    assert services.current_policy(brand).policy.always_follow == ("bob.bsky.social",)


def test_the_preview_refuses_the_same_values_and_saves_nothing(brand: Brand, owner: User) -> None:
    before = services.current_policy(brand).settings
    url = reverse("rules:policy_preview", kwargs={"brand": brand.slug})
    client = client_for(owner)
    for fields in (
        {"weight_bot": "NaN"},
        {"suggest_threshold": "1e309"},
        {"blocklist": next(iter(CATASTROPHIC))},
    ):
        response = client.post(url, policy_form_data(**fields), HTTP_HX_REQUEST="true")
        assert response.status_code == 422
        assert "Fix these to see a preview:" in response.content.decode()
    assert_nothing_saved(brand, before)
