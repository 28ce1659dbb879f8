"""marshmallow schemas for ``/api/v1/webhook-endpoints``: load into frozen specs, dump resources."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, post_load, validate

from payments.schemas import StrictSchema, Text

from .models import EVENT_TYPES, DeliveryStatus
from .service import EndpointSpec


class EndpointCreateSchema(StrictSchema):
    """``POST /api/v1/webhook-endpoints``."""

    url = Text(required=True, validate=validate.Length(1, 2048))
    event_types = fields.List(
        fields.String(validate=validate.OneOf(EVENT_TYPES)), required=True, validate=validate.Length(1, 20)
    )
    description = Text(validate=validate.Length(0, 200))
    enabled = fields.Boolean()

    @post_load
    def _spec(self, data: dict[str, Any], **kwargs: Any) -> EndpointSpec:
        return _to_spec(data)


class EndpointUpdateSchema(StrictSchema):
    """``PATCH /api/v1/webhook-endpoints/<id>``: every field optional."""

    url = Text(validate=validate.Length(1, 2048))
    event_types = fields.List(
        fields.String(validate=validate.OneOf(EVENT_TYPES)), validate=validate.Length(1, 20)
    )
    description = Text(validate=validate.Length(0, 200))
    enabled = fields.Boolean()

    @post_load
    def _spec(self, data: dict[str, Any], **kwargs: Any) -> EndpointSpec:
        return _to_spec(data)


def _to_spec(data: dict[str, Any]) -> EndpointSpec:
    types = data.get("event_types")
    return EndpointSpec(
        url=data.get("url"),
        event_types=tuple(types) if types is not None else None,
        description=data.get("description"),
        enabled=data.get("enabled"),
    )


class EndpointSchema(Schema):
    """An endpoint as shown; the secret is never shown again after creation or rotation."""

    id = fields.Integer()
    object = fields.Constant("webhook_endpoint")
    url = fields.String()
    description = fields.String()
    event_types = fields.List(fields.String())
    enabled = fields.Boolean()
    disabled_reason = fields.String(allow_none=True)
    previous_secret_expires_at = fields.AwareDateTime(allow_none=True)
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()


class EndpointWithSecretSchema(EndpointSchema):
    """An endpoint with its signing secret: the answer to creation and rotation only."""

    secret = fields.String()


class EndpointListSchema(Schema):
    """The agency's endpoints."""

    object = fields.Constant("list")
    data = fields.List(fields.Nested(EndpointSchema))


class DeliveryQuerySchema(StrictSchema):
    """``GET .../deliveries`` filters."""

    status = fields.String(validate=validate.OneOf([s.value for s in DeliveryStatus]))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))


class AttemptSchema(Schema):
    """One HTTP attempt as logged."""

    attempt_number = fields.Integer()
    started_at = fields.AwareDateTime()
    latency_ms = fields.Integer()
    outcome = fields.String()
    status_code = fields.Integer(allow_none=True)
    error = fields.String(allow_none=True)
    response_excerpt = fields.String()


class DeliverySchema(Schema):
    """One event's delivery to one endpoint."""

    id = fields.Integer()
    object = fields.Constant("webhook_delivery")
    event_id = fields.String()
    endpoint_id = fields.Integer()
    status = fields.String()
    attempt_count = fields.Integer()
    next_attempt_at = fields.AwareDateTime()
    last_status_code = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()
    finished_at = fields.AwareDateTime(allow_none=True)


class DeliveryListSchema(Schema):
    """Recent deliveries, newest first."""

    object = fields.Constant("list")
    data = fields.List(fields.Nested(DeliverySchema))


class AttemptListSchema(Schema):
    """A delivery's attempts in order."""

    object = fields.Constant("list")
    data = fields.List(fields.Nested(AttemptSchema))


class ReplaySchema(StrictSchema):
    """``POST .../replay``: why the delivery is sent again (kept in the audit log)."""

    reason = Text(required=True, validate=validate.Length(1, 500))
