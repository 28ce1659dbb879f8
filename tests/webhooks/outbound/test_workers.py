"""Process-level tests: real Celery worker processes, Redis broker, PostgreSQL, a local receiver."""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections import Counter

import pytest
from sqlalchemy import create_engine

from webhooks.outbound.models import DeliveryStatus

from .processes import ROOT, Workers, commit_events, setup_endpoint, statuses
from .receiver import Receiver

logger = logging.getLogger(__name__)

pytestmark = [pytest.mark.slow, pytest.mark.postgres_only]

PG_URL = os.environ.get("FEEGATE_TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("FEEGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


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


def test_worker_delivers_committed_event_verified_by_receiver(app, engine, workers):
    receiver = Receiver().start()
    try:
        agency_id, secret = setup_endpoint(app, receiver.url)
        receiver.secrets.append(secret)
        workers.start("w1")
        (event_id,) = commit_events(app, agency_id, 1)

        assert receiver.wait_for(1, timeout=30)
        assert receiver.ids() == [event_id]
        assert receiver.verified_by_all([0])
        deadline = time.monotonic() + 10
        while statuses(engine) != {DeliveryStatus.SUCCEEDED: 1} and time.monotonic() < deadline:
            time.sleep(0.1)
        assert statuses(engine) == {DeliveryStatus.SUCCEEDED: 1}
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
        agency_id, secret = setup_endpoint(app, receiver.url)
        receiver.secrets.append(secret)
        worker = workers.start("victim", beat=True)
        (event_id,) = commit_events(app, agency_id, 1)
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
        while statuses(engine) != {DeliveryStatus.SUCCEEDED: 1} and time.monotonic() < deadline:
            time.sleep(0.1)
        assert statuses(engine) == {DeliveryStatus.SUCCEEDED: 1}
        # Lease (8 s) plus one sweep interval (1 s) plus the worker's start-up.
        assert redelivery_seconds < 20
        logger.info("redelivered %.1f s after the kill", redelivery_seconds)
    finally:
        receiver.stop()


def test_four_workers_drain_2000_deliveries_exactly_once(app, engine, workers):
    receiver = Receiver().start()
    try:
        agency_id, secret = setup_endpoint(app, receiver.url)
        receiver.secrets.append(secret)
        for n in range(4):
            workers.start(f"w{n}", concurrency=2)
        started = time.monotonic()
        ids = commit_events(app, agency_id, 2000)
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
        assert statuses(engine) == {DeliveryStatus.SUCCEEDED: 2000}
        logger.info("2000 deliveries by 4 workers in %.1f s (%.0f/s), duplicates 0", elapsed, 2000 / elapsed)
    finally:
        receiver.stop()
