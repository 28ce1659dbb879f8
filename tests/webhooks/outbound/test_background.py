"""Celery wiring, the after-commit kick, outbox atomicity, and tasks running in an app context."""

from __future__ import annotations

import random
import re
import threading
import time

from celery.schedules import crontab
from sqlalchemy import func, select
from standardwebhooks.webhooks import Webhook

from payments import repository as payments_repository
from payments import service as payments_service
from payments.celery_app import TIMEZONE, QueueNames, TaskNames
from payments.db import get_session, utcnow
from tests.factories import create_invoice
from webhooks.models import OutboxEvent
from webhooks.outbound import runner, tasks
from webhooks.outbound.kick import MESSAGE_SIZE, Kicker, kicker_for
from webhooks.outbound.models import DeliveryStatus, WebhookDelivery
from webhooks.outbound.settings import RESOLVER_EXTENSION, outbound_settings
from webhooks.outbox import record_event

from .conftest import create_endpoint, loopback


def test_celery_app_beat_schedule_local_time_and_every_task_registered(app):
    celery_app = app.extensions["celery"]
    celery_app.loader.import_default_modules()
    assert celery_app.conf.timezone == TIMEZONE == "Asia/Ho_Chi_Minh"
    schedule = celery_app.conf.beat_schedule
    assert {entry["task"] for entry in schedule.values()} <= set(celery_app.tasks)
    daily = schedule[TaskNames.RECONCILIATION_DAILY]["schedule"]
    assert isinstance(daily, crontab) and daily.hour == {6} and daily.minute == {30}
    assert {q.name for q in celery_app.conf.task_queues} == set(QueueNames.all())
    names = [name for key, name in vars(TaskNames).items() if key.isupper()]
    assert len(names) == 8
    for name in names:
        assert re.fullmatch(r"[a-z]+(-[a-z]+)+", name) and name in celery_app.tasks


def test_celery_app_embedded_broker_needs_no_server(app_config):
    from payments import create_app

    app_config["CELERY_BROKER_URL"] = ""
    app = create_app(app_config)
    assert app.extensions["celery"].conf.broker_url.startswith("sqla+sqlite:///")
    app.extensions["feegate.db"].engine.dispose()


class FakeCelery:
    """Records what the kick would send to the broker."""

    def __init__(self):
        self.sent = []

    def send_task(self, name, args=None, **options):
        self.sent.append((name, args, options.get("queue")))


def test_kick_committed_events_enqueued_once_rolled_back_never(app, agency, client):
    app.config["WEBHOOKS_ENQUEUE_ON_COMMIT"] = True
    fake = FakeCelery()
    app.extensions["celery"] = fake
    invoice = create_invoice(client, agency)
    assert kicker_for(app).flush()
    (name, (event_ids,), queue) = fake.sent[-1]
    assert (name, queue) == (TaskNames.WEBHOOKS_DISPATCH, QueueNames.WEBHOOKS)

    fake.sent.clear()
    with app.app_context():
        session = get_session()
        agency_row = payments_repository.get_agency_by_code(session, agency.code)
        payments_service.cancel_invoice(session, agency_row, invoice["id"], actor="test")
        session.rollback()
        session.commit()  # nothing left to commit: no kick for the rolled-back event
        assert kicker_for(app).flush()
    assert fake.sent == []
    with app.app_context():
        session = get_session()
        agency_row = payments_repository.get_agency_by_code(session, agency.code)
        payments_service.cancel_invoice(session, agency_row, invoice["id"], actor="test")
        session.commit()
        assert kicker_for(app).flush()
        cancelled = session.scalars(
            select(OutboxEvent.id).where(OutboxEvent.event_type == "invoice.cancelled")
        )
        assert [args for _, args, _ in fake.sent] == [[list(cancelled)]]


def test_outbox_rolled_back_change_leaves_no_event_committed_one_exactly_one(app, agency, client, session):
    rng = random.Random(18)
    invoices = [create_invoice(client, agency, reference=f"H40-{n}")["id"] for n in range(12)]
    committed = []
    with app.app_context():
        db = get_session()
        agency_row = payments_repository.get_agency_by_code(db, agency.code)
        endpoint = create_endpoint(
            db, agency_row.id, "http://127.0.0.1:1/hook", event_types=("invoice.cancelled",)
        )
        db.commit()
        for public_id in invoices:
            payments_service.cancel_invoice(db, agency_row, public_id, actor="test")
            if rng.random() < 0.5:
                db.commit()
                committed.append(public_id)
            else:
                db.rollback()
        runner.dispatch_and_claim(db, outbound_settings({}), utcnow)
    session.rollback()
    events = session.scalars(
        select(OutboxEvent.aggregate_id).where(OutboxEvent.event_type == "invoice.cancelled")
    )
    assert sorted(events) == sorted(committed)
    deliveries = session.scalar(
        select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
    )
    assert deliveries == len(committed) > 0


