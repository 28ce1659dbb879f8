"""Settle the plain case of way 3 inside the database, with one ``INSERT ... SELECT``.

Almost every line of a day is plain: one booked credit naming one reference, the
direct payment of that reference, same amount and currency, and nothing else of the
day that the matcher could set against either of them. For such a pair the pure
matcher (:func:`reconciliation.matcher.match`) can only answer "matched, settled by
this entry", whatever else the day holds, so the database writes its settlement row
directly and the pair never travels to Python. Everything else goes to the matcher
as before; ``tests/reconciliation/test_plain_pairs.py`` checks on random days that
both ways give the same categories.

The conditions, each mirroring a rule of the matcher that could otherwise touch the pair:

* the entry is a booked, non-reversal credit whose only found reference is ``R``
  (the reference rule looks at credits naming exactly one reference);
* no other entry of the day names ``R`` as its one reference (else several credits
  claim the payment: duplicate or mismatch);
* no other entry of the day shares its bank reference (else one is a duplicate delivery);
* no reversal of the day carries its bank reference or ``R`` (else they net each other);
* the payment is the succeeded, direct-channel payment ``R`` of an agency collecting
  into the account, with the entry's amount and currency (else mismatch or duplicate);
* the payment is not settled yet (a settled one is shown as such by the matcher).

The statement runs the same on PostgreSQL and SQLite. Rows go in ordered by payment
id, so the primary key's btree grows at its right edge instead of at random places.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, String, and_, case, cast, exists, insert, literal, select
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased

from payments.db import UTCDateTime
from payments.models import Agency, Payment
from payments.state import PaymentStatus
from reconciliation.importers.base import Direction
from reconciliation.models import PaymentSettlement, StatementEntry

SETTLEMENT_COLUMNS = ("payment_id", "entry_id", "settled_on", "statement_ref", "run_id", "created_at")
#: How many ids one ``IN (...)`` list carries (SQLite's limit on bound parameters is far above).
ID_BATCH = 500


def settle_plain_pairs(
    session: Session,
    *,
    account: str,
    day: date,
    run_id: int,
    direct_providers: Collection[str],
    now: datetime,
) -> int:
    """Write a settlement, owned by ``run_id``, for every plain pair of the day; return how many."""
    entry = aliased(StatementEntry, name="e")
    other = aliased(StatementEntry, name="other")
    reversal = aliased(StatementEntry, name="rev")

    def of_the_day(table: type[StatementEntry]) -> ColumnElement[bool]:
        return and_(table.account == account, table.booking_date == day)

    def reversal_lists(text: InstrumentedAttribute[Any]) -> ColumnElement[bool]:
        # found_references is comma-separated. Only an alphanumeric text can equal a reference, and
        # for one LIKE is plain equality; any other text, wildcards and all, can only match more,
        # which sends the pair to the matcher: never wrong, just slower.
        return (literal(",") + reversal.found_references + ",").like(literal("%,") + text + ",%")

    names_same_reference = exists().where(
        of_the_day(other), other.reference == entry.reference, other.id != entry.id
    )
    shares_bank_ref = exists().where(
        of_the_day(other), other.bank_ref == entry.bank_ref, other.id != entry.id
    )
    reversal_names_it = exists().where(
        of_the_day(reversal),
        reversal.reversal.is_(True),
        # A reversal sharing the bank reference is already "another entry with that bank reference".
        (reversal.bank_ref == entry.reference)
        | reversal_lists(entry.reference)
        | reversal_lists(entry.bank_ref),
    )
    already_settled = exists().where(PaymentSettlement.payment_id == Payment.id)
    pairs = (
        select(
            Payment.id,
            entry.id,
            entry.booking_date,
            case((entry.bank_ref != "", entry.bank_ref), else_=literal("entry:") + cast(entry.id, String)),
            literal(run_id),
            literal(now, UTCDateTime),
        )
        .join_from(entry, Payment, Payment.reference == entry.reference)
        .join(Agency, Agency.id == Payment.agency_id)
        .where(
            of_the_day(entry),
            entry.status == "BOOK",
            entry.direction == Direction.CREDIT.value,
            entry.reversal.is_(False),
            entry.found_references == entry.reference,
            Payment.status == PaymentStatus.SUCCEEDED,
            Payment.provider_code.in_(sorted(direct_providers)),
            Payment.amount == entry.amount,
            Payment.currency == entry.currency,
            Agency.treasury_account == account,
            ~already_settled,
            ~names_same_reference,
            (entry.bank_ref == "") | ~shares_bank_ref,
            ~reversal_names_it,
        )
        .order_by(Payment.id)
    )
    # SQLAlchemy reads an INSERT's row count only when asked to.
    statement = insert(PaymentSettlement).from_select(SETTLEMENT_COLUMNS, pairs)
    result = session.execute(statement.execution_options(preserve_rowcount=True))
    return max(result.rowcount, 0)  # type: ignore[attr-defined]


def settled_pairs_among(
    session: Session, run_id: int, payment_ids: Iterable[int], entry_ids: Iterable[int]
) -> set[tuple[int, int]]:
    """Return the (payment, entry) pairs ``run_id`` settled that involve any of these ids."""
    found: set[tuple[int, int]] = set()
    for column, ids in (
        (PaymentSettlement.payment_id, sorted(payment_ids)),
        (PaymentSettlement.entry_id, sorted(entry_ids)),
    ):
        for start in range(0, len(ids), ID_BATCH):
            rows = session.execute(
                select(PaymentSettlement.payment_id, PaymentSettlement.entry_id).where(
                    PaymentSettlement.run_id == run_id, column.in_(ids[start : start + ID_BATCH])
                )
            )
            found.update((payment_id, entry_id) for payment_id, entry_id in rows)
    return found
