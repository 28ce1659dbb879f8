"""Benchmark: import + match + persist a day of N payments and a camt.053 of ~N entries on PostgreSQL.

Runs, in the same invocation and on the same generated files:

* **ours**: ``service.import_statement`` then ``runs.run_day`` against PostgreSQL,
  committed, in a child process (so its peak RSS is its own);
* **baseline**: a bare lxml iterparse of the same file to CSV plus a DuckDB join,
  also in a child process.

Both must find every category count exactly as generated. Usage::

    PYTHONPATH=. /work/venv/bin/python bench/reconcile.py --n 100000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.reconcile_data import ACCOUNT, DAY, generate  # noqa: E402

DEFAULT_DB = "postgresql+psycopg://postgres@127.0.0.1:5432/feegate_recon_bench"


def _peak_rss_mib(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def _cpu_s(who: int = resource.RUSAGE_SELF) -> float:
    # Wall time swings with other load on a shared machine; the process's own CPU time less so.
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _backend_cpu_s(session: Any) -> float:
    """CPU time so far of this session's PostgreSQL backend (the server runs on this machine)."""
    from sqlalchemy import text

    pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")  # not readable: another user's process or another machine
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def prepare_database(url: str, payments_csv: Path, n: int) -> None:
    """Recreate the bench database, migrate it and load the paid payments (not timed)."""
    import psycopg
    from sqlalchemy.engine import make_url

    from payments import create_app

    parsed = make_url(url)
    admin = f"host={parsed.host} port={parsed.port or 5432} user={parsed.username} dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}"')
        conn.execute(f'CREATE DATABASE "{parsed.database}"')
    app = create_app({"ENV_NAME": "test", "DATABASE_URL": url})
    with app.app_context():
        from alembic import command

        from payments.cli import alembic_config

        command.upgrade(alembic_config(), "head")
    dsn = f"host={parsed.host} port={parsed.port or 5432} user={parsed.username} dbname={parsed.database}"
    with psycopg.connect(dsn) as conn:
        agency_id = conn.execute(
            "INSERT INTO agencies (code, name, treasury_account, treasury_code, return_origins,"
            " enabled_providers, created_at)"
            " VALUES ('BENCH', 'Bench', %s, '0111', '[]', '[\"vietqr\"]', now()) RETURNING id",
            (ACCOUNT,),
        ).fetchone()[0]  # type: ignore[index]
        paid_at = f"{DAY.isoformat()} 03:00:00+00"
        with conn.cursor().copy(
            "COPY invoices (id, public_id, agency_id, reference, description, total, currency, return_url,"
            " language, metadata, status, expires_at, created_at, updated_at, paid_at) FROM STDIN"
        ) as copy:
            for line in payments_csv.open():
                pid, ref, amount, _ = line.rstrip("\n").split(",")
                copy.write_row((pid, f"inv_{pid}", agency_id, f"HS-{pid}", "bench", amount, "VND", "https://x/",
                                "vi", "{}", "paid", paid_at, paid_at, paid_at, paid_at))  # fmt: skip
        with conn.cursor().copy(
            "COPY payments (id, public_id, reference, invoice_id, agency_id, provider_code, amount, currency,"
            " status, created_at, updated_at, finished_at) FROM STDIN"
        ) as copy:
            for line in payments_csv.open():
                pid, ref, amount, _ = line.rstrip("\n").split(",")
                copy.write_row((pid, f"pay_{pid}", ref, pid, agency_id, "vietqr", amount, "VND", "succeeded",
                                paid_at, paid_at, paid_at))  # fmt: skip
        conn.execute("ANALYZE")
        conn.commit()
    print(f"prepared {n:,} paid payments", file=sys.stderr)


def phase_ours(url: str, statement: Path) -> dict[str, Any]:
    """Import, run and commit; return timings, peak RSS and counts."""
    from payments import create_app
    from payments.db import get_session
    from reconciliation import service
    from reconciliation.runs import RunSettings, run_day

    app = create_app({"ENV_NAME": "test", "DATABASE_URL": url})
    with app.app_context():
        session = get_session()
        backend_before = _backend_cpu_s(session)
        started = time.perf_counter()
        report = service.import_statement(session, statement, account=ACCOUNT, actor="bench")
        session.commit()
        imported = time.perf_counter()
        run = run_day(
            session, DAY, ACCOUNT, settings=RunSettings(direct_providers=frozenset({"vietqr"})), actor="bench"
        )
        session.commit()
        finished = time.perf_counter()
        backend_cpu = _backend_cpu_s(session) - backend_before
    return {
        "import_s": imported - started,
        "run_s": finished - imported,
        "total_s": finished - started,
        "entries": report.entries,
        "settled": run.settled,
        "counts": dict(run.counts),
        "peak_rss_mib": _peak_rss_mib(),
        "cpu_s": _cpu_s(),
        # The import's reader processes (reconciliation.parallel_import), waited for: their CPU and
        # the largest peak RSS among them (each is a separate process beside ours).
        "children_cpu_s": _cpu_s(resource.RUSAGE_CHILDREN),
        "children_peak_rss_mib": _peak_rss_mib(resource.RUSAGE_CHILDREN),
        "backend_cpu_s": backend_cpu,
    }


