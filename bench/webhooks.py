"""Benchmark outgoing webhook delivery: Celery workers against a bare `requests` loop.

    python bench/webhooks.py [--events 10000] [--workers 2] [--database-url URL] [--broker-url URL]

Defaults: the embedded setup (a SQLite file and kombu's SQLAlchemy broker on SQLite in a temp
folder). For PostgreSQL and Redis pass e.g. ``--database-url postgresql://postgres@127.0.0.1/feegate_bench
--broker-url redis://127.0.0.1:6379/0`` (the database is wiped and migrated).

Three phases, one local receiver process that answers 200 at once:
1. bare loop: one `requests.Session` posts the same signed payloads, one after another;
2. backlog: EVENTS events are committed (100 per transaction) and the workers drain them;
   events/s is measured from the first commit to the last receipt;
3. steady load: events are committed one per transaction at a fixed rate (default 80 % of
   the backlog rate) and the delay from each commit to its receipt gives p50/p99.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RECEIVER = """
import sys, time
from werkzeug.serving import WSGIRequestHandler, make_server
out = open(sys.argv[1], "a", buffering=1)
class Quiet(WSGIRequestHandler):
    def log_request(self, *a, **k): pass
def app(environ, start_response):
    environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    out.write(f"{environ.get('HTTP_WEBHOOK_ID', '')} {time.time()}\\n")
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]
server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=Quiet)
print(server.server_port, flush=True)
server.serve_forever()
"""


def percentile(values: list[float], q: float) -> float:
    """Return the q-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def read_arrivals(path: Path) -> dict[str, float]:
    """Return webhook-id -> first receipt time, from the receiver's log."""
    arrivals: dict[str, float] = {}
    for line in path.read_text().splitlines():
        webhook_id, _, at = line.partition(" ")
        arrivals.setdefault(webhook_id, float(at))
    return arrivals


def wait_for(path: Path, ids: set[str], timeout: float) -> dict[str, float]:
    """Wait until every id arrived (or the timeout passed); return the arrivals."""
    deadline = time.monotonic() + timeout
    while True:
        arrivals = read_arrivals(path)
        if ids <= arrivals.keys() or time.monotonic() > deadline:
            return arrivals
        time.sleep(0.2)


def prepare_database(url: str) -> None:
    """Wipe (PostgreSQL) and migrate the benchmark database."""
    if url.startswith("postgres"):
        from sqlalchemy import create_engine, text

        engine = create_engine("postgresql+psycopg://" + url.split("://", 1)[1])
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
    from alembic import command

    from payments import create_app
    from payments.cli import alembic_config

    with create_app({"DATABASE_URL": url}).app_context():
        command.upgrade(alembic_config(), "head")


