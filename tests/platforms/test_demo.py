import re
import tracemalloc
import unicodedata
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from accounts.platforms.base import NotFound, PlatformError, ProfileData, RateLimited
from accounts.platforms.demo import (
    BLOCKLISTED_TERMS,
    CLASS_SHARES,
    DemoConnector,
    SimulatedRateLimit,
    TrueClass,
    follower_cursor,
)

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)
BRAND = "acme"
PEOPLE = {TrueClass.VERIFIED_CUSTOMER, TrueClass.ENGAGED_FAN, TrueClass.GENUINE_QUIET}
LOOKALIKE_LETTERS = str.maketrans(
    {
        "\u0430": "a", "\u03b1": "a", "\u0441": "c", "\u03f2": "c", "\u0435": "e", "\u043e": "o", "\u03bf": "o",
        "\u0440": "p", "\u0456": "i", "0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "_": None,
    }
)  # fmt: skip
OFFICIAL_WORDS = ("official", "support", "help", "team", "care", "real", "the", "hq")


def connector(follower_count: int = 20_000, **options) -> DemoConnector:
    return DemoConnector(seed=3, follower_count=follower_count, brand_handle=BRAND, now=NOW, **options)


def followers(demo: DemoConnector) -> list[ProfileData]:
    return [profile for page in demo.iter_follower_pages(None) for profile in page.profiles]


def follower_ids(demo: DemoConnector) -> set[str]:
    return {profile.platform_id for profile in followers(demo)}


def edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def reads_as_brand(handle: str) -> bool:
    """A look-alike check written apart from the generator's: fold tricks away, then compare."""
    text = "".join(ch for ch in handle.lower() if unicodedata.category(ch) != "Cf")
    for word in OFFICIAL_WORDS:
        text = text.replace(word, "")
    text = text.replace("_", "").rstrip("0123456789").translate(LOOKALIKE_LETTERS).replace("rn", "m")
    return edit_distance(text, BRAND) <= 1


@pytest.fixture(scope="module")
def population() -> tuple[DemoConnector, list[ProfileData], dict[str, TrueClass]]:
    demo = connector(50_000)
    profiles = followers(demo)
    return demo, profiles, demo.ground_truth(profile.platform_id for profile in profiles)


def of_class(population, true_class: TrueClass) -> list[ProfileData]:
    _, profiles, truth = population
    return [profile for profile in profiles if truth[profile.platform_id] == true_class]


def test_the_same_seed_gives_the_same_pages():
    first, second = connector(), connector()
    deep = follower_cursor(12_345)
    assert list(first.iter_follower_pages(None)) == list(second.iter_follower_pages(None))
    assert next(first.iter_follower_pages(deep)) == next(second.iter_follower_pages(deep))


def test_another_seed_gives_other_followers():
    other = DemoConnector(seed=4, follower_count=1_000, brand_handle=BRAND, now=NOW)
    handles = [p.handle for p in next(connector(1_000).iter_follower_pages(None)).profiles]
    assert handles != [p.handle for p in next(other.iter_follower_pages(None)).profiles]


def test_pages_of_any_size_list_the_same_followers_as_get_profiles():
    small_pages = followers(connector(5_000, page_size=333))
    assert [p.platform_id for p in small_pages] == [f"demo:{i}" for i in range(5_000)]
    assert small_pages == followers(connector(5_000))
    assert connector(5_000).get_profiles([p.platform_id for p in small_pages[:50]]) == small_pages[:50]


