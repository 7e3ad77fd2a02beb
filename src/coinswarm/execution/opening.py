"""Where a new session starts on an account: its balances, and where its history ends.

An account may have traded before the session (an earlier session, a person). What it holds
then is the session's opening book, deposited into the ledger currency by currency; its fills
then are history (`reconcile.AccountHistory`): never back-filled, never a stranger's order,
and not listed again. Both come from one steady read, so no fill lands between the two.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from coinswarm.domain.ledger import Deposit, Ledger
from coinswarm.exchanges.base import ExchangeAdapter
from coinswarm.execution.reconcile import AccountHistory, read_exchange

__all__ = ["INITIAL_CASH", "OPENING_BALANCE", "Opening", "read_opening"]

INITIAL_CASH = "initial cash"
"""The reference of the opening deposit in the account currency."""
OPENING_BALANCE = "opening balance"
"""The reference of the opening deposit of any other currency the account holds."""
READ_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class Opening:
    """The account as a new session finds it: every balance, and where its history ends."""

    balances: Mapping[str, Decimal]
    history: AccountHistory

    def cash(self, currency: str) -> Decimal:
        """Return the balance of `currency` (zero when the account holds none)."""
        return self.balances.get(currency, Decimal(0))

    def deposits(self, account_currency: str, ts: int) -> tuple[Deposit, ...]:
        """Return the opening book as deposits: the account currency's first, then the rest."""
        cash = Deposit(account_currency, self.cash(account_currency), ts, INITIAL_CASH)
        others = (
            Deposit(currency, amount, ts, OPENING_BALANCE)
            for currency, amount in sorted(self.balances.items())
            if currency != account_currency and amount
        )
        return (cash, *others)

    def book(self, ledger: Ledger, account_currency: str, ts: int) -> tuple[Deposit, ...]:
        """Deposit the opening book into `ledger`; return the deposits made."""
        deposits = self.deposits(account_currency, ts)
        for deposit in deposits:
            ledger.deposit(deposit.currency, deposit.amount, deposit.ts, deposit.reference)
        return deposits


def read_opening(adapter: ExchangeAdapter) -> Opening:
    """Read the account's balances and fills in one steady read (see `read_exchange`)."""
    view = read_exchange(adapter, READ_ATTEMPTS)
    return Opening(dict(view.balances), AccountHistory.of(view.fills))
