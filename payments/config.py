"""Configuration classes, layered with ``FEEGATE_*`` environment variables.

``FEEGATE_ENV`` picks the class (development, test, production). Every other
``FEEGATE_<KEY>`` overrides ``<KEY>`` (JSON values are decoded; ``__`` nests into
dicts, e.g. ``FEEGATE_PROVIDERS__vnpay__hash_secret``). ``FEEGATE_SECRET_KEYS``
is comma-separated, oldest first, newest last, so keys can be rotated.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

INSTANCE_DIR = Path(__file__).resolve().parent.parent / "instance"
DEV_SECRET = "dev-only-secret-change-me"
_BROKERS = ("redis://", "rediss://", "amqp://", "amqps://")  # production brokers (Redis or RabbitMQ)


class ConfigError(RuntimeError):
    """The configuration cannot run this environment; the message names what is missing."""


class Config:
    """Settings shared by every environment."""

    ENV_NAME = "base"
    DATABASE_URL = f"sqlite:///{INSTANCE_DIR / 'feegate.sqlite3'}"
    DATABASE_ENGINE_OPTIONS: dict[str, Any] = {}
    SECRET_KEYS: list[str] = [DEV_SECRET]
    #: keyed-hash pepper for API keys; separate from SECRET_KEYS so link-key rotation keeps keys valid
    API_KEY_PEPPER = "dev-only-api-key-pepper"
    API_KEY_MODE = "test"  # prefix of keys this deployment issues and accepts: fg_test_ / fg_live_
    #: how long a worker trusts a key it authenticated (0-10 s; 0 = every request looks it up):
    #: a key revoked in another process keeps working at most this long (payments/apikey_cache.py)
    API_KEY_CACHE_SECONDS = 10.0
    BASE_URL = "http://127.0.0.1:5000"
    MAX_CONTENT_LENGTH = 64 * 1024
    INVOICE_DEFAULT_TTL_SECONDS = 24 * 3600
    INVOICE_MAX_TTL_SECONDS = 30 * 24 * 3600
    IDEMPOTENCY_KEY_TTL_SECONDS = 72 * 3600
    IDEMPOTENCY_LOCK_SECONDS = 60
    PROVIDER_CONNECT_TIMEOUT = 3.0
    PROVIDER_READ_TIMEOUT = 10.0
    #: mop-up asks the provider about attempts pending or unknown for longer than this
    MOPUP_GRACE_SECONDS = 30 * 60
    MOPUP_BATCH_LIMIT = 200
    #: provider defaults: ``{provider_code: {setting: value}}``
    PROVIDERS: dict[str, dict[str, Any]] = {"sandbox": {"secret": "sandbox-shared-secret"}}
    #: per-agency credentials: ``{agency_code: {provider_code: {setting: value}}}``
    AGENCY_PROVIDERS: dict[str, dict[str, dict[str, Any]]] = {}
    #: how the simulated bank delivers its server-to-server callback: "wsgi" (in-process) or "http"
    SANDBOX_CALLBACK_TRANSPORT = "wsgi"
    SESSION_COOKIE_NAME = "feegate_session"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    WTF_CSRF_TIME_LIMIT = 3600
    BABEL_DEFAULT_LOCALE = "vi"
    BABEL_DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"
    LANGUAGES = ["vi", "en"]
    HSTS = "max-age=31536000; includeSubDomains"
    # flask-smorest / OpenAPI
    API_TITLE = "feegate"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/api/v1"
    OPENAPI_JSON_PATH = "openapi.json"
    #: Celery broker; empty means kombu's SQLAlchemy transport on instance/broker.sqlite3 (no server needed)
    CELERY_BROKER_URL = ""
    #: further Celery settings, merged over payments.celery_app.default_celery_config
    CELERY: dict[str, Any] = {}
    # Outgoing webhooks (webhooks.outbound.settings reads these; defaults are production's)
    WEBHOOKS_ALLOW_HTTP = False  # http:// endpoints: development and test only
    WEBHOOKS_ALLOW_PRIVATE = False  # loopback/private addresses and IP literals: development and test only
    WEBHOOKS_ALLOWED_DOMAINS: list[str] = []  # if set, endpoint hosts must be in (or under) these
    WEBHOOKS_TIMEOUT_SECONDS = 15.0  # total per attempt, capped at 15
    WEBHOOKS_LEASE_SECONDS = 60  # an attempt whose worker died is re-sent after this long
    WEBHOOKS_CLAIM_LEASE_SECONDS = 300  # a claim whose broker message was lost is re-sent after this
    WEBHOOKS_ROTATION_OVERLAP_HOURS = 24  # old and new secret both sign for this long
    WEBHOOKS_SWEEP_SECONDS = 10  # beat interval of the sweep that recovers lost broker messages
    WEBHOOKS_ENQUEUE_ON_COMMIT = True  # kick a worker right after an event commits
    WEBHOOKS_ATTEMPT_RETENTION_DAYS = 45  # attempt log kept at least 30 days
    WEBHOOKS_DISPATCH_HORIZON_HOURS = 72  # events older than this are not fanned out any more
    WEBHOOKS_BATCH_SIZE = 100  # events or deliveries per claiming transaction
    WEBHOOKS_SWEEP_LIMIT = 1000  # most deliveries one sweep re-enqueues

    @classmethod
    def validate(cls, config: dict[str, Any]) -> None:
        """Raise :class:`ConfigError` naming every setting this environment needs but lacks."""


class Development(Config):
    """Local development: the embedded SQLite default and the sandbox bank."""

    ENV_NAME = "development"
    WEBHOOKS_ALLOW_HTTP = True
    WEBHOOKS_ALLOW_PRIVATE = True


class Test(Config):
    """The test suite; the database comes from ``FEEGATE_TEST_DATABASE_URL`` via the fixtures."""

    ENV_NAME = "test"
    TESTING = True
    WTF_CSRF_ENABLED = True
    RATELIMIT_ENABLED = False
    PROVIDERS: dict[str, dict[str, Any]] = {"sandbox": {"secret": "sandbox-test-secret"}}
    # Tests call tasks and job functions directly; anything sent to this broker fails loudly.
    CELERY_BROKER_URL = "you-forgot-to-mock-celery-in-your-tests://"
    WEBHOOKS_ENQUEUE_ON_COMMIT = False
    WEBHOOKS_ALLOW_HTTP = True
    WEBHOOKS_ALLOW_PRIVATE = True


class Production(Config):
    """Production: secrets and URLs must come from the environment."""

    ENV_NAME = "production"
    API_KEY_MODE = "live"
    SESSION_COOKIE_NAME = "__Host-feegate_session"
    SESSION_COOKIE_SECURE = True
    SECRET_KEYS: list[str] = []
    API_KEY_PEPPER = ""
    BASE_URL = ""
    SANDBOX_CALLBACK_TRANSPORT = "http"

    @classmethod
    def validate(cls, config: dict[str, Any]) -> None:
        missing = [
            name
            for name, ok in (
                ("FEEGATE_SECRET_KEYS", bool(config.get("SECRET_KEYS"))),
                ("FEEGATE_API_KEY_PEPPER", bool(config.get("API_KEY_PEPPER"))),
                ("FEEGATE_BASE_URL", str(config.get("BASE_URL", "")).startswith("https://")),
                ("FEEGATE_DATABASE_URL", str(config.get("DATABASE_URL", "")).startswith("postgresql")),
                ("FEEGATE_CELERY_BROKER_URL", str(config.get("CELERY_BROKER_URL", "")).startswith(_BROKERS)),
            )
            if not ok
        ]
        if DEV_SECRET in config.get("SECRET_KEYS", []):
            missing.append("FEEGATE_SECRET_KEYS (the development key is not allowed)")
        if missing:
            raise ConfigError("production configuration is incomplete: set " + ", ".join(missing))


CONFIGS: dict[str, type[Config]] = {c.ENV_NAME: c for c in (Development, Test, Production)}


def config_class(name: str | None = None) -> type[Config]:
    """Return the config class for ``name`` or ``$FEEGATE_ENV`` (default development)."""
    name = name or os.environ.get("FEEGATE_ENV", "development")
    try:
        return CONFIGS[name]
    except KeyError:
        raise ConfigError(f"FEEGATE_ENV={name!r} is not one of {sorted(CONFIGS)}") from None


def normalise(config: dict[str, Any]) -> None:
    """Turn environment-shaped values into the types the code expects, in place."""
    keys = config.get("SECRET_KEYS")
    if isinstance(keys, str):
        config["SECRET_KEYS"] = [k.strip() for k in keys.split(",") if k.strip()]
    if config.get("SECRET_KEYS"):
        # Flask signs sessions and CSRF tokens with the newest key and still accepts the older ones.
        config["SECRET_KEY"] = config["SECRET_KEYS"][-1]
        config["SECRET_KEY_FALLBACKS"] = list(reversed(config["SECRET_KEYS"][:-1]))
    url = str(config.get("DATABASE_URL", ""))
    # psycopg 3 is the one PostgreSQL driver we ship.
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        config["DATABASE_URL"] = "postgresql+psycopg://" + url.split("://", 1)[1]
    config["BASE_URL"] = str(config.get("BASE_URL", "")).rstrip("/")
