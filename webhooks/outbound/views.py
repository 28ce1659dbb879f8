"""``/api/v1/webhook-endpoints``: a portal manages its endpoints and inspects and replays deliveries.

Same authentication and error rules as the invoice API: a bearer API key scopes every
query to its agency, and another agency's ids answer 404.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE

from payments.auth import authenticate_request, current_actor, current_agency
from payments.db import get_session, utcnow
from payments.errors import NotFound

from . import repository, service
from .models import WebhookDelivery
from .schemas import (
    AttemptListSchema,
    DeliveryListSchema,
    DeliveryQuerySchema,
    DeliverySchema,
    EndpointCreateSchema,
    EndpointListSchema,
    EndpointSchema,
    EndpointUpdateSchema,
    EndpointWithSecretSchema,
    ReplaySchema,
)
from .service import EndpointSpec
from .settings import configured_resolver, outbound_settings

blp = Blueprint(
    "webhook_endpoints",
    __name__,
    url_prefix="/api/v1/webhook-endpoints",
    description="Where feegate sends your agency's events. Deliveries are signed per Standard Webhooks "
    "(`webhook-id`, `webhook-timestamp`, `webhook-signature`), sent at least once and in no particular "
    "order: deduplicate on `webhook-id` and read `GET /api/v1/invoices/{id}` for the current state.",
)


@blp.before_request
def _authenticate() -> None:
    authenticate_request()


def _endpoint(endpoint_id: int) -> Any:
    return service.get_endpoint(get_session(), current_agency().id, endpoint_id)


@blp.route("")
class Endpoints(MethodView):
    """Register and list endpoints."""

    @blp.arguments(EndpointCreateSchema)
    @blp.response(201, EndpointWithSecretSchema)
    @blp.alt_response(422, description="Invalid URL (security rules) or event types")
    def post(self, spec: EndpointSpec) -> Any:
        """Register an endpoint; the answer holds its signing secret, shown only this once."""
        session = get_session()
        endpoint = service.create_endpoint(
            session,
            current_agency().id,
            spec,
            outbound_settings(current_app.config),
            configured_resolver(current_app.extensions),
            utcnow(),
            actor=current_actor(),
        )
        session.commit()
        return endpoint

    @blp.response(200, EndpointListSchema)
    def get(self) -> dict[str, Any]:
        """List this agency's endpoints."""
        return {"data": repository.list_endpoints(get_session(), current_agency().id)}


@blp.route("/<int:endpoint_id>")
class EndpointById(MethodView):
    """One endpoint."""

    @blp.response(200, EndpointSchema)
    @blp.alt_response(404, description="No such endpoint for this agency")
    def get(self, endpoint_id: int) -> Any:
        """Read an endpoint (without its secret)."""
        return _endpoint(endpoint_id)

    @blp.arguments(EndpointUpdateSchema)
    @blp.response(200, EndpointSchema)
    @blp.alt_response(404, description="No such endpoint for this agency")
    @blp.alt_response(422, description="Invalid URL (security rules) or event types")
    def patch(self, spec: EndpointSpec, endpoint_id: int) -> Any:
        """Change the URL, event types, description, or enable/disable the endpoint."""
        session = get_session()
        endpoint = service.update_endpoint(
            session,
            _endpoint(endpoint_id),
            spec,
            outbound_settings(current_app.config),
            configured_resolver(current_app.extensions),
            utcnow(),
            actor=current_actor(),
        )
        session.commit()
        return endpoint


@blp.route("/<int:endpoint_id>/rotate-secret")
class EndpointRotateSecret(MethodView):
    """Rotate the signing secret."""

    @blp.response(200, EndpointWithSecretSchema)
    @blp.alt_response(404, description="No such endpoint for this agency")
    def post(self, endpoint_id: int) -> Any:
        """Issue a new secret (shown once); the old one also signs until ``previous_secret_expires_at``."""
        session = get_session()
        endpoint = _endpoint(endpoint_id)
        service.rotate_secret(
            session, endpoint, outbound_settings(current_app.config), utcnow(), actor=current_actor()
        )
        session.commit()
        return endpoint


@blp.route("/<int:endpoint_id>/test")
class EndpointTest(MethodView):
    """Send a test event."""

    @blp.response(202, DeliverySchema)
    @blp.alt_response(404, description="No such endpoint for this agency")
    def post(self, endpoint_id: int) -> Any:
        """Queue a signed ``webhook.test`` event to this endpoint."""
        session = get_session()
        delivery_id = service.create_test_event(session, _endpoint(endpoint_id), utcnow())
        session.commit()
        return session.get(WebhookDelivery, delivery_id)


@blp.route("/<int:endpoint_id>/deliveries")
class EndpointDeliveries(MethodView):
    """Recent deliveries to one endpoint."""

    @blp.arguments(DeliveryQuerySchema, location="query", unknown=RAISE)
    @blp.response(200, DeliveryListSchema)
    @blp.alt_response(404, description="No such endpoint for this agency")
    def get(self, filters: dict[str, Any], endpoint_id: int) -> dict[str, Any]:
        """List deliveries, newest first; ``status=dead`` shows what needs a replay."""
        endpoint = _endpoint(endpoint_id)
        rows = repository.recent_deliveries(
            get_session(), status=filters.get("status"), limit=filters["limit"], endpoint_id=endpoint.id
        )
        return {"data": rows}


@blp.route("/<int:endpoint_id>/deliveries/<int:delivery_id>/attempts")
class DeliveryAttempts(MethodView):
    """The attempt log of one delivery."""

    @blp.response(200, AttemptListSchema)
    @blp.alt_response(404, description="No such delivery for this agency")
    def get(self, endpoint_id: int, delivery_id: int) -> dict[str, Any]:
        """List every attempt: time, status code, latency and the first bytes of the answer."""
        _delivery(endpoint_id, delivery_id)
        return {"data": repository.attempts_for(get_session(), delivery_id)}


@blp.route("/<int:endpoint_id>/deliveries/<int:delivery_id>/replay")
class DeliveryReplay(MethodView):
    """Send a finished delivery again."""

    @blp.arguments(ReplaySchema)
    @blp.response(202, DeliverySchema)
    @blp.alt_response(404, description="No such delivery for this agency")
    @blp.alt_response(409, description="The delivery is still pending")
    def post(self, body: dict[str, Any], endpoint_id: int, delivery_id: int) -> Any:
        """Queue a dead (or finished) delivery again, with the same ``webhook-id``; audited."""
        session = get_session()
        _delivery(endpoint_id, delivery_id)
        (replayed,) = service.replay(
            session,
            str(delivery_id),
            actor=current_actor(),
            reason=body["reason"],
            now=utcnow(),
            agency_id=current_agency().id,
        )
        session.commit()
        return replayed


def _delivery(endpoint_id: int, delivery_id: int) -> Any:
    endpoint = _endpoint(endpoint_id)
    delivery = get_session().get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.endpoint_id != endpoint.id:
        raise NotFound(f"Webhook delivery {delivery_id} not found.")
    return delivery
