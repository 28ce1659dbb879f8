"""A cheap closed-loop load generator: processes of threads, one keep-alive connection per thread.

Every client sends its next request as soon as the previous answer is read (a
closed loop, like a portal backend's worker pool). Requests are prepared bytes
sent over a minimal HTTP/1.1 client, so a client spends far less CPU per request
than the server does; the CPU the clients did use is measured and reported. Only requests
that start inside the measuring window (after the warm-up) are counted.
"""

from __future__ import annotations

import http.client
import math
import multiprocessing
import multiprocessing.queues
import multiprocessing.synchronize
import resource
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: replaced in a body template by a per-request sequence string, so every request differs
SEQ = b"__SEQ__"
SEQ_TEXT = SEQ.decode()


@dataclass(frozen=True, slots=True)
class Plan:
    """What one target's clients send.

    Either ``template`` (a body with :data:`SEQ` in it, and maybe in header values) or
    ``prepared`` (distinct bodies with their own headers, shared out between the
    clients); with ``prepared``, every ``duplicate_every``-th request re-sends one the
    same client sent before (a provider's retry).
    """

    path: str
    expected_status: int
    headers: dict[str, str]
    template: bytes = b""
    prepared: tuple[tuple[bytes, tuple[tuple[str, str], ...]], ...] = ()
    duplicate_every: int = 0


@dataclass(frozen=True, slots=True)
class Window:
    """When to start (after a barrier), how long to warm up and how long to measure, in seconds."""

    warmup: float
    seconds: float


@dataclass(slots=True)
class ClientResult:
    """What one process's clients measured inside the window."""

    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    #: responses with the expected status over the whole run, warm-up included (to check the rows)
    expected_total: int = 0
    sent_total: int = 0
    duplicates_sent: int = 0
    exhausted: int = 0  # client processes that ran out of prepared requests and re-sent old ones instead
    #: the clients' own CPU time from the start of the warm-up to the end
    cpu_seconds: float = 0.0
    #: the server's CPU time inside the window, when a sampler was given
    server_cpu_seconds: float = 0.0
    #: the database's CPU time inside the window, when a sampler was given
    database_cpu_seconds: float = 0.0


class _Pool:
    """The prepared requests that all clients share: each handed out fresh once, in order.

    The next position is a counter shared by the client processes, so fresh requests
    keep flowing to whichever clients the server happens to serve fastest.
    """

    def __init__(self, items: tuple[tuple[bytes, tuple[tuple[str, str], ...]], ...], counter: Any) -> None:
        self.items = items
        self.exhausted = False
        self._counter = counter

    @property
    def handed_out(self) -> int:
        """How many fresh requests were handed out so far (by any process)."""
        return min(int(self._counter.value), len(self.items))

    def fresh(self) -> int | None:
        """Return the position of the next fresh request, or None when all were handed out."""
        with self._counter.get_lock():
            position = int(self._counter.value)
            if position >= len(self.items):
                self.exhausted = True
                return None
            self._counter.value = position + 1
        return position


class _Requests:
    """The request sequence of one client."""

    def __init__(self, plan: Plan, client_index: int, pool: _Pool) -> None:
        self._plan = plan
        self._index = client_index
        self._pool = pool
        self._count = 0

    def next(self) -> tuple[bytes, dict[str, str], bool]:
        """Return the next body, its headers, and whether it repeats an earlier request."""
        plan = self._plan
        self._count += 1
        if not plan.prepared:
            seq = f"{self._index}-{self._count}"
            body = plan.template.replace(SEQ, seq.encode())
            headers = {k: v.replace(SEQ_TEXT, seq) for k, v in plan.headers.items()}
            return body, headers, False
        pool = self._pool
        # offset per client, so that short runs see the same share of repeats as long ones
        repeat = plan.duplicate_every > 0 and (self._count + self._index) % plan.duplicate_every == 0
        position = None if repeat and pool.handed_out else pool.fresh()
        if position is None:  # a provider's retry of one sent before (or nothing fresh is left)
            repeat = True
            position = (self._count * 7919 + self._index) % max(pool.handed_out, 1)
        body, extra = pool.items[position]
        return body, {**plan.headers, **dict(extra)}, repeat