def test_dispatch_task_runs_in_app_context_and_delivers_inline(app, agency, receiver):
    receiver.expect_request("/hook").respond_with_data("ok", status=200)
    with app.app_context():
        session = get_session()
        agency_row = payments_repository.get_agency_by_code(session, agency.code)
        endpoint = create_endpoint(session, agency_row.id, receiver.url_for("/hook"))
        secret = endpoint.secret
        event = record_event(
            session,
            agency_id=agency_row.id,
            event_type="invoice.paid",
            aggregate_type="invoice",
            aggregate_id="inv_9",
            data={"id": "inv_9"},
        )
        session.commit()
    app.extensions[RESOLVER_EXTENSION] = loopback

    # Eager apply goes through the Flask-bound task class, outside any app context here.
    assert tasks.dispatch_events.apply(args=[[event.id]]).get() == 0  # sent inline, nothing enqueued

    ((request, _),) = receiver.log
    assert Webhook(secret).verify(request.get_data(), dict(request.headers))["data"] == {"id": "inv_9"}
    with app.app_context():
        (row,) = get_session().scalars(select(WebhookDelivery)).all()
        assert row.status == DeliveryStatus.SUCCEEDED


def test_scheduled_payment_tasks_run_their_jobs_in_app_context(app, agency, client, session):
    from payments import tasks as payment_tasks

    create_invoice(client, agency)
    assert payment_tasks.expire_invoices.apply().get() == 0
    assert payment_tasks.reap_idempotency_keys.apply().get() == 0
    report = payment_tasks.mop_up_payments.apply().get()
    assert report.get("invoices_expired", 0) == 0


def test_reconciliation_daily_task_runs_the_last_three_days_per_account(app, agency):
    from payments import tasks as payment_tasks

    # One agency treasury account times three days (yesterday and the two before it).
    assert payment_tasks.reconcile_daily.apply().get() == 3


def test_kicker_publishes_every_id_once_in_fewer_messages_and_survives_broker_errors():
    published: list[list[str]] = []
    failed: list[list[str]] = []
    gate = threading.Event()

    def publish(ids: list[str]) -> None:
        if not published and not failed:
            gate.wait(5)  # hold the first message while 500 more commits arrive
        if len(published) == 1 and not failed:
            failed.append(ids)
            raise ConnectionError("broker down")  # lost: the periodic sweep finds these events
        published.append(ids)

    kicker = Kicker(celery_app=None, publish=publish, linger=0.001)
    submitted = [f"evt_{n}" for n in range(501)]
    for event_id in submitted:
        kicker.submit([event_id])
    gate.set()
    assert kicker.flush()
    kicker.submit(["evt_after_error"])
    assert kicker.flush()

    flat = [event_id for ids in published for event_id in ids]
    (lost,) = failed
    assert sorted(flat + lost) == sorted([*submitted, "evt_after_error"])  # each id published once
    assert flat[-1] == "evt_after_error"  # the thread outlived the broker error
    assert len(published) + 1 <= 6 and all(len(ids) <= MESSAGE_SIZE for ids in published + failed)


def test_kicker_in_a_forked_child_publishes_even_if_the_parent_held_its_lock_at_fork():
    import os

    read_end, write_end = os.pipe()
    holding = threading.Event()
    release = threading.Event()

    def publish(ids: list[str]) -> None:
        if os.getpid() == parent:
            holding.set()
            release.wait(5)
        else:
            os.write(write_end, ",".join(ids).encode())

    parent = os.getpid()
    kicker = Kicker(celery_app=None, publish=publish, linger=0)
    kicker.submit(["evt_parent"])
    assert holding.wait(5)
    with kicker._lock:  # the parent's lock is held at the moment of the fork
        child = os.fork()
        if child == 0:  # pragma: no cover - runs in the child, which reports through its exit code
            try:
                kicker.submit(["evt_child"])
                os._exit(0 if kicker.flush(timeout=5) else 1)
            except BaseException:
                os._exit(2)
    release.set()
    deadline = time.monotonic() + 10
    while (done := os.waitpid(child, os.WNOHANG)) == (0, 0) and time.monotonic() < deadline:
        time.sleep(0.01)
    if done == (0, 0):  # the child hangs on the lock it inherited
        os.kill(child, 9)
        os.waitpid(child, 0)
    os.close(write_end)
    assert done != (0, 0) and os.waitstatus_to_exitcode(done[1]) == 0
    assert os.read(read_end, 100) == b"evt_child"  # the child published its own id, not the parent's
    os.close(read_end)
    assert kicker.flush()