def main() -> None:
    """Run the three phases and print a report (and JSON on the last line)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=4, help="threads per worker process")
    parser.add_argument("--steady-events", type=int, default=2_000)
    parser.add_argument("--steady-rate", type=float, default=0.0, help="events/s (default: 80%% of backlog)")
    parser.add_argument("--database-url", default=os.environ.get("FEEGATE_BENCH_DATABASE_URL", ""))
    parser.add_argument("--broker-url", default=os.environ.get("FEEGATE_BENCH_BROKER_URL", ""))
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="feegate-bench-webhooks-"))
    database_url = args.database_url or f"sqlite:///{tmp / 'bench.sqlite3'}"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FEEGATE_ENV": "development"}
    env["FEEGATE_DATABASE_URL"] = database_url
    if args.broker_url:
        env["FEEGATE_CELERY_BROKER_URL"] = args.broker_url
        env["FEEGATE_CELERY__broker_transport_options__global_keyprefix"] = f"bench-{uuid.uuid4().hex[:6]}:"
    else:
        # The embedded broker of `make run`: kombu's SQLAlchemy transport on its own SQLite file.
        env["FEEGATE_CELERY_BROKER_URL"] = f"sqla+sqlite:///{tmp / 'broker.sqlite3'}"
    os.environ.update(env)  # this process commits the events with the same configuration
    prepare_database(database_url)

    arrivals_log = tmp / "arrivals.log"
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER, str(arrivals_log)], stdout=subprocess.PIPE)
    assert receiver.stdout is not None
    url = f"http://127.0.0.1:{int(receiver.stdout.readline())}/hook"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        report = run(args, env, url, arrivals_log, tmp, procs)
    finally:
        for proc in [*procs, receiver]:
            proc.terminate()
        for proc in [*procs, receiver]:
            proc.wait(timeout=20)
    print(json.dumps(report))


def run(
    args: argparse.Namespace,
    env: dict[str, str],
    url: str,
    arrivals_log: Path,
    tmp: Path,
    procs: list[subprocess.Popen[bytes]],
) -> dict[str, object]:
    """Run the phases with workers started; return the figures."""
    from sqlalchemy.orm import Session

    from payments import create_app
    from payments.agencies import create_agency
    from payments.db import get_session, utcnow
    from webhooks.outbound.delivery import event_body
    from webhooks.outbound.models import WebhookEndpoint
    from webhooks.outbound.signing import generate_secret, webhook_headers
    from webhooks.outbox import RecordedEvent, record_event

    app = create_app({"WEBHOOKS_ENQUEUE_ON_COMMIT": True})
    secret = generate_secret()
    with app.app_context():
        session = get_session()
        agency_id = create_agency(
            session,
            code="BENCH",
            name="Bench",
            treasury_account="3511.0.1",
            treasury_code="0111",
            return_origins=["https://portal.example.gov.vn"],
            providers=["sandbox"],
            actor="bench",
        ).id
        now = utcnow()
        session.add(
            WebhookEndpoint(
                agency_id=agency_id,
                url=url,
                description="bench",
                event_types=["invoice.paid"],
                secret=secret,
                enabled=True,
                created_at=now,
                updated_at=now,
            )
        )
        session.commit()

    def invoice_paid(session: Session, n: int) -> RecordedEvent:
        return record_event(
            session,
            agency_id=agency_id,
            event_type="invoice.paid",
            aggregate_type="invoice",
            aggregate_id=f"inv_{n}",
            data={
                "id": f"inv_{n}",
                "object": "invoice",
                "amount": 150000,
                "currency": "VND",
                "status": "paid",
            },
        )

    def new_event(session: Session, n: int) -> str:
        return invoice_paid(session, n).id

    # 1. the bare loop: one keep-alive session, signing each post as the workers do
    with app.app_context():
        session = get_session()
        # The very events the workers will get (same type and data, so the same bytes), never committed.
        sample = [invoice_paid(session, n) for n in range(min(args.events, 3000))]
        session.flush()
        bodies = [(e.id, event_body(e)) for e in sample]
        session.rollback()
    http = requests.Session()
    started = time.perf_counter()
    for event_id, body in bodies:
        headers = {
            "Content-Type": "application/json",
            **webhook_headers(event_id, datetime.now(UTC), body, [secret]),
        }
        http.post(
            url, data=body.encode(), headers=headers, timeout=15, allow_redirects=False
        ).raise_for_status()
    bare_rate = len(bodies) / (time.perf_counter() - started)
    print(f"bare requests loop: {bare_rate:.0f} posts/s ({len(bodies)} posts)")

    celery = str(Path(sys.executable).with_name("celery"))
    for n in range(args.workers):
        command = [
            celery,
            "-A",
            "payments.worker",
            "worker",
            "--pool",
            "threads",
            "-c",
            str(args.concurrency),
        ]
        command += ["-n", f"bench{n}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat"]
        with open(tmp / f"worker{n}.log", "ab") as log:  # the child keeps its own descriptor
            procs.append(
                subprocess.Popen([*command, "-l", "warning"], cwd=ROOT, env=env, stdout=log, stderr=log)
            )
    time.sleep(6)  # let the workers boot before the clock starts

    # 2. backlog
    ids: list[str] = []
    started_wall = time.time()
    with app.app_context():
        session = get_session()
        for start in range(0, args.events, 100):
            ids += [new_event(session, n) for n in range(start, min(start + 100, args.events))]
            session.commit()
    committed_wall = time.time()
    arrivals = wait_for(arrivals_log, set(ids), timeout=max(120, args.events / 10))
    got = [arrivals[i] for i in ids if i in arrivals]
    backlog_rate = len(got) / (max(got) - started_wall) if got else 0.0
    print(
        f"backlog: {len(got)}/{len(ids)} delivered, {backlog_rate:.0f} events/s "
        f"(commits took {committed_wall - started_wall:.1f} s), load average {os.getloadavg()[0]:.1f}"
    )
    backlog_load = os.getloadavg()[0]  # the machine is shared: other jobs skew every figure

    # 3. steady load
    rate = args.steady_rate or max(1.0, 0.8 * backlog_rate)
    commits: dict[str, float] = {}
    with app.app_context():
        session = get_session()
        next_at = time.time()
        for n in range(args.steady_events):
            next_at += 1 / rate
            time.sleep(max(0.0, next_at - time.time()))
            event_id = new_event(session, args.events + n)
            session.commit()
            commits[event_id] = time.time()
    arrivals = wait_for(arrivals_log, set(commits), timeout=120)
    delays = [arrivals[i] - at for i, at in commits.items() if i in arrivals]
    p50, p99 = percentile(delays, 50), percentile(delays, 99)
    print(
        f"steady {rate:.0f} events/s: {len(delays)}/{len(commits)} delivered within 120 s, commit-to-receipt "
        f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, load average {os.getloadavg()[0]:.1f}"
    )
    steady_load = os.getloadavg()[0]

    duplicates = (
        sum(1 for line in arrivals_log.read_text().splitlines()) - len(bodies) - len(got) - len(delays)
    )
    per_worker = backlog_rate / args.workers
    print(
        f"per worker process: {per_worker:.0f} events/s = {per_worker / bare_rate:.2f} x the bare loop; "
        f"duplicates {duplicates}"
    )
    return {
        "database": "postgresql" if env["FEEGATE_DATABASE_URL"].startswith("postgres") else "sqlite",
        "broker": "redis" if args.broker_url else "sqlite (embedded)",
        "workers": args.workers,
        "threads_per_worker": args.concurrency,
        "events": args.events,
        "bare_posts_per_s": round(bare_rate, 1),
        "backlog_events_per_s": round(backlog_rate, 1),
        "per_worker_ratio_to_bare": round(per_worker / bare_rate, 3),
        "steady_rate": round(rate, 1),
        "steady_p50_ms": round(p50 * 1000),
        "steady_p99_ms": round(p99 * 1000),
        # Not received when the bench stopped waiting (still queued: the workers fell behind).
        "load_average_backlog": round(backlog_load, 1),
        "load_average_steady": round(steady_load, 1),
        "undelivered_at_end": len(ids) - len(got) + len(commits) - len(delays),
        "duplicates": duplicates,
    }


if __name__ == "__main__":
    main()
