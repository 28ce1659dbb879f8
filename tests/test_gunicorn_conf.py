"""``gunicorn.conf.py`` as ``make run`` and the API bench start it: connections spread over the workers."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONNECTIONS = 16

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/fd").exists(), reason="reads workers' sockets from /proc"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _connections_from(pid: int, client_ports: set[int]) -> int:
    """How many of the clients' connections process ``pid`` holds (its sockets whose peer is one of them)."""
    inodes = {os.readlink(fd)[len("socket:[") : -1] for fd in Path(f"/proc/{pid}/fd").iterdir()}
    held = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        peer_port = int(fields[2].split(":")[1], 16)
        held += peer_port in client_ports and fields[9] in inodes
    return held


def _workers(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


@pytest.fixture
def gunicorn(database_template: str, tmp_path: Path):
    """gunicorn with the project's settings and two workers on a free port, on a copy of the test database."""
    url = database_template  # PostgreSQL's URL, or the path of the migrated SQLite template
    if not url.startswith("postgresql"):
        copy = tmp_path / "gunicorn.sqlite3"
        copy.write_bytes(Path(url).read_bytes())
        url = f"sqlite:///{copy}"
    port = _free_port()
    env = {
        **os.environ,
        "FEEGATE_DATABASE_URL": url,
        "FEEGATE_GUNICORN_WORKERS": "2",
        "FEEGATE_CELERY_BROKER_URL": "memory://localhost/",
    }
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        "gunicorn.conf.py",
        "--bind",
        f"127.0.0.1:{port}",
        "wsgi:app",
    ]
    log = (tmp_path / "gunicorn.log").open("wb")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while len(_workers(process.pid)) < 2 or not _answers(port):
            started = process.poll() is None and time.monotonic() < deadline
            assert started, (tmp_path / "gunicorn.log").read_text()[-2000:]
            time.sleep(0.1)
        yield process, port
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
        log.close()


def _answers(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", "/no-such-page")
        conn.getresponse().read()
        conn.close()
        return True
    except OSError:
        return False


def test_a_burst_of_keep_alive_connections_is_spread_over_the_workers(gunicorn):
    process, port = gunicorn
    clients = [http.client.HTTPConnection("127.0.0.1", port, timeout=30) for _ in range(CONNECTIONS)]
    try:
        for client in clients:  # all open before any is used, as a portal's pool opens
            client.connect()
        for client in clients:
            client.request("GET", "/no-such-page")
            assert client.getresponse().read()
        ports = {client.sock.getsockname()[1] for client in clients}
        held = {pid: _connections_from(pid, ports) for pid in _workers(process.pid)}
    finally:
        for client in clients:
            client.close()

    # On one shared listening socket every connection went to the same worker. With a socket
    # per worker (reuse_port) the kernel spreads them; all 16 on one worker has odds of 1 in 32,768.
    assert sum(held.values()) == CONNECTIONS
    assert min(held.values()) >= 1, held
