"""What storing a backtest costs: the same committee run at --store none, summary and full.

    python benchmarks/bench_storage_levels.py [--data FILE ...] [--start DATE] [--end DATE]
        [--repeat N] [--no-postgres]

By default the run is the README's committee backtest: BTC/USDT and ETH/USDT 1h over the whole
files (2018 to 2023, 52,462 bars), phase 0, the default costs, `--reset-after-days 7`. Each
level runs in a child process of its own (`coinswarm backtest` as `bootstrap.run`, then the
run's folder as the command writes it), on SQLite in a temporary folder and, when a server
answers on 127.0.0.1:5432, on PostgreSQL in a database made for it. It prints, per backend and
level, CPU seconds of the child (best of --repeat), wall seconds, bars per second, the ratio to
none (the engine alone: nothing stored), and the bytes kept: the database (SQLite: its files;
PostgreSQL: its growth) and the run's folder. The goal is full <= 2 x none. On PostgreSQL the
server's own work is not in the child's CPU time: read the wall figures there.
Figures only: nothing is asserted.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from paths import DEFAULT_DATA

LEVELS = ("none", "summary", "full")
PAIRS = (DEFAULT_DATA, DEFAULT_DATA.with_name("ETH_USDT-1h.csv.gz"))


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0


def _sqlite_bytes(url: str) -> int:
    path = Path(url.removeprefix("sqlite:///"))
    return sum(p.stat().st_size for p in (path, path.with_name(path.name + "-wal")) if p.exists())


def _postgres_bytes(url: str) -> int:
    from sqlalchemy import create_engine, text  # noqa: PLC0415

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            size = connection.execute(text("SELECT pg_database_size(current_database())"))
            return int(size.scalar_one())
    finally:
        engine.dispose()


def _bytes(url: str) -> int:
    return _sqlite_bytes(url) if url.startswith("sqlite") else _postgres_bytes(url)


def child(args: argparse.Namespace) -> None:
    """Run one backtest at one level and print its figures as one JSON line."""
    from coinswarm import bootstrap  # noqa: PLC0415
    from coinswarm.cli._shared import bound  # noqa: PLC0415
    from coinswarm.infra.storage import Store  # noqa: PLC0415

    level, url, runs = args.child, args.db, Path(args.runs)
    if level != "none":
        Store.open(url, upgrade=True).close()  # created and migrated before the clock starts
    before = _bytes(url) if level != "none" else 0
    request = bootstrap.BacktestRequest(
        data=tuple(Path(p) for p in args.data),
        start_ns=bound(args.start, "--start"),
        end_ns=bound(args.end, "--end"),
        strategy="committee",
        reset_after_days=7,
        database=url,
        store=level,
    )
    cpu, wall = time.process_time(), time.perf_counter()
    outcome = bootstrap.run(request)
    if level != "none":
        outcome.save(runs)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    figures = {
        "cpu": cpu,
        "wall": wall,
        "bars": outcome.metrics.bars * len(request.data),
        "orders": len(outcome.result.orders),
        "fills": len(outcome.result.fills),
        "db_bytes": (_bytes(url) - before) if level != "none" else 0,
        "runs_bytes": _folder_bytes(runs),
    }
    print(json.dumps(figures))


def _child_command(level: str, database: str, folder: str, args: argparse.Namespace) -> list[str]:
    command = [sys.executable, __file__, "--child", level, "--db", database]
    command += ["--runs", str(Path(folder) / "runs"), "--data", *map(str, args.data)]
    command += [f"--start={args.start}"] if args.start else []
    return command + ([f"--end={args.end}"] if args.end else [])


def _measure(url: str, level: str, args: argparse.Namespace) -> dict[str, float]:
    best: dict[str, float] | None = None
    sqlite = url.startswith("sqlite")
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as folder:
            database = f"sqlite:///{Path(folder) / 'bench.db'}" if sqlite else url
            env = {**os.environ, "COINSWARM_HOME": folder}
            done = subprocess.run(
                _child_command(level, database, folder, args),
                capture_output=True,
                text=True,
                env=env,
                check=False,
            )
            if not sqlite:
                _reset_postgres(url)
            if done.returncode != 0:
                raise RuntimeError(done.stderr.strip().splitlines()[-1])
            figures = json.loads(done.stdout.strip().splitlines()[-1])
        if best is None or figures["cpu"] < best["cpu"]:
            best = figures
    assert best is not None
    return best


def _reset_postgres(url: str) -> None:
    """Empty the benchmark's database, so that each run starts from the same one."""
    from sqlalchemy import create_engine, text  # noqa: PLC0415

    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    finally:
        engine.dispose()


@contextmanager
def _postgresql() -> Iterator[str]:
    import psycopg  # noqa: PLC0415  (only needed when a server is there)
    from psycopg import sql  # noqa: PLC0415

    name = f"coinswarm_bench_{secrets.token_hex(6)}"
    last_error: Exception | None = None
    for user in dict.fromkeys((getpass.getuser(), "postgres")):
        try:
            admin = psycopg.connect(
                host="127.0.0.1", port=5432, dbname="test", user=user, autocommit=True,
                connect_timeout=3,
            )  # fmt: skip
        except psycopg.OperationalError as exc:
            last_error = exc
            continue
        with admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            try:
                yield f"postgresql+psycopg://{user}@127.0.0.1:5432/{name}"
            finally:
                drop = sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name))
                admin.execute(drop)
        return
    raise ConnectionError(f"no PostgreSQL on 127.0.0.1:5432: {last_error}")


def _report(backend: str, url: str, args: argparse.Namespace) -> None:
    measured = {level: _measure(url, level, args) for level in LEVELS}
    engine = measured["none"]
    for level, f in measured.items():
        print(
            f"{backend:<10} {level:<8} {f['bars']:>7,} bars {f['orders']:>5} orders "
            f"{f['fills']:>5} fills  CPU {f['cpu']:6.2f} s  wall {f['wall']:6.2f} s  "
            f"{f['bars'] / f['cpu']:>7,.0f} bars/s  x{f['cpu'] / engine['cpu']:.2f} CPU "
            f"x{f['wall'] / engine['wall']:.2f} wall  db {f['db_bytes'] / 1e6:6.1f} MB  "
            f"folder {f['runs_bytes'] / 1e6:5.2f} MB",
            flush=True,
        )


def main() -> None:
    """Print each level's cost on SQLite, and on PostgreSQL when a server answers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", type=Path, default=list(PAIRS))
    parser.add_argument("--start", default=None)
    parser.add_argument("--end", default=None)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--child", choices=LEVELS, help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--runs", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    missing = [p for p in args.data if not p.is_file()]
    if missing:
        print(f"data not found: {', '.join(map(str, missing))}; pass --data FILE ...")
        return
    print(f"committee, phase 0, {', '.join(p.name for p in args.data)}, best of {args.repeat}")
    with tempfile.TemporaryDirectory() as folder:
        _report("SQLite", f"sqlite:///{Path(folder) / 'unused.db'}", args)
    if args.no_postgres:
        return
    try:
        with _postgresql() as url:
            _report("PostgreSQL", url, args)
    except ConnectionError as exc:
        print(f"PostgreSQL skipped: {exc}")


if __name__ == "__main__":
    main()
