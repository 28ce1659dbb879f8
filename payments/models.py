"""Tenants, keys, invoices, payment attempts, the audit log and idempotency records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .db import Base, BigIntId, UTCDateTime, utcnow
from .state import InvoiceStatus, PaymentStatus, RefundStatus


def _enum(cls: type) -> Enum:
    # Store the lower-case values, not member names, as plain VARCHAR + CHECK.
    return Enum(cls, native_enum=False, length=24, values_callable=lambda e: [m.value for m in e])


class Agency(Base):
    """A government agency: the tenant whose portal calls the API."""

    __tablename__ = "agencies"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    treasury_account: Mapped[str] = mapped_column(String(64))
    treasury_code: Mapped[str] = mapped_column(String(16))  # ma_kbnn, the State Treasury office
    return_origins: Mapped[list[str]] = mapped_column(JSON, default=list)
    enabled_providers: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiKey(Base):
    """A portal backend's credential; only a keyed hash of the secret is stored."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    key_id: Mapped[str] = mapped_column(String(24), unique=True)  # public half, for lookup
    secret_hash: Mapped[str] = mapped_column(String(64))  # HMAC-SHA256(pepper, secret), hex
    mode: Mapped[str] = mapped_column(String(8))  # "test" or "live"
    label: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    agency: Mapped[Agency] = relationship(lazy="joined")


class Invoice(Base):
    """A fee invoice for one dossier, paid at most once."""

    __tablename__ = "invoices"
    __table_args__ = (
        CheckConstraint("total > 0", name="total_positive"),
        Index("ix_invoices_agency_reference", "agency_id", "reference"),
        Index("ix_invoices_agency_created", "agency_id", "id"),
        Index("ix_invoices_open_expiry", "expires_at", postgresql_where=text("status = 'open'")),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    #: no foreign key (migration 0009: it locked the agency row on every insert); agencies are never deleted
    agency_id: Mapped[int] = mapped_column(BigIntId)
    reference: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(255))
    total: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="VND")
    payer_name: Mapped[str | None] = mapped_column(String(255))
    payer_id_number: Mapped[str | None] = mapped_column(String(32))
    payer_phone: Mapped[str | None] = mapped_column(String(32))
    payer_email: Mapped[str | None] = mapped_column(String(255))
    return_url: Mapped[str] = mapped_column(String(2048))
    language: Mapped[str] = mapped_column(String(2), default="vi")
    metadata_: Mapped[dict[str, str]] = mapped_column("metadata", JSON, default=dict)
    status: Mapped[InvoiceStatus] = mapped_column(_enum(InvoiceStatus), default=InvoiceStatus.OPEN)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    agency: Mapped[Agency] = relationship(lazy="raise", primaryjoin="foreign(Invoice.agency_id) == Agency.id")
    items: Mapped[list[InvoiceItem]] = relationship(
        lazy="selectin",
        order_by="InvoiceItem.position",
        cascade="all, delete-orphan",
        primaryjoin="Invoice.id == foreign(InvoiceItem.invoice_id)",
    )


class InvoiceItem(Base):
    """One fee or charge line, with its budget classification."""

    __tablename__ = "invoice_items"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    #: no foreign key (migration 0009): written by the statement that inserts its invoice, never deleted
    invoice_id: Mapped[int] = mapped_column(BigIntId, index=True)
    position: Mapped[int] = mapped_column(Integer)
    fee_code: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(String(255))
    amount: Mapped[int] = mapped_column(BigInteger)
    chapter_code: Mapped[str] = mapped_column(String(8))  # chương
    sub_item_code: Mapped[str] = mapped_column(String(8))  # tiểu mục (NDKT)


class Payment(Base):
    """One attempt to pay an invoice through one provider."""

    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        UniqueConstraint("provider_code", "provider_ref"),
        # The database, not the code, guarantees at most one success per invoice.
        Index(
            "uq_payments_one_success_per_invoice",
            "invoice_id",
            unique=True,
            postgresql_where=text("status = 'succeeded'"),
            sqlite_where=text("status = 'succeeded'"),
        ),
        Index("ix_payments_open_attempts", "status", "updated_at"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)  # what the provider sees
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"))
    provider_code: Mapped[str] = mapped_column(String(32))
    provider_ref: Mapped[str | None] = mapped_column(String(128))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="VND")
    status: Mapped[PaymentStatus] = mapped_column(_enum(PaymentStatus), default=PaymentStatus.CREATED)
    #: why a person must look at this attempt (amount mismatch, refund required, late success)
    review_reason: Mapped[str | None] = mapped_column(String(64))
    #: the redirect or QR the citizen was given, so a double submit gets the same one
    next_action: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    checkout_nonce: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    invoice: Mapped[Invoice] = relationship(lazy="raise")


class AuditEntry(Base):
    """Append-only record of every state change and administrative action."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(64), index=True)
    agency_id: Mapped[int | None] = mapped_column(BigIntId)  # no foreign key: see Invoice.agency_id
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class IdempotencyKey(Base):
    """A client's ``Idempotency-Key`` with the fingerprint and response of its first request."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("agency_id", "key"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"))
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished: Mapped[bool] = mapped_column(Boolean, default=False)
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    response_location: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class Refund(Base):
    """A full or partial refund of a succeeded attempt; all of them together never exceed its amount."""

    __tablename__ = "refunds"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)  # what the provider sees
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), index=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[RefundStatus] = mapped_column(_enum(RefundStatus), default=RefundStatus.CREATED)
    reason: Mapped[str] = mapped_column(String(255), default="")
    provider_refund_ref: Mapped[str | None] = mapped_column(String(128))
    provider_message: Mapped[str] = mapped_column(String(255), default="")
    requested_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
