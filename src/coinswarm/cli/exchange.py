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
    from coinswarm.exchanges.local_coinbase import Venue

# The local exchange (fastapi, uvicorn, cryptography) loads when it is served, not for `--help`.


def _venue(data: list[Path], cash: Decimal) -> Venue:
    from coinswarm import bootstrap  # noqa: PLC0415
    from coinswarm.domain.instrument import instrument_from_symbol  # noqa: PLC0415
    from coinswarm.exchanges.local_coinbase import Venue  # noqa: PLC0415

    market = bootstrap.load_market(bootstrap.BacktestRequest(data=tuple(data)))
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
    """Serve a Coinbase Advanced Trade compatible exchange over HTTPS until stopped."""
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
        _write_secret(key_out, key.to_json())
        tls = make_tls_files(folder)
        shutil.copyfile(tls.ca_cert, cert_out)
        server = serve_in_thread(create_app(venue, keys, control_api=control), port=port, tls=tls)
    except (CoinswarmError, OSError, RuntimeError) as error:
        shutil.rmtree(folder, ignore_errors=True)
        raise fail(error) from None
    replay = threading.Thread(target=_replay, args=(venue, bar_seconds, stop), daemon=True)
    replay.start()
    for stop_signal in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C or a service manager
        signal.signal(stop_signal, lambda *_: stop.set())
    stdout.print(f"REST: {server.base_url}/api/v3/brokerage", markup=False, highlight=False)
    stdout.print(f"key: {key_out} (name {key.name})", markup=False, highlight=False)
    stdout.print(f"trust: {cert_out}", markup=False, highlight=False)
    stdout.print("serving until stopped (Ctrl-C)", markup=False, highlight=False)
    try:
        stop.wait()
        stdout.print("stopping", markup=False, highlight=False)
    finally:
        stop.set()
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
