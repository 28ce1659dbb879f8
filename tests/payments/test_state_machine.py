"""The transition table, edge by edge, and random event sequences applied through the real services.

The property test drives one fresh invoice per Hypothesis example (1-3 attempts,
started in every way an attempt can start) through random provider callbacks,
exact re-sends, cancellation and expiry, and after every step checks the
database against a small reference model and against the table's invariants.
More examples: ``pytest --hypothesis-profile=thorough`` (see tests/conftest.py).
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update

from payments import attempts, repository, service
from payments.db import get_session
from payments.models import AuditEntry, Invoice, Payment
from payments.provider_registry import get_registry
from payments.state import (
    TRANSITIONS,
    InvoiceStatus,
    PaymentStatus,
    allowed_sources,
    is_allowed,
    is_terminal,
)
from payments.transitions import transition
from providers.errors import ProviderRejected, ProviderUnavailable
from tests.factories import create_invoice
from tests.sandbox_callbacks import Attempt, callback_body, post_callback, sandbox_secret, signed_headers
from webhooks.models import OutboxEvent

IS, PS = InvoiceStatus, PaymentStatus
OPEN_ATTEMPT = {PS.CREATED, PS.PENDING, PS.UNKNOWN}

#: the issue's state machine, written out independently of payments.state
EXPECTED_EDGES = {
    (IS.OPEN, IS.PAID),
    (IS.OPEN, IS.EXPIRED),
    (IS.OPEN, IS.CANCELLED),
    (PS.CREATED, PS.PENDING),
    (PS.UNKNOWN, PS.PENDING),
    (PS.CREATED, PS.UNKNOWN),
    (PS.PENDING, PS.UNKNOWN),
    *(
        (source, target)
        for source in OPEN_ATTEMPT
        for target in (PS.SUCCEEDED, PS.SUCCEEDED_DUPLICATE, PS.FAILED, PS.CANCELLED, PS.EXPIRED)
    ),
}
PAIRS = [*itertools.product(IS, IS), *itertools.product(PS, PS)]


# --- the table ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("source", "target"), PAIRS, ids=lambda s: f"{type(s).__name__[0]}.{s.value}")
def test_transition_table_edge_allowed_exactly_when_expected(source, target):
    assert is_allowed(source, target) == ((source, target) in EXPECTED_EDGES)


@pytest.mark.parametrize(("invoice_status", "payment_status"), list(itertools.product(IS, PS)), ids=str)
def test_transition_table_never_crosses_entities(invoice_status, payment_status):
    # 'cancelled' and 'expired' are values of both enums: equal strings must not make them one state.
    assert not is_allowed(invoice_status, payment_status)
    assert not is_allowed(payment_status, invoice_status)


@pytest.mark.parametrize("status", [*IS, *PS], ids=lambda s: f"{type(s).__name__[0]}.{s.value}")
def test_transition_table_terminal_states_have_no_way_out(status):
    leaves = any(source == status for source, _target in EXPECTED_EDGES)
    assert is_terminal(status) == (not leaves)
    assert all(not is_allowed(status, target) for target in type(status)) == is_terminal(status)


def test_transition_table_initial_states_cannot_be_reentered():
    assert allowed_sources(IS.OPEN) == frozenset() and allowed_sources(PS.CREATED) == frozenset()
    assert set(TRANSITIONS) == {"invoice", "payment"}
    assert all(isinstance(s, IS) for edges in TRANSITIONS["invoice"].items() for s in {edges[0], *edges[1]})
    assert all(isinstance(s, PS) for edges in TRANSITIONS["payment"].items() for s in {edges[0], *edges[1]})


@pytest.mark.parametrize("target", [*IS, *PS], ids=lambda s: f"{type(s).__name__[0]}.{s.value}")
def test_transition_on_database_moves_only_along_table_edges(app, client, agency, target):
    # Put a real row in every source state in turn, ask for ``target``, and look at what was written.
    invoice_json = create_invoice(client, agency)
    with app.app_context():
        session = get_session()
        invoice = repository.get_invoice_by_public_id(session, invoice_json["id"])
        payment = attempts.create_attempt(session, invoice, "sandbox", nonce=None, actor="test")
        session.commit()
        entity: Any = invoice if isinstance(target, IS) else payment
        model = type(entity)
        for source in type(target):
            session.execute(update(model).where(model.id == entity.id).values(status=source))
            session.commit()
            session.refresh(entity)
            audit_before = session.scalar(select(func.count()).select_from(AuditEntry))
            events_before = session.scalar(select(func.count()).select_from(OutboxEvent))

            moved = transition(session, entity, target, actor="test", event_data=lambda: {})
            session.commit()

            allowed = (source, target) in EXPECTED_EDGES
            assert moved == allowed, (source, target)
            assert session.scalar(select(model.status).where(model.id == entity.id)) == (
                target if moved else source
            )
            assert session.scalar(select(func.count()).select_from(AuditEntry)) == audit_before + allowed
            assert session.scalar(select(func.count()).select_from(OutboxEvent)) == events_before + allowed


def test_transition_audits_the_status_the_row_had_not_the_one_read_earlier(app, client, agency, session):
    # A request reads the attempt as 'created'; before it writes, another transaction moves the
    # attempt on. The audit entry must name the edge that really happened.
    invoice_json = create_invoice(client, agency)
    [payment] = _start_attempts(app, invoice_json["id"], ["created"])
    with app.app_context():
        reader = get_session()
        stale = reader.get_one(Payment, payment.id)
        reader.commit()  # the read is over; the row is 'created' in memory
        with app.app_context():
            other = get_session()
            assert transition(
                other, other.get_one(Payment, payment.id), PS.PENDING, actor="test", event_data=dict
            )
            other.commit()

        assert transition(reader, stale, PS.FAILED, actor="test", event_data=dict)
        reader.commit()

    try:
        details = session.scalars(
            select(AuditEntry.detail).where(AuditEntry.entity_id == payment.public_id).order_by(AuditEntry.id)
        ).all()
    finally:
        session.rollback()
    assert [(d.get("from"), d.get("to")) for d in details] == [
        (None, None),  # payment.created
        ("created", "pending"),
        ("pending", "failed"),
    ]


# --- random event sequences --------------------------------------------------------------------

OUTCOMES = ("succeeded", "failed", "pending", "cancelled")
START_MODES = ("pending", "created", "unknown", "failed")  # redirected, never launched, timed out, refused


@dataclass
class Model:
    """What the issue says must happen, in plain Python."""

    invoice: str = "open"
    payments: list[str] = field(default_factory=list)
    reasons: list[str | None] = field(default_factory=list)
    seen: set[tuple[int, int, str]] = field(default_factory=set)  # (attempt, transaction, status) statements

    def flag(self, i: int, reason: str) -> None:
        # The latest distinct reason is current; the audit log keeps every one.
        self.reasons[i] = reason

    def callback(self, i: int, txn: int, outcome: str, amount_ok: bool) -> None:
        if (i, txn, outcome) in self.seen:
            return  # the inbox has this statement already
        self.seen.add((i, txn, outcome))
        status = self.payments[i]
        is_open = status in OPEN_ATTEMPT
        if not amount_ok:
            self.flag(i, "amount_mismatch")
        elif outcome == "succeeded" and is_open and "succeeded" in self.payments:
            self.payments[i] = "succeeded_duplicate"
            self.flag(i, "refund_required")
        elif outcome == "succeeded" and is_open:
            self.payments[i] = "succeeded"
            if self.invoice == "open":
                self.invoice = "paid"
            else:
                self.flag(i, "refund_required")
        elif outcome == "succeeded" and status not in ("succeeded", "succeeded_duplicate"):
            self.flag(i, "late_success")
        elif outcome == "pending" and status in ("created", "unknown"):
            self.payments[i] = "pending"
        elif outcome in ("failed", "cancelled") and is_open:
            self.payments[i] = outcome

    def close(self, to: str) -> None:
        if self.invoice == "open":
            self.invoice = to
            self.payments = [to if s == "created" else s for s in self.payments]


callbacks = st.tuples(
    st.just("callback"),
    st.integers(0, 2),  # which attempt (modulo how many there are)
    st.integers(0, 1),  # which provider transaction: two can speak about one attempt
    st.sampled_from(OUTCOMES),
    st.sampled_from([True, True, True, False]),  # amount and currency as we asked
)
scenarios = st.tuples(
    st.lists(st.sampled_from(START_MODES), min_size=1, max_size=3),
    st.lists(
        st.one_of(callbacks, callbacks, st.just(("resend",)), st.just(("cancel",)), st.just(("expire",))),
        max_size=10,
    ),
)


class _Refusing:
    """An adapter whose provider times out or refuses, for attempts that start ``unknown`` or ``failed``."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def start_payment(self, _request: object) -> None:
        raise self.error


