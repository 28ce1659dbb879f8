"""The application factory."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, render_template
from flask_babel import Babel, get_locale
from flask_wtf import CSRFProtect
from markupsafe import Markup

from . import apikey_cache, db, i18n, provider_registry, security
from .config import config_class, normalise
from .error_handlers import FeegateApi, register_error_handlers

csrf = CSRFProtect()
babel = Babel()
api = FeegateApi()


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Create and configure an instance of the feegate application."""
    app = Flask("payments", instance_relative_config=False)
    env_name = (overrides or {}).get("ENV_NAME")
    cls = config_class(env_name if isinstance(env_name, str) else None)
    app.config.from_object(cls)
    app.config.from_prefixed_env("FEEGATE")
    if overrides:
        app.config.update(overrides)
    normalise(app.config)
    cls.validate(app.config)
    if app.config["DATABASE_URL"].startswith("sqlite:///"):
        Path(app.config["DATABASE_URL"].removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)

    # Vietnamese text as UTF-8, not \u escapes: shorter bodies, readable logs.
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    logging.basicConfig(level=app.config.get("LOG_LEVEL", "INFO"))
    db.init_app(app)
    apikey_cache.init_app(app)
    provider_registry.init_app(app)
    security.init_app(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=i18n.select_locale)
    register_blueprints(app)
    register_error_handlers(app)
    register_commands(app)
    _register_template_helpers(app)
    init_background(app)
    return app


def init_background(app: Flask) -> None:
    """Bind Celery to ``app`` and kick webhook delivery when outbox events commit."""
    from webhooks.outbound.kick import install_commit_hook

    from .celery_app import init_celery

    init_celery(app)
    install_commit_hook()


def register_blueprints(app: Flask) -> None:
    """Mount the API (under flask-smorest), the checkout, callbacks and the sandbox bank."""
    from providers.sandbox.bank import bp as sandbox_bank_bp
    from webhooks.outbound.views import blp as webhook_endpoints_blp
    from webhooks.views import bp as callbacks_bp

    from .api import blp as invoices_blp
    from .checkout_views import bp as checkout_bp
    from .docs_views import bp as docs_bp

    api.init_app(app)
    api.register_blueprint(invoices_blp)
    api.register_blueprint(webhook_endpoints_blp)
    app.register_blueprint(checkout_bp)
    app.register_blueprint(callbacks_bp)
    app.register_blueprint(docs_bp)
    app.add_url_rule("/", "index", lambda: render_template("index.html"))
    if "sandbox" in app.config["PROVIDERS"]:
        app.register_blueprint(sandbox_bank_bp)
    # Bearer keys and provider signatures authenticate these; no cookie ever does.
    csrf.exempt(callbacks_bp)
    csrf.exempt(invoices_blp)
    csrf.exempt(webhook_endpoints_blp)


def register_commands(app: Flask) -> None:
    """Add the CLI groups of every context."""
    from reconciliation.cli import COMMANDS as RECONCILIATION_COMMANDS
    from webhooks.outbound.cli import webhooks_group

    from .cli import COMMANDS

    for command in [*COMMANDS, *RECONCILIATION_COMMANDS, webhooks_group]:
        app.cli.add_command(command)


def _register_template_helpers(app: Flask) -> None:
    from .formatting import format_datetime_local, format_vnd

    app.jinja_env.filters["vnd"] = format_vnd
    app.jinja_env.filters["qr_svg"] = _qr_svg
    app.jinja_env.filters["local_dt"] = format_datetime_local
    app.jinja_env.globals["get_locale"] = get_locale


def _qr_svg(payload: str) -> Markup:
    # segno escapes nothing user-controlled into the SVG: the payload only sets modules.
    from providers.vietqr import qr_svg

    return Markup(qr_svg(payload))
