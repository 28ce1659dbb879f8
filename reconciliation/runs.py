"""Run the daily reconciliation for one account and day, and persist what it found.

The plain pairs (one credit, one reference, one direct payment, same amount, nothing
else naming either: nearly all of a day) are settled first by one statement inside the
database (:mod:`reconciliation.plain_pairs`). The rest of the day's data is streamed
from the database sorted by payment reference and fed to the pure matcher in chunks
(a chunk ends at a reference boundary, so every entry meets the payment it names).
Everything without a reference (provider batches, unknown transfers, provider payments
and their settlement lines) goes through one last call.
Memory therefore stays bounded however large the day is.

Re-running a day is safe: it adds a run, updates the same exceptions (one per item,
keyed by the item) and never settles a payment twice. A payment settled by another
day's statement counts as matched, which is how a late statement heals earlier days.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import islice
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.orm import Session

from payments.audit import record_audit
from payments.db import utcnow
from payments.models import Agency
from reconciliation import repository
from reconciliation.gc_pause import paused_gc
from reconciliation.importers.base import Direction
from reconciliation.matcher import match
from reconciliation.matching_types import (
    BankEntry,
    Channel,
    ItemKind,
    LedgerPayment,
    MatchConfig,
    SettlementItem,
    batch_id_for,
    group_batches,
)
from reconciliation.models import ReconciliationRun
from reconciliation.plain_pairs import settle_plain_pairs
from reconciliation.run_persistence import RunPersister
from reconciliation.run_report import RunReport as RunReport
from webhooks.outbox import record_event

CHUNK_PAYMENTS = 20_000


@dataclass(frozen=True, slots=True)
class RunSettings:
    """What a run needs from configuration."""

    direct_providers: frozenset[str] = frozenset({"vietqr", "sandbox"})
    provider_accounts: dict[str, str] = field(default_factory=dict)  # provider code -> collection account
    match: MatchConfig = MatchConfig()
    #: settle plain pairs with one statement in the database (off: every item goes through the matcher)
    plain_pairs_in_database: bool = True


DIRECTIONS = {direction.value: direction for direction in Direction}
DIRECT, PROVIDER = Channel.DIRECT, Channel.PROVIDER
PAYMENT = ItemKind.PAYMENT
# Vietnam keeps UTC+7 all year (no DST), so a fixed offset gives the local date cheaply.
VIETNAM_OFFSET = timedelta(hours=7)


def _local_date(moment: datetime) -> date:
    """Return the Vietnamese calendar date of an aware moment, or of a naive UTC one."""
    offset = moment.utcoffset()
    return (moment + (VIETNAM_OFFSET - offset if offset is not None else VIETNAM_OFFSET)).date()


def _entry(row: Row[Any]) -> BankEntry:
    (id_, account, amount, currency, direction, booked, remittance, bank_ref, reversal, _, found) = row
    refs = tuple(found.split(",")) if found else ()
    return BankEntry(
        id_, account, amount, currency, DIRECTIONS[direction], booked, remittance, bank_ref, reversal, refs
    )


def _chunks(
    payments: Iterator[Row[Any]], entries: Iterator[Row[Any]], settings: RunSettings, persister: RunPersister
) -> Iterator[tuple[list[LedgerPayment], list[BankEntry], set[int], list[LedgerPayment]]]:
    """Yield (direct payments, their entries, already-settled ids, provider payments) by reference range."""
    pending_entry: Row[Any] | None = next(entries, None)
    boundary = ""
    while True:
        direct: list[LedgerPayment] = []
        via_provider: list[LedgerPayment] = []
        settled_here: set[int] = set()
        consumed = 0
        day, account, direct_providers = persister.run.day, persister.run.account, settings.direct_providers
        for row in islice(payments, CHUNK_PAYMENTS):
            consumed += 1
            (
                id_,
                reference,
                amount,
                currency,
                finished_at,
                provider_code,
                provider_ref,
                entry_id,
                settled_on,
            ) = row
            boundary = reference
            if entry_id is not None:
                if settled_on != day:
                    persister.matched_elsewhere(row)
                    continue
                settled_here.add(id_)
            channel = DIRECT if provider_code in direct_providers else PROVIDER
            paid_on = _local_date(finished_at) if finished_at else day
            payment = LedgerPayment(
                id_, reference, amount, currency, paid_on, account, channel, provider_code, provider_ref or ""
            )
            (direct if channel is DIRECT else via_provider).append(payment)
        # Fewer than a full chunk: these are the last payments, so every entry left joins them
        # (a redelivered entry naming another reference still meets its original).
        exhausted = consumed < CHUNK_PAYMENTS
        chunk_entries: list[BankEntry] = []
        while pending_entry is not None and (exhausted or pending_entry.reference <= boundary):
            chunk_entries.append(_entry(pending_entry))
            pending_entry = next(entries, None)
        yield direct, chunk_entries, settled_here, via_provider
        if exhausted:
            return


def run_day(
    session: Session,
    day: date,
    account: str,
    *,
    settings: RunSettings,
    actor: str,
    progress: Callable[[int], None] | None = None,
) -> RunReport:
    """Reconcile one collection account for one day and persist the outcome.

    ``progress``, if given, is called with each number of payments and entries just matched.
    """
    with paused_gc():
        return _run_day(session, day, account, settings=settings, actor=actor, progress=progress)


def _run_day(
    session: Session,
    day: date,
    account: str,
    *,
    settings: RunSettings,
    actor: str,
    progress: Callable[[int], None] | None = None,
) -> RunReport:
    """Do the work of :func:`run_day` (the collector is paused by the caller)."""
    mark_stale_runs(session, day, account)
    run = ReconciliationRun(day=day, account=account, status="running", actor=actor, counts={})
    session.add(run)
    session.flush()
    if not repository.has_statement_for(session, account, day):
        run.status = "no_statement"
        run.finished_at = utcnow()
        return RunReport(run.id, day, account, "no_statement")
    repository.allow_large_sorts(session)
    persister = RunPersister(session, run, actor)
    if settings.plain_pairs_in_database:
        settled = settle_plain_pairs(
            session,
            account=account,
            day=day,
            run_id=run.id,
            direct_providers=settings.direct_providers,
            now=utcnow(),
        )
        persister.settled_in_database(settled)
        if progress is not None:
            progress(2 * settled)  # a payment and an entry each
    # What the database settled for this run just now is left out of both streams.
    payments = repository.stream_payments(session, account, day, run.id)
    referenced = repository.stream_entries(session, account, day, with_reference=True, run_id=run.id)
    provider_payments: list[LedgerPayment] = []
    settled_before: set[int] = set()
    for direct, entries, settled_here, via_provider in _chunks(payments, referenced, settings, persister):
        provider_payments.extend(via_provider)
        settled_before |= settled_here
        # Provider payments join the chunk only so a transfer naming one is seen as paid twice;
        # their own outcome comes from the final call, against their settlement lines.
        result = match([*direct, *via_provider], [], [], entries, settings.match)
        if via_provider:
            later = {payment.id for payment in via_provider}
            result.outcomes = [o for o in result.outcomes if not (o.kind is PAYMENT and o.item_id in later)]
        persister.write(result, entries, settled_here)
        if progress is not None:
            progress(len(direct) + len(via_provider) + len(entries))
    # The rest: entries without one reference, provider payments, settlement lines and batches.
    rest = [_entry(row) for row in repository.stream_entries(session, account, day, with_reference=False)]
    providers = [code for code, acc in settings.provider_accounts.items() if acc == account]
    providers += sorted({p.provider_code for p in provider_payments} - set(providers))
    window_start = day - timedelta(days=7 + 2 * settings.match.window_business_days)
    lines = repository.list_settlement_lines(session, providers, window_start, day)
    items = [
        SettlementItem(
            line.id,
            line.provider_code,
            line.provider_ref,
            line.amount,
            line.currency,
            line.settled_on,
            batch_id_for(line.provider_code, line.batch_ref, line.settled_on),
            line.fee,
        )
        for line in lines
    ]
    account_of = {code: settings.provider_accounts.get(code, account) for code in providers}
    done_elsewhere = repository.batches_matched_elsewhere(session, account, day)
    batches = [b for b in group_batches(items, account_of) if b.id not in done_elsewhere]
    todays = [item for item in items if item.settled_on == day]
    result = match(provider_payments, todays, batches, rest, settings.match)
    persister.write(result, rest, settled_before)
    session.flush()
    report = persister.report
    run.status = "done"
    run.counts = dict(report.counts)
    run.finished_at = utcnow()
    record_audit(
        session,
        actor=actor,
        action="reconciliation.run",
        entity_type="reconciliation_run",
        entity_id=str(run.id),
        detail={
            "day": day.isoformat(),
            "account": account,
            "categories": report.categories(),
            "settled": report.settled,
        },
    )
    _announce(session, report)
    return report


def _announce(session: Session, report: RunReport) -> None:
    """Tell each agency collecting into the account that its day is reconciled (an outbox event)."""
    agency_ids = session.scalars(select(Agency.id).where(Agency.treasury_account == report.account)).all()
    for agency_id in agency_ids:
        record_event(
            session,
            agency_id=agency_id,
            event_type="reconciliation.completed",
            aggregate_type="reconciliation_run",
            aggregate_id=str(report.run_id),
            data={"object": "reconciliation_run", **report.as_json()},
        )


def mark_stale_runs(session: Session, day: date, account: str) -> None:
    """Mark earlier runs of the same day and account as superseded (history stays)."""
    session.execute(
        update(ReconciliationRun)
        .where(
            ReconciliationRun.day == day,
            ReconciliationRun.account == account,
            ReconciliationRun.status == "done",
        )
        .values(status="superseded")
    )
