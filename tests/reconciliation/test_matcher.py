"""The pure three-way matcher: every category, every way, and the properties that hold for any input."""

from __future__ import annotations

from datetime import date

from reconciliation.importers.base import Direction
from reconciliation.matcher import match
from reconciliation.matching_types import (
    BankEntry,
    Category,
    Channel,
    ItemKind,
    LedgerPayment,
    MatchConfig,
    SettlementBatch,
    SettlementItem,
    Way,
    add_business_days,
)

ACC = "3511.0.1234567"
DAY = date(2026, 11, 25)  # a Wednesday
P, S, B, E = ItemKind.PAYMENT, ItemKind.SETTLEMENT, ItemKind.BATCH, ItemKind.ENTRY


def direct(pid: int, ref: str, amount: int = 100_000, currency: str = "VND") -> LedgerPayment:
    return LedgerPayment(pid, ref, amount, currency, DAY, ACC, Channel.DIRECT)


def via_provider(pid: int, provider_ref: str, amount: int = 100_000) -> LedgerPayment:
    return LedgerPayment(
        pid, f"FG{pid:010d}", amount, "VND", DAY, ACC, Channel.PROVIDER, "vnpay", provider_ref
    )


def credit(eid: int, amount: int, text: str = "", refs: tuple[str, ...] = (), **kw) -> BankEntry:
    return BankEntry(
        eid,
        ACC,
        amount,
        kw.pop("currency", "VND"),
        Direction.CREDIT,
        kw.pop("day", DAY),
        text,
        references=refs,
        **kw,
    )


def line(lid: int, provider_ref: str, amount: int = 100_000, batch: str = "vnpay:B1") -> SettlementItem:
    return SettlementItem(lid, "vnpay", provider_ref, amount, "VND", DAY, batch)


def batch(bid: str = "vnpay:B1", amount: int = 100_000, ref: str = "B1", day: date = DAY) -> SettlementBatch:
    return SettlementBatch(bid, "vnpay", ref, ACC, amount, "VND", day)


def cat(result, kind, item_id) -> Category:
    return result.of(kind, item_id).category


# Way 3: direct transfers by reference ------------------------------------------------------


def test_match_direct_transfer_with_reference_and_exact_amount_is_matched_and_settled():
    result = match([direct(1, "FGAAAAAAAAAA")], [], [], [credit(10, 100_000, refs=("FGAAAAAAAAAA",))])
    assert (cat(result, P, 1), cat(result, E, 10)) == (Category.MATCHED, Category.MATCHED)
    assert result.of(P, 1).way is Way.REFERENCE and result.of(P, 1).counterpart == (10,)
    assert result.settled_by == {1: 10}


def test_match_direct_transfer_wrong_amount_is_amount_mismatch_with_delta_and_not_settled():
    result = match([direct(1, "FGAAAAAAAAAA")], [], [], [credit(10, 90_000, refs=("FGAAAAAAAAAA",))])
    assert (cat(result, P, 1), cat(result, E, 10)) == (Category.AMOUNT_MISMATCH, Category.AMOUNT_MISMATCH)
    assert result.of(E, 10).delta == -10_000 and result.of(P, 1).delta == -10_000
    assert result.settled_by == {}


def test_match_direct_transfer_other_currency_never_matches_a_vnd_payment():
    result = match(
        [direct(1, "FGAAAAAAAAAA")], [], [], [credit(10, 100_000, refs=("FGAAAAAAAAAA",), currency="USD")]
    )
    assert cat(result, P, 1) is Category.AMOUNT_MISMATCH
    assert result.of(P, 1).note == "paid in USD"


def test_match_payment_without_credit_is_missing_in_statement():
    result = match([direct(1, "FGAAAAAAAAAA")], [], [], [])
    assert cat(result, P, 1) is Category.MISSING_IN_STATEMENT


def test_match_credit_with_unknown_reference_is_unexpected():
    result = match([], [], [], [credit(10, 5, refs=("FGBBBBBBBBBB",))])
    assert cat(result, E, 10) is Category.UNEXPECTED_IN_STATEMENT
    assert "unknown reference" in result.of(E, 10).note


def test_match_credit_without_reference_is_unexpected():
    assert cat(match([], [], [], [credit(10, 5, "chuyen tien")]), E, 10) is Category.UNEXPECTED_IN_STATEMENT


def test_match_debit_is_unexpected_with_note():
    entry = BankEntry(10, ACC, 5, "VND", Direction.DEBIT, DAY)
    result = match([], [], [], [entry])
    assert cat(result, E, 10) is Category.UNEXPECTED_IN_STATEMENT and result.of(E, 10).note == "debit"


def test_match_credit_naming_two_references_is_ambiguous_and_payments_stay_missing():
    result = match(
        [direct(1, "FGAAAAAAAAAA"), direct(2, "FGBBBBBBBBBB")],
        [],
        [],
        [credit(10, 100_000, refs=("FGAAAAAAAAAA", "FGBBBBBBBBBB"))],
    )
    assert cat(result, E, 10) is Category.AMBIGUOUS
    assert cat(result, P, 1) is cat(result, P, 2) is Category.MISSING_IN_STATEMENT


