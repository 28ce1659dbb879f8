"""Inbound provider callbacks: store in the inbox, verify, dedupe, apply, answer in the provider's format."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from payments.attempts import Applied, apply_provider_event
from payments.db import insert_ignore
from payments.models import Agency, Payment
from providers.base import CallbackReply, CallbackRequest, CallbackResult, ProviderAdapter
from providers.errors import CallbackRejected, ProviderError
from providers.registry import ProviderRegistry

from .masking import mask_body, mask_mapping
from .models import InboundCallback

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Handled:
    """What happened to one callback, and the answer the provider gets."""

    outcome: str
    reply: CallbackReply


def handle_callback(
    session: Session, registry: ProviderRegistry, provider_code: str, callback: CallbackRequest
) -> Handled:
    """Verify and apply one callback; raise ``UnknownProvider`` for a provider we do not have."""
    registry.adapter_class(provider_code)  # unknown provider -> UnknownProvider -> 404
    try:
        adapter = registry.for_callback(provider_code, callback)
        event = adapter.parse_callback(callback)
    except CallbackRejected as exc:
        log.warning(
            "Rejected %s callback from %s: %s",
            provider_code,
            callback.remote_addr,
            exc.message,
            extra={"security_event": "callback_rejected", "provider": provider_code},
        )
        _store(session, provider_code, callback, outcome=Applied.REJECTED.value, detail=exc.message)
        return Handled(Applied.REJECTED.value, _answer(registry, provider_code, CallbackResult.REJECTED))

    inbox_id = _store(
        session,
        provider_code,
        callback,
        outcome="received",
        external_id=event.external_id,
        dedupe_key=event.external_id,
        reference=event.reference,
    )
    if inbox_id is None:
        # The same statement was recorded before (or is being, by a concurrent copy).
        _store(
            session,
            provider_code,
            callback,
            outcome=Applied.DUPLICATE.value,
            external_id=event.external_id,
            reference=event.reference,
        )
        return Handled(Applied.DUPLICATE.value, adapter.answer_callback(CallbackResult.DUPLICATE))

    result = apply_provider_event(
        session,
        event,
        provider_code=provider_code,
        merchant_ok=lambda p: _same_merchant(session, registry, adapter, p),
    )
    if result in (Applied.REJECTED, Applied.AMOUNT_MISMATCH):
        log.warning(
            "%s callback for %s from %s: %s",
            provider_code,
            event.reference,
            callback.remote_addr,
            result.value,
            extra={"security_event": f"callback_{result.value}", "provider": provider_code},
        )
    outcome: dict[str, str | None] = {"outcome": result.value}
    if result is Applied.REJECTED:
        # Credentials of the wrong merchant: the statement is not that merchant's to make, so it
        # must not use up the dedupe key the genuine merchant's copy of it will need.
        outcome["dedupe_key"] = None
    session.execute(update(InboundCallback).where(InboundCallback.id == inbox_id).values(**outcome))
    return Handled(result.value, adapter.answer_callback(result.reply))


def record_failure(
    session: Session, registry: ProviderRegistry, provider_code: str, callback: CallbackRequest, error: str
) -> CallbackReply:
    """Store a callback we could not process, and answer so that the provider retries."""
    _store(session, provider_code, callback, outcome="error", detail=error[:255])
    return _answer(registry, provider_code, CallbackResult.ERROR)


def _same_merchant(
    session: Session, registry: ProviderRegistry, adapter: ProviderAdapter, payment: Payment
) -> bool:
    # The credentials that verified the callback must be the ones of the payment's own agency.
    agency_code = session.scalars(select(Agency.code).where(Agency.id == payment.agency_id)).one()
    return registry.for_agency(payment.provider_code, agency_code).merchant_id == adapter.merchant_id


def _answer(registry: ProviderRegistry, provider_code: str, result: CallbackResult) -> CallbackReply:
    """Answer with any configured adapter of the provider (the format does not depend on credentials)."""
    # Real providers have credentials only per agency, so try those before the defaults.
    for agency_code in [*registry.agencies_configured_for(provider_code), "*"]:
        try:
            return registry.for_agency(provider_code, agency_code).answer_callback(result)
        except (ProviderError, KeyError, ValueError, TypeError):
            continue
    status = 500 if result is CallbackResult.ERROR else 400
    return CallbackReply(status, b'{"status":"' + result.value.encode() + b'"}')


def _store(
    session: Session,
    provider_code: str,
    callback: CallbackRequest,
    *,
    outcome: str,
    detail: str = "",
    external_id: str | None = None,
    dedupe_key: str | None = None,
    reference: str | None = None,
) -> int | None:
    content_type = callback.headers.get("Content-Type", callback.headers.get("content-type", ""))
    return insert_ignore(
        session,
        InboundCallback,
        {
            "provider_code": provider_code,
            "external_id": external_id,
            "dedupe_key": dedupe_key,
            "payment_reference": reference,
            "outcome": outcome,
            "detail": detail[:255],
            "method": callback.method,
            "remote_addr": callback.remote_addr[:64],
            "headers": mask_mapping(dict(callback.headers)),
            "query": mask_mapping(dict(callback.query)),
            "body": mask_body(callback.body, content_type),
        },
    )
