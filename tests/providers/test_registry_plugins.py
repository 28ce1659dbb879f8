"""Entry-point discovery of the real adapters, without reinstalling the shared venv.

``pip install -e`` would re-register the package for every developer on the shared
venv, so these tests read our ``setup.cfg`` entry points and feed the resulting
classes to the registry exactly as ``importlib.metadata`` would.
"""

from __future__ import annotations

import configparser
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from providers import registry as registry_module
from providers.errors import CallbackRejected
from providers.registry import ENTRY_POINT_GROUP, ProviderRegistry

from .harness import payment_request, start_harness, stop_harness

REAL = {"vnpay", "momo", "zalopay", "vietqr"}


def declared_entry_points() -> list[EntryPoint]:
    """The ``feegate.providers`` entry points our setup.cfg declares."""
    config = configparser.ConfigParser()
    config.read(Path(__file__).resolve().parents[2] / "setup.cfg")
    lines = config["options.entry_points"][ENTRY_POINT_GROUP].strip().splitlines()
    return [
        EntryPoint(name=name.strip(), value=value.strip(), group=ENTRY_POINT_GROUP)
        for name, value in (line.split("=", 1) for line in lines)
    ]


@pytest.fixture
def installed(monkeypatch):
    classes = {ep.name: ep.load() for ep in declared_entry_points() if ep.name in REAL}
    monkeypatch.setattr(registry_module, "installed_adapters", lambda: classes)
    return classes


def test_setup_cfg_declares_every_real_adapter_under_its_code(installed):
    assert set(installed) == REAL
    for name, cls in installed.items():
        assert cls.code == name


def test_registry_builds_each_agency_its_own_adapter(installed):
    harness = start_harness("momo")
    try:
        settings = harness.simulator.settings()
        registry = ProviderRegistry(
            {"momo": {"base_url": settings["base_url"], "read_timeout": 1.5}},
            {
                "HN": {"momo": {k: settings[k] for k in ("partner_code", "access_key", "secret_key")}},
                "HCM": {"momo": {"partner_code": "OTHER", "access_key": "a", "secret_key": "s"}},
            },
        )
        hanoi = registry.for_agency("momo", "HN")
        assert registry.for_agency("momo", "HN") is hanoi
        assert registry.for_agency("momo", "HCM").merchant_id == "OTHER"
        request = payment_request()
        callbacks = harness.pay(hanoi.start_payment(request), request, True)
        routed = registry.for_callback("momo", callbacks[0].as_request("/callbacks/momo"))
        assert routed is hanoi
        assert (
            routed.parse_callback(callbacks[0].as_request("/callbacks/momo")).reference == request.reference
        )
    finally:
        stop_harness(harness)


def test_registry_callback_for_unknown_merchant_rejected(installed):
    harness = start_harness("vietqr")
    registry = ProviderRegistry(
        {}, {"HN": {"vietqr": {**harness.simulator.settings(), "account_number": "1"}}}
    )
    callback = harness.simulator.credit(1000, "FG7K3M9Q2XAB")[0].as_request("/callbacks/vietqr")
    with pytest.raises(CallbackRejected):
        registry.for_callback("vietqr", callback)
