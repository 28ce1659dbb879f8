"""Write synthetic camt.053 files: VND test fixtures, demos and the benchmark.

No public Vietnamese bank or treasury statement exists to test against, so tests
build their own in the shape a Vietnamese collection account would have: account
in ``Othr/Id``, ``Ccy="VND"``, the transfer content in ``RmtInf/Ustrd``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import IO
from xml.sax.saxutils import escape

CAMT053_NS = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.{version:02d}"


@dataclass(frozen=True, slots=True)
class SyntheticEntry:
    """One entry to write; ``amount`` is the literal text so tests can write malformed ones."""

    amount: str
    content: str = ""
    credit: bool = True
    booked: date = date(2026, 11, 25)
    bank_ref: str = ""
    currency: str = "VND"
    reversal: bool = False
    batch: tuple[tuple[str, str], ...] = ()  # (amount, content) per TxDtls of a batch entry


def _entry_xml(entry: SyntheticEntry, version: int) -> str:
    status = "<Sts><Cd>BOOK</Cd></Sts>" if version >= 8 else "<Sts>BOOK</Sts>"
    reversal = "<RvslInd>true</RvslInd>" if entry.reversal else ""
    ref = f"<AcctSvcrRef>{escape(entry.bank_ref)}</AcctSvcrRef>" if entry.bank_ref else ""
    if entry.batch:
        amount_tag = "Amt" if version >= 4 else "AmtDtls><TxAmt><Amt"
        close_tag = "Amt" if version >= 4 else "Amt></TxAmt></AmtDtls"
        txs = "".join(
            f'<TxDtls><{amount_tag} Ccy="{entry.currency}">{amount}</{close_tag}>'
            f"<RmtInf><Ustrd>{escape(content)}</Ustrd></RmtInf></TxDtls>"
            for amount, content in entry.batch
        )
        details = f"<NtryDtls><Btch><NbOfTxs>{len(entry.batch)}</NbOfTxs></Btch>{txs}</NtryDtls>"
    else:
        details = (
            "<NtryDtls><TxDtls><Refs><EndToEndId>NOTPROVIDED</EndToEndId></Refs>"
            f"<RmtInf><Ustrd>{escape(entry.content)}</Ustrd></RmtInf></TxDtls></NtryDtls>"
        )
    return (
        f'<Ntry><Amt Ccy="{entry.currency}">{entry.amount}</Amt>'
        f"<CdtDbtInd>{'CRDT' if entry.credit else 'DBIT'}</CdtDbtInd>{reversal}{status}"
        f"<BookgDt><Dt>{entry.booked.isoformat()}</Dt></BookgDt>"
        f"<ValDt><Dt>{entry.booked.isoformat()}</Dt></ValDt>{ref}{details}</Ntry>\n"
    )


def _balance_xml(code: str, amount: int, day: date) -> str:
    indicator = "CRDT" if amount >= 0 else "DBIT"
    return (
        f"<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp>"
        f'<Amt Ccy="VND">{abs(amount)}</Amt><CdtDbtInd>{indicator}</CdtDbtInd>'
        f"<Dt><Dt>{day.isoformat()}</Dt></Dt></Bal>\n"
    )


def write_camt053(
    out: IO[str],
    account: str,
    entries: Iterable[SyntheticEntry],
    *,
    day: date = date(2026, 11, 25),
    opening: int | None = 0,
    closing: int | None = None,
    version: int = 2,
    namespace: bool = True,
    statement_id: str = "STMT-1",
) -> None:
    """Write one camt.053 statement; ``closing`` None means opening + entries (when amounts are integers)."""
    ns = f' xmlns="{CAMT053_NS.format(version=version)}"' if namespace else ""
    entry_list: Iterable[SyntheticEntry] = entries
    if closing is None and opening is not None:
        entry_list = list(entries)  # only small fixtures: a streamed file passes ``closing``
        closing = opening
        for entry in entry_list:
            if entry.amount.isdigit():
                closing += int(entry.amount) if entry.credit else -int(entry.amount)
    out.write(f'<?xml version="1.0" encoding="UTF-8"?>\n<Document{ns}><BkToCstmrStmt>')
    out.write("<GrpHdr><MsgId>MSG-1</MsgId><CreDtTm>2026-11-26T06:00:00+07:00</CreDtTm></GrpHdr>\n")
    out.write(f"<Stmt><Id>{statement_id}</Id><CreDtTm>2026-11-26T06:00:00+07:00</CreDtTm>")
    out.write(f"<Acct><Id><Othr><Id>{account}</Id></Othr></Id><Ccy>VND</Ccy></Acct>\n")
    if opening is not None:
        out.write(_balance_xml("OPBD", opening, day))
    if closing is not None:
        out.write(_balance_xml("CLBD", closing, day))
    for entry in entry_list:
        out.write(_entry_xml(entry, version))
    out.write("</Stmt></BkToCstmrStmt></Document>\n")
