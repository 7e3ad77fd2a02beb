"""Alembic migrations of the Coinswarm database, run through `coinswarm.infra.storage.migrate`."""
