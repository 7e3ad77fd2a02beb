"""The checks a session passes before it may trade: the right keys, URL, limits and consent.

Reliability scenario 25: a paper or sandbox configuration must never reach the live exchange
or use the live key, and the reverse; each mode keeps its own database and its own key
variables. Live trading also needs a real-money risk phase chosen explicitly, a typed
confirmation, a key that cannot move funds out, no kill switch set, and a clean
reconciliation of the exchange against the opening book (the account's balances; its fills
before the session are history).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from coinswarm.domain.errors import CoinswarmError
from coinswarm.domain.instrument import Instrument
from coinswarm.domain.ledger import Ledger
from coinswarm.exchanges.coinbase import (
    CdpCredentials,
    CoinbaseAdapter,
    CoinbaseKeyError,
    load_credentials,
)
from coinswarm.exchanges.coinbase.keys import ENV_KEY_NAME, ENV_PRIVATE_KEY
from coinswarm.execution.opening import Opening, read_opening
from coinswarm.execution.reconcile import reconcile
from coinswarm.risk.profiles import RiskProfile
from coinswarm.risk.state_file import load_risk_state

__all__ = [
    "LIVE",
    "LIVE_HOSTS",
    "SANDBOX",
    "SANDBOX_KEY_NAME",
    "SANDBOX_PRIVATE_KEY",
    "ModeError",
    "check_confirmation",
    "check_credentials",
    "check_live",
    "check_mode",
    "check_not_stopped",
    "confirmation_text",
    "credentials_for",
    "default_ws_url",
    "phase_for",
]

SANDBOX = "sandbox"
LIVE = "live"
LIVE_HOSTS = frozenset({"api.coinbase.com", "advanced-trade-ws.coinbase.com"})
SANDBOX_KEY_NAME = "COINSWARM_SANDBOX_KEY_NAME"
SANDBOX_PRIVATE_KEY = "COINSWARM_SANDBOX_PRIVATE_KEY"
REAL_MONEY_PHASES = (3, 4, 5)


class ModeError(CoinswarmError):
    """A session's configuration mixes modes, or live trading lacks what it needs."""


def check_mode(mode: str, url: str | None) -> None:
    """Refuse a sandbox aimed at the live exchange, and live trading over plain HTTP."""
    if mode not in (SANDBOX, LIVE):
        raise ModeError(f"mode: expected {SANDBOX!r} or {LIVE!r}, found {mode!r}")
    if url is None:
        if mode == LIVE:
            raise ModeError("live: --url is required; the local exchange is for the sandbox")
        return
    parts = urlsplit(url)
    if mode == SANDBOX and parts.hostname in LIVE_HOSTS:
        msg = f"sandbox: {url} is Coinbase's live API; a sandbox never trades real money"
        raise ModeError(msg)
    if mode == LIVE and parts.scheme != "https":
        raise ModeError(f"live: expected an https:// URL, found {url!r}")


def phase_for(mode: str, phase: str | None) -> int:
    """Return the risk phase: the sandbox's 2 by default; live needs 3, 4 or 5 said outright."""
    if phase is None:
        if mode == LIVE:
            raise ModeError("live: choose the real-money risk phase with --phase 3, 4 or 5")
        return 2
    if not phase.isdigit() or int(phase) > 5:
        raise ModeError(f"--phase: expected 0 to 5, found {phase!r}")
    if mode == LIVE and int(phase) not in REAL_MONEY_PHASES:
        raise ModeError(f"live: expected a real-money phase 3, 4 or 5, found {phase}")
    return int(phase)


