"""Enqueue delivery of new outbox events right after their transaction commits.

Only a latency optimisation: the kick is sent after commit (never before, or a worker
could look for a row that is not visible yet), and if the broker is down or the message
is lost, the periodic sweep finds the undispatched events anyway.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from payments.celery_app import QueueNames, TaskNames
from webhooks.models import OutboxEvent

logger = logging.getLogger(__name__)

_PENDING = "feegate.outbox.new_event_ids"
_installed = False


def install_commit_hook() -> None:
    """Listen on every Session (once per process) for committed outbox events."""
    global _installed
    if _installed:
        return
    event.listen(Session, "after_flush", _collect)
    event.listen(Session, "after_commit", _kick)
    event.listen(Session, "after_rollback", _forget)
    _installed = True


def _collect(session: Session, flush_context: Any) -> None:
    new_ids = [obj.id for obj in session.new if isinstance(obj, OutboxEvent)]
    if new_ids:
        session.info.setdefault(_PENDING, []).extend(new_ids)


def _forget(session: Session) -> None:
    session.info.pop(_PENDING, None)


def _kick(session: Session) -> None:
    event_ids = session.info.pop(_PENDING, None)
    if not event_ids or not has_app_context():
        return
    app = current_app
    celery_app = app.extensions.get("celery")
    if celery_app is None or not app.config.get("WEBHOOKS_ENQUEUE_ON_COMMIT", True):
        return
    try:
        celery_app.send_task(
            TaskNames.WEBHOOKS_DISPATCH, args=[event_ids], queue=QueueNames.WEBHOOKS, retry=False
        )
    except Exception:  # the sweep recovers; a broker outage must not fail the committed request
        logger.warning("Could not enqueue webhook dispatch for %d events", len(event_ids), exc_info=True)
