"""Celery wrappers for the scheduled invoice, payment and reconciliation jobs.

Each calls what its CLI twin calls; the tasks only add what a command line would have
given (the day, the actor).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from celery import shared_task
from flask import current_app

from payments import idempotency, service
from payments.celery_app import TIMEZONE, TaskNames
from payments.db import get_session
from payments.mopup import run_mop_up
from payments.provider_registry import get_registry
from reconciliation import repository as reconciliation_repository
from reconciliation.cli import run_settings
from reconciliation.runs import run_day


@shared_task(name=TaskNames.INVOICES_EXPIRE, ignore_result=True)
def expire_invoices() -> int:
    """Expire open invoices past their expiry time (twin: ``flask payments expire``)."""
    session = get_session()
    count = service.expire_invoices(session)
    session.commit()
    return count


@shared_task(name=TaskNames.IDEMPOTENCY_REAP, ignore_result=True)
def reap_idempotency_keys() -> int:
    """Delete expired Idempotency-Key records (twin: ``flask payments reap-idempotency-keys``)."""
    session = get_session()
    count = idempotency.reap(session)
    session.commit()
    return count


@shared_task(name=TaskNames.PAYMENTS_MOP_UP, ignore_result=True)
def mop_up_payments() -> dict[str, int]:
    """Ask providers about payments left pending or unknown (twin: ``flask payments mop-up``)."""
    config = current_app.config
    report = run_mop_up(
        get_session(),
        get_registry(),
        grace=timedelta(seconds=int(config["MOPUP_GRACE_SECONDS"])),
        limit=int(config["MOPUP_BATCH_LIMIT"]),
    )
    return dict(report)


@shared_task(name=TaskNames.RECONCILIATION_DAILY, ignore_result=True)
def reconcile_daily() -> int:
    """Reconcile yesterday and the days before it, so late statements heal.

    Twin: ``flask reconcile run --date <yesterday> --days <RECONCILIATION_DAILY_DAYS>``; days
    are local (Asia/Ho_Chi_Minh) dates. Returns the number of runs.
    """
    session = get_session()
    settings = run_settings()
    yesterday = datetime.now(ZoneInfo(TIMEZONE)).date() - timedelta(days=1)
    runs = 0
    for offset in range(int(current_app.config.get("RECONCILIATION_DAILY_DAYS", 3)) - 1, -1, -1):
        day = yesterday - timedelta(days=offset)
        for account in reconciliation_repository.accounts_for_day(session, day):
            run_day(session, day, account, settings=settings, actor="system:reconciliation")
            session.commit()
            runs += 1
    return runs
