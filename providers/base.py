"""The provider Protocol and the frozen dataclasses that cross it.

Adapters never see ORM rows or Flask objects: the payments service hands them a
:class:`PaymentRequest`, the callback view hands them a :class:`CallbackRequest`,
and they answer with the values defined here. Amounts are always integer VND
here; an adapter converts to its provider's unit (VNPay: x100) at its own edge.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable


class Outcome(enum.StrEnum):
    """What a provider says happened to a payment."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    PENDING = "pending"


class CallbackResult(enum.StrEnum):
    """What we did with a callback; each adapter renders it in its provider's format."""

    RECORDED = "recorded"  # verified and applied (success or failure alike)
    DUPLICATE = "duplicate"  # seen before, or the payment was already final: nothing changed
    NOT_FOUND = "not_found"  # verified, but no payment has that reference
    AMOUNT_MISMATCH = "amount_mismatch"  # verified, but amount or currency differ: flagged for review
    REJECTED = "rejected"  # signature or merchant check failed
    ERROR = "error"  # we could not record it; the provider should retry


@dataclass(frozen=True, slots=True)
class PaymentRequest:
    """Everything an adapter needs to start one payment attempt."""

    reference: str  # our payment reference (unique, ASCII upper-case letters and digits)
    amount: int  # integer VND
    currency: str
    description: str  # free text; adapters strip what their provider cannot sign
    language: Literal["vi", "en"]
    return_url: str  # our own return page; the provider sends the browser here
    callback_url: str  # our callback endpoint for this provider
    expires_at: datetime  # aware UTC
    created_at: datetime  # aware UTC
    client_ip: str = "127.0.0.1"
    invoice_reference: str = ""  # the dossier code, for the provider's order info


@dataclass(frozen=True, slots=True)
class Redirect:
    """Send the browser to ``url``: by GET, or by an auto-submitted POST form of ``fields``."""

    url: str
    method: Literal["GET", "POST"] = "GET"
    fields: Mapping[str, str] = field(default_factory=dict)
    kind: ClassVar[str] = "redirect"


@dataclass(frozen=True, slots=True)
class ShowQR:
    """Show a QR code (and its contents written out) on our own checkout page."""

    payload: str  # the EMVCo string the QR encodes
    bank_name: str
    account_number: str
    account_name: str
    amount: int
    transfer_content: str
    kind: ClassVar[str] = "qr"


NextAction = Redirect | ShowQR


@dataclass(frozen=True, slots=True)
class StartResult:
    """The answer to :meth:`ProviderAdapter.start_payment`."""

    action: NextAction
    provider_ref: str | None = None  # the provider's id for the attempt, if it gave one already


@dataclass(frozen=True, slots=True)
class CallbackRequest:
    """A provider's HTTP callback, framework-neutral, with the raw body kept for signatures."""

    method: str
    path: str
    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes
    remote_addr: str = ""


@dataclass(frozen=True, slots=True)
class ProviderEvent:
    """A verified statement from a provider about one of our payments."""

    reference: str  # our payment reference
    provider_ref: str | None  # the provider's transaction id
    outcome: Outcome
    amount: int  # integer VND, already converted from the provider's unit
    currency: str
    external_id: str  # dedupe key for the inbox: stable for the same statement, e.g. f"{txn}:{status}"
    merchant_id: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict)  # the provider's fields, secrets masked


@dataclass(frozen=True, slots=True)
class CallbackReply:
    """The HTTP answer in the provider's own format."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"


@dataclass(frozen=True, slots=True)
class PaymentQuery:
    """What an adapter needs to ask its provider about one attempt."""

    reference: str
    provider_ref: str | None
    amount: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class RefundRequest:
    """A (full or partial) refund of a succeeded attempt."""

    refund_reference: str  # our id for the refund, unique; passed to the provider for idempotency
    payment_reference: str
    provider_ref: str
    amount: int  # integer VND to refund, > 0 and <= what is left of the payment
    original_amount: int
    paid_at: datetime
    reason: str = ""
    payment_created_at: datetime | None = None  # when the attempt was started (VNPay wants it back)


@dataclass(frozen=True, slots=True)
class RefundResult:
    """The provider's answer to a refund."""

    refund_reference: str
    provider_refund_ref: str | None
    outcome: Outcome  # SUCCEEDED, FAILED or PENDING
    amount: int
    message: str = ""


@dataclass(frozen=True, slots=True)
class SettlementLine:
    """One line of a provider's settlement report."""

    provider_code: str
    provider_ref: str
    reference: str | None
    amount: int
    fee: int
    currency: str
    settled_on: date
    batch_ref: str | None = None


class ProviderAdapter(Protocol):
    """A payment provider as feegate sees it.

    Instances are built by :func:`providers.registry.build_adapter` from a
    settings mapping (merchant codes, secrets, endpoint base URLs) and cached,
    one per (provider, merchant).

    :param code: stable snake_case id: the entry-point name, URL segment and DB value.
    """

    code: ClassVar[str]
    display_name: ClassVar[str]

    @property
    def merchant_id(self) -> str:
        """The merchant / terminal / app id these credentials belong to."""
        ...

    def start_payment(self, request: PaymentRequest) -> StartResult:
        """Start one attempt; raise ``ProviderUnavailable`` if the provider did not answer."""
        ...

    def parse_callback(self, callback: CallbackRequest) -> ProviderEvent:
        """Verify the callback's signature over its raw form and normalise it.

        :raises providers.errors.CallbackRejected: bad or missing signature, wrong merchant.
        """
        ...

    def answer_callback(self, result: CallbackResult) -> CallbackReply:
        """Render our handling of a callback in the provider's expected answer format."""
        ...

    def query_status(self, query: PaymentQuery) -> ProviderEvent:
        """Ask the provider for the attempt's true state (the mop-up path)."""
        ...


@runtime_checkable
class SupportsRefund(Protocol):
    """A provider that can refund a succeeded attempt, fully or in part."""

    def refund(self, request: RefundRequest) -> RefundResult:
        """Refund ``request.amount`` of a succeeded attempt."""
        ...


@runtime_checkable
class SupportsSettlement(Protocol):
    """A provider that publishes a settlement report per day."""

    def fetch_settlement_lines(self, day: date) -> Iterator[SettlementLine]:
        """Yield the settlement lines for ``day`` (provider's local date)."""
        ...


class ProviderAdapterClass(Protocol):
    """The class side of an adapter: how the registry builds and routes to instances."""

    code: ClassVar[str]
    display_name: ClassVar[str]

    def __call__(self, settings: Mapping[str, Any]) -> ProviderAdapter:
        """Build an adapter from its settings (merchant ids, secrets, base URLs)."""
        ...

    def callback_merchant_id(self, callback: CallbackRequest) -> str | None:
        """Read, without trusting it, which merchant a callback claims to be for."""
        ...
