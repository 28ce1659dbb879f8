"""How amounts and times look to citizens."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")


def format_vnd(amount: int) -> str:
    """Format integer VND the Vietnamese way: ``1.250.000 ₫``."""
    return f"{amount:,}".replace(",", ".") + "\u00a0₫"


def format_datetime_local(moment: datetime) -> str:
    """Format an aware datetime in Vietnam time: ``14:05 26/11/2026``."""
    return moment.astimezone(VIETNAM).strftime("%H:%M %d/%m/%Y")
