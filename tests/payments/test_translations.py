"""The Vietnamese catalogue covers every string the pages show, and the shipped .mo matches it."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "payments/translations/vi/LC_MESSAGES/messages.po"
MO = PO.with_suffix(".mo")


def _source_strings() -> set[str]:
    with open(ROOT / "babel.cfg") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    return {message for _, _, message, *_ in extract_from_dir(str(ROOT), method_map, options_map)}


def _translations(catalog) -> dict[str, str]:
    return {m.id: m.string for m in catalog if m.id and m.string and "fuzzy" not in m.flags}


def test_vietnamese_catalog_translates_every_source_string():
    with open(PO, "rb") as f:
        translated = _translations(read_po(f))

    untranslated = sorted(_source_strings() - set(translated))

    assert untranslated == [], "run `make translations` and translate these in vi/messages.po"


def test_vietnamese_catalog_keeps_every_placeholder():
    with open(PO, "rb") as f:
        translated = _translations(read_po(f))

    for source, target in translated.items():
        assert sorted(re.findall(r"%\(\w+\)s", source)) == sorted(re.findall(r"%\(\w+\)s", target)), source


def test_compiled_catalog_matches_po():
    with open(PO, "rb") as f:
        po = _translations(read_po(f))
    with open(MO, "rb") as f:
        mo = _translations(read_mo(f))

    assert mo == po, "the .mo is stale: run `pybabel compile -d payments/translations`"
