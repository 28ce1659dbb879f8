"""The benchmark's baseline: a bare lxml iterparse of the statement plus a DuckDB join."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from lxml import etree

NS = "{urn:iso:std:iso:20022:tech:xsd:camt.053.001.02}"
BASELINE_SQL = r"""
WITH e AS (
    SELECT seq, amount, bank_ref,
           regexp_extract(upper(text), '(^|[^A-Z0-9])(FG[0-9A-HJKMNP-TV-Z]{10})([^A-Z0-9]|$)', 2) AS ref,
           row_number() OVER (PARTITION BY bank_ref ORDER BY seq) AS nth
    FROM read_csv(?, header = false, columns = {'seq': 'BIGINT', 'amount': 'BIGINT',
                                                'bank_ref': 'VARCHAR', 'text': 'VARCHAR'})
),
p AS (
    SELECT * FROM read_csv(?, header = false, columns = {'id': 'BIGINT', 'reference': 'VARCHAR',
                                                         'amount': 'BIGINT', 'paid_on': 'DATE'})
),
firsts AS (SELECT * FROM e WHERE nth = 1),
joined AS (
    SELECT firsts.seq, firsts.amount AS e_amount, p.id, p.amount AS p_amount
    FROM firsts LEFT JOIN p ON p.reference = firsts.ref AND firsts.ref <> ''
)
SELECT 'statement_line:duplicate', count(*) FROM e WHERE nth > 1
UNION ALL SELECT 'statement_line:' || CASE WHEN id IS NULL THEN 'unexpected_in_statement'
                                          WHEN e_amount = p_amount THEN 'matched' ELSE 'amount_mismatch' END,
                 count(*) FROM joined GROUP BY 1
UNION ALL SELECT 'payment:' || CASE WHEN j.id IS NULL THEN 'missing_in_statement'
                                   WHEN j.e_amount = j.p_amount THEN 'matched' ELSE 'amount_mismatch' END,
                 count(*) FROM p LEFT JOIN joined j ON j.id = p.id GROUP BY 1
"""


def parse_to_csv(statement: Path, out_csv: Path) -> int:
    """Stream the statement's entries (amount, bank reference, transfer content) to CSV; return the count."""
    count = 0
    with out_csv.open("w", newline="") as out:
        writer = csv.writer(out)
        context = etree.iterparse(
            str(statement), tag=f"{NS}Ntry", resolve_entities=False, no_network=True, load_dtd=False
        )
        for _, ntry in context:
            count += 1
            text = " ".join(u.text or "" for u in ntry.iter(f"{NS}Ustrd"))
            writer.writerow((count, ntry.findtext(f"{NS}Amt"), ntry.findtext(f"{NS}AcctSvcrRef"), text))
            ntry.clear()
            while ntry.getprevious() is not None:
                del ntry.getparent()[0]
    return count


def run_baseline(statement: Path, payments_csv: Path, work: Path) -> dict[str, int]:
    """Parse, join and count categories the bare way."""
    import duckdb

    entries_csv = work / "baseline-entries.csv"
    parse_to_csv(statement, entries_csv)
    with duckdb.connect() as con:
        rows = con.execute(BASELINE_SQL, [str(entries_csv), str(payments_csv)]).fetchall()
    return dict(Counter({key: int(count) for key, count in rows}))
