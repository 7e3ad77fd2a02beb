"""Errors the risk layer raises on purpose, each under `CoinswarmError`."""

from __future__ import annotations

from coinswarm.domain.errors import CoinswarmError

__all__ = ["RiskConfigError", "RiskInputError", "RiskStateError"]


class RiskConfigError(CoinswarmError, ValueError):
    """A risk setting is malformed, unknown, or loosens a real-money limit."""


class RiskInputError(CoinswarmError, ValueError):
    """A price, equity or timestamp handed to a risk component cannot be used."""


class RiskStateError(CoinswarmError, ValueError):
    """A saved risk state cannot be restored, or a reset lacks the person who made it."""
