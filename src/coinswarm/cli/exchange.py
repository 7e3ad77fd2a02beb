"""`coinswarm exchange serve`: the local Coinbase-compatible exchange, for demos and sandboxes."""

from __future__ import annotations

import shutil
import signal
import tempfile
import threading
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from coinswarm.cli._shared import data_files, decimal_option, exchange_app, fail, stdout
from coinswarm.domain.errors import CoinswarmError

if TYPE_CHECKING:
    from coinswarm.domain.bar import BarSeries
    from coinswarm.exchanges.local_coinbase import Venue

# The local exchange (fastapi, uvicorn, cryptography) loads when it is served, not for `--help`.

# The products the README's examples trade (`sandbox --url URL --product BTC-USD`), at price
# levels like theirs, so that a copied command finds its product.
DEMO_PRODUCTS = {"BTC-USD": 20_000.0, "ETH-USD": 1_500.0}


def _say(line: str) -> None:
    # soft_wrap: a key name or a path longer than the terminal stays on one line, whole, so
    # that copying it copies all of it.
    stdout.print(line, markup=False, highlight=False, soft_wrap=True)


def _market(data: list[Path]) -> list[BarSeries]:
    from coinswarm import bootstrap  # noqa: PLC0415 - keep start-up light
    from coinswarm.data import synthetic_universe  # noqa: PLC0415

    if data:
        return bootstrap.load_market(bootstrap.BacktestRequest(data=tuple(data)))
    universe = synthetic_universe(
        DEMO_PRODUCTS, bars=bootstrap.SYNTHETIC_BARS, seed=bootstrap.SYNTHETIC_SEED
    )
    return list(universe)


def _venue(data: list[Path], cash: Decimal) -> Venue:
    from coinswarm.domain.instrument import instrument_from_symbol  # noqa: PLC0415
    from coinswarm.exchanges.local_coinbase import Venue  # noqa: PLC0415

    market = _market(data)
    instruments = {s.instrument: instrument_from_symbol(s.instrument) for s in market}
    quotes = {i.quote for i in instruments.values()}
    return Venue(instruments, market, balances=dict.fromkeys(quotes, cash))


def _write_secret(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)  # a key file is a secret: readable by its owner only
    path.write_text(text, encoding="utf-8")


def _replay(venue: Venue, every_s: float, stop: threading.Event) -> None:
    while not stop.wait(every_s):
        venue.advance(1)


@exchange_app.command("serve")
def serve(
    *,
    port: Annotated[
        int, typer.Option(help="port on 127.0.0.1 (0: any free port)", min=0, max=65535)
    ] = 8443,
    data: Annotated[
        list[Path] | None, typer.Option(help="bars to replay; default: the synthetic market")
    ] = None,
    key_out: Annotated[Path, typer.Option(help="write the CDP-style API key here")] = Path(
        "local-coinbase-key.json"
    ),
    cert_out: Annotated[Path, typer.Option(help="write the CA certificate to trust here")] = Path(
        "local-coinbase-ca.pem"
    ),
    cash: Annotated[str, typer.Option(help="starting balance in the quote currency")] = "100000",
    bar_seconds: Annotated[
        float, typer.Option(help="reveal one more bar every this many seconds", min=0.01)
    ] = 1.0,
    control: Annotated[bool, typer.Option(help="enable the test-only control API")] = False,
) -> None:
    """Serve a Coinbase Advanced Trade compatible exchange over HTTPS until stopped.

    Without --data it replays a synthetic market of BTC-USD and ETH-USD hourly bars.
    """
    from coinswarm.exchanges.local_coinbase import (  # noqa: PLC0415
        KeyRing,
        create_app,
        generate_key,
        make_tls_files,
        serve_in_thread,
    )

    stop = threading.Event()
    folder = Path(tempfile.mkdtemp(prefix="coinswarm-exchange-"))
    try:
        venue = _venue(list(data_files(data)), decimal_option(cash, "--cash", positive=True))
        key = generate_key()
        keys = KeyRing()
        keys.add(key)
        tls = make_tls_files(folder)
        # Listen first: a port in use then leaves no key file and no certificate behind.
        server = serve_in_thread(create_app(venue, keys, control_api=control), port=port, tls=tls)
    except (CoinswarmError, OSError, RuntimeError) as error:
        shutil.rmtree(folder, ignore_errors=True)
        raise fail(error) from None
    try:
        _write_secret(key_out, key.to_json())
        shutil.copyfile(tls.ca_cert, cert_out)
    except OSError as error:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
        raise fail(error) from None
    replay = threading.Thread(target=_replay, args=(venue, bar_seconds, stop), daemon=True)
    replay.start()
    for stop_signal in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C or a service manager
        signal.signal(stop_signal, lambda *_: stop.set())
    _say(f"REST: {server.base_url}/api/v3/brokerage")
    _say(f"products: {', '.join(i.symbol for i in venue.instruments())}")
    _say(f"key: {key_out}")
    _say(f"key name: {key.name}")
    _say(f"trust: {cert_out}")
    _say("serving until stopped (Ctrl-C)")
    try:
        stop.wait()
        _say("stopping")
    finally:
        stop.set()
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
