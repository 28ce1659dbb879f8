"""Celery wrappers for the scheduled invoice and payment jobs; each calls what its CLI twin calls.

Payment mop-up (``flask payments mop-up``) and the daily reconciliation (``flask reconcile
run``) belong to other issues: until their job functions land, their tasks are named hooks
that only log, so the beat schedule and the worker need no change when they do.
"""

from __future__ import annotations

import logging

from celery import shared_task

from payments import idempotency, service
from payments.celery_app import TaskNames
from payments.db import get_session

logger = logging.getLogger(__name__)


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
def mop_up_payments() -> int:
    """Hook for ``payments.mopup.run_mop_up`` (issue 3): resolve pending/unknown payments."""
    logger.info("payments-mop-up: the mop-up job is not installed yet; nothing done")
    return 0


@shared_task(name=TaskNames.RECONCILIATION_DAILY, ignore_result=True)
def reconcile_daily() -> int:
    """Hook for the daily ``reconcile run`` (issue 5): reconcile the last few days."""
    logger.info("reconciliation-daily: the reconciliation job is not installed yet; nothing done")
    return 0
