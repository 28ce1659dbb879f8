"""VietQR (NAPAS247) EMVCo merchant-presented QR: build, and a strict parser.

Every object is ``ID(2 digits) LEN(2 digits) VALUE``; ``00`` comes first and the
CRC object ``63`` last. The CRC is CRC-16/CCITT-FALSE over the whole payload up to
and including the literal ``6304``, written as 4 upper-case hex digits. The parser
rejects what a lenient one would silently truncate: a length that does not fit,
a wrong CRC, a duplicate or out-of-place object, or a missing mandatory field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NAPAS_GUID = "A000000727"
SERVICE_TO_ACCOUNT = "QRIBFTTA"
SERVICE_TO_CARD = "QRIBFTTC"
CURRENCY_VND = "704"
STATIC = "11"
DYNAMIC = "12"
# 62.xx sub-fields we use: bill number and purpose of transaction.
BILL_NUMBER = "01"
PURPOSE = "08"
_ADDITIONAL_MAX = 25
_TAG = re.compile(r"^[0-9]{2}$")


class MalformedQR(ValueError):
    """The payload is not a well-formed VietQR string."""


def crc16_ccitt_false(data: bytes) -> str:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no xor-out) as 4 hex digits."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return f"{crc:04X}"


def tlv(tag: str, value: str) -> str:
    """Encode one object; lengths are at most 99 characters."""
    if not _TAG.match(tag):
        raise ValueError(f"bad tag {tag!r}")
    if not value.isascii():
        raise ValueError(f"object {tag} is not ASCII")
    if not 0 < len(value) <= 99:
        raise ValueError(f"object {tag} has length {len(value)}, outside 1..99")
    return f"{tag}{len(value):02d}{value}"


@dataclass(frozen=True, slots=True)
class VietQR:
    """The fields of a VietQR payload that matter to a bank transfer."""

    bank_bin: str
    account_number: str
    amount: int | None = None
    bill_number: str = ""
    purpose: str = ""
    service: str = SERVICE_TO_ACCOUNT
    dynamic: bool = True


def build(qr: VietQR) -> str:
    """Encode ``qr`` as the payload string a banking app scans."""
    beneficiary = tlv("00", qr.bank_bin) + tlv("01", qr.account_number)
    account_info = tlv("00", NAPAS_GUID) + tlv("01", beneficiary) + tlv("02", qr.service)
    parts = [
        tlv("00", "01"),
        tlv("01", DYNAMIC if qr.dynamic else STATIC),
        tlv("38", account_info),
        tlv("53", CURRENCY_VND),
    ]
    if qr.amount is not None:
        parts.append(tlv("54", str(qr.amount)))
    parts.append(tlv("58", "VN"))
    additional = ""
    if qr.bill_number:
        additional += tlv(BILL_NUMBER, qr.bill_number)
    if qr.purpose:
        additional += tlv(PURPOSE, qr.purpose)
    if additional:
        parts.append(tlv("62", additional))
    body = "".join(parts) + "6304"
    return body + crc16_ccitt_false(body.encode("ascii"))


def split_objects(payload: str) -> list[tuple[str, str]]:
    """Split a TLV string into ``(tag, value)`` pairs, rejecting any length that does not fit."""
    objects: list[tuple[str, str]] = []
    position = 0
    while position < len(payload):
        header = payload[position : position + 4]
        if len(header) < 4 or not header.isdigit():
            raise MalformedQR(f"bad object header {header!r} at offset {position}")
        tag, length = header[:2], int(header[2:])
        value = payload[position + 4 : position + 4 + length]
        if length == 0 or len(value) != length:
            raise MalformedQR(f"object {tag} declares length {length} but {len(value)} remain")
        objects.append((tag, value))
        position += 4 + length
    return objects


def _unique(objects: list[tuple[str, str]], where: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for tag, value in objects:
        if tag in found:
            raise MalformedQR(f"duplicate object {where}{tag}")
        found[tag] = value
    return found


def _require(found: dict[str, str], tag: str, where: str) -> str:
    try:
        return found[tag]
    except KeyError:
        raise MalformedQR(f"missing mandatory object {where}{tag}") from None


def parse(payload: str) -> VietQR:
    """Parse and validate a VietQR payload; raise :class:`MalformedQR` on any defect."""
    if not payload.isascii() or not payload.isprintable():
        raise MalformedQR("payload must be printable ASCII")
    if len(payload) < 8 or payload[-8:-4] != "6304":
        raise MalformedQR("payload must end with the CRC object 6304")
    expected = crc16_ccitt_false(payload[:-4].encode("ascii"))
    if payload[-4:] != expected:
        raise MalformedQR(f"CRC {payload[-4:]!r} does not match {expected!r}")
    objects = split_objects(payload)
    if objects[0] != ("00", "01"):
        raise MalformedQR("payload format indicator 00=01 must come first")
    if objects[-1][0] != "63":
        raise MalformedQR("CRC object must come last")
    top = _unique(objects, "")
    initiation = _require(top, "01", "")
    if initiation not in (STATIC, DYNAMIC):
        raise MalformedQR(f"point of initiation {initiation!r} is neither 11 nor 12")
    if _require(top, "53", "") != CURRENCY_VND:
        raise MalformedQR("currency must be 704 (VND)")
    if _require(top, "58", "") != "VN":
        raise MalformedQR("country must be VN")
    account = _unique(split_objects(_require(top, "38", "")), "38.")
    if _require(account, "00", "38.") != NAPAS_GUID:
        raise MalformedQR("38.00 is not the NAPAS GUID A000000727")
    beneficiary = _unique(split_objects(_require(account, "01", "38.")), "38.01.")
    bank_bin = _require(beneficiary, "00", "38.01.")
    account_number = _require(beneficiary, "01", "38.01.")
    if not (len(bank_bin) == 6 and bank_bin.isdigit()):
        raise MalformedQR("38.01.00 must be a 6-digit bank BIN")
    if len(account_number) > 19 or not account_number.isalnum():
        raise MalformedQR("38.01.01 must be at most 19 letters or digits")
    service = account.get("02", SERVICE_TO_ACCOUNT)
    if service not in (SERVICE_TO_ACCOUNT, SERVICE_TO_CARD):
        raise MalformedQR(f"38.02 service code {service!r} is unknown")
    amount: int | None = None
    if "54" in top:
        if not top["54"].isdigit() or len(top["54"]) > 13:
            raise MalformedQR("54 must be an integer amount of VND")
        amount = int(top["54"])
    additional = _unique(split_objects(top["62"]), "62.") if "62" in top else {}
    for tag, value in additional.items():
        if len(value) > _ADDITIONAL_MAX:
            raise MalformedQR(f"62.{tag} is longer than {_ADDITIONAL_MAX}")
    return VietQR(
        bank_bin=bank_bin,
        account_number=account_number,
        amount=amount,
        bill_number=additional.get(BILL_NUMBER, ""),
        purpose=additional.get(PURPOSE, ""),
        service=service,
        dynamic=initiation == DYNAMIC,
    )
