"""Agency (tenant) and API-key administration use cases."""

from __future__ import annotations

from flask import current_app
from sqlalchemy.orm import Session

from . import repository
from .apikey_cache import get_cache
from .apikeys import NewKey, generate_key
from .audit import record_audit
from .db import utcnow
from .errors import NotFound, ValidationFailed
from .models import Agency, ApiKey
from .urls import BadOrigin, origin_of


def create_agency(
    session: Session,
    *,
    code: str,
    name: str,
    treasury_account: str,
    treasury_code: str,
    return_origins: list[str],
    providers: list[str],
    actor: str,
) -> Agency:
    """Register an agency with its treasury account, return-URL origins and enabled providers."""
    if repository.get_agency_by_code(session, code) is not None:
        raise ValidationFailed.field("code", f"An agency with code {code!r} exists already.")
    origins = []
    for origin in return_origins:
        try:
            normalised = origin_of(origin)
        except BadOrigin as exc:
            raise ValidationFailed.field("return_origin", f"{origin!r} {exc}") from None
        if current_app.config["ENV_NAME"] == "production" and not normalised.startswith("https://"):
            raise ValidationFailed.field("return_origin", f"{origin!r} must be https in production.")
        origins.append(normalised)
    agency = Agency(
        code=code,
        name=name,
        treasury_account=treasury_account,
        treasury_code=treasury_code,
        return_origins=origins,
        enabled_providers=providers,
    )
    session.add(agency)
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="agency.created",
        entity_type="agency",
        entity_id=code,
        agency_id=agency.id,
        detail={"origins": origins, "providers": providers},
    )
    return agency


def create_api_key(session: Session, agency_code: str, *, mode: str, label: str, actor: str) -> NewKey:
    """Issue a key for the agency; the plaintext is returned once and never stored."""
    agency = repository.get_agency_by_code(session, agency_code)
    if agency is None:
        raise NotFound(f"No agency {agency_code!r}.")
    new = generate_key(mode, current_app.config["API_KEY_PEPPER"])
    session.add(
        ApiKey(agency_id=agency.id, key_id=new.key_id, secret_hash=new.secret_hash, mode=mode, label=label)
    )
    record_audit(
        session,
        actor=actor,
        action="api_key.created",
        entity_type="api_key",
        entity_id=new.key_id,
        agency_id=agency.id,
        detail={"mode": mode, "label": label},
    )
    return new


def revoke_api_key(session: Session, key_id: str, *, actor: str) -> ApiKey:
    """Revoke a key (by its id or the whole key): at once in this process, within seconds in others."""
    if key_id.startswith("fg_"):
        key_id = key_id.split("_")[2] if key_id.count("_") >= 3 else key_id
    key = repository.get_api_key(session, key_id)
    if key is None:
        raise NotFound(f"No API key {key_id!r}.")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        get_cache().forget(key.key_id)  # other processes: within API_KEY_CACHE_SECONDS
        record_audit(
            session,
            actor=actor,
            action="api_key.revoked",
            entity_type="api_key",
            entity_id=key.key_id,
            agency_id=key.agency_id,
        )
    return key
