"""The citizen's journey in a real browser on a 360 px phone screen, with and without JavaScript.

Drives Debian's Chromium (``apt-get install chromium``) through Playwright's Python API; the
Playwright-managed browsers are never downloaded. Skipped, with the reason, where either is missing.
"""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from payments import create_app
from tests.factories import create_agency_with_key, create_invoice

NO_PLAYWRIGHT = "Playwright is not installed: pip install -e '.[dev]'"
sync_api = pytest.importorskip("playwright.sync_api", reason=NO_PLAYWRIGHT)
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
NO_CHROMIUM = "Chromium is not installed: apt-get install -y chromium"
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=NO_CHROMIUM)]
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
PHONE = {"width": 360, "height": 740}


@dataclass(frozen=True)
class LiveApp:
    """A running feegate and its base URL."""

    app: Flask
    base_url: str


@pytest.fixture
def live_app(app_config: dict[str, object]) -> Iterator[LiveApp]:
    """Serve a fresh app over real HTTP on 127.0.0.1 and a free port, in a thread."""
    holder: dict[str, Flask] = {}

    def dispatch(environ: dict[str, Any], start_response: Any) -> Any:
        return holder["app"](environ, start_response)

    # Bind first: the app needs its own address as BASE_URL when it is created.
    server = make_server("127.0.0.1", 0, dispatch, threaded=True)
    base_url = f"http://127.0.0.1:{server.port}"
    holder["app"] = create_app({**app_config, "BASE_URL": base_url, "SANDBOX_CALLBACK_TRANSPORT": "http"})
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LiveApp(holder["app"], base_url)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        holder["app"].extensions["feegate.db"].engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module."""
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


def _scroll_width(page: Any) -> int:
    width: int = page.evaluate("document.documentElement.scrollWidth")
    return width


def _look(page: Any, shots: Path, name: str, problems: list[str]) -> None:
    """Screenshot the page and check it fits the phone's width."""
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    assert _scroll_width(page) <= PHONE["width"], f"{name}: horizontal scroll on a 360 px screen"
    assert problems == [], f"{name}: {problems}"


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_checkout_in_browser_phone_pays_with_sandbox_bank(live_app, browser, tmp_path, javascript):
    agency = create_agency_with_key(live_app.app)
    invoice = create_invoice(live_app.app.test_client(), agency)
    shots = tmp_path / ("js" if javascript else "no-js")
    shots.mkdir()
    context = browser.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2, java_script_enabled=javascript
    )
    page = context.new_page()
    problems: list[str] = []
    # A CSP violation or a failed asset shows up as a console error.
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    expect = sync_api.expect

    page.goto(invoice["payment_url"])
    assert page.locator("html").get_attribute("lang") == "vi"
    expect(page.get_by_text("1.250.000\u00a0₫").last).to_be_visible()
    _look(page, shots, "1-checkout-vi", problems)
    if not javascript:
        # The switch is a plain link: it must work, and the choice must last to the end.
        page.get_by_role("link", name="English").click()
        expect(page.locator("html")).to_have_attribute("lang", "en")
        _look(page, shots, "1-checkout-en", problems)
    labels = {
        True: ("Ngân hàng thử nghiệm", r"Thanh toán 1\.250\.000", "Chấp nhận", "Thanh toán thành công"),
        False: ("Sandbox bank", r"Pay 1\.250\.000", "Approve", "Payment successful"),
    }[javascript]
    provider, pay, approve, success = labels

    page.get_by_label(provider).check()
    page.get_by_role("button", name=re.compile(pay)).click()
    page.wait_for_url(re.compile(r"/sandbox-bank/pay\?"))
    _look(page, shots, "2-bank", problems)
    page.get_by_role("button", name=approve).click()
    page.wait_for_url(re.compile(r"/pay/return/"))

    expect(page.get_by_role("heading", level=1)).to_have_text(success)
    expect(
        page.get_by_role("link", name=re.compile("Cổng dịch vụ công|public service portal"))
    ).to_have_attribute("href", invoice["return_url"])
    _look(page, shots, "3-return", problems)

    # The link again, now that it is paid: a clear page and nothing to press.
    page.goto(invoice["payment_url"])
    expect(page.get_by_role("status")).to_be_visible()
    assert page.locator("form").count() == 0
    _look(page, shots, "4-paid", problems)
    context.close()
