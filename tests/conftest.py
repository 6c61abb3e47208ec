"""Shared fixtures: tiny economies that build in milliseconds."""

import pytest

from model import CreditEconomy


@pytest.fixture
def tiny_economy():
    """A 500-borrower economy with a short burn-in."""
    return CreditEconomy(n_borrowers=500, scenario="baseline", policy="balanced", seed=3, burn_in=6)
