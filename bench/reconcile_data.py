"""Generate the benchmark's ledger and camt.053 statement with known category counts."""

from __future__ import annotations

import csv
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from reconciliation.synthetic import SyntheticEntry, write_camt053

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ACCOUNT = "3511.0.1059137.91001"
DAY = date(2026, 11, 25)
PAYMENT_CATEGORY = {"ok": "matched", "missing": "missing_in_statement", "mismatch": "amount_mismatch"}
SCRAMBLE = 0x5DEECE66D  # odd, so i -> i * SCRAMBLE mod 32**10 is a bijection: unique, spread-out references


def reference_for(i: int) -> str:
    """Return a unique, evenly spread payment reference for index ``i``."""
    value = (i * SCRAMBLE) % 32**10
    chars = []
    for _ in range(10):
        value, digit = divmod(value, 32)
        chars.append(CROCKFORD[digit])
    return "FG" + "".join(chars)


@dataclass(frozen=True, slots=True)
class Dataset:
    """Where the generated files are and what the matcher must find."""

    payments_csv: Path
    statement: Path
    payments: int
    entries: int
    expected: dict[str, int]  # "payment:matched" -> count, "statement_line:duplicate" -> count, ...


def generate(n: int, directory: Path, seed: int = 20261125) -> Dataset:
    """Write ``n`` paid payments and a statement: 0.5% missing, 0.5% unexpected, 0.2% wrong, 0.1% twice."""
    rnd = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    expected: Counter[str] = Counter()
    fate = []  # per payment: "ok", "missing", "mismatch"
    for _ in range(n):
        roll = rnd.random()
        fate.append("missing" if roll < 0.005 else "mismatch" if roll < 0.007 else "ok")
    payments_csv = directory / f"payments-{n}.csv"
    amounts = [rnd.choice((20_000, 50_000, 100_000, 150_000, 200_000, 500_000, 1_000_000)) for _ in range(n)]
    with payments_csv.open("w", newline="") as out:
        writer = csv.writer(out)
        for i in range(n):
            writer.writerow((i + 1, reference_for(i), amounts[i], DAY.isoformat()))
            expected["payment:" + PAYMENT_CATEGORY[fate[i]]] += 1
    unexpected = n // 200
    duplicated = n // 1000
    dup_every = max(1, n // max(duplicated, 1))

    def entries(counts: Counter[str]) -> Iterator[SyntheticEntry]:
        noise = random.Random(seed + 1)
        for i in range(n):
            if fate[i] == "missing":
                continue
            amount = amounts[i] + (1_000 if fate[i] == "mismatch" else 0)
            content = f"MBVCB.{9000000 + i}.{reference_for(i)}.NOP PHI HO SO {i}"
            entry = SyntheticEntry(str(amount), content, booked=DAY, bank_ref=f"FT{i:09d}")
            yield entry
            counts["statement_line:" + ("matched" if fate[i] == "ok" else "amount_mismatch")] += 1
            if i % dup_every == 0 and fate[i] == "ok" and counts["statement_line:duplicate"] < duplicated:
                yield entry  # the bank delivered the same booking twice
                counts["statement_line:duplicate"] += 1
            if i % 200 == 7 and counts["statement_line:unexpected_in_statement"] < unexpected:
                text = f"CHUYEN TIEN {noise.randrange(10**8)}"
                yield SyntheticEntry(str(amounts[i]), text, booked=DAY, bank_ref=f"UX{i:09d}")
                counts["statement_line:unexpected_in_statement"] += 1

    # A first pass only adds up the closing balance, which camt puts before the entries.
    closing = sum(int(entry.amount) for entry in entries(Counter()))
    statement = directory / f"camt053-{n}.xml"
    with statement.open("w") as out:
        write_camt053(out, ACCOUNT, entries(expected), day=DAY, opening=0, closing=closing)
    entries_total = sum(v for k, v in expected.items() if k.startswith("statement_line:"))
    return Dataset(payments_csv, statement, n, entries_total, dict(expected))
