"""The Celery application bound to the Flask app factory: names, queues, beat schedule, broker.

Tasks run inside an application context, take ids rather than ORM objects and call the
same job functions as their CLI twins. The database stays the source of truth: a lost
broker message delays work until the next sweep but never loses it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from celery import Celery, Task
from celery.schedules import crontab
from flask import Flask
from kombu import Queue

from .config import INSTANCE_DIR

#: local time of the service, used by the beat schedule
TIMEZONE = "Asia/Ho_Chi_Minh"


class QueueNames:
    """Every queue a worker may consume."""

    WEBHOOKS = "webhooks"  # deliveries: many short HTTP calls
    PERIODIC = "periodic"  # sweeps and scheduled jobs

    @classmethod
    def all(cls) -> list[str]:
        """Return every queue name, for ``celery worker -Q``."""
        return [cls.WEBHOOKS, cls.PERIODIC]


class TaskNames:
    """Explicit kebab-case task names, so renaming a function never orphans queued messages."""

    WEBHOOKS_DISPATCH = "webhooks-dispatch"
    WEBHOOKS_DELIVER = "webhooks-deliver"
    WEBHOOKS_SWEEP = "webhooks-sweep"
    WEBHOOKS_PURGE_ATTEMPTS = "webhooks-purge-attempts"
    PAYMENTS_MOP_UP = "payments-mop-up"
    INVOICES_EXPIRE = "invoices-expire"
    IDEMPOTENCY_REAP = "idempotency-keys-reap"
    RECONCILIATION_DAILY = "reconciliation-daily"


#: modules that define tasks; the worker imports them at start
TASK_MODULES = ["webhooks.outbound.tasks", "payments.tasks"]


def beat_schedule(sweep_seconds: float = 10.0) -> dict[str, dict[str, Any]]:
    """Return the beat schedule; crontab times are Asia/Ho_Chi_Minh local time."""
    return {
        TaskNames.WEBHOOKS_SWEEP: {
            "task": TaskNames.WEBHOOKS_SWEEP,
            "schedule": timedelta(seconds=sweep_seconds),
            "options": {"queue": QueueNames.PERIODIC, "expires": sweep_seconds},
        },
        TaskNames.PAYMENTS_MOP_UP: {
            "task": TaskNames.PAYMENTS_MOP_UP,
            "schedule": crontab(minute="*/30"),
            "options": {"queue": QueueNames.PERIODIC},
        },
        TaskNames.INVOICES_EXPIRE: {
            "task": TaskNames.INVOICES_EXPIRE,
            "schedule": crontab(minute="*/5"),
            "options": {"queue": QueueNames.PERIODIC},
        },
        TaskNames.RECONCILIATION_DAILY: {
            "task": TaskNames.RECONCILIATION_DAILY,
            "schedule": crontab(hour=6, minute=30),  # after providers publish yesterday's file
            "options": {"queue": QueueNames.PERIODIC},
        },
        TaskNames.IDEMPOTENCY_REAP: {
            "task": TaskNames.IDEMPOTENCY_REAP,
            "schedule": crontab(hour=3, minute=0),
            "options": {"queue": QueueNames.PERIODIC},
        },
        TaskNames.WEBHOOKS_PURGE_ATTEMPTS: {
            "task": TaskNames.WEBHOOKS_PURGE_ATTEMPTS,
            "schedule": crontab(hour=3, minute=15),
            "options": {"queue": QueueNames.PERIODIC},
        },
    }


def embedded_broker(instance_path: str) -> dict[str, Any]:
    """Return broker settings that need no server: kombu's SQLAlchemy transport on a SQLite file.

    (kombu's filesystem transport can hand a worker a message file that is still being
    written, which kills the worker under load; a database broker has no such window.)
    """
    return {
        "broker_url": f"sqla+sqlite:///{Path(instance_path) / 'broker.sqlite3'}",
    }


def default_celery_config(instance_path: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """Return the Celery settings used unless ``app.config["CELERY"]`` overrides them."""
    broker_url = config.get("CELERY_BROKER_URL") or os.environ.get("FEEGATE_CELERY_BROKER_URL")
    broker = {"broker_url": broker_url} if broker_url else embedded_broker(instance_path)
    return {
        **broker,
        "timezone": TIMEZONE,
        "enable_utc": True,
        "imports": TASK_MODULES,
        "task_ignore_result": True,
        "task_default_queue": QueueNames.PERIODIC,
        # Declared, so a plain `celery worker` consumes every queue; `-Q` narrows it.
        "task_queues": [Queue(name) for name in QueueNames.all()],
        "task_routes": {
            TaskNames.WEBHOOKS_DISPATCH: {"queue": QueueNames.WEBHOOKS},
            TaskNames.WEBHOOKS_DELIVER: {"queue": QueueNames.WEBHOOKS},
        },
        # Messages are acknowledged on receipt: redelivery after a crash is the sweep's job,
        # driven by the delivery lease in the database, not the broker's visibility timeout.
        "task_acks_late": False,
        "worker_prefetch_multiplier": 4,
        "broker_connection_retry_on_startup": True,
        "beat_schedule": beat_schedule(float(config.get("WEBHOOKS_SWEEP_SECONDS", 10))),
        "beat_schedule_filename": str(Path(instance_path) / "celerybeat-schedule"),
    }


def init_celery(app: Flask) -> Celery:
    """Create the Celery app for ``app``, run every task in its application context."""

    class FlaskTask(Task):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with app.app_context():
                return self.run(*args, **kwargs)

    settings = default_celery_config(str(INSTANCE_DIR), app.config)
    settings.update(app.config.get("CELERY", {}))
    if str(settings["broker_url"]).startswith("sqla+sqlite:///"):
        Path(str(settings["broker_url"]).removeprefix("sqla+sqlite:///")).parent.mkdir(
            parents=True, exist_ok=True
        )
    celery_app = Celery(app.import_name, task_cls=FlaskTask)
    celery_app.config_from_object(settings)
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app
