"""Plain keyword factories that go through the real services."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import unescape
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from payments import agencies
from payments.db import get_session

PORTAL = "https://dichvucong.example.gov.vn"


@dataclass(frozen=True)
class AgencyWithKey:
    """An agency code and a working API key for it."""

    code: str
    key: str
    origin: str

    @property
    def headers(self) -> dict[str, str]:
        """Authorization header for this agency's key."""
        return {"Authorization": f"Bearer {self.key}"}


def create_agency_with_key(
    app: Flask, *, code: str = "HCM-TP", origin: str = PORTAL, providers: tuple[str, ...] = ("sandbox",)
) -> AgencyWithKey:
    """Create an agency and an API key, committed."""
    with app.app_context():
        session = get_session()
        agencies.create_agency(
            session,
            code=code,
            name=f"Agency {code}",
            treasury_account="3511.0.1049123",
            treasury_code="0111",
            return_origins=[origin],
            providers=list(providers),
            actor="test",
        )
        key = agencies.create_api_key(session, code, mode="test", label="tests", actor="test")
        session.commit()
    return AgencyWithKey(code, key.plaintext, origin)


def invoice_body(**overrides: Any) -> dict[str, Any]:
    """A valid ``POST /api/v1/invoices`` body."""
    body: dict[str, Any] = {
        "reference": "H40.99-200212-0001",
        "description": "Cấp phiếu lý lịch tư pháp",
        "items": [
            {
                "fee_code": "LLTP",
                "description": "Lệ phí cấp phiếu",
                "amount": 1_200_000,
                "chapter_code": "418",
                "sub_item_code": "2665",
            },
            {
                "fee_code": "PHI",
                "description": "Phí dịch vụ",
                "amount": 50_000,
                "chapter_code": "418",
                "sub_item_code": "2651",
            },
        ],
        "return_url": f"{PORTAL}/thanh-toan/ket-qua",
        "payer": {"name": "Nguyễn Văn A", "phone": "0901234567"},
        "metadata": {"procedure": "1.000.123"},
    }
    body.update(overrides)
    return body


def create_invoice(client: FlaskClient, agency: AgencyWithKey, **overrides: Any) -> dict[str, Any]:
    """Create an invoice over the API and return its JSON."""
    body = invoice_body(return_url=f"{agency.origin}/ket-qua", **overrides)
    response = client.post("/api/v1/invoices", json=body, headers=agency.headers)
    assert response.status_code == 201, response.get_json()
    data: dict[str, Any] = response.get_json()
    return data


def csrf_token(html: str) -> str:
    """Pull the CSRF token out of a rendered form."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def form_fields(html: str) -> dict[str, str]:
    """Every hidden input of a rendered form."""
    pairs = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html)
    return {name: unescape(value) for name, value in pairs}
