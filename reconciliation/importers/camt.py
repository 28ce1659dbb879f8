"""Stream ISO 20022 camt.053 statements and camt.054 notifications with lxml iterparse.

Elements are matched by local name through the document's own namespace (or none),
so versions .001.02 to .001.08 read alike. Memory stays flat: each ``Ntry`` is read,
yielded and cleared, and the siblings before it are deleted. Entity resolution, DTD
loading and network access are off, and a document with a DOCTYPE is refused outright.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import IO, NamedTuple

from lxml import etree

from reconciliation.importers.base import (
    Direction,
    ImportItem,
    LineError,
    LineRejected,
    Statement,
    StatementLine,
    StatementRefused,
    TransactionDetail,
    parse_iso_date,
    to_minor_units,
)

REMITTANCE_SEPARATOR = " | "
OPENING_BALANCE_CODES = ("OPBD", "PRCD")
CLOSING_BALANCE_CODES = ("CLBD",)


class _Paths:
    """Qualified tag names and element paths for one namespace, built once per file."""

    def __init__(self, ns: str) -> None:
        def q(path: str) -> str:
            return "/".join(f"{ns}{part}" for part in path.split("/"))

        # Entry children are walked directly (no path lookups): a million entries must stay fast.
        for tag in (
            "Ntry", "Amt", "CdtDbtInd", "RvslInd", "Sts", "Cd", "BookgDt", "ValDt", "Dt", "DtTm",
            "AcctSvcrRef", "NtryRef", "AddtlNtryInf", "NtryDtls", "Btch", "NbOfTxs", "TxDtls", "Refs",
            "EndToEndId", "RmtInf", "Ustrd", "Strd", "CdtrRefInf", "Ref", "AddtlTxInf", "AmtDtls", "TxAmt",
            "RltdPties", "Dbtr", "Pty", "Nm",
        ):  # fmt: skip
            setattr(self, tag, ns + tag)
        self.entry_children = {ns + name: kind for name, kind in ENTRY_CHILDREN.items()}
        self.amt = q("Amt")
        self.cdt_dbt = q("CdtDbtInd")
        self.stmt_id = q("Id")
        self.acct_ids = (q("Acct/Id/IBAN"), q("Acct/Id/Othr/Id"))
        self.acct_ccy = q("Acct/Ccy")
        self.bal = q("Bal")
        self.bal_cd = (q("Tp/CdOrPrtry/Cd"), q("Tp/CdOrPrtry/Prtry"))
        self.bal_dt = (q("Dt/Dt"), q("Dt/DtTm"))
        self.fr_dt = q("FrToDt/FrDtTm")
        self.to_dt = q("FrToDt/ToDtTm")

    def __getattr__(self, name: str) -> str:  # the setattr'd tag names, for mypy
        raise AttributeError(name)


def _text(el: etree._Element, path: str) -> str:
    found = el.find(path)
    return (found.text or "").strip() if found is not None else ""


def _first_text(el: etree._Element, paths: tuple[str, ...]) -> str:
    for path in paths:
        value = _text(el, path)
        if value:
            return value
    return ""


def _signed_amount(el: etree._Element, p: _Paths) -> tuple[int, str]:
    amt = el.find(p.amt)
    if amt is None or not (amt.text or "").strip():
        raise LineRejected("entry has no Amt")
    currency = amt.get("Ccy", "")
    value = to_minor_units(amt.text or "", currency)
    indicator = _text(el, p.cdt_dbt)
    if indicator not in ("CRDT", "DBIT"):
        raise LineRejected(f"CdtDbtInd must be CRDT or DBIT, not {indicator!r}")
    return (value if indicator == "CRDT" else -value), currency.upper()


def _read_statement(stmt: etree._Element, p: _Paths, index: int) -> Statement:
    """Read a statement's header from the children already parsed (they precede any Ntry)."""
    account = _first_text(stmt, p.acct_ids)
    currency = _text(stmt, p.acct_ccy).upper()
    opening = closing = None
    opening_date: date | None = None
    closing_date: date | None = None
    for bal in stmt.iterfind(p.bal):
        code = _first_text(bal, p.bal_cd)
        try:
            amount, bal_currency = _signed_amount(bal, p)
            when = parse_iso_date(_first_text(bal, p.bal_dt))
        except LineRejected:
            continue  # an unreadable balance leaves the check "absent" rather than failing the file
        currency = currency or bal_currency
        if code in OPENING_BALANCE_CODES and opening is None:
            opening, opening_date = amount, when
        elif code in CLOSING_BALANCE_CODES and closing is None:
            closing, closing_date = amount, when
    try:
        start = parse_iso_date(_text(stmt, p.fr_dt)) or opening_date
        end = parse_iso_date(_text(stmt, p.to_dt)) or closing_date
    except LineRejected:
        start, end = opening_date, closing_date
    return Statement(
        index=index,
        statement_id=_text(stmt, p.stmt_id),
        account=account,
        currency=currency,
        opening_balance=opening,
        closing_balance=closing,
        period_start=start,
        period_end=end,
    )


