"""Outbound webhook settings read from the Flask config, with the production defaults."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from .sender import MAX_TOTAL_TIMEOUT, SendOptions
from .ssrf import Resolver, UrlPolicy, system_resolver

RESOLVER_EXTENSION = "feegate.webhooks.resolver"  # app.extensions key; tests put a stub there


@dataclass(frozen=True, slots=True)
class OutboundSettings:
    """Everything the delivery code reads from configuration."""

    policy: UrlPolicy
    timeout_seconds: float
    lease: timedelta  # while an attempt runs: a silent worker's delivery is re-sent after this
    claim_lease: timedelta  # while a claimed delivery waits in the broker queue
    rotation_overlap: timedelta
    batch_size: int
    sweep_limit: int
    dispatch_horizon: timedelta  # older undispatched events are left alone (after a long outage: raise it)
    attempt_retention: timedelta
    enqueue_on_commit: bool

    def send_options(self, resolver: Resolver) -> SendOptions:
        """Return the options for one HTTP attempt."""
        return SendOptions(policy=self.policy, resolver=resolver, total_timeout=self.timeout_seconds)


def outbound_settings(config: Mapping[str, Any]) -> OutboundSettings:
    """Read the ``WEBHOOKS_*`` keys; a lease must outlast the longest attempt."""
    timeout = min(float(config.get("WEBHOOKS_TIMEOUT_SECONDS", MAX_TOTAL_TIMEOUT)), MAX_TOTAL_TIMEOUT)
    lease = timedelta(seconds=float(config.get("WEBHOOKS_LEASE_SECONDS", 60)))
    if lease.total_seconds() < timeout + 1:
        raise ValueError("WEBHOOKS_LEASE_SECONDS must exceed WEBHOOKS_TIMEOUT_SECONDS by at least 1 s")
    claim_lease = timedelta(seconds=float(config.get("WEBHOOKS_CLAIM_LEASE_SECONDS", 300)))
    retention = timedelta(days=int(config.get("WEBHOOKS_ATTEMPT_RETENTION_DAYS", 45)))
    if retention < timedelta(days=30):
        raise ValueError("WEBHOOKS_ATTEMPT_RETENTION_DAYS must be at least 30")
    return OutboundSettings(
        policy=UrlPolicy(
            allow_http=bool(config.get("WEBHOOKS_ALLOW_HTTP", False)),
            allow_private=bool(config.get("WEBHOOKS_ALLOW_PRIVATE", False)),
            allowed_domains=tuple(config.get("WEBHOOKS_ALLOWED_DOMAINS", ())),
        ),
        timeout_seconds=timeout,
        lease=lease,
        claim_lease=max(claim_lease, lease),
        rotation_overlap=timedelta(hours=float(config.get("WEBHOOKS_ROTATION_OVERLAP_HOURS", 24))),
        batch_size=int(config.get("WEBHOOKS_BATCH_SIZE", 100)),
        sweep_limit=int(config.get("WEBHOOKS_SWEEP_LIMIT", 1000)),
        dispatch_horizon=timedelta(hours=float(config.get("WEBHOOKS_DISPATCH_HORIZON_HOURS", 72))),
        attempt_retention=retention,
        enqueue_on_commit=bool(config.get("WEBHOOKS_ENQUEUE_ON_COMMIT", True)),
    )


def configured_resolver(extensions: Mapping[str, Any]) -> Resolver:
    """Return the resolver the app carries (a stub in tests), else the system's."""
    resolver: Resolver = extensions.get(RESOLVER_EXTENSION, system_resolver)
    return resolver
