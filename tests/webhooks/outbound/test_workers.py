"""Process-level tests: real Celery worker processes, Redis broker, PostgreSQL, a local receiver."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from payments.db import get_session, utcnow
from webhooks.outbound.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from webhooks.outbound.signing import generate_secret
from webhooks.outbox import record_event

from .conftest import create_agency
from .receiver import Receiver

logger = logging.getLogger(__name__)

pytestmark = [pytest.mark.slow, pytest.mark.postgres_only]

PG_URL = os.environ.get("FEEGATE_TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("FEEGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
CELERY = str(Path(sys.executable).with_name("celery"))
ROOT = Path(__file__).resolve().parents[3]


def _redis_reachable() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except Exception:
        return False


@pytest.fixture(scope="module")
def services():
    if not PG_URL.startswith("postgres"):
        pytest.skip("needs FEEGATE_TEST_DATABASE_URL pointing at PostgreSQL (workers race on row locks)")
    if not _redis_reachable():
        pytest.skip(f"needs a reachable Redis broker at {REDIS_URL}")


@pytest.fixture
def key_prefix():
    """A private namespace in the shared Redis, removed afterwards."""
    prefix = f"feegate-test-{uuid.uuid4().hex[:8]}:"
    yield prefix
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)


@pytest.fixture
def app_config(services, app_config, key_prefix):
    """The web process's app: commits kick the workers through the real broker."""
    app_config.update(
        CELERY_BROKER_URL=REDIS_URL,
        CELERY={"broker_transport_options": {"global_keyprefix": key_prefix}},
        WEBHOOKS_ENQUEUE_ON_COMMIT=True,
    )
    return app_config


@pytest.fixture
def engine(database_url):
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


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


@pytest.fixture
def workers(app, database_url, key_prefix, tmp_path):
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "FEEGATE_ENV": "test",
        "FEEGATE_DATABASE_URL": database_url,
        "FEEGATE_CELERY_BROKER_URL": REDIS_URL,
        "FEEGATE_CELERY__broker_transport_options__global_keyprefix": key_prefix,
        "FEEGATE_WEBHOOKS_TIMEOUT_SECONDS": "6",
        "FEEGATE_WEBHOOKS_LEASE_SECONDS": "8",
        "FEEGATE_WEBHOOKS_SWEEP_SECONDS": "1",
    }
    pool = Workers(env, tmp_path)
    yield pool
    pool.stop_all()


def _setup_endpoint(app, url: str) -> tuple[int, str]:
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


def _commit_events(app, agency_id: int, count: int, per_transaction: int = 100) -> list[str]:
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


def _statuses(engine) -> Counter[str]:
    with Session(engine) as session:
        rows = session.execute(
            select(WebhookDelivery.status, func.count()).group_by(WebhookDelivery.status)
        ).all()
    return Counter(dict(rows))


def test_worker_delivers_committed_event_verified_by_receiver(app, engine, workers):
    receiver = Receiver().start()
    try:
        agency_id, secret = _setup_endpoint(app, receiver.url)
        receiver.secrets.append(secret)
        workers.start("w1")
        (event_id,) = _commit_events(app, agency_id, 1)

        assert receiver.wait_for(1, timeout=30)
        assert receiver.ids() == [event_id]
        assert receiver.verified_by_all([0])
        deadline = time.monotonic() + 10
        while _statuses(engine) != {DeliveryStatus.SUCCEEDED: 1} and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _statuses(engine) == {DeliveryStatus.SUCCEEDED: 1}
    finally:
        receiver.stop()


def test_worker_killed_mid_delivery_redelivers_same_webhook_id(app, engine, workers):
    first_seen: set[str] = set()

    def sleep_first_time(webhook_id: str) -> float:
        if webhook_id in first_seen:
            return 0.0
        first_seen.add(webhook_id)
        return 5.0

    receiver = Receiver(delay=sleep_first_time).start()
    try:
        agency_id, secret = _setup_endpoint(app, receiver.url)
        receiver.secrets.append(secret)
        worker = workers.start("victim", beat=True)
        (event_id,) = _commit_events(app, agency_id, 1)
        assert receiver.wait_for(1, timeout=30)
        killed_at = time.monotonic()
        time.sleep(1)
        workers.kill(worker)
        worker.wait()
        workers.start("survivor", beat=True)

        assert receiver.wait_for(2, timeout=40), "the event was lost"
        redelivery_seconds = time.monotonic() - killed_at
        assert receiver.ids() == [event_id, event_id]
        assert receiver.verified_by_all([0])
        deadline = time.monotonic() + 10
        while _statuses(engine) != {DeliveryStatus.SUCCEEDED: 1} and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _statuses(engine) == {DeliveryStatus.SUCCEEDED: 1}
        # Lease (8 s) plus one sweep interval (1 s) plus the worker's start-up.
        assert redelivery_seconds < 20
        logger.info("redelivered %.1f s after the kill", redelivery_seconds)
    finally:
        receiver.stop()


def test_four_workers_drain_2000_deliveries_exactly_once(app, engine, workers):
    receiver = Receiver().start()
    try:
        agency_id, secret = _setup_endpoint(app, receiver.url)
        receiver.secrets.append(secret)
        for n in range(4):
            workers.start(f"w{n}", concurrency=2)
        started = time.monotonic()
        ids = _commit_events(app, agency_id, 2000)
        # Sweeps race the dispatch kicks and each other for the same rows.
        with app.app_context():
            celery_app = app.extensions["celery"]
            for _ in range(8):
                celery_app.send_task("webhooks-sweep", queue="periodic")

        assert receiver.wait_for(2000, timeout=240), f"only {len(receiver.ids())} of 2000 arrived"
        elapsed = time.monotonic() - started
        time.sleep(2)  # let any duplicate land before counting

        counts = Counter(receiver.ids())
        assert set(counts) == set(ids)
        assert max(counts.values()) == 1, [i for i, n in counts.items() if n > 1][:5]
        assert receiver.verified_by_all([0])
        assert _statuses(engine) == {DeliveryStatus.SUCCEEDED: 2000}
        logger.info("2000 deliveries by 4 workers in %.1f s (%.0f/s), duplicates 0", elapsed, 2000 / elapsed)
    finally:
        receiver.stop()
