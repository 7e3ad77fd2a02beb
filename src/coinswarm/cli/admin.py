"""The commands that look after storage: db upgrade, audit verify."""

from __future__ import annotations

import typer

from coinswarm.cli._shared import DbOption, audit_app, db_app, fail, stdout
from coinswarm.domain.errors import CoinswarmError

# The database (sqlalchemy, alembic) loads inside each command: `--help` needs none of it.


@db_app.command("upgrade")
def db_upgrade(db: DbOption = None) -> None:
    """Bring the database to the newest migration (creating it if it is empty)."""
    from coinswarm.infra.storage import resolve_url, upgrade  # noqa: PLC0415

    try:
        revision = upgrade(resolve_url(db))
    except (CoinswarmError, OSError) as error:
        raise fail(error) from None
    stdout.print(f"database at revision {revision}", markup=False, highlight=False)


@audit_app.command("verify")
def audit_verify(db: DbOption = None) -> None:
    """Walk the audit chain, then check its anchors (exit 1 when broken or an anchor disagrees).

    Each entry's hash and its link to the entry before are checked; then the anchor file and
    each run's record must still find the entry they anchor, with the hash they hold. Set
    COINSWARM_AUDIT_KEY to check the anchors' signatures too.
    """
    from coinswarm import bootstrap  # noqa: PLC0415
    from coinswarm.infra.audit_anchor import verify  # noqa: PLC0415

    try:
        with bootstrap.open_store(db) as store:
            report = verify(store.engine)
    except (CoinswarmError, OSError) as error:
        raise fail(error) from None
    for line in report.lines():
        stdout.print(line, markup=False, highlight=False, soft_wrap=True)
    if not report.ok:
        raise typer.Exit(1)


@audit_app.command("anchor")
def audit_anchor(db: DbOption = None) -> None:
    """Write the anchor file afresh at the chain's head (after a lost or damaged file).

    Refused (exit 2) unless the chain holds and every run's anchor agrees with it.
    """
    from coinswarm import bootstrap  # noqa: PLC0415
    from coinswarm.infra.audit_anchor import reanchor  # noqa: PLC0415

    try:
        with bootstrap.open_store(db) as store:
            anchor = reanchor(store.engine)
    except (CoinswarmError, OSError) as error:
        raise fail(error) from None
    line = f"anchor file written at entry {anchor.seq}, hash {anchor.hash}"
    stdout.print(line, markup=False, highlight=False, soft_wrap=True)
