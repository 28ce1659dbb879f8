"""Enqueue delivery of new outbox events right after their transaction commits.

Only a latency optimisation: the kick is sent after commit (never before, or a worker
could look for a row that is not visible yet), and if the broker is down or the message
is lost, the periodic sweep finds the undispatched events anyway.

Building and publishing a Celery message costs a few hundred microseconds of CPU,
more than the rest of a small API request's own work, so a commit does not publish:
it hands its event ids to a per-process :class:`Kicker`, whose thread publishes
whatever has gathered as one message. Under load one message carries the events of
many requests; alone, an event leaves after :data:`LINGER_SECONDS`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from flask import Flask, current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from payments.celery_app import QueueNames, TaskNames
from webhooks.outbox import NEW_EVENT_IDS

logger = logging.getLogger(__name__)

_EXTENSION = "feegate.webhooks.kicker"
#: events per message: the dispatch task fans out and sends them in one transaction
MESSAGE_SIZE = 200
#: how long the first event of a message waits for company: under load a message then carries
#: many commits' events for a delay no portal notices next to the delivery's own round trip
LINGER_SECONDS = 0.02
_installed = False


def install_commit_hook() -> None:
    """Listen on every Session (once per process) for committed outbox events."""
    global _installed
    if _installed:
        return
    event.listen(Session, "after_commit", _kick)
    event.listen(Session, "after_rollback", _forget)
    _installed = True


def _forget(session: Session) -> None:
    session.info.pop(NEW_EVENT_IDS, None)


def _kick(session: Session) -> None:
    event_ids = session.info.pop(NEW_EVENT_IDS, None)
    if not event_ids or not has_app_context():
        return
    kicker = kicker_for(current_app)
    if kicker is not None:
        kicker.submit(event_ids)


def kicker_for(app: Flask) -> Kicker | None:
    """Return ``app``'s kicker, or None when it has no Celery app or kicking is turned off."""
    celery_app = app.extensions.get("celery")
    if celery_app is None or not app.config.get("WEBHOOKS_ENQUEUE_ON_COMMIT", True):
        return None
    kicker: Kicker | None = app.extensions.get(_EXTENSION)
    if kicker is None or kicker.celery_app is not celery_app:
        kicker = app.extensions[_EXTENSION] = Kicker(celery_app)
    return kicker


class Kicker:
    """Publishes committed event ids from one background thread, many commits per message.

    The thread starts on first use in each process and is a daemon: ids not yet published
    when the process ends are found by the sweep. A forked child starts afresh (see
    :func:`_restart_after_fork`): it inherits neither the parent's thread nor its lock.
    """

    def __init__(
        self,
        celery_app: Any,
        publish: Callable[[list[str]], None] | None = None,
        linger: float = LINGER_SECONDS,
    ) -> None:
        self.celery_app = celery_app
        self._publish = publish or self._send_task
        self._linger = linger
        self._start_afresh()
        _KICKERS.add(self)

    def _start_afresh(self) -> None:
        # A fork copies a lock as it was (maybe held by a thread that does not exist in the
        # child) and the parent's pending ids (the parent publishes those): replace both.
        self._lock = threading.Condition()
        self._pending: list[str] = []
        self._busy = False
        self._started = False

    def submit(self, event_ids: Sequence[str]) -> None:
        """Queue committed events for the next message; returns at once."""
        with self._lock:
            self._pending.extend(event_ids)
            if not self._started:
                self._started = True
                threading.Thread(target=self._run, name="feegate-webhook-kick", daemon=True).start()
            self._lock.notify_all()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything submitted so far is published; False on timeout (for tests, shutdown)."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._pending and not self._busy, timeout)

    def _run(self) -> None:
        while True:
            with self._lock:
                self._lock.wait_for(lambda: bool(self._pending))
                self._busy = True
            time.sleep(self._linger)
            with self._lock:
                batch, self._pending = self._pending[:MESSAGE_SIZE], self._pending[MESSAGE_SIZE:]
            try:
                self._publish(batch)
            except Exception:  # the sweep recovers; nothing here may stop the thread
                logger.warning("Could not enqueue webhook dispatch for %d events", len(batch), exc_info=True)
            finally:
                with self._lock:
                    self._busy = False
                    self._lock.notify_all()

    def _send_task(self, event_ids: list[str]) -> None:
        self.celery_app.send_task(
            TaskNames.WEBHOOKS_DISPATCH, args=[event_ids], queue=QueueNames.WEBHOOKS, retry=False
        )


_KICKERS: weakref.WeakSet[Kicker] = weakref.WeakSet()


def _restart_after_fork() -> None:
    for kicker in list(_KICKERS):
        kicker._start_afresh()


os.register_at_fork(after_in_child=_restart_after_fork)
