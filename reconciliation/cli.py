"""``flask --app wsgi statements ...`` and ``flask --app wsgi reconcile ...`` commands.

Each command opens the context's session, calls one service function and commits
once. With ``--json`` the last line printed is one JSON object.
"""

from __future__ import annotations

import contextlib
import json
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from payments.cli import cli_actor
from payments.db import get_session
from reconciliation import repository, service
from reconciliation.importers import StatementFormat
from reconciliation.matching_types import MatchConfig
from reconciliation.report_queries import run_tables
from reconciliation.reports import write_report
from reconciliation.runs import RunSettings, run_day

statements_group = AppGroup("statements", help="Bank and treasury statements.")
reconcile_group = AppGroup("reconcile", help="Daily reconciliation, exceptions and reports.")


def run_settings() -> RunSettings:
    """Build run settings from ``RECONCILIATION_*`` configuration keys."""
    config = current_app.config
    return RunSettings(
        direct_providers=frozenset(config.get("RECONCILIATION_DIRECT_PROVIDERS", ["vietqr", "sandbox"])),
        provider_accounts=dict(config.get("RECONCILIATION_PROVIDER_ACCOUNTS", {})),
        match=MatchConfig(
            window_business_days=int(config.get("RECONCILIATION_WINDOW_BUSINESS_DAYS", 2)),
            holidays=frozenset(date.fromisoformat(d) for d in config.get("RECONCILIATION_HOLIDAYS", [])),
        ),
    )


@statements_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--account", default="", help="Collection account (required when the file names none).")
@click.option(
    "--format", "fmt", type=click.Choice(["auto", *[f.value for f in StatementFormat]]), default="auto"
)
@click.option("--profile", default=None, help="Column-mapping profile for CSV/XLSX (vn_bank, generic).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
def statements_import(file: Path, account: str, fmt: str, profile: str | None, as_json: bool) -> None:
    """Import a camt.053/054, MT940, CSV or XLSX statement file (a file already imported is skipped)."""
    session = get_session()
    bar = click.progressbar(length=file.stat().st_size, label="Importing", file=sys.stderr)
    show = bar.update if sys.stderr.isatty() else None
    try:
        with bar if show else contextlib.nullcontext():
            report = service.import_statement(
                session,
                file,
                account=account,
                fmt=None if fmt == "auto" else StatementFormat(fmt),
                profile=profile,
                actor=cli_actor(),
                progress=show,
            )
    except service.ReconciliationError as exc:
        raise click.ClickException(str(exc)) from None
    session.commit()
    if report.skipped_duplicates:
        click.echo(f"{file.name} was already imported (file {report.file_id}); nothing imported.")
    else:
        click.echo(
            f"{file.name}: {report.entries} entries on {report.account}, credit {report.total_credit}, "
            f"debit {report.total_debit}, balance check {report.balance_check}, "
            f"{len(report.errors)} error(s)."
        )
        for error in report.errors[:20]:
            click.echo(f"  {error.message}")
    if as_json:
        click.echo(json.dumps(report.as_json(), ensure_ascii=False))


@reconcile_group.command("run")
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), required=True)
@click.option("--account", default=None, help="One collection account (default: all).")
@click.option(
    "--days", default=1, show_default=True, help="Also re-run the days before, so late statements heal."
)
@click.option("--json", "as_json", is_flag=True)
def reconcile_run(day: Any, account: str | None, days: int, as_json: bool) -> None:
    """Reconcile a day (and the days before it with --days); safe to run again."""
    session = get_session()
    settings = run_settings()
    reports = []
    for offset in range(days - 1, -1, -1):
        current = day.date() - timedelta(days=offset)
        for acc in [account] if account else repository.accounts_for_day(session, current):
            show = None
            bar: Any = contextlib.nullcontext()
            if sys.stderr.isatty():
                total = repository.count_day_items(session, acc, current)
                bar = click.progressbar(length=total, label=f"{current} {acc}", file=sys.stderr)
                show = bar.update
            with bar:
                report = run_day(session, current, acc, settings=settings, actor=cli_actor(), progress=show)
            session.commit()
            reports.append(report)
            if report.status == "no_statement":
                click.echo(f"{current} {acc}: no statement for this day; nothing reconciled.")
            else:
                cats = ", ".join(f"{k} {v}" for k, v in report.categories().items())
                click.echo(
                    f"{current} {acc}: run {report.run_id}: {cats}; {report.settled} payment(s) settled."
                )
    if as_json:
        payload: Any = reports[0].as_json() if len(reports) == 1 else {"runs": [r.as_json() for r in reports]}
        click.echo(json.dumps(payload, ensure_ascii=False))


