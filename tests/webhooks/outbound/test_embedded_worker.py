"""The embedded default: a real worker (with beat) on the test database and the embedded SQLite broker."""

from __future__ import annotations

import json
import os
import time

import pytest

from webhooks.outbound.models import DeliveryStatus

from .processes import ROOT, Workers, commit_events, setup_endpoint, statuses
from .receiver import Receiver

pytestmark = pytest.mark.slow


@pytest.fixture
def broker(tmp_path):
    from payments.celery_app import embedded_broker

    return embedded_broker(str(tmp_path))


@pytest.fixture
def app_config(app_config, broker):
    app_config.update(CELERY=broker, WEBHOOKS_ENQUEUE_ON_COMMIT=True)
    return app_config


def test_embedded_worker_delivers_with_no_broker_server(app, database_url, broker, tmp_path):
    from sqlalchemy import create_engine

    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "FEEGATE_ENV": "test",
        "FEEGATE_DATABASE_URL": database_url,
        "FEEGATE_CELERY": json.dumps(broker),
        "FEEGATE_WEBHOOKS_SWEEP_SECONDS": "1",
    }
    workers = Workers(env, tmp_path)
    receiver = Receiver().start()
    engine = create_engine(database_url)
    try:
        agency_id, secret = setup_endpoint(app, receiver.url)
        receiver.secrets.append(secret)
        workers.start("embedded", beat=True, concurrency=2)
        ids = commit_events(app, agency_id, 3, per_transaction=1)

        assert receiver.wait_for(3, timeout=60), (tmp_path / "embedded.log").read_text()[-2000:]
        assert sorted(receiver.ids()) == sorted(ids)
        assert receiver.verified_by_all([0])
        deadline = time.monotonic() + 10
        while statuses(engine) != {DeliveryStatus.SUCCEEDED: 3} and time.monotonic() < deadline:
            time.sleep(0.1)
        assert statuses(engine) == {DeliveryStatus.SUCCEEDED: 3}
    finally:
        workers.stop_all()
        receiver.stop()
        engine.dispose()