def _start_attempts(app, invoice_id: str, modes: list[str]) -> list[Payment]:
    with app.app_context():
        session = get_session()
        invoice = repository.get_invoice_by_public_id(session, invoice_id)
        agency = repository.get_agency(session, invoice.agency_id)
        started = []
        for mode in modes:
            payment = attempts.create_attempt(session, invoice, "sandbox", nonce=None, actor="citizen")
            session.commit()
            adapter: Any = {
                "pending": get_registry().for_agency("sandbox", agency.code),
                "unknown": _Refusing(ProviderUnavailable("sandbox", "read timed out", timed_out=True)),
                "failed": _Refusing(ProviderRejected("sandbox", "merchant suspended")),
            }.get(mode)
            if adapter is not None:
                attempts.launch_attempt(session, adapter, payment, invoice, client_ip="127.0.0.1")
                session.commit()
            assert payment.status.value == mode
            started.append(payment)
        return started


def _observe(session, invoice_id: str) -> dict[str, Any]:
    try:
        invoice = session.scalars(select(Invoice).where(Invoice.public_id == invoice_id)).one()
        payments = session.scalars(
            select(Payment).where(Payment.invoice_id == invoice.id).order_by(Payment.id)
        ).all()
        ids = [invoice_id, *(p.public_id for p in payments)]
        return {
            "invoice": invoice.status.value,
            "payments": [p.status.value for p in payments],
            "reasons": [p.review_reason for p in payments],
            "audit": session.execute(
                select(AuditEntry.action, AuditEntry.entity_id, AuditEntry.detail)
                .where(AuditEntry.entity_id.in_(ids))
                .order_by(AuditEntry.id)
            ).all(),
            "events": Counter(
                session.execute(
                    select(OutboxEvent.event_type, OutboxEvent.aggregate_id).where(
                        OutboxEvent.aggregate_id.in_(ids)
                    )
                ).all()
            ),
            "ids": ids,
        }
    finally:
        session.rollback()


