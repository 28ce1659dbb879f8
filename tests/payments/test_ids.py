"""Public ids: the right shape, and every base32 digit reachable in every position."""

from __future__ import annotations

import re

from payments.ids import CROCKFORD, new_public_id


def test_new_public_id_is_prefix_and_26_lower_crockford_characters():
    ids = {new_public_id("inv") for _ in range(1000)}

    assert len(ids) == 1000
    assert all(re.fullmatch(r"inv_[0-9a-hjkmnp-tv-z]{26}", i) for i in ids)


def test_new_public_id_every_position_takes_every_digit():
    seen: list[set[str]] = [set() for _ in range(26)]
    for _ in range(3000):
        for position, char in enumerate(new_public_id("x")[2:]):
            seen[position].add(char)

    assert all(chars == set(CROCKFORD.lower()) for chars in seen)
