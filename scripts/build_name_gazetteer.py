"""Write the person-name gazetteer the PII detector reads (src/warden/safety/data/names.txt).

The names come from Faker's person providers (MIT licence) for the languages Warden's guard
is evaluated in. Faker is a build-time input only: the generated file is committed, so the
server never imports Faker. Run `make name-gazetteer` after changing the locales or the word
filters below; `--check` exits 1 when the committed file is stale.

Each line is `F<TAB>name` (a first name) or `L<TAB>name` (a surname). Names that are also
everyday English words ("Will", "May", "Grant", "Brown") are dropped from the first-name
list, because a capitalised first word alone is what makes the detector call a span a name;
surnames keep them, since a surname only counts after a first name or a title.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import unicodedata
from pathlib import Path


def _words(block: str) -> list[str]:
    return block.split()


# Every Faker locale with person names; names not in Latin script are left out (the
# detector reads Latin-script text), romanised Chinese and Japanese names are kept.
LOCALES = ("ar_AA", "az_AZ", "cs_CZ", "da_DK", "de_AT", "de_CH", "de_DE", "en_GB", "en_IE",
           "en_IN", "en_KE", "en_NG", "en_NZ", "en_PK", "en_US", "es_AR", "es_CL", "es_CO",
           "es_ES", "es_MX", "et_EE", "fi_FI", "fr_BE", "fr_CA", "fr_CH", "fr_FR", "ga_IE",
           "hr_HR", "hu_HU", "id_ID", "ig_NG", "it_IT", "ja_JP", "lt_LT", "lv_LV", "nl_BE",
           "nl_NL", "no_NO", "pl_PL", "pt_BR", "pt_PT", "ro_RO", "sk_SK", "sl_SI", "sv_SE",
           "sw", "tr_TR", "tw_GH", "uz_UZ", "vi_VN", "yo_NG", "zh_CN", "zu_ZA")
# Common given names the Faker lists lack (checked by hand against the built list).
EXTRA_FIRST = _words("""
Ayşe Burak Emre Gökhan Hakan Kemal Murat Özge Selin Tuğba Yusuf Małgorzata Léa Raj Rahul
Wei Yuki Hiroshi Kwame Ngozi Oluwaseun Dmitri Dmitry Sergei Sergey Natasha Svetlana Olga
Linh Kenji Sakura Aisha Fatima Omar Khalid Ahmed Mohammed Muhammad Priya Ananya Arjun
Deepika Sanjay Vikram Anjali Chidi Chinedu Amara Kofi Ama Yaw Thabo Sipho Lerato Jin Min
Hyun Seo Ji Soo Haruto Yui Hana Minh Thanh Hoa Anh Tuan
""")
OUT = Path(__file__).resolve().parents[1] / "src/warden/safety/data/names.txt"

# First names that are ordinary words, months, places or brands far more often than names.
COMMON_WORDS = frozenset(_words("""
will may mark bill rose grace hope june april august art sunny joy faith chance page sky
summer autumn winter dawn eve ivy lily pat sue don jack frank gene ray guy chase miles max
rich hunter lane dean case cash drew wade young penny ruby amber crystal jade iris holly
heather daisy olive violet jean carol grant brook brooke rock stone sterling major king
prince princess duke earl royal noble precious honey candy star storm river forest ocean
rain cloud blue green gray grey red rusty dusty lucky happy patience prudence charity
constance mercy trinity destiny harmony melody liberty justice glory unique heaven angel
paris london sydney austin dallas houston phoenix denver china india jordan kenya victoria
florence georgia virginia carolina dakota montana madison lincoln jefferson washington
cleveland jackson tyler taylor parker carter cooper porter baker mason fisher hall wood
woods hill hills field fields church bishop pope temple bell bells so in on an and or as
at by do go me my no of oh ok to up us we he she it is be can li santa san costa apple
spring san santa via per van von de la le da del di du el al les los las dos das der den
het mercedes porsche ferrari tesla lexus dodge audi rolls
"""))


# Cyrillic names, read in Latin letters the way their owners usually write them in English
# ("Kateryna Shevchenko", "Dmitriy Ivanov").
CYRILLIC_LOCALES = ("ru_RU", "uk_UA", "bg_BG")
_TRANSLIT = dict(zip(
    "абвгґдеєёжзиіїйклмнопрстуфхцчшщъыьэюя",
    ["a", "b", "v", "h", "g", "d", "e", "ye", "yo", "zh", "z", "y", "i", "yi", "y", "k", "l",
     "m", "n", "o", "p", "r", "s", "t", "u", "f", "kh", "ts", "ch", "sh", "shch", "", "y",
     "", "e", "yu", "ya"], strict=True))


def _latin(name: str) -> str:
    out = "".join(_TRANSLIT.get(c.lower(), c) for c in name)
    return out[:1].upper() + out[1:]


def _names(provider: type, *attrs: str) -> set[str]:
    found: set[str] = set()
    for attr in attrs:
        value = getattr(provider, attr, ())
        if isinstance(value, (dict, tuple, list, set, frozenset)):
            found |= set(value)
    return found


def build() -> str:
    firsts: set[str] = set()
    lasts: set[str] = set()
    for locale in LOCALES:
        provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        firsts |= _names(provider, "first_names", "first_names_male", "first_names_female",
                         "first_romanized_names", "first_romanized_names_male",
                         "first_romanized_names_female")
        lasts |= _names(provider, "last_names", "last_names_male", "last_names_female",
                        "male_last_names", "unisex_last_names", "last_romanized_names")
    for locale in CYRILLIC_LOCALES:
        provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        firsts |= {_latin(n) for n in _names(provider, "first_names", "first_names_male",
                                              "first_names_female")}
        lasts |= {_latin(n) for n in _names(provider, "last_names", "last_names_male",
                                             "last_names_female")}
    firsts |= set(EXTRA_FIRST)

    def keep(name: str) -> bool:
        return (len(name) >= 2 and name[0].isupper() and " " not in name
                and all(c in "'-" or (c.isalpha() and unicodedata.name(c, "").startswith("LATIN"))
                        for c in name))

    first = sorted(unicodedata.normalize("NFC", n) for n in firsts
                   if keep(n) and n.lower() not in COMMON_WORDS)
    last = sorted(unicodedata.normalize("NFC", n) for n in lasts if keep(n))
    header = ("# Person names for warden.safety.detectors.name_gazetteer; generated by "
              "scripts/build_name_gazetteer.py from Faker's person providers (MIT).\n")
    return header + "".join(f"F\t{n}\n" for n in first) + "".join(f"L\t{n}\n" for n in last)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if the committed file differs from a fresh build")
    args = parser.parse_args()
    text = build()
    if args.check:
        current = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
        if current != text:
            print(f"{OUT} is stale: run `make name-gazetteer`", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    lines = text.count("\n") - 1
    print(f"wrote {OUT} ({lines} names)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
