"""Fixtures for the callback tests."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from tests.factories import AgencyWithKey, create_invoice
from tests.sandbox_callbacks import Attempt, start_sandbox_attempt


@pytest.fixture
def attempt(client: FlaskClient, agency: AgencyWithKey) -> Attempt:
    """A pending sandbox attempt for a fresh 1,250,000 VND invoice."""
    return start_sandbox_attempt(client, create_invoice(client, agency))
