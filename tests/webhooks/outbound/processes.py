"""Helpers for process-level tests: real `celery worker` processes and database checks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from payments.db import get_session, utcnow
from webhooks.outbound.models import WebhookDelivery, WebhookEndpoint
from webhooks.outbound.signing import generate_secret
from webhooks.outbox import record_event

from .conftest import create_agency

CELERY = str(Path(sys.executable).with_name("celery"))
ROOT = Path(__file__).resolve().parents[3]


class Workers:
    """Start and stop `celery worker` processes with one shared environment."""

    def __init__(self, env: dict[str, str], tmp: Path) -> None:
        self.env = env
        self.tmp = tmp
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, *, beat: bool = False, concurrency: int = 4) -> subprocess.Popen[bytes]:
        args = [CELERY, "-A", "payments.worker", "worker", "--pool", "threads", "-c", str(concurrency)]
        args += ["-n", f"{name}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat"]
        args += ["-l", "warning"]
        if beat:
            args += ["-B", "-s", str(self.tmp / f"beat-{name}")]
        with open(self.tmp / f"{name}.log", "ab") as log:
            # Its own process group, so a kill reaches the embedded beat child as well.
            proc = subprocess.Popen(
                args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.procs.append(proc)
        return proc

    @staticmethod
    def kill(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
        """Signal the worker and its children (beat), as a crashed machine would lose them."""
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass

    def stop_all(self) -> None:
        for proc in self.procs:
            self.kill(proc, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill(proc)
                proc.wait()
            self.kill(proc)  # any child left behind


def setup_endpoint(app, url: str) -> tuple[int, str]:
    with app.app_context():
        session = get_session()
        agency_id = create_agency(session)
        secret = generate_secret()
        now = utcnow()
        session.add(
            WebhookEndpoint(
                agency_id=agency_id,
                url=url,
                description="",
                event_types=["invoice.paid"],
                secret=secret,
                enabled=True,
                created_at=now,
                updated_at=now,
            )
        )
        session.commit()
        return agency_id, secret


def commit_events(app, agency_id: int, count: int, per_transaction: int = 100) -> list[str]:
    ids: list[str] = []
    with app.app_context():
        session = get_session()
        for start in range(0, count, per_transaction):
            for n in range(start, min(start + per_transaction, count)):
                event = record_event(
                    session,
                    agency_id=agency_id,
                    event_type="invoice.paid",
                    aggregate_type="invoice",
                    aggregate_id=f"inv_{n}",
                    data={"id": f"inv_{n}", "amount": 150000, "currency": "VND"},
                )
                ids.append(event.id)
            session.commit()
    return ids


def statuses(engine) -> Counter[str]:
    with Session(engine) as session:
        rows = session.execute(
            select(WebhookDelivery.status, func.count()).group_by(WebhookDelivery.status)
        ).all()
    return Counter(dict(rows))
