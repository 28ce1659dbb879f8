"""The app's provider registry, built from configuration at start-up."""

from __future__ import annotations

from flask import Flask, current_app

from providers.registry import ProviderRegistry


def init_app(app: Flask) -> None:
    """Build the registry from ``PROVIDERS`` and ``AGENCY_PROVIDERS``."""
    app.extensions["feegate.providers"] = ProviderRegistry(
        app.config["PROVIDERS"],
        app.config["AGENCY_PROVIDERS"],
        context={
            "base_url": app.config["BASE_URL"],
            "connect_timeout": app.config["PROVIDER_CONNECT_TIMEOUT"],
            "read_timeout": app.config["PROVIDER_READ_TIMEOUT"],
        },
    )


def get_registry() -> ProviderRegistry:
    """Return the current app's provider registry."""
    registry: ProviderRegistry = current_app.extensions["feegate.providers"]
    return registry