def test_page_900_of_a_million_is_generated_without_the_pages_before_it():
    demo = connector(1_000_000)
    tracemalloc.start()
    try:
        page = next(demo.iter_follower_pages(follower_cursor(900_000)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [p.platform_id for p in page.profiles] == [f"demo:{i}" for i in range(900_000, 901_000)]
    assert page.next_cursor == follower_cursor(901_000)
    assert peak < 4_000_000


def _peak_memory_while_iterating(follower_count: int) -> int:
    demo = connector(follower_count)
    tracemalloc.start()
    try:
        seen = sum(len(page.profiles) for page in demo.iter_follower_pages(None))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert seen == follower_count
    return peak


def test_memory_stays_flat_from_20_000_to_200_000_followers():
    assert _peak_memory_while_iterating(200_000) - _peak_memory_while_iterating(20_000) < 2_000_000


def test_the_class_mix_matches_the_shares(population):
    _, profiles, truth = population
    counts = Counter(truth.values())
    expected = {"verified_customer": 0.05, "engaged_fan": 0.1, "genuine_quiet": 0.45, "bot": 0.15, "spam": 0.1,
                "churner": 0.1, "harmful": 0.05}  # fmt: skip
    assert pytest.approx(expected) == CLASS_SHARES
    for true_class, share in CLASS_SHARES.items():
        assert counts[true_class] / len(profiles) == pytest.approx(share, abs=0.01)


def test_true_class_agrees_with_ground_truth_and_rejects_unknown_ids(population):
    demo, profiles, truth = population
    assert all(demo.true_class(p.platform_id) == truth[p.platform_id] for p in profiles[:200])
    assert demo.ground_truth(["demo:x", "mastodon:1", "demo:99999999"]) == {}
    with pytest.raises(NotFound):
        demo.true_class("demo:99999999")


def test_handles_are_unique(population):
    _, profiles, _ = population
    assert len({p.handle for p in profiles}) == len(profiles)


def test_churners_vanish_and_come_back_across_syncs(population):
    churners = [p.platform_id for p in of_class(population, TrueClass.CHURNER)[:500]]
    following = [
        {i: r.followed_by for i, r in connector(50_000, sync_number=step).relationships(churners).items()}
        for step in range(7)
    ]
    for platform_id in churners:
        history = [step[platform_id] for step in following]
        gone = history.index(False)
        assert history[0]
        assert any(history[gone:]), "a churner who left came back in a later sync"


def test_about_one_percent_of_steady_followers_unfollow_per_step():
    before, after = connector(50_000, sync_number=3), connector(50_000, sync_number=4)
    truth = before.ground_truth(follower_ids(before))
    steady = [i for i, true_class in truth.items() if true_class != TrueClass.CHURNER]
    still_following = follower_ids(after)
    gone = sum(platform_id not in still_following for platform_id in steady)
    assert gone / len(steady) == pytest.approx(0.01, abs=0.003)


def test_new_followers_appear_with_each_sync():
    first, third = follower_ids(connector(20_000)), follower_ids(connector(20_000, sync_number=2))
    newcomers = third - first
    assert len(newcomers) == pytest.approx(2 * 0.015 * 20_000, rel=0.2)
    assert all(int(platform_id.removeprefix("demo:")) >= 20_000 for platform_id in newcomers)


def test_about_five_percent_of_profiles_change_per_step():
    before = {p.platform_id: p for p in followers(connector(20_000, sync_number=5))}
    after = {p.platform_id: p for p in followers(connector(20_000, sync_number=6))}
    both = before.keys() & after.keys()
    changed = [i for i in both if before[i] != after[i]]
    assert len(changed) / len(both) == pytest.approx(0.05, abs=0.01)
    assert all(before[i].handle == after[i].handle for i in changed)


def test_follow_is_recorded_once_and_locked_accounts_answer_requested(population):
    demo = connector(50_000)
    _, profiles, _ = population
    open_account = next(p.platform_id for p in profiles if not p.is_locked)
    locked = next(p.platform_id for p in profiles if p.is_locked)
    first = demo.follow(open_account)
    assert first.following
    assert not first.requested
    assert demo.follow(open_account) == first
    assert demo.follow(locked).requested
    assert demo.follows_done == (open_account, locked)
    relationships = demo.relationships([open_account, locked, "demo:99999999"])
    assert set(relationships) == {open_account, locked}
    assert relationships[open_account].following
    assert relationships[open_account].followed_by
    assert relationships[locked].requested
    assert not relationships[locked].following
    with pytest.raises(NotFound):
        demo.follow("demo:99999999")


def test_the_brand_already_follows_one_customer_in_ten_and_whom_it_followed_since():
    demo = connector(followed=["demo:7"])
    present = sorted(follower_ids(demo))
    demo.follow(present[0])
    followed = [platform_id for page in demo.iter_following_pages(None) for platform_id in page.ids]
    assert {"demo:7", present[0]} <= set(followed)
    assert len(followed) == len(set(followed))
    classes = demo.ground_truth(present)
    customers = [
        platform_id for platform_id in present if classes[platform_id] == TrueClass.VERIFIED_CUSTOMER
    ]
    followed_customers = set(followed) & set(customers)
    assert len(followed_customers) == pytest.approx(len(customers) / 10, rel=0.3)


def test_get_profiles_leaves_out_unknown_ids():
    profiles = connector(1_000).get_profiles(
        ["demo:5", "demo:1000000", "demo:05", "nope", "demo:5", "demo:7"]
    )
    assert [p.platform_id for p in profiles] == ["demo:5", "demo:7"]


def test_interactions_fall_inside_the_window_and_come_mostly_from_fans_and_customers():
    demo = connector(20_000)
    events = list(demo.iter_interactions(None))
    recent = list(demo.iter_interactions(NOW - timedelta(days=30)))
    assert all(NOW - timedelta(days=120) <= e.created_at <= NOW for e in events)
    assert recent
    assert all(NOW - timedelta(days=30) <= e.created_at <= NOW for e in recent)
    assert {e.platform_event_id for e in recent} < {e.platform_event_id for e in events}
    assert len({e.platform_event_id for e in events}) == len(events)
    actors = Counter(demo.true_class(e.actor.platform_id) for e in events)
    engaged = actors[TrueClass.ENGAGED_FAN] + actors[TrueClass.VERIFIED_CUSTOMER]
    assert 0.85 < engaged / len(events) < 1
    assert len({e.kind for e in events}) == 5
    assert [e.platform_event_id for e in demo.iter_interactions(None)] == [
        e.platform_event_id for e in events
    ]


def test_the_customer_list_matches_the_customers(population):
    demo, profiles, _ = population
    rows = list(demo.customer_list())
    by_handle = {p.handle: p.platform_id for p in profiles}
    listed_followers = {by_handle[row.handle] for row in rows if row.handle in by_handle}
    customers = {p.platform_id for p in of_class(population, TrueClass.VERIFIED_CUSTOMER)}
    assert listed_followers == customers
    assert all(re.fullmatch(r"[a-z0-9._]+@example\.com", row.email) for row in rows)
    assert any(not row.handle for row in rows)
    assert len(list(demo.customer_list(max_rows=7))) == 7


def test_impersonations_of_the_brand_handle_are_present(population):
    harmful = [p.handle for p in of_class(population, TrueClass.HARMFUL)]
    lookalikes = [handle for handle in harmful if reads_as_brand(handle)]
    assert len(lookalikes) >= len(harmful) // 2
    assert any(re.search("[\u0400-\u04ff\u0370-\u03ff]", handle) for handle in lookalikes)
    assert any(re.search("[\u200b-\u200d\u2060]", handle) for handle in lookalikes)
    assert "acrne" in lookalikes
    assert "acme_official" in lookalikes
    assert any(re.fullmatch(r"acm3|4cme", handle) for handle in lookalikes)


def test_people_never_look_like_the_brand_and_some_have_non_latin_handles(population):
    handles = [p.handle for true_class in PEOPLE for p in of_class(population, true_class)]
    non_latin = [handle for handle in handles if re.search("[^\x00-\x7f]", handle)]
    assert len(non_latin) > len(handles) * 0.03
    assert {unicodedata.name(h[0]).split()[0] for h in non_latin} >= {"CYRILLIC", "GREEK", "CJK", "ARABIC"}
    assert not any(reads_as_brand(handle) for handle in handles)


def test_blocklisted_words_mark_the_other_harmful_accounts_only(population):
    _, profiles, truth = population
    blocklisted = re.compile(r"\b(" + "|".join(BLOCKLISTED_TERMS) + r")\b", re.IGNORECASE)

    def says_it(p: ProfileData) -> bool:
        return bool(blocklisted.search(f"{p.handle.replace('_', ' ')} {p.display_name} {p.bio}"))

    harmful = of_class(population, TrueClass.HARMFUL)
    assert all(says_it(p) or reads_as_brand(p.handle) for p in harmful)
    assert not any(says_it(p) for p in profiles if truth[p.platform_id] != TrueClass.HARMFUL)


def test_bots_and_spam_follow_many_more_than_follow_them(population):
    def follow_heavy(true_class: TrueClass) -> float:
        profiles = of_class(population, true_class)
        return sum(p.following_count >= 50 * max(p.followers_count, 1) for p in profiles) / len(profiles)

    assert follow_heavy(TrueClass.BOT) > 0.6
    assert follow_heavy(TrueClass.SPAM) > 0.4
    assert follow_heavy(TrueClass.GENUINE_QUIET) < 0.1
    bots = of_class(population, TrueClass.BOT)
    assert sum(p.avatar_is_default for p in bots) > len(bots) / 2
    assert any(p.is_bot for p in bots)
    assert any(p.labels for p in bots)
    assert all(p.avatar_url == "" for p in bots if p.avatar_is_default)


def test_the_rate_limit_answers_rate_limited_until_the_window_passes():
    clock = [0.0]
    demo = connector(10_000, rate_limit=SimulatedRateLimit(3, 60.0, clock=lambda: clock[0]))
    pages = demo.iter_follower_pages(None)
    seen = [next(pages) for _ in range(3)]
    clock[0] = 20.0
    with pytest.raises(RateLimited) as limited:
        next(pages)
    assert limited.value.retry_after == pytest.approx(40.0)
    clock[0] = 61.0
    assert next(demo.iter_follower_pages(seen[-1].next_cursor)).profiles[0].platform_id == "demo:3000"


def test_a_cursor_that_is_not_ours_is_refused():
    with pytest.raises(PlatformError):
        next(connector().iter_follower_pages("bm90LWEtY3Vyc29y"))


def test_now_must_be_timezone_aware():
    with pytest.raises(ValueError, match="timezone"):
        DemoConnector(seed=1, follower_count=10, brand_handle=BRAND, now=datetime(2025, 1, 1))
