"""Errors raised by provider adapters and the registry."""

from __future__ import annotations


class ProviderError(Exception):
    """Base of every provider failure."""

    def __init__(self, provider_code: str, message: str) -> None:
        super().__init__(f"{provider_code}: {message}")
        self.provider_code = provider_code
        self.message = message


class ProviderUnavailable(ProviderError):
    """Transport error, timeout, 5xx or 429: retryable, and the outcome is unknown."""

    def __init__(self, provider_code: str, message: str, *, timed_out: bool = False) -> None:
        super().__init__(provider_code, message)
        self.timed_out = timed_out


class ProviderRejected(ProviderError):
    """The provider refused the request; not retryable as it stands."""

    def __init__(self, provider_code: str, message: str, *, provider_code_value: str | None = None) -> None:
        super().__init__(provider_code, message)
        #: the provider's own error code, when it gave one
        self.provider_code_value = provider_code_value


class CallbackRejected(ProviderError):
    """A callback failed verification (signature, merchant, malformed)."""


class UnknownProvider(ProviderError):
    """No adapter with this code is installed, or it is not configured."""

    def __init__(self, provider_code: str, message: str = "unknown or unconfigured provider") -> None:
        super().__init__(provider_code, message)
