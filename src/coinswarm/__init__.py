"""Coinswarm: a multi-agent crypto trading system with one engine for every mode."""

__version__ = "0.1.0"
