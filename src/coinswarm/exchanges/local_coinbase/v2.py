"""The few Coinbase App (v2) routes that Advanced Trade clients still call, with v2's shapes.

ccxt's `coinbase` class loads currencies from `/v2/currencies`, `/v2/currencies/crypto` and
`/v2/exchange-rates` before any market, reads balances from `/v2/accounts` by default and the
time from `/v2/time`. v2 wraps every answer in `data`; amounts are strings.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from coinswarm.domain.bar import NS_PER_SECOND
from coinswarm.exchanges.local_coinbase import convert
from coinswarm.exchanges.local_coinbase.deps import Address, KeyName, Svc
from coinswarm.exchanges.local_coinbase.venue import Venue

__all__ = ["FIAT", "V2_PREFIX", "router"]

V2_PREFIX = "/v2"
FIAT = frozenset({"USD", "EUR", "GBP"})
"""Currencies listed as fiat (v2 `/currencies`, account type "fiat"); the rest are crypto."""

router = APIRouter(prefix=V2_PREFIX)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FiatCurrency(_Model):
    id: str
    name: str
    min_size: str


class CryptoCurrency(_Model):
    asset_id: str
    code: str
    name: str
    color: str
    sort_index: int
    exponent: int
    type: str
    address_regex: str


class Amount(_Model):
    amount: str
    currency: str


class AccountCurrency(_Model):
    code: str
    name: str
    type: str


class Account(_Model):
    id: str
    name: str
    primary: bool
    type: str
    currency: AccountCurrency
    balance: Amount
    created_at: str
    updated_at: str
    resource: str
    resource_path: str
    allow_deposits: bool
    allow_withdrawals: bool


class Pagination(_Model):
    ending_before: str | None = None
    starting_after: str | None = None
    previous_ending_before: str | None = None
    next_starting_after: str | None = None
    limit: int
    order: str = "desc"
    previous_uri: str | None = None
    next_uri: str | None = None


def _data(payload: Any, **extra: Any) -> dict[str, Any]:
    def dump(item: Any) -> Any:
        return item.model_dump(mode="json") if isinstance(item, BaseModel) else item

    data = [dump(i) for i in payload] if isinstance(payload, list) else dump(payload)
    return {**{k: dump(v) for k, v in extra.items()}, "data": data}


def _currencies(venue: Venue) -> list[str]:
    found = {c for i in venue.instruments() for c in (i.base, i.quote)}
    return sorted(found)


def _asset_id(code: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"coinswarm/local-coinbase/asset/{code}"))


def _decimals(increments: list[Decimal]) -> int:
    return max((-int(i.normalize().as_tuple().exponent) for i in increments), default=8)


@router.get("/currencies")
async def fiat_currencies(svc: Svc, _caller: Address) -> dict[str, Any]:
    """List the fiat currencies traded here, with the smallest amount of each."""
    fiat = [c for c in _currencies(svc.venue) if c in FIAT]
    return _data([FiatCurrency(id=c, name=c, min_size="0.01") for c in fiat])


@router.get("/currencies/crypto")
async def crypto_currencies(svc: Svc, _caller: Address) -> dict[str, Any]:
    """List the crypto currencies traded here, with their decimal exponent."""
    venue = svc.venue
    listed = []
    for index, code in enumerate(c for c in _currencies(venue) if c not in FIAT):
        increments = [i.size_increment for i in venue.instruments() if i.base == code]
        listed.append(
            CryptoCurrency(
                asset_id=_asset_id(code),
                code=code,
                name=code,
                color="#000000",
                sort_index=index,
                exponent=_decimals(increments),
                type="crypto",
                address_regex=".*",
            )
        )
    return _data(listed)


@router.get("/exchange-rates")
async def exchange_rates(svc: Svc, _caller: Address, currency: str = "USD") -> dict[str, Any]:
    """Return how much of each currency one unit of `currency` buys, at the last closes."""
    venue = svc.venue
    rates: dict[str, str] = {currency: "1"}
    for instrument in venue.instruments():
        bar = venue.last_bar(instrument.symbol)
        if bar is None or bar.close <= 0:
            continue
        close = Decimal(repr(bar.close))
        if instrument.quote == currency:
            rates[instrument.base] = convert.decimal_text(1 / close)
        elif instrument.base == currency:
            rates[instrument.quote] = convert.decimal_text(close)
    return _data({"currency": currency, "rates": rates})


@router.get("/time")
async def server_time(svc: Svc, _caller: Address) -> dict[str, Any]:
    """Return the server's time as v2 does: ISO text and epoch seconds."""
    now_ns = svc.clock.now_ns()
    iso = convert.rfc3339(now_ns)
    return _data({"iso": iso[:19] + "Z", "epoch": now_ns // NS_PER_SECOND})


@router.get("/accounts")
async def accounts(svc: Svc, _key: KeyName, limit: int = 25) -> dict[str, Any]:
    """List one account per currency with its total balance (v2 shows no holds)."""
    venue = svc.venue
    when = convert.rfc3339(venue.now_ns)
    listed = []
    for currency, (total, _hold) in venue.balances().items():
        account_id = str(
            uuid.uuid5(uuid.NAMESPACE_URL, f"coinswarm/local-coinbase/account/{currency}")
        )
        kind = "fiat" if currency in FIAT else "crypto"
        listed.append(
            Account(
                id=account_id,
                name=f"{currency} Wallet",
                primary=False,
                type="fiat" if kind == "fiat" else "wallet",
                currency=AccountCurrency(code=currency, name=currency, type=kind),
                balance=Amount(amount=convert.decimal_text(total), currency=currency),
                created_at=when,
                updated_at=when,
                resource="account",
                resource_path=f"{V2_PREFIX}/accounts/{account_id}",
                allow_deposits=True,
                allow_withdrawals=True,
            )
        )
    return _data(listed, pagination=Pagination(limit=limit))
