"""Finding our payment reference in free-text transfer content."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciliation.reference import REFERENCE_PATTERN, find_reference, is_reference, search_references

REF = "FG7K3M9Q2XAB"
OTHER = "FG1111222233"


@pytest.mark.parametrize(
    "text",
    [
        "FG7K3M9Q2XAB",
        "fg7k3m9q2xab",
        "Thanh toan ho so FG7K3M9Q2XAB tai UBND",
        "CT DEN:FG7K3M9Q2XAB;NGUOI NOP NGUYEN VAN A",
        "MBVCB.1234567.FG7K3M9Q2XAB.CT tu 0123456789",
        "FG 7K3M 9Q2X AB",
        "fg-7k3m-9q2x-ab thanh toan",
        "FG7K3M9Q2XAB FG7K3M9Q2XAB",  # the same reference twice is still one
        "Nộp phí FG7K3M9Q2XAB hồ sơ số 000.00.12.H29-261125-0001",
        "(FG7K3M9Q2XAB)",
    ],
)
def test_find_reference_tolerates_case_spaces_and_punctuation(text):
    assert find_reference(text) == REF


@pytest.mark.parametrize(
    "text",
    [
        "",
        "thanh toan ho so",
        "FG7K3M9Q2XA",  # one character short
        "FG7K3M9Q2XABC",  # part of a longer word
        "FG7K3M9Q2XA BC",  # would need to cut a word in two
        "XFG7K3M9Q2XAB",  # preceded by a letter: part of a longer word
        "123FG7K3M9Q2XAB",
        "FG7K3M9Q2XUB",  # U is not Crockford base32, nor an alias of anything
        "F",
        "FG 7K3M 9Q2X",  # partial
    ],
)
def test_find_reference_partial_or_malformed_finds_nothing(text):
    assert find_reference(text) is None


def test_find_reference_crockford_aliases_decode_to_the_canonical_reference():
    # Crockford's decoding rule, as the VietQR adapter has always read credits: O is 0, I and L are 1.
    assert find_reference("FG7K3M9Q2XIB") == "FG7K3M9Q2X1B"
    assert find_reference("fgo000000000") == "FG0000000000"
    assert find_reference("FG1111222233 FGLIII222233") == "FG1111222233"  # the same reference, aliased


def test_search_references_aliased_other_reference_is_ambiguous():
    assert search_references(f"{REF} FGO000000000").candidates == (REF, "FG0000000000")


def test_search_references_two_different_references_are_ambiguous():
    found = search_references(f"chuyen tien {REF} va {OTHER}")
    assert found.ambiguous and found.reference is None
    assert found.candidates == (REF, OTHER)


def test_is_reference_accepts_only_the_canonical_form():
    assert is_reference(REF)
    assert not is_reference(REF.lower())
    assert not is_reference(f" {REF}")


CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
references = st.text(alphabet=CROCKFORD, min_size=10, max_size=10).map(lambda body: "FG" + body)
filler = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)


@given(references)
def test_reference_pattern_property_accepts_every_generated_reference(reference):
    assert REFERENCE_PATTERN.fullmatch(reference)


@given(references, st.sampled_from([" ", ".", "-", ":", "/", " - "]), filler)
def test_find_reference_property_found_between_separators(reference, separator, noise):
    # Noise kept away from the reference by separators never changes what is found ...
    text = f"thanh toan{separator}{reference}{separator}"
    assert find_reference(text) == reference
    # ... unless the noise itself carries a reference, which then makes it ambiguous, never wrong.
    found = search_references(text + " " + noise)
    assert found.reference in (reference, None)
    if found.reference is None:
        assert found.ambiguous


@given(references, st.text(alphabet="ABCDEFGHJKMNPQRSTVWXYZ0123456789", min_size=1, max_size=3))
def test_find_reference_property_glued_to_more_characters_is_never_found(reference, tail):
    assert find_reference(reference + tail) is None
    assert find_reference(tail + reference) is None


fragments = st.lists(
    st.one_of(
        references,
        st.sampled_from(
            ["FG", "fg", "F", "g", " ", ".", "-", "_", "Đ", "²", "x", "7K3M", "AB", "1", "O", "l", "U"]
        ),
    ),
    max_size=12,
)


@given(fragments)
def test_search_references_property_fast_path_agrees_with_word_search(parts):
    text = "".join(parts)
    assert search_references(text).candidates == _word_join_oracle(text)


def _word_join_oracle(text: str) -> tuple[str, ...]:
    """The rule spelled out slowly: consecutive whole words that together spell a reference."""
    words = re.findall(r"[^\W_]+", text.upper())
    found: list[str] = []
    for start in range(len(words)):
        joined = ""
        for word in words[start:]:
            joined += word
            if len(joined) >= 12:
                break
        canonical = joined.translate(str.maketrans("OIL", "011"))
        if len(joined) == 12 and REFERENCE_PATTERN.fullmatch(canonical) and canonical not in found:
            found.append(canonical)
    return tuple(found)