def test_match_same_reference_paid_twice_second_credit_is_duplicate():
    ref = ("FGAAAAAAAAAA",)
    result = match(
        [direct(1, ref[0])], [], [], [credit(10, 100_000, refs=ref), credit(11, 100_000, refs=ref)]
    )
    assert (cat(result, E, 10), cat(result, E, 11)) == (Category.MATCHED, Category.DUPLICATE)
    assert result.of(E, 11).counterpart == (1,)


def test_match_underpayment_then_full_payment_matches_the_exact_one():
    ref = ("FGAAAAAAAAAA",)
    result = match([direct(1, ref[0])], [], [], [credit(10, 40_000, refs=ref), credit(11, 100_000, refs=ref)])
    assert (cat(result, E, 10), cat(result, E, 11), cat(result, P, 1)) == (
        Category.DUPLICATE,
        Category.MATCHED,
        Category.MATCHED,
    )


def test_match_transfer_for_a_payment_made_through_a_provider_is_duplicate():
    payment = via_provider(1, "T1")
    result = match([payment], [line(20, "T1")], [batch()], [credit(10, 100_000, refs=(payment.reference,))])
    assert cat(result, E, 10) is Category.DUPLICATE and result.of(E, 10).note == "paid through provider too"
    assert cat(result, P, 1) is Category.MATCHED  # by its settlement line


def test_match_same_bank_reference_twice_is_duplicate_entry():
    ref = ("FGAAAAAAAAAA",)
    entries = [credit(10, 100_000, refs=ref, bank_ref="FT1"), credit(11, 100_000, refs=ref, bank_ref="FT1")]
    result = match([direct(1, ref[0])], [], [], entries)
    assert (cat(result, E, 10), cat(result, E, 11)) == (Category.MATCHED, Category.DUPLICATE)
    assert result.of(E, 11).note == "same bank reference"


def test_match_reversed_credit_nets_out_and_payment_is_missing():
    ref = ("FGAAAAAAAAAA",)
    reversal = BankEntry(
        11, ACC, 100_000, "VND", Direction.DEBIT, DAY, bank_ref="FT1", reversal=True, references=ref
    )
    result = match([direct(1, ref[0])], [], [], [credit(10, 100_000, refs=ref, bank_ref="FT1"), reversal])
    assert (cat(result, E, 10), cat(result, E, 11)) == (Category.MATCHED, Category.MATCHED)
    assert result.of(E, 10).way is Way.REVERSAL and result.of(E, 10).counterpart == (11,)
    assert cat(result, P, 1) is Category.MISSING_IN_STATEMENT
    assert result.settled_by == {}


def test_match_reversal_without_original_is_unexpected():
    reversal = BankEntry(11, ACC, 100_000, "VND", Direction.DEBIT, DAY, bank_ref="FT9", reversal=True)
    assert cat(match([], [], [], [reversal]), E, 11) is Category.UNEXPECTED_IN_STATEMENT


# Way 1: provider payments and settlement lines ---------------------------------------------


def test_match_provider_payment_and_line_match_and_settle_through_the_batch_credit():
    result = match([via_provider(1, "T1")], [line(20, "T1")], [batch()], [credit(10, 100_000, "VNPAY B1")])
    assert (cat(result, P, 1), cat(result, S, 20), cat(result, B, "vnpay:B1"), cat(result, E, 10)) == (
        Category.MATCHED,
        Category.MATCHED,
        Category.MATCHED,
        Category.MATCHED,
    )
    assert result.settled_by == {1: 10}


def test_match_provider_line_amount_differs_is_amount_mismatch_on_both():
    result = match([via_provider(1, "T1")], [line(20, "T1", 99_000)], [], [])
    assert (cat(result, P, 1), cat(result, S, 20)) == (Category.AMOUNT_MISMATCH, Category.AMOUNT_MISMATCH)
    assert result.of(S, 20).delta == -1_000


def test_match_provider_payment_without_line_is_missing_and_line_without_payment_unexpected():
    result = match([via_provider(1, "T1")], [line(20, "T2")], [], [])
    assert (cat(result, P, 1), cat(result, S, 20)) == (
        Category.MISSING_IN_STATEMENT,
        Category.UNEXPECTED_IN_STATEMENT,
    )


def test_match_provider_line_reported_twice_second_is_duplicate():
    result = match([via_provider(1, "T1")], [line(20, "T1"), line(21, "T1")], [], [])
    assert (cat(result, S, 20), cat(result, S, 21)) == (Category.MATCHED, Category.DUPLICATE)


def test_match_two_payments_with_one_provider_id_second_is_duplicate():
    result = match([via_provider(1, "T1"), via_provider(2, "T1")], [line(20, "T1")], [], [])
    assert (cat(result, P, 1), cat(result, P, 2)) == (Category.MATCHED, Category.DUPLICATE)


