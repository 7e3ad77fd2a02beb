"""Read models over the stores and the runs folder: plain functions a route calls.

Nothing here knows HTTP. Each function takes the databases (or one store) and returns the
pydantic models of `models`, the contract the dashboards read. An unknown run, order or
pattern raises `api.errors.NotFoundError`; a database that does not exist reads as empty.
"""

from coinswarm.api.reads.part import Reads

__all__ = ["Reads"]