def credentials_for(mode: str, environ: Mapping[str, str] | None = None) -> CdpCredentials:
    """Return the mode's own key: live reads COINSWARM_COINBASE_*, sandbox COINSWARM_SANDBOX_*."""
    env = os.environ if environ is None else environ
    if mode == LIVE:
        return load_credentials(env)
    names = {ENV_KEY_NAME: SANDBOX_KEY_NAME, ENV_PRIVATE_KEY: SANDBOX_PRIVATE_KEY}
    mapped = {ours: env[theirs] for ours, theirs in names.items() if theirs in env}
    try:
        return load_credentials(mapped, keyring_service="coinswarm-coinbase-sandbox")
    except CoinbaseKeyError as error:
        # Say which variables to set: the sandbox's own, not the live ones mapped onto them.
        text = str(error)
        for ours, theirs in names.items():
            text = text.replace(ours, theirs)
        raise CoinbaseKeyError(text) from None


def check_credentials(
    mode: str, credentials: CdpCredentials, environ: Mapping[str, str] | None = None
) -> None:
    """Refuse a sandbox that would sign with the live key, or live with the sandbox's key."""
    env = os.environ if environ is None else environ
    other = env.get(ENV_KEY_NAME if mode == SANDBOX else SANDBOX_KEY_NAME)
    if other is not None and other == credentials.name:
        theirs = LIVE if mode == SANDBOX else SANDBOX
        msg = f"{mode}: the key {credentials.name!r} is also configured as the {theirs} key"
        raise ModeError(msg)


def default_ws_url(rest_url: str) -> str:
    """Return the websocket URL beside a REST URL: Coinbase's own, or the same host."""
    parts = urlsplit(rest_url)
    if parts.hostname in LIVE_HOSTS:
        return "wss://advanced-trade-ws.coinbase.com"
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}"


def confirmation_text(url: str) -> str:
    """Return what a person types to start live trading on `url`."""
    return f"trade real money on {urlsplit(url).hostname}"


def check_confirmation(confirm: str | None, url: str) -> None:
    """Refuse live trading unless `confirm` is exactly the sentence for `url`."""
    expected = confirmation_text(url)
    if confirm != expected:
        raise ModeError(f"live: type the confirmation exactly: {expected!r}")


def check_not_stopped(state_file: Path) -> None:
    """Refuse live trading while the kill switch in `state_file` is set."""
    stops = load_risk_state(state_file).kill_switch.stops
    if stops:
        held = "; ".join(f"{kind}: {reason}" for kind, reason in stops.items())
        raise ModeError(f"live: the kill switch is set ({held}); a person must reset it")


def check_live(
    adapter: CoinbaseAdapter,
    *,
    confirm: str | None,
    url: str,
    profile: RiskProfile,
    state_file: Path | None,
    resumed: bool = False,
    opening: Opening | None = None,
) -> None:
    """Refuse to start live trading unless every precondition holds; say which one failed.

    A new session must reconcile exactly with its `opening` book (read now when not given):
    the account's balances, its fills before the session history. A resumed one was
    reconciled with its recovered record already (`execution.recovery`), which refuses any
    halting difference.
    """
    check_confirmation(confirm, url)
    if state_file is not None:
        check_not_stopped(state_file)
    adapter.check_permissions(live=True)
    if not resumed:
        _check_reconciled(adapter, profile, opening or read_opening(adapter))


def _check_reconciled(adapter: CoinbaseAdapter, profile: RiskProfile, opening: Opening) -> None:
    """Reconcile the exchange against the opening book: any difference halts.

    The account's history is no difference (the opening book is what it left); what still
    refuses is anything the opening read does not explain: an open order (not ours: the
    session has none yet), a fill or a balance change since that read.
    """
    instruments: dict[str, Instrument] = dict(adapter.instruments())
    allowed = profile.allowed_instruments
    if allowed:
        instruments = {s: i for s, i in instruments.items() if s in allowed}
    quotes = {i.quote for i in instruments.values()} or {"USD"}
    quote = sorted(quotes)[0]
    ledger = Ledger(instruments, quote)
    opening.book(ledger, quote, 0)
    report = reconcile(adapter, ledger, {}, instruments=instruments, ts=0, history=opening.history)
    # Any difference counts at start, even one a running session would only record (coins
    # deposited from outside): live trading begins from a book that matches the exchange's.
    if not report.clean:
        found = "; ".join(report.lines())
        raise ModeError(f"live: reconciliation at start failed: {found}")
