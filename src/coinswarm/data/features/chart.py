"""Classic chart patterns as feature families (filled in by issue 13, slice 3)."""

from __future__ import annotations

from coinswarm.data.features.family import Family

__all__ = ["FAMILIES"]

FAMILIES: dict[str, Family] = {}
