"""feegate payments: invoices, checkout, API and the state machine."""

from __future__ import annotations

from .app import create_app as create_app