def _check_invariants(seen: dict[str, Any], before: dict[str, Any] | None, model: Model) -> None:
    # 1. The database says what the model says.
    assert (seen["invoice"], seen["payments"], seen["reasons"]) == (
        model.invoice,
        model.payments,
        model.reasons,
    )
    # 2. Every audited transition is an edge of the table, and each entity's edges chain from its
    #    initial state to the status it has now.
    current = {seen["ids"][0]: IS(seen["invoice"])} | {
        pid: PS(status) for pid, status in zip(seen["ids"][1:], seen["payments"], strict=True)
    }
    chain: dict[str, Any] = {seen["ids"][0]: IS.OPEN} | dict.fromkeys(seen["ids"][1:], PS.CREATED)
    for action, entity_id, detail in seen["audit"]:
        if action in ("invoice.created", "payment.created", "payment.needs_review"):
            continue
        kind = IS if entity_id == seen["ids"][0] else PS
        source, target = kind(detail["from"]), kind(detail["to"])
        assert action == f"{'invoice' if kind is IS else 'payment'}.{target.value}"
        assert is_allowed(source, target), (action, source, target)
        assert source == chain[entity_id], (
            f"{entity_id}: audited {source}->{target} but it was {chain[entity_id]}"
        )
        chain[entity_id] = target
    assert chain == current
    # 3. Terminal states never change.
    if before is not None:
        for entity_id, status in zip(before["ids"], [before["invoice"], *before["payments"]], strict=False):
            kind = IS if entity_id == before["ids"][0] else PS
            if is_terminal(kind(status)):
                assert current[entity_id] == kind(status)
    # 4. At most one success per invoice, and the invoice is paid exactly when one counted.
    succeeded = seen["payments"].count("succeeded")
    assert succeeded <= 1
    assert (seen["invoice"] == "paid") == (succeeded == 1 and seen["invoice"] not in ("cancelled", "expired"))
    # 5. One outbox event per audited change.
    audited = Counter((action, entity_id) for action, entity_id, _ in seen["audit"])
    assert seen["events"] == audited


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # each example makes its own invoice
@given(scenario=scenarios)
def test_state_machine_random_event_sequences_keep_invariants(app, client, agency, session, scenario):
    modes, events = scenario
    invoice_json = create_invoice(client, agency)
    payments = _start_attempts(app, invoice_json["id"], modes)
    model = Model(payments=list(modes), reasons=[None] * len(modes))
    secret = sandbox_secret(client)
    before = _observe(session, invoice_json["id"])
    _check_invariants(before, None, model)
    last_callback: tuple[bytes, dict[str, str]] | None = None

    for event in events:
        if event[0] == "callback":
            _, i, txn, outcome, amount_ok = event
            i %= len(payments)
            payment = payments[i]
            attempt = Attempt(
                invoice_json["id"], payment.reference, agency.code, payment.amount, payment.currency
            )
            body = callback_body(
                attempt,
                outcome,
                transaction_id=f"T{payment.reference}{txn}",
                amount=payment.amount if amount_ok else payment.amount + 1,
            )
            last_callback = (body, signed_headers(secret, body))
            response = post_callback(client, *last_callback)
            assert response.status_code == 200, response.get_data(as_text=True)
            model.callback(i, txn, outcome, amount_ok)
        elif event[0] == "resend":
            if last_callback is None:
                continue
            response = post_callback(client, *last_callback)
            assert response.status_code == 200 and response.get_json()["result"] == "duplicate"
        elif event[0] == "cancel":
            response = client.post(f"/api/v1/invoices/{invoice_json['id']}/cancel", headers=agency.headers)
            assert response.status_code == (200 if model.invoice in ("open", "cancelled") else 409)
            model.close("cancelled")
        else:
            with app.app_context():
                expires_at = repository.get_invoice_by_public_id(get_session(), invoice_json["id"]).expires_at
                service.expire_invoices(get_session(), now=expires_at + timedelta(seconds=1))
                get_session().commit()
            model.close("expired")
        seen = _observe(session, invoice_json["id"])
        _check_invariants(seen, before, model)
        before = seen
