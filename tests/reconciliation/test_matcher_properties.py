"""Properties of the matcher over random ledgers and statements."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciliation.importers.base import Direction
from reconciliation.matcher import match
from reconciliation.matching_types import (
    BankEntry,
    Category,
    Channel,
    ItemKind,
    LedgerPayment,
    SettlementBatch,
    SettlementItem,
)

ACCOUNTS = ("ACC1", "ACC2")
REFS = ("FGAAAAAAAAAA", "FGBBBBBBBBBB", "FGCCCCCCCCCC", "FGDDDDDDDDDD")
AMOUNTS = st.sampled_from([50_000, 100_000, 150_000, 300_000])
DAYS = st.integers(0, 6).map(lambda n: date(2026, 11, 23) + timedelta(days=n))


@st.composite
def scenarios(draw):
    payments = []
    for pid in range(draw(st.integers(0, 6))):
        channel = draw(st.sampled_from(list(Channel)))
        payments.append(
            LedgerPayment(
                pid,
                draw(st.sampled_from(REFS)),
                draw(AMOUNTS),
                draw(st.sampled_from(["VND", "VND", "USD"])),
                draw(DAYS),
                draw(st.sampled_from(ACCOUNTS)),
                channel,
                "vnpay",
                draw(st.sampled_from(["T1", "T2", "T3"])),
            )
        )
    lines = [
        SettlementItem(
            lid,
            "vnpay",
            draw(st.sampled_from(["T1", "T2", "T3", "T4"])),
            draw(AMOUNTS),
            "VND",
            draw(DAYS),
            draw(st.sampled_from(["vnpay:B1", "vnpay:B2"])),
        )
        for lid in range(draw(st.integers(0, 5)))
    ]
    batches = [
        SettlementBatch(
            bid,
            "vnpay",
            draw(st.sampled_from(["B1", "B2", ""])),
            draw(st.sampled_from(ACCOUNTS)),
            draw(AMOUNTS),
            "VND",
            draw(DAYS),
        )
        for bid in draw(st.sets(st.sampled_from(["vnpay:B1", "vnpay:B2", "momo:B3"])))
    ]
    entries = [
        BankEntry(
            eid,
            draw(st.sampled_from(ACCOUNTS)),
            draw(AMOUNTS),
            draw(st.sampled_from(["VND", "VND", "USD"])),
            draw(st.sampled_from(list(Direction))),
            draw(DAYS),
            draw(st.sampled_from(["", "VNPAY B1", "QT B2", "chuyen tien"])),
            draw(st.sampled_from(["", "", "FT1", "FT2"])),
            draw(st.booleans()),
            tuple(draw(st.lists(st.sampled_from(REFS + ("FGZZZZZZZZZZ",)), max_size=2, unique=True))),
        )
        for eid in range(draw(st.integers(0, 8)))
    ]
    return payments, lines, batches, entries


def _inputs(payments, lines, batches, entries):
    return (
        {(ItemKind.PAYMENT, p.id): p.amount for p in payments}
        | {(ItemKind.SETTLEMENT, s.id): s.amount for s in lines}
        | {(ItemKind.BATCH, b.id): b.amount for b in batches}
        | {(ItemKind.ENTRY, e.id): e.amount for e in entries}
    )


@settings(max_examples=400, deadline=None)
@given(scenarios())
def test_match_property_every_item_lands_in_exactly_one_category(scenario):
    result = match(*scenario)
    keys = [(o.kind, o.item_id) for o in result.outcomes]
    assert len(keys) == len(set(keys))
    assert set(keys) == set(_inputs(*scenario))
    assert all(o.category in Category for o in result.outcomes)


@settings(max_examples=400, deadline=None)
@given(scenarios())
def test_match_property_totals_are_conserved_per_kind(scenario):
    result = match(*scenario)
    expected: Counter[ItemKind] = Counter()
    for (kind, _), amount in _inputs(*scenario).items():
        expected[kind] += amount
    by_kind_and_category: Counter[tuple[ItemKind, Category]] = Counter()
    for outcome in result.outcomes:
        by_kind_and_category[(outcome.kind, outcome.category)] += outcome.amount
    for kind in ItemKind:
        assert sum(v for (k, _), v in by_kind_and_category.items() if k is kind) == expected[kind]


@settings(max_examples=400, deadline=None)
@given(scenarios())
def test_match_property_matched_pairs_agree_and_settlements_point_at_matched_credits(scenario):
    payments, lines, batches, entries = scenario
    result = match(*scenario)
    outcome = {(o.kind, o.item_id): o for o in result.outcomes}
    entry_by_id = {e.id: e for e in entries}
    payment_by_id = {p.id: p for p in payments}
    for o in result.outcomes:
        if o.category is Category.MATCHED and o.kind is ItemKind.PAYMENT and o.way == "reference":
            (entry_id,) = o.counterpart
            assert entry_by_id[entry_id].amount == o.amount
            assert entry_by_id[entry_id].currency == o.currency
        if o.category is Category.AMOUNT_MISMATCH:
            assert o.counterpart
    for payment_id, entry_id in result.settled_by.items():
        assert outcome[(ItemKind.PAYMENT, payment_id)].category is Category.MATCHED
        assert outcome[(ItemKind.ENTRY, entry_id)].category is Category.MATCHED
        assert entry_by_id[entry_id].direction is Direction.CREDIT
        if payment_by_id[payment_id].channel is Channel.DIRECT:
            assert entry_by_id[entry_id].amount == payment_by_id[payment_id].amount
    # A credit proves at most one direct payment.
    direct_proofs = [e for p, e in result.settled_by.items() if payment_by_id[p].channel is Channel.DIRECT]
    assert len(direct_proofs) == len(set(direct_proofs))


@settings(max_examples=200, deadline=None)
@given(scenarios(), st.randoms())
def test_match_property_input_order_does_not_change_the_result(scenario, rnd):
    shuffled = [list(part) for part in scenario]
    for part in shuffled:
        rnd.shuffle(part)
    key = lambda o: (o.kind, str(o.item_id))  # noqa: E731
    assert sorted(match(*scenario).outcomes, key=key) == sorted(match(*shuffled).outcomes, key=key)
