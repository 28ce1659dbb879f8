"""Vietnam local time (GMT+7, no daylight saving), as VNPay and ZaloPay stamp it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

VN_TZ = timezone(timedelta(hours=7), "ICT")


def to_vn(moment: datetime) -> datetime:
    """Convert an aware datetime to GMT+7; a naive one is rejected rather than guessed."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: provider timestamps need an aware UTC value")
    return moment.astimezone(VN_TZ)


def vn_compact(moment: datetime) -> str:
    """Format as ``yyyyMMddHHmmss`` in GMT+7."""
    return to_vn(moment).strftime("%Y%m%d%H%M%S")


def parse_vn_compact(value: str) -> datetime:
    """Parse ``yyyyMMddHHmmss`` (GMT+7) into an aware datetime."""
    return datetime.strptime(value, "%Y%m%d%H%M%S").replace(tzinfo=VN_TZ)


def vn_yymmdd(moment: datetime) -> str:
    """Format the GMT+7 date as ``yymmdd``."""
    return to_vn(moment).strftime("%y%m%d")


def epoch_ms(moment: datetime) -> int:
    """Milliseconds since the Unix epoch."""
    return int(to_vn(moment).timestamp() * 1000)
