"""``flask --app wsgi webhooks ...``: the CLI twins of the delivery jobs, and endpoint management.

Every background job can run from here instead of Celery (cron, a Kubernetes CronJob).
"""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from payments import repository as payments_repository
from payments.cli import cli_actor
from payments.db import get_session, utcnow
from payments.errors import FeegateError

from . import repository, runner, service
from .models import EVENT_TYPES, DeliveryStatus, WebhookDelivery
from .service import EndpointSpec
from .settings import configured_resolver, outbound_settings

webhooks_group = AppGroup("webhooks", help="Outgoing event webhooks to portal backends.")
endpoints_group = AppGroup("endpoints", help="Portal webhook endpoints.")
webhooks_group.add_command(endpoints_group)


def _fail(error: FeegateError) -> None:
    raise click.ClickException(error.detail)


@webhooks_group.command("deliver-due")
def deliver_due() -> None:
    """Fan out new events and deliver everything due now (what workers and the sweep do)."""
    counts = runner.deliver_due(
        get_session(),
        outbound_settings(current_app.config),
        configured_resolver(current_app.extensions),
        utcnow,
    )
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "nothing due"
    click.echo(f"Deliveries: {summary}.")


@webhooks_group.command("deliveries")
@click.option("--status", type=click.Choice([s.value for s in DeliveryStatus]), default=None)
@click.option("--agency", "agency_code", default=None, help="Only this agency's deliveries.")
@click.option("--limit", default=50, show_default=True)
def deliveries(status: str | None, agency_code: str | None, limit: int) -> None:
    """List recent deliveries, newest first (``--status dead`` shows what needs a replay)."""
    session = get_session()
    agency_id = _agency_id(agency_code) if agency_code else None
    rows = repository.recent_deliveries(session, status=status, limit=limit, agency_id=agency_id)
    for row in rows:
        click.echo(
            f"{row.id}\t{row.event_id}\tendpoint={row.endpoint_id}\t{row.status}\t"
            f"attempts={row.attempt_count}\tlast={row.last_status_code or '-'}\t{row.last_error or ''}"
        )
    click.echo(f"{len(rows)} deliver{'y' if len(rows) == 1 else 'ies'}.")


@webhooks_group.command("attempts")
@click.argument("delivery_id", type=int)
def attempts(delivery_id: int) -> None:
    """Show every attempt of one delivery."""
    for a in repository.attempts_for(get_session(), delivery_id):
        click.echo(
            f"#{a.attempt_number}\t{a.started_at.isoformat()}\t{a.outcome}\t{a.status_code or '-'}\t"
            f"{a.latency_ms} ms\t{a.error or ''}\t{a.response_excerpt[:80]!r}"
        )


@webhooks_group.command("replay")
@click.argument("ident")
@click.option("--reason", required=True, help="Why it is sent again (kept in the audit log).")
def replay(ident: str, reason: str) -> None:
    """Queue a delivery (by id) or every finished delivery of an event (by evt_ id) again."""
    session = get_session()
    try:
        rows = service.replay(session, ident, actor=cli_actor(), reason=reason, now=utcnow())
    except FeegateError as exc:
        _fail(exc)
    session.commit()
    ids = ", ".join(str(r.id) for r in rows)
    click.echo(f"Queued again: {ids}. Workers send them within a sweep (or run `webhooks deliver-due`).")


