"""Features a pattern's conditions may name, vectorised for research and streaming for trading.

A feature is named as text with its parameters (`rsi:14`, `sma_gap:10:50`, `hour`);
`parse_feature` reads a name, `feature_values` computes it over a whole series, and
`feature_stream` returns its bar-by-bar twin. Both give the value at bar t from bars 0..t only.
The families live in `basic` and `chart`; `FeatureCache` shares computed arrays read-only.
"""

from __future__ import annotations

from coinswarm.data.features.catalog import (
    DEFAULT_FEATURES,
    FeatureCache,
    FeatureError,
    FeatureSpec,
    feature_families,
    feature_stream,
    feature_values,
    parse_feature,
)
from coinswarm.data.features.family import Family, FeatureStream, FloatArray

__all__ = [
    "DEFAULT_FEATURES",
    "Family",
    "FeatureCache",
    "FeatureError",
    "FeatureSpec",
    "FeatureStream",
    "FloatArray",
    "feature_families",
    "feature_stream",
    "feature_values",
    "parse_feature",
]