@reconcile_group.command("fetch-settlements")
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), required=True)
def reconcile_fetch_settlements(day: Any) -> None:
    """Fetch the day's settlement report from every provider that publishes one, for every agency."""
    from payments.models import Agency
    from payments.provider_registry import get_registry
    from providers.base import SupportsSettlement

    session = get_session()
    registry = get_registry()
    for agency in session.scalars(select(Agency).order_by(Agency.code)):
        for code in agency.enabled_providers:
            adapter = registry.for_agency(code, agency.code)
            if not isinstance(adapter, SupportsSettlement):
                continue
            stored, known = service.store_settlement_lines(
                session, adapter.fetch_settlement_lines(day.date())
            )
            session.commit()
            click.echo(f"{agency.code} {code}: {stored} settlement line(s) stored, {known} already known.")


@reconcile_group.command("exceptions")
@click.option("--open", "only_open", is_flag=True, help="Only open exceptions.")
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), default=None)
@click.option("--json", "as_json", is_flag=True)
def reconcile_exceptions(only_open: bool, day: Any, as_json: bool) -> None:
    """List reconciliation exceptions."""
    rows = repository.list_exceptions(get_session(), only_open=only_open, day=day.date() if day else None)
    data = [
        {
            "id": row.id,
            "item": row.item_key,
            "category": row.category,
            "day": row.day.isoformat(),
            "account": row.account,
            "amount": row.amount,
            "currency": row.currency,
            "delta": row.delta,
            "note": row.note,
            "status": row.status,
            "resolution": row.resolution,
        }
        for row in rows
    ]
    for item in data:
        click.echo(
            f"{item['id']:>6} {item['status']:<8} {item['day']} {item['category']:<24} {item['item']:<28} "
            f"{item['amount']:>14} {item['currency']} {item['note']}"
        )
    if as_json:
        click.echo(json.dumps({"exceptions": data}, ensure_ascii=False))


@reconcile_group.command("resolve")
@click.argument("exception_id", type=int)
@click.option("--action", type=click.Choice(list(service.ExceptionResolution.ALL)), required=True)
@click.option("--note", required=True, help="Why; a write-off needs a reason.")
@click.option("--payment", "payment_id", type=int, default=None, help="manual_match: the payment ...")
@click.option("--entry", "entry_id", type=int, default=None, help="... and the statement entry that pays it.")
def reconcile_resolve(
    exception_id: int, action: str, note: str, payment_id: int | None, entry_id: int | None
) -> None:
    """Resolve an open exception (recorded with you as the actor in the audit log)."""
    session = get_session()
    try:
        row = service.resolve_exception(
            session,
            exception_id,
            action=action,
            note=note,
            actor=cli_actor(),
            payment_id=payment_id,
            entry_id=entry_id,
        )
    except service.ReconciliationError as exc:
        raise click.ClickException(str(exc)) from None
    session.commit()
    click.echo(f"Exception {row.id} resolved: {row.resolution}.")


@reconcile_group.command("report")
@click.option("--run", "run_id", type=int, required=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("."))
@click.option(
    "--format", "formats", type=click.Choice(["csv", "xlsx"]), multiple=True, default=["csv", "xlsx"]
)
def reconcile_report(run_id: int, out: Path, formats: tuple[str, ...]) -> None:
    """Write a run's summary, items and budget totals as CSV and/or XLSX."""
    session = get_session()
    run = repository.get_run(session, run_id)
    if run is None:
        raise click.ClickException(f"no run {run_id}")
    for path in write_report(run_tables(session, run), out, f"reconciliation-{run.day}-{run.id}", formats):
        click.echo(str(path))


COMMANDS = [statements_group, reconcile_group]
