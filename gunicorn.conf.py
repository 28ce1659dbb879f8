"""gunicorn settings for ``make run`` and ``make bench-api``: one place, so the bench measures what runs.

Threaded workers (gthread): feegate's requests mostly wait on PostgreSQL, so a
few threads per process keep both cores busy while one thread waits, and idle
keep-alive connections cost a socket, not a thread. One process per core, since
the GIL lets a process run Python on one core at a time.
Override any value with ``FEEGATE_GUNICORN_<NAME>`` or gunicorn's own ``GUNICORN_CMD_ARGS``.
"""

from __future__ import annotations

import os

workers = int(os.environ.get("FEEGATE_GUNICORN_WORKERS", os.cpu_count() or 2))
worker_class = "gthread"
#: Each worker listens on its own SO_REUSEPORT socket and the kernel spreads new connections
#: across them. On one shared socket, Linux wakes the most recently idle worker first, so a
#: burst of keep-alive connections (a portal's pool opening) all landed on one worker: 32 of 32
#: measured, one core busy and the other idle for as long as the connections lived.
reuse_port = True
threads = int(os.environ.get("FEEGATE_GUNICORN_THREADS", 4))
#: portal backends reuse connections; keep them open a little longer than a busy client's pause
keepalive = int(os.environ.get("FEEGATE_GUNICORN_KEEPALIVE", 5))
timeout = 30
graceful_timeout = 15
bind = os.environ.get("FEEGATE_GUNICORN_BIND", "127.0.0.1:5000")


def post_worker_init(worker: object) -> None:
    """Move the loaded application's objects out of the garbage collector's sight.

    Everything imported and built at start-up (Flask, SQLAlchemy's mappers, marshmallow
    schemas, translations) lives as long as the worker, yet every full collection would walk
    it again: a pause for every thread of the process (88 ms measured in a worker under load),
    which showed as the slowest 1 % of API requests. Frozen, a collection only looks at what requests made.
    """
    import gc

    gc.collect()
    gc.freeze()