def test_match_provider_line_settled_late_is_matched_with_a_note():
    late = SettlementItem(20, "vnpay", "T1", 100_000, "VND", date(2026, 12, 5), "vnpay:B1")
    outcome = match([via_provider(1, "T1")], [late], [], []).of(P, 1)
    assert outcome.category is Category.MATCHED and "10 days" in outcome.note


def test_match_provider_matched_but_batch_missing_is_not_settled():
    result = match([via_provider(1, "T1")], [line(20, "T1")], [batch()], [])
    assert cat(result, P, 1) is Category.MATCHED
    assert cat(result, B, "vnpay:B1") is Category.MISSING_IN_STATEMENT
    assert result.settled_by == {}


# Way 2: batches and bank credits -------------------------------------------------------------


def test_match_batch_by_reference_in_content_even_outside_the_window():
    late = credit(10, 300_000, "NAPAS VNPAY QT b-1 20261125", day=date(2026, 12, 20))
    result = match([], [], [batch(amount=300_000, ref="B1")], [late])
    assert cat(result, B, "vnpay:B1") is Category.MATCHED and result.of(E, 10).note == "by batch reference"


def test_match_batch_reference_with_wrong_amount_is_amount_mismatch():
    result = match([], [], [batch(amount=300_000, ref="B1")], [credit(10, 299_000, "VNPAY B1")])
    assert cat(result, B, "vnpay:B1") is Category.AMOUNT_MISMATCH and result.of(B, "vnpay:B1").delta == -1_000


def test_match_batch_reference_is_whole_words_only():
    result = match([], [], [batch(amount=300_000, ref="B1")], [credit(10, 1, "VNPAY B12")])
    assert cat(result, B, "vnpay:B1") is Category.MISSING_IN_STATEMENT


def test_match_batch_by_amount_within_business_day_window_across_a_weekend():
    friday = date(2026, 11, 27)
    monday = date(2026, 11, 30)
    tuesday = date(2026, 12, 1)
    result = match(
        [], [], [batch(amount=300_000, ref="", day=friday)], [credit(10, 300_000, "NAPAS CK", day=tuesday)]
    )
    assert cat(result, B, "vnpay:B1") is Category.MATCHED  # Mon and Tue are the two business days
    config = MatchConfig(window_business_days=2, holidays=frozenset({monday}))
    assert add_business_days(friday, 2, config.holidays) == date(2026, 12, 2)
    too_late = credit(10, 300_000, "NAPAS CK", day=date(2026, 12, 2))
    assert cat(match([], [], [batch(amount=300_000, ref="", day=friday)], [too_late]), B, "vnpay:B1") is (
        Category.MISSING_IN_STATEMENT
    )


def test_match_batch_with_two_equal_candidate_credits_is_ambiguous():
    result = match([], [], [batch(amount=300_000, ref="")], [credit(10, 300_000), credit(11, 300_000)])
    assert cat(result, B, "vnpay:B1") is Category.AMBIGUOUS
    assert cat(result, E, 10) is cat(result, E, 11) is Category.AMBIGUOUS


def test_match_two_batches_of_same_amount_one_credit_is_ambiguous():
    batches = [batch("vnpay:B1", 300_000, ""), batch("momo:B2", 300_000, "")]
    result = match([], [], batches, [credit(10, 300_000)])
    assert cat(result, B, "vnpay:B1") is cat(result, B, "momo:B2") is Category.AMBIGUOUS
    assert set(result.of(E, 10).counterpart) == {"vnpay:B1", "momo:B2"}


def test_match_is_independent_of_input_order():
    payments = [direct(1, "FGAAAAAAAAAA"), via_provider(2, "T1")]
    lines = [line(20, "T1"), line(21, "T1")]
    entries = [
        credit(10, 100_000, refs=("FGAAAAAAAAAA",)),
        credit(11, 100_000, refs=("FGAAAAAAAAAA",)),
        credit(12, 200_000),
    ]
    batches = [batch(amount=200_000, ref="")]
    forward = match(payments, lines, batches, entries)
    backward = match(payments[::-1], lines[::-1], batches, entries[::-1])
    key = lambda o: (o.kind, str(o.item_id))  # noqa: E731
    assert sorted(forward.outcomes, key=key) == sorted(backward.outcomes, key=key)


def test_group_batches_sums_net_of_fees_per_batch_and_names_day_batches():
    from reconciliation.matching_types import batch_id_for, group_batches

    items = [
        SettlementItem(1, "vnpay", "T1", 100_000, "VND", DAY, batch_id_for("vnpay", "B7", DAY), fee=1_100),
        SettlementItem(2, "vnpay", "T2", 200_000, "VND", DAY, batch_id_for("vnpay", "B7", DAY), fee=2_200),
        SettlementItem(3, "momo", "M1", 50_000, "VND", DAY, batch_id_for("momo", None, DAY)),
    ]
    batches = group_batches(items, {"vnpay": ACC, "momo": "ACC2"})
    assert [(b.id, b.batch_ref, b.account, b.amount) for b in batches] == [
        ("momo:2026-11-25", "", "ACC2", 50_000),
        ("vnpay:B7", "B7", ACC, 296_700),
    ]