def _strip(el: etree._Element) -> str:
    return (el.text or "").strip()


def _date_of(el: etree._Element) -> str:
    """Text of the ``Dt`` or ``DtTm`` child of a date choice element."""
    for child in el:
        return _strip(child)
    return ""


def _read_detail(tx: etree._Element, p: _Paths) -> TransactionDetail:
    amount: int | None = None
    end_to_end = counterparty = ""
    parts: list[str] = []  # the non-empty texts, in document order
    for child in tx:
        tag = child.tag
        if tag == p.RmtInf:  # the common children first: this runs once per entry
            for part in child:
                if part.tag == p.Ustrd:
                    text = (part.text or "").strip()
                    if text:
                        parts.append(text)
                elif part.tag == p.Strd:
                    parts.extend(text for text in map(_strip, part.iter(p.Ref)) if text)
        elif tag == p.Refs:
            for ref in child:
                if ref.tag == p.EndToEndId:
                    end_to_end = (ref.text or "").strip()
        elif tag == p.Amt:
            amount = to_minor_units(child.text or "", child.get("Ccy", ""))
        elif tag == p.AmtDtls:
            tx_amt = child.find(p.TxAmt)
            amt = tx_amt.find(p.Amt) if tx_amt is not None else None
            if amt is not None and amount is None:
                amount = to_minor_units(amt.text or "", amt.get("Ccy", ""))
        elif tag == p.AddtlTxInf:
            text = _strip(child)
            if text:
                parts.append(text)
        elif tag == p.RltdPties:
            debtor = child.find(p.Dbtr)
            if debtor is not None:
                name = debtor.find(p.Nm)
                if name is None:
                    party = debtor.find(p.Pty)
                    name = party.find(p.Nm) if party is not None else None
                counterparty = _strip(name) if name is not None else ""
    remittance = parts[0] if len(parts) == 1 else REMITTANCE_SEPARATOR.join(parts)
    return TransactionDetail(amount, end_to_end, remittance, counterparty)


# What each child of an entry is, by local name: one dict lookup per child instead of a chain of compares.
_AMT, _CDT_DBT, _RVSL, _STS, _BOOKG, _VAL, _SVCR_REF, _NTRY_REF, _ADDTL, _DTLS = range(10)
ENTRY_CHILDREN = {
    "Amt": _AMT, "CdtDbtInd": _CDT_DBT, "RvslInd": _RVSL, "Sts": _STS, "BookgDt": _BOOKG, "ValDt": _VAL,
    "AcctSvcrRef": _SVCR_REF, "NtryRef": _NTRY_REF, "AddtlNtryInf": _ADDTL, "NtryDtls": _DTLS,
}  # fmt: skip


_CREDIT, _DEBIT = Direction.CREDIT, Direction.DEBIT


def _read_entry(ntry: etree._Element, p: _Paths, statement_index: int, number: int) -> StatementLine:
    # The hot loop of a million-entry import: every element touched costs a proxy object, so each
    # child is read once, in place, and nothing is looked up twice.
    amount_text = currency = indicator = status = booking = value = bank_ref = entry_ref = extra = ""
    reversal = False
    batch_count: int | None = None
    details: list[TransactionDetail] = []
    kinds = p.entry_children
    for child in ntry:
        kind = kinds.get(child.tag)
        if kind is None:
            continue
        if kind == _AMT:
            amount_text, currency = child.text or "", child.get("Ccy", "")
        elif kind == _CDT_DBT:
            indicator = (child.text or "").strip()
        elif kind == _BOOKG:
            for choice in child:  # Dt or DtTm
                booking = (choice.text or "").strip()
                break
        elif kind == _VAL:
            for choice in child:
                value = (choice.text or "").strip()
                break
        elif kind == _SVCR_REF:
            bank_ref = (child.text or "").strip()
        elif kind == _DTLS:
            for part in child:
                if part.tag == p.TxDtls:
                    details.append(_read_detail(part, p))
                elif part.tag == p.Btch:
                    count = part.find(p.NbOfTxs)
                    if count is not None and _strip(count).isdigit():
                        batch_count = int(_strip(count))
        elif kind == _STS:
            status = (child.text or "").strip() or _date_of(child)  # v08+: Sts/Cd
        elif kind == _RVSL:
            reversal = _strip(child).lower() == "true"
        elif kind == _NTRY_REF:
            entry_ref = _strip(child)
        elif kind == _ADDTL:
            extra = _strip(child)
    if not amount_text.strip():
        raise LineRejected("entry has no Amt")
    if indicator == "CRDT":
        direction = _CREDIT
    elif indicator == "DBIT":
        direction = _DEBIT
    else:
        raise LineRejected(f"CdtDbtInd must be CRDT or DBIT, not {indicator!r}")
    end_to_end = counterparty = remittance = ""
    if len(details) == 1:
        single = details[0]
        end_to_end, counterparty, remittance = single.end_to_end_id, single.counterparty, single.remittance
        if extra:
            remittance = f"{remittance}{REMITTANCE_SEPARATOR}{extra}" if remittance else extra
    else:
        parts = [d.remittance for d in details if d.remittance]
        if extra:
            parts.append(extra)
        remittance = REMITTANCE_SEPARATOR.join(parts)
        if len(details) > 1 and batch_count is None:
            batch_count = len(details)
    return StatementLine(
        statement_index,
        number,
        to_minor_units(amount_text, currency),
        currency.upper(),
        direction,
        parse_iso_date(booking),
        parse_iso_date(value),
        bank_ref,
        entry_ref,
        "" if end_to_end == "NOTPROVIDED" else end_to_end,
        remittance,
        counterparty,
        reversal,
        status.upper() or "BOOK",
        batch_count,
        tuple(details),
    )


