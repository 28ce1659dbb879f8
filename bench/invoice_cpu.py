"""CPU per invoice in one process: the Flask test client, one thread, PostgreSQL, no gunicorn.

The steadiest figure on a shared machine: the process's own CPU time per
``POST /api/v1/invoices`` (best batch of ``--batch`` after a warm-up), with the
Celery hand-off going to kombu's in-memory transport. ``--profile FILE`` writes a
cProfile of the measured requests. Usage::

    .venv/bin/python bench/invoice_cpu.py [--batches 12] [--batch 100] [--profile out.prof]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import database  # noqa: E402
from bench.api import invoice_body  # noqa: E402


def main() -> None:
    """Create a database, post invoices in batches and print the best CPU ms per invoice."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, default=12)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--profile", type=Path)
    args = parser.parse_args()
    os.environ.setdefault("FEEGATE_CELERY_BROKER_URL", "memory://localhost/")
    name = f"feegate_cpu_{os.getpid()}"
    url = database.create_database(name)
    try:
        database.migrate(url)
        key = database.seed(url)
        with database.app_context(url) as app:
            client = app.test_client()
            headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
            body = invoice_body().replace(b"{seq}", b"1")

            def post() -> None:
                response = client.post("/api/v1/invoices", data=body, headers=headers)
                assert response.status_code == 201, response.get_data(as_text=True)

            for _ in range(50):
                post()
            profiler = cProfile.Profile(time.process_time) if args.profile else None
            best = float("inf")
            for _ in range(args.batches):
                if profiler:
                    profiler.enable()
                started = time.process_time()
                for _ in range(args.batch):
                    post()
                best = min(best, (time.process_time() - started) / args.batch * 1000)
                if profiler:
                    profiler.disable()
            if profiler:
                profiler.dump_stats(args.profile)
        print(f"CPU per invoice (best of {args.batches} x {args.batch}): {best:.2f} ms, "
              f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    finally:
        database.drop_database(name)


if __name__ == "__main__":
    main()
