"""Find adapters through the ``feegate.providers`` entry-point group and build them per merchant.

Settings come from configuration only (never from the database): ``PROVIDERS``
holds each provider's defaults (sandbox endpoints, say) and ``AGENCY_PROVIDERS``
each agency's own credentials, ``{agency_code: {provider_code: {...}}}``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from functools import cache
from importlib.metadata import entry_points
from typing import Any

from .base import CallbackRequest, ProviderAdapter, ProviderAdapterClass
from .errors import CallbackRejected, UnknownProvider

ENTRY_POINT_GROUP = "feegate.providers"


@cache
def installed_adapters() -> dict[str, ProviderAdapterClass]:
    """Load every adapter class installed under the entry-point group, by code."""
    found: dict[str, ProviderAdapterClass] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found[ep.name] = ep.load()
    return found


class ProviderRegistry:
    """Build, cache and route to configured adapter instances.

    :param provider_settings: ``{provider_code: {setting: value}}`` defaults for every agency.
    :param agency_settings: ``{agency_code: {provider_code: {setting: value}}}`` per-agency credentials.
    :param context: values every adapter may need (``base_url`` for our own URLs, say).
    """

    def __init__(
        self,
        provider_settings: Mapping[str, Mapping[str, Any]],
        agency_settings: Mapping[str, Mapping[str, Mapping[str, Any]]],
        context: Mapping[str, Any] | None = None,
    ) -> None:
        self._provider_settings = provider_settings
        self._agency_settings = agency_settings
        self._context = dict(context or {})
        self._cache: dict[tuple[str, str], ProviderAdapter] = {}
        self._lock = threading.Lock()

    def adapter_class(self, provider_code: str) -> ProviderAdapterClass:
        """Return the installed class for ``provider_code`` or raise :class:`UnknownProvider`."""
        try:
            return installed_adapters()[provider_code]
        except KeyError:
            raise UnknownProvider(provider_code) from None

    def settings_for(self, provider_code: str, agency_code: str) -> dict[str, Any]:
        """Merge context, provider defaults and the agency's credentials (later wins)."""
        merged: dict[str, Any] = dict(self._context)
        merged.update(self._provider_settings.get(provider_code, {}))
        merged.update(self._agency_settings.get(agency_code, {}).get(provider_code, {}))
        merged.setdefault("agency_code", agency_code)
        return merged

    def for_agency(self, provider_code: str, agency_code: str) -> ProviderAdapter:
        """Return the (cached) adapter holding ``agency_code``'s credentials for ``provider_code``."""
        key = (provider_code, agency_code)
        with self._lock:
            adapter = self._cache.get(key)
            if adapter is None:
                cls = self.adapter_class(provider_code)
                try:
                    adapter = cls(self.settings_for(provider_code, agency_code))
                except (KeyError, ValueError) as exc:
                    # A missing or invalid credential: this agency has not enabled the provider.
                    message = f"not configured for agency {agency_code}: {exc}"
                    raise UnknownProvider(provider_code, message) from exc
                self._cache[key] = adapter
            return adapter

    def for_callback(self, provider_code: str, callback: CallbackRequest) -> ProviderAdapter:
        """Pick the adapter whose merchant id the callback claims; verification is the adapter's job."""
        cls = self.adapter_class(provider_code)
        claimed = cls.callback_merchant_id(callback)
        if not claimed:
            raise CallbackRejected(provider_code, "callback names no merchant")
        # Per-agency credentials first; then the claimed id itself as an agency code, for
        # providers (the sandbox) whose merchant id defaults to the agency code.
        for agency_code in [*self.agencies_configured_for(provider_code), claimed]:
            try:
                adapter = self.for_agency(provider_code, agency_code)
            except UnknownProvider:
                continue
            if adapter.merchant_id == claimed:
                return adapter
        raise CallbackRejected(provider_code, "callback names an unknown merchant")

    def agencies_configured_for(self, provider_code: str) -> list[str]:
        """Agency codes with their own settings for ``provider_code``."""
        return [a for a, providers in self._agency_settings.items() if provider_code in providers]
