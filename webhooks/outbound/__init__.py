"""Outgoing event webhooks to portal backends: endpoints, deliveries, signing, retries."""

from __future__ import annotations
