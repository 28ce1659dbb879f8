"""Reference matching in messy bank-transfer content."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from providers.vietqr.matching import candidate_references, find_reference

REF = "FG7K3M9Q2XAB"


@pytest.mark.parametrize(
    "content",
    [
        "FG7K3M9Q2XAB",
        "fg7k3m9q2xab",
        "Thanh toan le phi FG7K3M9Q2XAB ho so 123",
        "FG 7K3M 9Q2X AB",
        "fg-7k3m.9q2x_ab",
        "MBVCB.3456789.FG7K3M9Q2XAB.CT tu 0011001234 NGUYEN VAN A",
        "(FG7K3M9Q2XAB)",
        "FG7K3M9Q2XAB FG7K3M9Q2XAB",  # the same reference twice is not ambiguous
        "FG7K3M9Q2XAB; HS-01",
        "FG7K3M9Q2XA8".replace("8", "B"),
    ],
)
def test_find_reference_messy_content_matches(content):
    assert find_reference(content) == REF


def test_find_reference_crockford_aliases_read_as_digits():
    # O for 0 and I/L for 1 are Crockford's own decoding rule.
    assert find_reference("FG1K3M9Q2XAB".replace("1", "l")) == "FG1K3M9Q2XAB"
    assert find_reference("FGOK3M9Q2XAB") == "FG0K3M9Q2XAB"


@pytest.mark.parametrize(
    "content",
    [
        "",
        "chuyen tien",
        "FG7K3M9Q2XA",  # one character short
        "FG7K3M9Q2XABC",  # glued to a longer run
        "XFG7K3M9Q2XAB",  # glued on the left
        "FG7K3M9Q2XAB1 le phi",
        "FG7K3 M9Q2X",  # partial
        "FG7K3M9Q2XAU",  # U is not a Crockford character
        "FG7K3M9Q2XAB FG7K3M9Q2XAC",  # two different references: ambiguous
        "FG7K3M9Q2XABthanh toan",  # banks that strip spaces make it unreadable: no guess
    ],
)
def test_find_reference_partial_glued_or_ambiguous_no_match(content):
    assert find_reference(content) is None


def test_candidate_references_two_different_lists_both():
    assert candidate_references("FG7K3M9Q2XAB va FG0000000000") == {REF, "FG0000000000"}


_SEPARATORS = st.text(alphabet=" .-_/,;:()#", min_size=1, max_size=3)
_WORDS = st.lists(st.text(alphabet="abcdeghkmnqrtvxyz", min_size=1, max_size=8), max_size=4)


@given(before=_WORDS, after=_WORDS, sep=_SEPARATORS, split=st.integers(min_value=0, max_value=11))
def test_find_reference_words_around_and_split_anywhere_matches(before, after, sep, split):
    # Words drawn without 'f' cannot start a second reference.
    spread = REF[:split] + (sep if 0 < split else "") + REF[split:]
    content = sep.join([*before, spread.lower(), *after])
    assert find_reference(content) == REF
