"""``flask --app wsgi ...`` commands for agencies, API keys, the database and invoice jobs."""

from __future__ import annotations

import getpass
from pathlib import Path

import click
from alembic import command as alembic_command
from alembic.config import Config as AlembicConfig
from flask import current_app
from flask.cli import AppGroup

from . import agencies, idempotency, service
from .db import get_session
from .errors import FeegateError

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def cli_actor() -> str:
    """Return the audit actor for a command run by a person at a terminal."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def _fail(error: FeegateError) -> None:
    raise click.ClickException(error.detail)


# --- database -----------------------------------------------------------------------------

db_group = AppGroup("db", help="Database schema migrations (Alembic).")


def alembic_config() -> AlembicConfig:
    """Return an Alembic config for the current app's database."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", current_app.config["DATABASE_URL"].replace("%", "%%"))
    return cfg


@db_group.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Bring the database to REVISION (default: head)."""
    alembic_command.upgrade(alembic_config(), revision)
    click.echo(f"Database at {revision}.")


@db_group.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Step the database back to REVISION."""
    alembic_command.downgrade(alembic_config(), revision)


@db_group.command("current")
def db_current() -> None:
    """Show the database's revision."""
    alembic_command.current(alembic_config())


# --- agencies and keys --------------------------------------------------------------------

agencies_group = AppGroup("agencies", help="Agencies (tenants).")


@agencies_group.command("create")
@click.option("--code", required=True)
@click.option("--name", required=True)
@click.option(
    "--return-origin",
    "return_origins",
    multiple=True,
    required=True,
    help="Allowed return-URL origin, e.g. https://dichvucong.example.gov.vn (repeatable).",
)
@click.option("--treasury-account", required=True, help="State Treasury collection account number.")
@click.option("--treasury-code", required=True, help="Treasury office code (ma_kbnn).")
@click.option(
    "--provider",
    "providers",
    multiple=True,
    default=["sandbox"],
    show_default=True,
    help="Enabled provider code (repeatable).",
)
def agencies_create(
    code: str,
    name: str,
    return_origins: tuple[str, ...],
    treasury_account: str,
    treasury_code: str,
    providers: tuple[str, ...],
) -> None:
    """Register an agency."""
    session = get_session()
    try:
        agency = agencies.create_agency(
            session,
            code=code,
            name=name,
            treasury_account=treasury_account,
            treasury_code=treasury_code,
            return_origins=list(return_origins),
            providers=list(providers),
            actor=cli_actor(),
        )
    except FeegateError as exc:
        _fail(exc)
    session.commit()
    click.echo(f"Agency {agency.code} created.")


api_keys_group = AppGroup("api-keys", help="API keys for portal backends.")


@api_keys_group.command("create")
@click.option("--agency", "agency_code", required=True)
@click.option(
    "--mode",
    type=click.Choice(["test", "live"]),
    default=None,
    help="Key environment (default: this deployment's).",
)
@click.option("--label", default="")
def api_keys_create(agency_code: str, mode: str | None, label: str) -> None:
    """Issue a key; it is printed once, alone on the last line."""
    session = get_session()
    try:
        new = agencies.create_api_key(
            session,
            agency_code,
            mode=mode or current_app.config["API_KEY_MODE"],
            label=label,
            actor=cli_actor(),
        )
    except FeegateError as exc:
        _fail(exc)
    session.commit()
    click.echo(f"API key {new.key_id} for {agency_code}. It is shown only now; store it safely:")
    click.echo(new.plaintext)


@api_keys_group.command("revoke")
@click.argument("key_id")
def api_keys_revoke(key_id: str) -> None:
    """Revoke a key by its id (or the whole key)."""
    session = get_session()
    try:
        key = agencies.revoke_api_key(session, key_id, actor=cli_actor())
    except FeegateError as exc:
        _fail(exc)
    session.commit()
    click.echo(f"API key {key.key_id} revoked.")


# --- invoice jobs -------------------------------------------------------------------------

payments_group = AppGroup("payments", help="Invoice and payment jobs.")


@payments_group.command("expire")
def payments_expire() -> None:
    """Expire open invoices past their expiry time."""
    session = get_session()
    count = service.expire_invoices(session)
    session.commit()
    click.echo(f"{count} invoice(s) expired.")


@payments_group.command("reap-idempotency-keys")
def payments_reap_keys() -> None:
    """Delete Idempotency-Key records older than the retention period."""
    session = get_session()
    count = idempotency.reap(session)
    session.commit()
    click.echo(f"{count} idempotency key(s) deleted.")


@click.command("seed-demo")
@click.option("--base-url", default=None, help="Where the service is reachable (default: BASE_URL).")
def seed_demo(base_url: str | None) -> None:
    """Create the demo agency (once), a fresh demo API key and a demo invoice; print both."""
    from .demo import seed

    key, link = seed(get_session(), base_url=base_url, actor=cli_actor())
    click.echo(f"Demo payment link: {link}")
    click.echo(key)


from .provider_commands import payments_mop_up, payments_refund, providers_group  # noqa: E402

payments_group.add_command(payments_mop_up)
payments_group.add_command(payments_refund)

COMMANDS = [db_group, agencies_group, api_keys_group, payments_group, seed_demo, providers_group]
