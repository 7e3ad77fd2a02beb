"""The commands that look after storage: db upgrade, audit verify."""

from __future__ import annotations

import typer

from coinswarm import bootstrap
from coinswarm.cli._shared import DbOption, audit_app, db_app, fail, stdout
from coinswarm.domain.errors import CoinswarmError
from coinswarm.infra.audit import verify
from coinswarm.infra.storage import resolve_url, upgrade


@db_app.command("upgrade")
def db_upgrade(db: DbOption = None) -> None:
    """Bring the database to the newest migration (creating it if it is empty)."""
    try:
        revision = upgrade(resolve_url(db))
    except (CoinswarmError, OSError) as error:
        raise fail(error) from None
    stdout.print(f"database at revision {revision}", markup=False, highlight=False)


@audit_app.command("verify")
def audit_verify(db: DbOption = None) -> None:
    """Walk the audit chain and report the first broken entry, if any (exit 1 when broken)."""
    try:
        with bootstrap.open_store(db) as store:
            report = verify(store.engine)
    except (CoinswarmError, OSError) as error:
        raise fail(error) from None
    stdout.print(str(report), markup=False, highlight=False, soft_wrap=True)
    if not report.ok:
        raise typer.Exit(1)
