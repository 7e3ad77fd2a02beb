"""Column types: exact decimals on every backend, and canonical JSON text."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from sqlalchemy import Dialect, Numeric, Text
from sqlalchemy.types import TypeDecorator, TypeEngine

from coinswarm.infra.storage.errors import StorageError

__all__ = ["ExactDecimal", "canonical_json", "from_json"]


class ExactDecimal(TypeDecorator[Decimal]):
    """Store a `Decimal` with every digit: NUMERIC on PostgreSQL, TEXT on SQLite.

    SQLite's NUMERIC affinity would turn values into 64-bit floats, so there the decimal's own
    string is stored and parsed back. Floats, NaN and infinities are refused on the way in.
    """

    impl = Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """Return NUMERIC (unbounded, exact) on PostgreSQL and TEXT elsewhere."""
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Numeric(asdecimal=True))
        return dialect.type_descriptor(Text())

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Decimal | str | None:
        """Refuse anything but a finite Decimal; send text to SQLite."""
        if value is None:
            return None
        if not isinstance(value, Decimal) or not value.is_finite():
            msg = f"expected a finite Decimal for a money column, found {value!r}"
            raise StorageError(msg)
        return value if dialect.name == "postgresql" else str(value)

    def process_result_value(self, value: object, dialect: Dialect) -> Decimal | None:
        """Return the stored value as a Decimal with the digits it was stored with."""
        if value is None:
            return None
        if isinstance(value, Decimal):
            return value
        return Decimal(str(value))


def _default(value: object) -> str:
    # Decimals travel as their exact string; anything else unknown is a programming error.
    if isinstance(value, Decimal):
        return str(value)
    msg = f"cannot store {type(value).__name__} {value!r} as JSON"
    raise TypeError(msg)


def canonical_json(value: object) -> str:
    """Return `value` as JSON with sorted keys and no spaces: the same bytes every time."""
    try:
        return json.dumps(
            value,
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
            default=_default,
        )
    except (TypeError, ValueError) as exc:
        msg = f"expected JSON-serialisable data, found {value!r}: {exc}"
        raise StorageError(msg) from exc


def from_json(text: str) -> Any:
    """Parse JSON written by `canonical_json`."""
    return json.loads(text)
