"""The impersonation signal against Unicode spoofs of brand handles and names, and against genuine non-Latin ones.

The spoofs are built, deterministically, from Unicode's own confusables (UTS #39, the `confusables.json` that the
confusable-homoglyphs package ships, read here straight from the package) and from the other tricks spoofers use:
several scripts mixed in one name, zero-width and bidi characters inserted, fullwidth and mathematical forms, case
games, official-sounding affixes. Every spoof must be caught. The genuine handles and display names are ordinary
words and names in ten scripts; none may be flagged.
"""

from __future__ import annotations

import itertools
import json
import random
import unicodedata
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import resources

import pytest

from rules.signals import BrandContext, FollowerColumns, harmful

NOW = datetime(2026, 12, 1, tzinfo=UTC)
BRANDS = (
    BrandContext(handle="acme@brand.social", display_name="Acme Coffee"),
    BrandContext(
        handle="northwind@outdoors.social",
        display_name="Northwind Outdoors",
        other_handles=("northwindhq.bsky.social",),
    ),
    BrandContext(handle="globex.bsky.social", display_name="Globex"),
)
INVISIBLE = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u180e")
BIDI = ("\u202a", "\u202b", "\u202d", "\u2066", "\u2067", "\u2068", "\u200e", "\u200f")
POP = {"\u202a": "\u202c", "\u202b": "\u202c", "\u202d": "\u202c", "\u2066": "\u2069", "\u2067": "\u2069",
       "\u2068": "\u2069", "\u200e": "", "\u200f": ""}  # fmt: skip
AFFIXES = (
    "{}_official",
    "{}support",
    "real_{}",
    "the{}",
    "{}.help",
    "{}_hq",
    "official-{}",
    "{}team",
    "my{}",
)


def confusables_of_letters() -> dict[str, list[str]]:
    """For each ASCII letter and digit, the characters Unicode lists as confusable with it, read from the data
    file itself. Combining marks are left out: they draw on the character before them, so they never stand in
    for a letter of their own."""
    data = json.loads(
        resources.files("confusable_homoglyphs").joinpath("confusables.json").read_text("utf-8")
    )
    found: dict[str, list[str]] = defaultdict(list)
    for char, glyphs in sorted(data.items()):
        if len(char) != 1 or char.isascii() or unicodedata.category(char).startswith("M"):
            continue
        for glyph in glyphs:
            target = glyph["c"]
            if len(target) == 1 and target.isascii() and target.isalnum():
                found[target].append(char)
    return found


CONFUSABLES = confusables_of_letters()


def stand_ins(letter: str) -> list[str]:
    """Characters that look like `letter`, in either case (a brand's name is matched whatever its case)."""
    return sorted({*CONFUSABLES.get(letter, ()), *CONFUSABLES.get(letter.upper(), ())})


def disguises(name: str, rng: random.Random) -> Iterator[str]:
    """`name` (lower case ASCII letters) disguised in every way this file tests, each drawn from `rng`."""
    for i, letter in enumerate(name):
        for glyph in rng.sample(stand_ins(letter), min(3, len(stand_ins(letter)))):
            yield name[:i] + glyph + name[i + 1 :]
    for _ in range(6):  # mixed scripts: every letter that has one replaced by a look-alike
        yield "".join(rng.choice(stand_ins(letter)) if stand_ins(letter) else letter for letter in name)
    for _ in range(4):
        low, high = sorted(rng.sample(range(1, len(name)), 2))
        first, second = rng.choice(INVISIBLE), rng.choice(INVISIBLE)
        yield name[:low] + first + name[low:high] + second + name[high:]
    for mark in BIDI:
        at = rng.randrange(1, len(name))
        yield name[:at] + mark + name[at:] + POP[mark]
    yield "\u202e" + name[::-1] + "\u202c"  # written backwards, shown forwards
    yield "".join(chr(ord(letter) - ord("a") + 0xFF41) for letter in name)  # fullwidth
    yield "".join(chr(ord(letter) - ord("a") + 0x1D5EE) for letter in name)  # mathematical sans-serif bold
    yield name.upper()
    yield "".join(letter.upper() if i % 2 else letter for i, letter in enumerate(name))
    yield name.replace("m", "rn").replace("w", "vv")
    yield name.replace("o", "0").replace("l", "1").replace("e", "3")


def spoofs() -> list[tuple[BrandContext, str, str]]:
    """(brand, handle, display name) of every spoof: disguised handles alone and with an affix, and
    disguised display names under a harmless handle."""
    rng = random.Random(39)
    found = []
    for brand in BRANDS:
        names = [handle.partition("@")[0].partition(".")[0] for handle in brand.handles]
        for name in names:
            for disguise in disguises(name, rng):
                # Case alone changes no handle: a bare "ACME" on the brand's own server is the brand.
                server = "@elsewhere.example" if disguise.casefold() == name else ""
                found.append((brand, disguise + server, ""))
                found.append((brand, rng.choice(AFFIXES).format(disguise), ""))
        first_word, *rest = brand.display_name.split()
        for disguise in disguises(first_word.lower(), rng):
            # Capitalised as a name, only where that changes an ASCII letter: upper or lower case of a
            # look-alike is another character, one that may look like nothing Latin.
            capital = disguise[0].upper() + disguise[1:] if disguise[0].isascii() else disguise
            shown = " ".join([capital, *rest, rng.choice(("Support", "Official", "✓", "Help"))])
            found.append((brand, "helpdesk4821", shown))
    return list(dict.fromkeys(found))


