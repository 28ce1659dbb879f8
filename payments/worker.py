"""The Celery entry point: ``celery -A payments.worker worker`` (and ``beat``).

Builds the Flask app once per process so every task runs in its application context.
"""

from __future__ import annotations

from payments.app import create_app

flask_app = create_app()
celery_app = flask_app.extensions["celery"]
