"""``flask providers list``, ``flask payments mop-up`` and ``flask payments refund``."""

from __future__ import annotations

from datetime import timedelta

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import select

from providers.base import SupportsRefund, SupportsSettlement
from providers.errors import UnknownProvider
from providers.registry import installed_adapters

from . import refunds
from .db import get_session
from .errors import FeegateError
from .models import Agency
from .mopup import run_mop_up
from .provider_registry import get_registry

providers_group = AppGroup("providers", help="Installed payment provider adapters.")


def _abilities(cls: type) -> list[str]:
    found = ["start", "callback", "query"]
    if issubclass(cls, SupportsRefund):
        found.append("refund")
    if issubclass(cls, SupportsSettlement):
        found.append("settlement")
    return found


def _agencies_enabling(code: str) -> list[str]:
    """Agencies that offer ``code`` at checkout, marked when their credentials are missing."""
    registry = get_registry()
    shown = []
    for agency in get_session().scalars(select(Agency).order_by(Agency.code)):
        if code not in agency.enabled_providers:
            continue
        try:
            registry.for_agency(code, agency.code)
            shown.append(agency.code)
        except UnknownProvider:
            shown.append(f"{agency.code} (no credentials)")
    return shown


@providers_group.command("list")
def providers_list() -> None:
    """Show installed adapters, their abilities and the agencies that enable them."""
    rows = [("CODE", "NAME", "ABILITIES", "AGENCIES")]
    for code, cls in sorted(installed_adapters().items()):
        agencies = ", ".join(_agencies_enabling(code)) or "-"
        rows.append((code, cls.display_name, ", ".join(_abilities(cls)), agencies))  # type: ignore[arg-type]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)) + "  " + row[3]
        )


@click.command("mop-up")
@with_appcontext
@click.option("--grace-seconds", type=int, default=None, help="Default: MOPUP_GRACE_SECONDS.")
@click.option(
    "--limit", type=int, default=None, help="Most attempts to ask about (default: MOPUP_BATCH_LIMIT)."
)
def payments_mop_up(grace_seconds: int | None, limit: int | None) -> None:
    """Expire overdue invoices and ask providers about attempts left pending or unknown."""
    config = current_app.config
    grace = timedelta(seconds=grace_seconds if grace_seconds is not None else config["MOPUP_GRACE_SECONDS"])
    report = run_mop_up(
        get_session(), get_registry(), grace=grace, limit=limit or int(config["MOPUP_BATCH_LIMIT"])
    )
    click.echo(", ".join(f"{name}: {count}" for name, count in sorted(report.items())) or "nothing to do")


@click.command("refund")
@with_appcontext
@click.argument("payment_id")
@click.option(
    "--amount", type=int, required=True, help="VND to refund (at most what is left of the payment)."
)
@click.option("--reason", default="", help="Why, for the audit log and the provider.")
def payments_refund(payment_id: str, amount: int, reason: str) -> None:
    """Refund all or part of a succeeded payment through its provider."""
    from .cli import cli_actor

    actor = cli_actor()
    session = get_session()
    try:
        planned = refunds.request_refund(session, payment_id, amount, reason=reason, actor=actor)
    except FeegateError as exc:
        raise click.ClickException(exc.detail) from None
    session.commit()  # phase 1: the refund exists (and holds its amount) before the provider hears of it
    answer = refunds.send_refund(get_registry(), planned)
    refund = refunds.record_refund_answer(session, planned, answer, actor=actor)
    session.commit()
    click.echo(
        f"Refund {refund.public_id} of {refund.amount} VND: {refund.status.value} {answer.message}".rstrip()
    )
    if refund.status.value == "failed":
        raise SystemExit(1)
