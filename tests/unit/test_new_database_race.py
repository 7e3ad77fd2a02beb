"""Commands that open a new home at the same moment each build its database aside, and the
first finished file wins: nobody deletes another's half-built file, nobody replaces a file
that another already uses, and no building file is left behind."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from sqlalchemy import text

from coinswarm.infra.storage.database import connect
from coinswarm.infra.storage.migrate import head_revision, upgrade

BUILDERS = 4


def _build(url: str, start: multiprocessing.synchronize.Barrier) -> str:
    start.wait()
    return upgrade(url)


def test_concurrent_builders_of_one_new_file_all_get_the_one_database(tmp_path: Path) -> None:
    path = tmp_path / "coinswarm.db"
    url = f"sqlite:///{path}"
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        start = manager.Barrier(BUILDERS)
        with context.Pool(BUILDERS) as pool:
            revisions = pool.starmap(_build, [(url, start)] * BUILDERS)
    assert revisions == [head_revision()] * BUILDERS
    assert sorted(p.name for p in tmp_path.iterdir()) == ["coinswarm.db"]


def test_a_late_builder_keeps_what_the_first_file_already_holds(tmp_path: Path) -> None:
    path = tmp_path / "coinswarm.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    engine = connect(url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE marker (x INTEGER)"))
    engine.dispose()
    assert upgrade(url) == head_revision()
    engine = connect(url)
    with engine.connect() as connection:
        tables = {row[0] for row in connection.execute(text("SELECT name FROM sqlite_master"))}
    engine.dispose()
    assert "marker" in tables
