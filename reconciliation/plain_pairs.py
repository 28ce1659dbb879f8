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
* no reversal of the day carries its bank reference or ``R``, as bank reference or found
  reference (else they could net each other);
* the payment is the succeeded, direct-channel payment ``R`` of an agency collecting
  into the account, with the entry's amount and currency (else mismatch or duplicate);
* the payment is not settled yet (a settled one is shown as such by the matcher).

The statement runs the same on PostgreSQL and SQLite. Rows go in ordered by payment
id, so the primary key's btree grows at its right edge instead of at random places.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import date, datetime

from sqlalchemy import ColumnElement, String, and_, case, cast, exists, func, insert, literal, select
from sqlalchemy.orm import Session, aliased

from payments.db import UTCDateTime
from payments.models import Agency, Payment
from payments.state import PaymentStatus
from reconciliation.importers.base import Direction
from reconciliation.models import PaymentSettlement, StatementEntry

SETTLEMENT_COLUMNS = ("payment_id", "entry_id", "settled_on", "statement_ref", "run_id", "created_at")
#: How many ids one ``IN (...)`` list carries (SQLite's limit on bound parameters is far above).
ID_BATCH = 500
#: Beyond this many texts carried by the day's reversals, the whole day goes to the matcher.
MAX_REVERSAL_TEXTS = 5_000


def _of_the_day(table: type[StatementEntry], account: str, day: date) -> ColumnElement[bool]:
    return and_(table.account == account, table.booking_date == day)


def _reversal_texts(session: Session, account: str, day: date) -> list[str]:
    """Every bank reference and reference a reversal of the day carries: what it could net against.

    Reversals are few, so they are read here and handed to the statement as a list; as a
    subquery the planner misjudged them and scanned them once per entry.
    """
    rows = session.execute(
        select(StatementEntry.bank_ref, StatementEntry.found_references).where(
            _of_the_day(StatementEntry, account, day), StatementEntry.reversal.is_(True)
        )
    )
    texts = {text for bank_ref, found in rows for text in (bank_ref, *found.split(",")) if text}
    return sorted(texts)


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
    reversal_texts = _reversal_texts(session, account, day)
    if len(reversal_texts) > MAX_REVERSAL_TEXTS:
        return 0  # an odd day: let the matcher do all of it rather than ship a huge list
    entry = aliased(StatementEntry, name="e")
    other = aliased(StatementEntry, name="other")
    # Texts that more than one entry of the day carries: few, so the database keeps them as a
    # hashed list. (Written as "no other entry with ...", the planner counts each entry's match
    # with itself, expects no row to survive and picks per-row loops for a million rows.)
    shared_references = (
        select(other.found_references)
        .where(_of_the_day(other, account, day), other.found_references != "")
        .group_by(other.found_references)
        .having(func.count() > 1)
    )
    shared_bank_refs = (
        select(other.bank_ref)
        .where(_of_the_day(other, account, day), other.bank_ref != "")
        .group_by(other.bank_ref)
        .having(func.count() > 1)
    )
    collecting_agencies = select(Agency.id).where(Agency.treasury_account == account)
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
        # found_references is what the matcher reads: joined to a reference, it holds that one alone.
        .join_from(entry, Payment, Payment.reference == entry.found_references)
        .where(
            _of_the_day(entry, account, day),
            entry.status == "BOOK",
            entry.direction == Direction.CREDIT.value,
            entry.reversal.is_(False),
            Payment.status == PaymentStatus.SUCCEEDED,
            Payment.provider_code.in_(sorted(direct_providers)),
            Payment.amount == entry.amount,
            Payment.currency == entry.currency,
            Payment.agency_id.in_(collecting_agencies),
            ~already_settled,
            entry.found_references.not_in(shared_references),
            entry.bank_ref.not_in(shared_bank_refs),
            entry.found_references.not_in(reversal_texts),
            entry.bank_ref.not_in(reversal_texts),
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