def _refuse_doctype(el: etree._Element) -> None:
    docinfo = el.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise StatementRefused("the XML document declares a DOCTYPE; refused (entity attacks)")


class Share(NamedTuple):
    """Which entries one of ``workers`` readers of a file reads: blocks of ``block`` entries, dealt round."""

    worker: int  # 0-based
    workers: int
    block: int


#: The attribute of an empty entry standing for this many entries cut out for another reader
#: (``camt_split``); a name no bank uses.
HOLLOW_MARK = "feegate-cut"


class SplitMismatch(Exception):
    """A file cut for several readers did not parse as the cut assumed: read it whole instead."""


def _skip_theirs(number: int, span: str, share: Share) -> int:
    """Return the number of the last of ``span`` emptied entries after ``number``; check they are theirs."""
    count = int(span) if span.isdigit() else 0
    first, last = number + 1, number + count
    block = (first - 1) // share.block
    if not count or (last - 1) // share.block != block or block % share.workers == share.worker:
        raise SplitMismatch(f"entries {first} to {last} were emptied: the cut and the parse disagree")
    return last


def read_camt(stream: IO[bytes]) -> Iterator[ImportItem]:
    """Yield statements, entries and per-entry errors of a camt.053/.054 (or .052) file."""
    yield from _read(stream, None)  # type: ignore[misc]  # numbers come only with a share


def read_camt_share(stream: IO[bytes], share: Share) -> Iterator[ImportItem | int]:
    """Like :func:`read_camt`, but an entry outside ``share`` is not read: its number is yielded instead.

    ``stream`` is the file with the other readers' entries emptied and marked
    (:class:`~reconciliation.importers.camt_split.HollowStream`). Raises SplitMismatch when an
    entry of the share is marked, or one outside it is not: the cut and the parse disagree on
    which element is which entry, so the numbering could not be trusted.
    """
    return _read(stream, share)


def _read(stream: IO[bytes], share: Share | None) -> Iterator[ImportItem | int]:
    context = etree.iterparse(
        stream,
        events=("end",),
        tag=("{*}Ntry", "{*}Stmt", "{*}Ntfctn", "{*}Rpt"),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    paths: _Paths | None = None
    statement: Statement | None = None
    statement_index = -1
    number = 0
    try:
        for _event, el in context:
            if paths is None:
                _refuse_doctype(el)
                tag = el.tag
                paths = _Paths(tag[: tag.index("}") + 1] if tag.startswith("{") else "")
            tag = el.tag
            if tag == paths.Ntry or tag.rpartition("}")[2] == "Ntry":
                parent = el.getparent()
                if statement is None:
                    statement_index += 1
                    statement = _read_statement(parent, paths, statement_index)
                    yield statement
                if share is not None and (span := el.get(HOLLOW_MARK)) is not None:
                    # Entries of another reader's block, emptied: their number goes on, unread.
                    number = _skip_theirs(number, span, share)
                    yield number
                else:
                    number += 1
                    if share is not None and (number - 1) // share.block % share.workers != share.worker:
                        raise SplitMismatch(f"entry {number} was not emptied: the cut and the parse disagree")
                    try:
                        yield _read_entry(el, paths, statement_index, number)
                    except LineRejected as exc:
                        yield LineError(number, f"entry {number}: {exc}", statement_index)
                el.clear()
                # Drop everything already read, header included, so memory stays flat.
                while el.getprevious() is not None:
                    del parent[0]
            else:
                if statement is None:  # a statement without entries
                    statement_index += 1
                    yield _read_statement(el, paths, statement_index)
                statement = None
                el.clear()
                while el.getprevious() is not None:
                    del el.getparent()[0]
    except etree.XMLSyntaxError as exc:
        raise StatementRefused(f"not well-formed XML: {exc}") from None
    if paths is None and context.root is not None:
        _refuse_doctype(context.root)  # a document with no statement at all is checked too