def flagged(brand: BrandContext, people: list[tuple[str, str]]) -> list[float]:
    cols = FollowerColumns.from_records(
        [{"handle": handle, "display_name": name, "bio": ""} for handle, name in people], NOW
    )
    return harmful(cols, brand).parts["impersonation"].tolist()


def test_every_unicode_spoof_of_a_brand_handle_or_name_is_caught():
    found = spoofs()
    by_brand = itertools.groupby(found, key=lambda spoof: spoof[0])
    missed = []
    for brand, group in by_brand:
        people = [(handle, name) for _, handle, name in group]
        missed += [person for person, value in zip(people, flagged(brand, people), strict=True) if value == 0]
    tricks = {char for _, handle, name in found for char in handle + name if not char.isascii()}
    print(f"{len(found)} spoofs using {len(tricks)} distinct non-ASCII characters: {len(missed)} missed")
    assert len(found) >= 300
    assert len(tricks) >= 150
    assert missed == []


# Given names, family names, places and everyday words, ten scripts.
GENUINE = {
    "cyrillic": "александр мария дмитрий анна сергей ольга иван наталья павел светлана шевченко бондаренко "
    "ковальчук мельник петров смирнов кузнецова москва київ минск софия белград город море весна зима кофе "
    "книга музыка дорога солнце",
    "greek": "γιώργος ελένη δημήτρης μαρία νίκος κατερίνα γιάννης σοφία παπαδόπουλος οικονόμου αθήνα "
    "θεσσαλονίκη πάτρα καφές θάλασσα ουρανός βιβλίο μουσική ήλιος καλημέρα φίλος δρόμος",
    "arabic": "محمد فاطمة أحمد ليلى عمر نور يوسف مريم خالد سارة حداد منصور خليل سعيد القاهرة بيروت عمان "
    "دبي الرباط قهوة كتاب بحر شمس صديق",
    "hebrew": "דוד שרה יוסף מרים משה רחל אברהם לאה כהן לוי מזרחי פרץ ירושלים חיפה אילת שלום קפה ספר ים "
    "שמש חבר בית",
    "devanagari": "राहुल प्रिया अमित सुनीता अनिल पूजा विकास आरव अनन्या रोहन नेहा शर्मा वर्मा दिल्ली मुंबई "
    "पुणे चाय किताब संगीत सूरज दोस्त",
    "thai": "สมชาย สมหญิง ประยุทธ์ มาลี วิชัย สุดา ณัฐ กานดา ศรีสุข บุญมา กรุงเทพ เชียงใหม่ ภูเก็ต กาแฟ "
    "หนังสือ ดนตรี ทะเล ตะวัน เพื่อน สวัสดี",
    "chinese": "王伟 李娜 张敏 陈静 刘洋 杨帆 黄磊 赵丽 周杰 吴昊 北京 上海 广州 成都 咖啡 音乐 书店 大海 "
    "阳光 朋友",
    "japanese": "さくら ゆい はると そうた ひなた 佐藤 鈴木 高橋 田中 渡辺 東京 大阪 京都 札幌 写真 音楽 "
    "コーヒー ラーメン サッカー",
    "korean": "김민준 이서연 박지후 최수아 정하준 강지민 조은우 윤서윤 서울 부산 대구 인천 커피 음악 "
    "바다 햇살 친구 사랑",
    "georgian": "გიორგი ნინო დავით მარიამ ლევან თამარ ბერიძე კაპანაძე თბილისი ბათუმი ქუთაისი ყავა "
    "წიგნი მუსიკა ზღვა მზე მეგობარი",
}
STYLES = ("{}_{}", "{}{}", "{}.{}", "{}_{}{}", "{}{}{}")


def genuine_people(count: int) -> list[tuple[str, str]]:
    """(handle, display name) pairs: two words of one script each, taken in turn from every script."""
    per_script = []
    for words in GENUINE.values():
        pairs = itertools.permutations(words.split(), 2)
        per_script.append(
            [
                (STYLES[n % len(STYLES)].format(first, second, n % 89), f"{first} {second}".title())
                for n, (first, second) in enumerate(pairs)
            ]
        )
    return [person for people in itertools.zip_longest(*per_script) for person in people if person][:count]


@pytest.mark.parametrize("brand", BRANDS, ids=lambda brand: brand.handle)
def test_a_thousand_genuine_non_latin_handles_and_names_are_never_flagged(brand):
    people = genuine_people(1_000)
    assert len({handle for handle, _ in people}) == 1_000
    scripts = {unicodedata.name(handle[0]).split()[0] for handle, _ in people}
    assert len(scripts) >= 10, scripts
    wrongly = [person for person, value in zip(people, flagged(brand, people), strict=True) if value > 0]
    print(f"{len(people)} genuine handles and names in {len(scripts)} scripts: {len(wrongly)} flagged")
    assert wrongly == []