@webhooks_group.command("send-test")
@click.argument("endpoint_id", type=int)
def send_test(endpoint_id: int) -> None:
    """Send a signed ``webhook.test`` event to one endpoint now and show the answer."""
    session = get_session()
    endpoint = session.get(repository.WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise click.ClickException(f"No webhook endpoint {endpoint_id}.")
    delivery_id = service.create_test_event(session, endpoint, utcnow())
    session.commit()
    settings = outbound_settings(current_app.config)
    claims = repository.claim_ids(session, [delivery_id], utcnow(), utcnow() + settings.claim_lease)
    session.commit()
    runner.deliver(session, claims, settings, configured_resolver(current_app.extensions), utcnow)
    row = session.get(WebhookDelivery, delivery_id, populate_existing=True)
    assert row is not None
    click.echo(f"Delivery {row.id}: {row.status}, HTTP {row.last_status_code or '-'} {row.last_error or ''}")


@webhooks_group.command("purge-attempts")
def purge_attempts() -> None:
    """Delete attempt log rows older than the retention period (at least 30 days)."""
    session = get_session()
    settings = outbound_settings(current_app.config)
    count = repository.purge_attempts(session, utcnow() - settings.attempt_retention)
    session.commit()
    click.echo(f"{count} attempt(s) deleted.")


# --- endpoints ----------------------------------------------------------------------------


@endpoints_group.command("list")
@click.option("--agency", "agency_code", required=True)
def endpoints_list(agency_code: str) -> None:
    """List an agency's endpoints."""
    for e in repository.list_endpoints(get_session(), _agency_id(agency_code)):
        state = "enabled" if e.enabled else f"disabled ({e.disabled_reason})"
        click.echo(f"{e.id}\t{e.url}\t{','.join(e.event_types)}\t{state}")


@endpoints_group.command("add")
@click.option("--agency", "agency_code", required=True)
@click.option("--url", required=True)
@click.option("--event", "events", multiple=True, required=True, type=click.Choice(EVENT_TYPES))
@click.option("--description", default="")
def endpoints_add(agency_code: str, url: str, events: tuple[str, ...], description: str) -> None:
    """Register an endpoint; its signing secret is printed once, alone on the last line."""
    session = get_session()
    spec = EndpointSpec(url=url, event_types=events, description=description)
    try:
        endpoint = service.create_endpoint(
            session,
            _agency_id(agency_code),
            spec,
            outbound_settings(current_app.config),
            configured_resolver(current_app.extensions),
            utcnow(),
            actor=cli_actor(),
        )
    except FeegateError as exc:
        _fail(exc)
    session.commit()
    click.echo(f"Webhook endpoint {endpoint.id} for {agency_code}. Its signing secret is shown only now:")
    click.echo(endpoint.secret)


@endpoints_group.command("update")
@click.argument("endpoint_id", type=int)
@click.option("--url", default=None)
@click.option("--event", "events", multiple=True, type=click.Choice(EVENT_TYPES))
@click.option("--enable/--disable", "enabled", default=None)
def endpoints_update(
    endpoint_id: int, url: str | None, events: tuple[str, ...], enabled: bool | None
) -> None:
    """Change an endpoint's URL or event types, or enable/disable it."""
    session = get_session()
    endpoint = session.get(repository.WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise click.ClickException(f"No webhook endpoint {endpoint_id}.")
    spec = EndpointSpec(url=url, event_types=events or None, enabled=enabled)
    try:
        service.update_endpoint(
            session,
            endpoint,
            spec,
            outbound_settings(current_app.config),
            configured_resolver(current_app.extensions),
            utcnow(),
            actor=cli_actor(),
        )
    except FeegateError as exc:
        _fail(exc)
    session.commit()
    click.echo(f"Webhook endpoint {endpoint.id} updated.")


@endpoints_group.command("rotate-secret")
@click.argument("endpoint_id", type=int)
def endpoints_rotate(endpoint_id: int) -> None:
    """Issue a new signing secret (printed once); the old one keeps signing for the overlap window."""
    session = get_session()
    endpoint = session.get(repository.WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise click.ClickException(f"No webhook endpoint {endpoint_id}.")
    rotation = service.rotate_secret(
        session, endpoint, outbound_settings(current_app.config), utcnow(), actor=cli_actor()
    )
    session.commit()
    click.echo(f"Both secrets sign until {rotation.previous_expires_at.isoformat()}. New secret:")
    click.echo(rotation.secret)


def _agency_id(code: str) -> int:
    agency = payments_repository.get_agency_by_code(get_session(), code)
    if agency is None:
        raise click.ClickException(f"No agency {code!r}.")
    return agency.id