class _Connection:
    """A minimal HTTP/1.1 keep-alive connection: one ``sendall`` per request, responses by Content-Length.

    Much cheaper per request than ``http.client`` (which parses headers with the email
    package), so the clients leave the two cores to the server.
    """

    def __init__(self, host: str, port: int) -> None:
        self._address = (host, port)
        self._host_header = f"Host: {host}:{port}\r\n"
        self._sock: socket.socket | None = None
        self._buffer = b""

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        """Send one POST and return the response status (the body is read and dropped)."""
        if self._sock is None:
            self._sock = socket.create_connection(self._address, timeout=30)
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._buffer = b""
        lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        head = f"POST {path} HTTP/1.1\r\n{self._host_header}Content-Length: {len(body)}\r\n{lines}\r\n"
        self._sock.sendall(head.encode() + body)
        return self._read_response(self._sock)

    def _read_response(self, sock: socket.socket) -> int:
        data = self._buffer
        while b"\r\n\r\n" not in data:
            data += self._recv(sock)
        head, _, rest = data.partition(b"\r\n\r\n")
        status_line, *header_lines = head.split(b"\r\n")
        status = int(status_line.split(b" ", 2)[1])
        length: int | None = None
        close = False
        for line in header_lines:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection":
                close = value.strip().lower() == b"close"
            elif name == b"transfer-encoding":
                raise http.client.HTTPException("chunked responses are not supported")
        if length is None:
            raise http.client.HTTPException("response without Content-Length")
        while len(rest) < length:
            rest += self._recv(sock)
        self._buffer = rest[length:]
        if close:
            self.close()
        return status

    @staticmethod
    def _recv(sock: socket.socket) -> bytes:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        return chunk

    def close(self) -> None:
        """Close the socket; the next request opens a new one."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _client(
    host: str,
    port: int,
    plan: Plan,
    requests: _Requests,
    start: float,
    end: float,
    out: ClientResult,
    lock: threading.Lock,
) -> None:
    conn = _Connection(host, port)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    duplicates = 0
    expected_total = 0
    sent_total = 0
    while True:
        began = time.monotonic()
        if began >= end:
            break
        body, headers, repeat = requests.next()
        try:
            status = conn.post(plan.path, body, headers)
        except (OSError, ValueError, http.client.HTTPException):
            status = 0  # connection-level failure: counted as an error, then reconnect
            conn.close()
        expected_total += int(status == plan.expected_status)
        sent_total += 1
        if began >= start:
            latencies.append((time.monotonic() - began) * 1000.0)
            statuses[status] += 1
            duplicates += int(repeat)
    conn.close()
    with lock:
        out.latencies_ms.extend(latencies)
        out.statuses.update(statuses)
        out.duplicates_sent += duplicates
        out.expected_total += expected_total
        out.sent_total += sent_total


def run_process(
    host: str,
    port: int,
    plan: Plan,
    window: Window,
    counter: Any,
    client_indexes: list[int],
    barrier: multiprocessing.synchronize.Barrier,
    results: multiprocessing.queues.Queue[ClientResult],
) -> None:
    """Run this process's clients through the window and put their :class:`ClientResult` on ``results``."""
    out = ClientResult()
    lock = threading.Lock()
    pool = _Pool(plan.prepared, counter)
    sequences = [_Requests(plan, i, pool) for i in client_indexes]
    barrier.wait()
    cpu_before = _cpu_seconds()
    start = time.monotonic() + window.warmup
    end = start + window.seconds
    threads = [
        threading.Thread(target=_client, args=(host, port, plan, seq, start, end, out, lock), daemon=True)
        for seq in sequences
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.cpu_seconds = _cpu_seconds() - cpu_before
    out.exhausted = int(pool.exhausted)
    results.put(out)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def drive(
    host: str,
    port: int,
    plan: Plan,
    window: Window,
    clients: int,
    processes: int,
    server_cpu: Callable[[], float] | None = None,
    database_cpu: Callable[[], float] | None = None,
) -> ClientResult:
    """Drive ``clients`` keep-alive clients spread over ``processes`` processes; merge what they saw.

    ``server_cpu`` and ``database_cpu`` (CPU seconds so far) are sampled at both ends of the window.
    """
    # fork: the clients need nothing the parent has not imported already, and start at once.
    ctx = multiprocessing.get_context("fork")
    processes = max(1, min(processes, clients))
    barrier = ctx.Barrier(processes + 1)
    counter = ctx.Value("q", 0)  # the next fresh prepared request, shared by every client
    results: multiprocessing.queues.Queue[ClientResult] = ctx.Queue()
    workers = [
        ctx.Process(
            target=run_process,
            args=(
                host,
                port,
                plan,
                window,
                counter,
                list(range(p, clients, processes)),
                barrier,
                results,
            ),
            daemon=True,
        )
        for p in range(processes)
    ]
    for worker in workers:
        worker.start()
    barrier.wait(timeout=60)
    released = time.monotonic()
    merged = ClientResult()
    if server_cpu is not None or database_cpu is not None:

        def sample() -> tuple[float, float]:
            return (server_cpu() if server_cpu else 0.0, database_cpu() if database_cpu else 0.0)

        time.sleep(max(0.0, released + window.warmup - time.monotonic()))
        before = sample()
        time.sleep(max(0.0, released + window.warmup + window.seconds - time.monotonic()))
        after = sample()
        merged.server_cpu_seconds = after[0] - before[0]
        merged.database_cpu_seconds = after[1] - before[1]
    for _ in workers:
        part = results.get(timeout=window.warmup + window.seconds + 120)
        merged.latencies_ms.extend(part.latencies_ms)
        merged.statuses.update(part.statuses)
        merged.duplicates_sent += part.duplicates_sent
        merged.expected_total += part.expected_total
        merged.sent_total += part.sent_total
        merged.exhausted += part.exhausted
        merged.cpu_seconds += part.cpu_seconds
    for worker in workers:
        worker.join(timeout=30)
    return merged


def percentile(values: list[float], fraction: float) -> float:
    """Return the nearest-rank percentile of ``values`` (0 for none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]