def phase_baseline(statement: Path, payments_csv: Path, work: Path) -> dict[str, Any]:
    """Bare iterparse to CSV plus a DuckDB join; return timing, peak RSS and counts."""
    from bench.reconcile_baseline import run_baseline

    started = time.perf_counter()
    counts = run_baseline(statement, payments_csv, work)
    return {
        "total_s": time.perf_counter() - started,
        "counts": counts,
        "peak_rss_mib": _peak_rss_mib(),
        "cpu_s": _cpu_s(),
    }


def _child(args: list[str]) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    done = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, env=env, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"phase {args[:2]} failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    """Generate, prepare, run both phases and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=os.environ.get("FEEGATE_BENCH_DATABASE_URL", DEFAULT_DB))
    parser.add_argument("--work", type=Path, default=Path("/tmp/feegate-recon-bench"))
    parser.add_argument("--phase", choices=["ours", "baseline"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    statement = args.work / f"camt053-{args.n}.xml"
    payments_csv = args.work / f"payments-{args.n}.csv"
    if args.phase == "ours":
        print(json.dumps(phase_ours(args.database_url, statement)))
        return
    if args.phase == "baseline":
        print(json.dumps(phase_baseline(statement, payments_csv, args.work)))
        return

    t0 = time.perf_counter()
    dataset = generate(args.n, args.work)
    size_mib = dataset.statement.stat().st_size / 2**20
    print(f"generated {dataset.payments:,} payments, {dataset.entries:,} entries ({size_mib:.0f} MiB) "
          f"in {time.perf_counter() - t0:.1f} s", file=sys.stderr)  # fmt: skip
    prepare_database(args.database_url, dataset.payments_csv, args.n)
    common = ["--n", str(args.n), "--database-url", args.database_url, "--work", str(args.work)]
    baseline = _child(["--phase", "baseline", *common])
    ours = _child(["--phase", "ours", *common])
    expected = dataset.expected
    rows = [
        ("payments", f"{dataset.payments:,}"),
        ("statement entries", f"{dataset.entries:,} ({size_mib:.0f} MiB camt.053)"),
        (
            "baseline: iterparse + DuckDB join",
            f"{baseline['total_s']:.1f} s (CPU {baseline['cpu_s']:.1f} s), "
            f"peak RSS {baseline['peak_rss_mib']:.0f} MiB",
        ),
        ("ours: import", f"{ours['import_s']:.1f} s"),
        ("ours: match + persist", f"{ours['run_s']:.1f} s"),
        (
            "ours: end to end",
            f"{ours['total_s']:.1f} s (CPU {ours['cpu_s']:.1f} s + readers' {ours['children_cpu_s']:.1f} s"
            f" + PostgreSQL's {ours['backend_cpu_s']:.1f} s), peak RSS {ours['peak_rss_mib']:.0f} MiB"
            f" (each reader process {ours['children_peak_rss_mib']:.0f} MiB)",
        ),
        ("ratio ours / baseline", f"{ours['total_s'] / baseline['total_s']:.2f}x (target <= 2x)"),
        ("peak RSS target", f"{'met' if ours['peak_rss_mib'] <= 300 else 'MISSED'} (<= 300 MiB)"),
        ("payments settled", f"{ours['settled']:,}"),
        (
            "counts exact (ours)",
            "yes" if ours["counts"] == expected else f"NO: {ours['counts']} != {expected}",
        ),
        ("counts exact (baseline)", "yes" if baseline["counts"] == expected else f"NO: {baseline['counts']}"),
    ]
    for label, value in rows:
        print(f"{label:<36} {value}")
    print(f"{'load average at the end':<36} {os.getloadavg()[0]:.1f} (2 CPUs shared)")
    print(json.dumps({"n": args.n, "expected": expected, "ours": ours, "baseline": baseline}))


if __name__ == "__main__":
    main()
