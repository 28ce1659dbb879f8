"""marshmallow schemas for the HTTP boundary: loading builds frozen commands, dumping shows resources."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from .state import InvoiceStatus

MAX_AMOUNT = 10**12  # VND; larger than any public fee, and inside every provider's field limit
_FORBIDDEN_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


class Text(fields.String):
    """A string without control characters or lone surrogates (which no database stores)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if _FORBIDDEN_CHARS.search(text):
            raise ValidationError("Contains control characters or invalid Unicode.")
        return text


class StrictInt(fields.Integer):
    """An integer given as a JSON number: no strings, floats or booleans."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool):
            raise ValidationError("Not a valid integer.")
        result = super()._deserialize(value, attr, data, **kwargs)
        assert result is not None  # value is never None here: marshmallow handles missing/null first
        return int(result)


class StrictSchema(Schema):
    """Unknown fields are an error, never silently dropped."""

    class Meta:
        unknown = RAISE


@dataclass(frozen=True, slots=True)
class ItemInput:
    """A validated invoice line."""

    fee_code: str
    description: str
    amount: int
    chapter_code: str
    sub_item_code: str


@dataclass(frozen=True, slots=True)
class CreateInvoice:
    """A validated request to create an invoice."""

    reference: str
    description: str
    items: tuple[ItemInput, ...]
    return_url: str
    language: str
    payer: dict[str, str]
    metadata: dict[str, str]
    expires_at: datetime | None

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> CreateInvoice:
        """Build the command from a body :class:`InvoiceCreateSchema` loaded."""
        return cls(
            reference=body["reference"],
            description=body["description"],
            items=tuple(ItemInput(**item) for item in body["items"]),
            return_url=body["return_url"],
            language=body["language"],
            payer=body["payer"],
            metadata=body["metadata"],
            expires_at=body["expires_at"],
        )


class ItemCreateSchema(StrictSchema):
    """One fee or charge line."""

    fee_code = Text(required=True, validate=validate.Length(1, 32))
    description = Text(required=True, validate=validate.Length(1, 255))
    amount = StrictInt(required=True, validate=validate.Range(1, MAX_AMOUNT))
    chapter_code = Text(
        required=True, validate=validate.Regexp(r"^\d{3}$", error="Must be a 3-digit budget chapter code.")
    )
    sub_item_code = Text(
        required=True, validate=validate.Regexp(r"^\d{4}$", error="Must be a 4-digit budget sub-item code.")
    )


class PayerSchema(StrictSchema):
    """Who pays; every field optional."""

    name = Text(validate=validate.Length(1, 255))
    id_number = Text(
        validate=validate.Regexp(r"^[0-9A-Za-z]{6,20}$", error="Must be 6-20 letters or digits.")
    )
    phone = Text(validate=validate.Regexp(r"^\+?[0-9 ]{8,20}$", error="Must be a phone number."))
    email = fields.Email(validate=validate.Length(max=255))


def _total_in_range(items: list[dict[str, Any]]) -> None:
    if sum(item["amount"] for item in items) > MAX_AMOUNT:
        raise ValidationError(f"The total must not exceed {MAX_AMOUNT}.")


class InvoiceCreateSchema(StrictSchema):
    """``POST /api/v1/invoices`` body; :meth:`CreateInvoice.from_body` makes it a command.

    No hooks, so that the API loads it precompiled (:mod:`payments.fast_load`).
    """

    reference = Text(
        required=True, validate=validate.Length(1, 64), metadata={"example": "H40.99-200212-0001"}
    )
    description = Text(required=True, validate=validate.Length(1, 255))
    items = fields.List(
        fields.Nested(ItemCreateSchema), required=True, validate=[validate.Length(1, 50), _total_in_range]
    )
    return_url = Text(required=True, validate=validate.Length(1, 2048))
    language = fields.String(load_default="vi", validate=validate.OneOf(["vi", "en"]))
    payer = fields.Nested(PayerSchema, load_default=dict)
    metadata = fields.Dict(
        keys=Text(validate=validate.Length(1, 255)),
        values=Text(validate=validate.Length(0, 255)),
        load_default=dict,
        validate=validate.Length(max=20, error="At most 20 keys."),
    )
    expires_at = fields.AwareDateTime(
        load_default=None, metadata={"description": "Default 24 h, at most 30 days"}
    )


class InvoiceListQuerySchema(StrictSchema):
    """``GET /api/v1/invoices`` filters and cursor."""

    reference = Text(validate=validate.Length(1, 64))
    status = fields.String(validate=validate.OneOf([s.value for s in InvoiceStatus]))
    created_from = fields.AwareDateTime()
    created_to = fields.AwareDateTime()
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 100))
    cursor = fields.String(validate=validate.Length(1, 64))


class ItemSchema(Schema):
    """An invoice line as shown."""

    fee_code = fields.String()
    description = fields.String()
    amount = fields.Integer()
    chapter_code = fields.String()
    sub_item_code = fields.String()


class PayerOutSchema(Schema):
    """The payer as shown."""

    name = fields.String(attribute="payer_name", allow_none=True)
    id_number = fields.String(attribute="payer_id_number", allow_none=True)
    phone = fields.String(attribute="payer_phone", allow_none=True)
    email = fields.String(attribute="payer_email", allow_none=True)


#: built once: a schema instance is reusable across requests and threads, and building one is costly
_PAYER_OUT = PayerOutSchema()


class InvoiceSchema(Schema):
    """An invoice as the API shows it (and as events carry it)."""

    id = fields.String(attribute="public_id")
    object = fields.Constant("invoice")
    reference = fields.String()
    description = fields.String()
    status = fields.String()
    total = fields.Integer()
    currency = fields.String()
    items = fields.List(fields.Nested(ItemSchema))
    payer = fields.Function(lambda invoice: _PAYER_OUT.dump(invoice))
    return_url = fields.String()
    language = fields.String()
    metadata = fields.Dict(attribute="metadata_")
    expires_at = fields.AwareDateTime()
    created_at = fields.AwareDateTime()
    paid_at = fields.AwareDateTime(allow_none=True)
    payment_url = fields.Method("_payment_url")

    def _payment_url(self, invoice: Any) -> str:
        from .checkout_links import payment_url

        return payment_url(invoice.public_id)


class InvoicePageSchema(Schema):
    """One page of invoices, newest first."""

    object = fields.Constant("list")
    data = fields.List(fields.Nested(InvoiceSchema))
    has_more = fields.Boolean()
    next_cursor = fields.String(allow_none=True)


class PaymentSchema(Schema):
    """A payment attempt as events carry it."""

    id = fields.String(attribute="public_id")
    object = fields.Constant("payment")
    reference = fields.String()
    provider = fields.String(attribute="provider_code")
    provider_ref = fields.String(allow_none=True)
    amount = fields.Integer()
    currency = fields.String()
    status = fields.String()
    review_reason = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()
    finished_at = fields.AwareDateTime(allow_none=True)
