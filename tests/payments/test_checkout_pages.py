"""What the citizen sees on the checkout pages: language, amounts, expiry, dead ends, bad links, bad forms."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select

from payments.checkout_links import return_url_for
from payments.db import get_session
from payments.models import AuditEntry, Payment
from tests.factories import create_invoice, csrf_token, form_fields

NBSP = "\u00a0"


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def _html_lang(html: str) -> str:
    match = re.search(r'<html lang="([a-z]+)"', html)
    assert match, "no lang attribute on <html>"
    return match.group(1)


def _start_form(html: str, provider: str = "sandbox") -> dict[str, str]:
    return {"csrf_token": csrf_token(html), "provider": provider, "nonce": form_fields(html)["nonce"]}


def _count(client, model) -> int:
    # Its own short app context: the ``session`` fixture would keep one open, and every request
    # would then share its ``g`` (the cached locale and CSP nonce included).
    with client.application.app_context():
        return get_session().scalar(select(func.count()).select_from(model))


def _pay(client, invoice: dict, *, lang: str = "") -> tuple[str, str]:
    """Pay ``invoice`` through the sandbox bank; return (bank page html, return page html)."""
    suffix = f"?lang={lang}" if lang else ""
    html = client.get(_path(invoice["payment_url"]) + suffix).get_data(as_text=True)
    chosen = client.post(_path(invoice["payment_url"]), data=_start_form(html))
    assert chosen.status_code == 303
    bank = client.get(_path(chosen.headers["Location"])).get_data(as_text=True)
    fields = form_fields(bank) | {"decision": "approve"}
    back = client.post("/sandbox-bank/pay", data=fields)
    assert back.status_code == 303
    return bank, client.get(_path(back.headers["Location"])).get_data(as_text=True)


# --- language ---------------------------------------------------------------------------------


def test_checkout_page_default_language_is_vietnamese(client, agency):
    invoice = create_invoice(client, agency)

    html = client.get(_path(invoice["payment_url"])).get_data(as_text=True)

    assert _html_lang(html) == "vi"
    assert "Tổng cộng" in html and "Chọn phương thức thanh toán" in html and "Mã hồ sơ" in html
    assert "Choose how to pay" not in html


def test_checkout_page_invoice_language_en_is_english(client, agency):
    invoice = create_invoice(client, agency, language="en")

    html = client.get(_path(invoice["payment_url"])).get_data(as_text=True)

    assert _html_lang(html) == "en"
    assert "Choose how to pay" in html and "Dossier reference" in html
    assert "Chọn phương thức thanh toán" not in html


def test_checkout_page_lang_query_beats_invoice_language(client, agency):
    vietnamese = create_invoice(client, agency)
    english = create_invoice(client, agency, reference="H40.99-200212-0002", language="en")

    as_english = client.get(_path(vietnamese["payment_url"]) + "?lang=en").get_data(as_text=True)
    # A second browser: the first one now remembers English.
    other_browser = client.application.test_client()
    as_vietnamese = other_browser.get(_path(english["payment_url"]) + "?lang=vi").get_data(as_text=True)

    assert _html_lang(as_english) == "en" and "Choose how to pay" in as_english
    assert _html_lang(as_vietnamese) == "vi" and "Chọn phương thức thanh toán" in as_vietnamese


def test_checkout_lang_choice_persists_to_bank_and_return_page(client, agency):
    invoice = create_invoice(client, agency)  # a Vietnamese invoice

    bank, result = _pay(client, invoice, lang="en")

    assert _html_lang(bank) == "en" and "Confirm payment" in bank
    assert _html_lang(result) == "en" and "Payment successful" in result


def test_checkout_unknown_lang_falls_back_to_invoice_language(client, agency):
    invoice = create_invoice(client, agency, language="en")

    html = client.get(_path(invoice["payment_url"]) + "?lang=fr").get_data(as_text=True)

    assert _html_lang(html) == "en"


def test_return_page_vietnamese_invoice_says_success_in_vietnamese(client, agency):
    invoice = create_invoice(client, agency)

    bank, result = _pay(client, invoice)

    assert _html_lang(bank) == "vi" and "Xác nhận thanh toán" in bank
    assert "Thanh toán thành công" in result and "Quay lại Cổng dịch vụ công" in result
    assert f'href="{invoice["return_url"]}"' in result


def test_language_switch_links_keep_the_payment_link(client, agency):
    invoice = create_invoice(client, agency)
    html = client.get(_path(invoice["payment_url"])).get_data(as_text=True)
    switch = re.search(r'<a href="([^"]+)" lang="en"', html)
    assert switch

    followed = client.get(_path(invoice["payment_url"]) + switch.group(1))

    assert followed.status_code == 200 and "Choose how to pay" in followed.get_data(as_text=True)


# --- amounts and time -------------------------------------------------------------------------


def test_checkout_page_amounts_formatted_as_vnd(client, agency):
    invoice = create_invoice(client, agency)

    html = client.get(_path(invoice["payment_url"])).get_data(as_text=True)

    assert f"1.200.000{NBSP}₫" in html and f"50.000{NBSP}₫" in html
    assert f"1.250.000{NBSP}₫" in html
    assert "1250000" not in html and "1,250,000" not in html


def test_checkout_page_expiry_shown_in_vietnam_time(client, agency):
    with freeze_time("2026-03-01 09:00:00"):
        invoice = create_invoice(client, agency, expires_at="2026-03-01T17:30:00+00:00")

        html = client.get(_path(invoice["payment_url"])).get_data(as_text=True)

    # 17:30 UTC is 00:30 the next day in Hanoi (UTC+7).
    assert "00:30 02/03/2026" in html and "giờ Việt Nam" in html
    assert "17:30" not in html


# --- invoices that cannot be paid -------------------------------------------------------------


def _assert_no_pay_button(html: str) -> None:
    assert 'name="provider"' not in html and 'class="pay"' not in html and "<form" not in html


def test_checkout_expired_invoice_shows_expired_page_and_refuses_payment(client, agency):
    invoice = create_invoice(client, agency)  # open for 24 h
    expires_at = datetime.fromisoformat(invoice["expires_at"])
    with freeze_time(expires_at - timedelta(minutes=5)):
        opened = client.get(_path(invoice["payment_url"])).get_data(as_text=True)
    assert 'name="provider"' in opened

    with freeze_time(expires_at + timedelta(minutes=1)):
        page = client.get(_path(invoice["payment_url"]))
        posted = client.post(_path(invoice["payment_url"]), data=_start_form(opened))

    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Yêu cầu thanh toán đã hết hạn" in html
    _assert_no_pay_button(html)
    assert posted.status_code == 200 and "Yêu cầu thanh toán đã hết hạn" in posted.get_data(as_text=True)
    assert _count(client, Payment) == 0


def test_checkout_cancelled_invoice_shows_cancelled_page_and_refuses_payment(client, agency):
    invoice = create_invoice(client, agency)
    opened = client.get(_path(invoice["payment_url"])).get_data(as_text=True)
    cancelled = client.post(f"/api/v1/invoices/{invoice['id']}/cancel", headers=agency.headers)
    assert cancelled.status_code == 200

    page = client.get(_path(invoice["payment_url"]) + "?lang=en")
    posted = client.post(_path(invoice["payment_url"]), data=_start_form(opened))

    html = page.get_data(as_text=True)
    assert "This invoice was cancelled" in html and "Back to the public service portal" in html
    _assert_no_pay_button(html)
    assert "This invoice was cancelled" in posted.get_data(as_text=True)
    assert _count(client, Payment) == 0


def test_checkout_paid_invoice_shows_paid_page_and_refuses_second_payment(client, agency):
    invoice = create_invoice(client, agency)
    opened = client.get(_path(invoice["payment_url"])).get_data(as_text=True)
    _pay(client, invoice)

    page = client.get(_path(invoice["payment_url"]))
    posted = client.post(_path(invoice["payment_url"]), data=_start_form(opened) | {"nonce": "fresh"})

    html = page.get_data(as_text=True)
    assert "Hồ sơ đã được thanh toán" in html and "giờ Việt Nam" in html
    _assert_no_pay_button(html)
    assert "Hồ sơ đã được thanh toán" in posted.get_data(as_text=True)
    assert _count(client, Payment) == 1


# --- bad links and bad forms ------------------------------------------------------------------


def _tampered(token: str) -> str:
    i = len(token) // 2
    return token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :]


@pytest.mark.parametrize("mangle", [_tampered, lambda t: t + "x", lambda t: "not-a-token"])
def test_checkout_tampered_token_shows_404_page(client, agency, mangle):
    invoice = create_invoice(client, agency)
    token = urlsplit(invoice["payment_url"]).path.rsplit("/", 1)[1]

    page = client.get(f"/pay/{mangle(token)}")

    assert page.status_code == 404
    assert "Đường dẫn không hợp lệ" in page.get_data(as_text=True)
    assert page.mimetype == "text/html"


def test_return_page_with_pay_token_is_404(client, agency):
    invoice = create_invoice(client, agency)
    token = urlsplit(invoice["payment_url"]).path.rsplit("/", 1)[1]

    assert client.get(f"/pay/return/{token}").status_code == 404


def test_checkout_post_without_csrf_token_is_400_and_writes_nothing(client, agency):
    invoice = create_invoice(client, agency)
    html = client.get(_path(invoice["payment_url"])).get_data(as_text=True)
    audit_before = _count(client, AuditEntry)

    missing = client.post(_path(invoice["payment_url"]), data={"provider": "sandbox", "nonce": "n1"})
    forged = client.post(_path(invoice["payment_url"]), data=_start_form(html) | {"csrf_token": "forged"})

    assert missing.status_code == 400 and forged.status_code == 400
    assert "tải lại trang" in missing.get_data(as_text=True)
    assert _count(client, Payment) == 0
    assert _count(client, AuditEntry) == audit_before


def test_checkout_provider_not_enabled_for_agency_is_400(client, agency):
    invoice = create_invoice(client, agency)
    html = client.get(_path(invoice["payment_url"])).get_data(as_text=True)

    page = client.post(_path(invoice["payment_url"]), data=_start_form(html, provider="vnpay"))

    assert page.status_code == 400
    assert "Vui lòng chọn một trong các phương thức thanh toán" in page.get_data(as_text=True)
    assert _count(client, Payment) == 0


# --- security headers on every page -----------------------------------------------------------


def _directives(csp: str) -> dict[str, list[str]]:
    parts = (d.strip().split() for d in csp.split(";") if d.strip())
    return {p[0]: p[1:] for p in parts}


def _crawlable_urls(client, agency) -> list[str]:
    """Every GET route of the app, with arguments filled in from a real flow where we have them."""
    invoice = create_invoice(client, agency)
    html = client.get(_path(invoice["payment_url"])).get_data(as_text=True)
    chosen = client.post(_path(invoice["payment_url"]), data=_start_form(html))
    with client.application.test_request_context():
        payment = get_session().scalars(select(Payment)).one()
        return_url = return_url_for(payment.public_id)
    samples = {
        "checkout.show": _path(invoice["payment_url"]),
        "checkout.returned": _path(return_url),
        "sandbox_bank.show": _path(chosen.headers["Location"]),
    }
    fillers = {"filename": "feegate.css", "invoice_id": invoice["id"], "provider_code": "sandbox"}
    urls = []
    for rule in client.application.url_map.iter_rules():
        if "GET" not in rule.methods:
            continue
        if rule.endpoint in samples:
            urls.append(samples[rule.endpoint])
            continue
        # Unknown arguments get a placeholder: the 404 page must carry the headers too.
        path = rule.rule
        for name in rule.arguments:
            path = re.sub(rf"<(?:[a-z]+:)?{name}>", str(fillers.get(name, "x")), path)
        urls.append(path)
    return urls


def test_every_page_carries_strict_security_headers(client, agency):
    urls = _crawlable_urls(client, agency)
    html_pages = 0

    for url in urls:
        response = client.get(url)
        headers = response.headers
        hsts = re.search(r"max-age=(\d+)", headers.get("Strict-Transport-Security", ""))
        assert hsts and int(hsts.group(1)) >= 365 * 24 * 3600, url
        assert headers.get("X-Content-Type-Options") == "nosniff", url
        assert headers.get("Referrer-Policy") in ("no-referrer", "strict-origin", "same-origin"), url
        if url.startswith(("/pay", "/sandbox-bank")):
            assert "no-store" in headers.get("Cache-Control", ""), url
        if response.mimetype != "text/html":
            continue
        html_pages += 1
        csp = _directives(headers.get("Content-Security-Policy", ""))
        assert csp.get("object-src") == ["'none'"], url
        assert csp.get("base-uri") == ["'none'"], url
        assert csp.get("frame-ancestors") == ["'none'"], url
        assert any(s.startswith("'nonce-") for s in csp.get("script-src", [])), url
        assert "'unsafe-inline'" not in csp.get("script-src", []) + csp.get("style-src", []), url
    # The checkout, return page, bank page, index, docs and a 404 page were all HTML.
    assert html_pages >= 5


def test_csp_nonce_differs_per_response(client, agency):
    invoice = create_invoice(client, agency)
    first = client.get(_path(invoice["payment_url"])).headers["Content-Security-Policy"]
    second = client.get(_path(invoice["payment_url"])).headers["Content-Security-Policy"]

    assert re.search(r"'nonce-([^']+)'", first).group(1) != re.search(r"'nonce-([^']+)'", second).group(1)


def test_bank_redirect_url_carries_chosen_language(client, agency):
    invoice = create_invoice(client, agency, language="en")
    html = client.get(_path(invoice["payment_url"]) + "?lang=vi").get_data(as_text=True)

    chosen = client.post(_path(invoice["payment_url"]), data=_start_form(html))

    assert parse_qs(urlsplit(chosen.headers["Location"]).query)["lang"] == ["vi"]
