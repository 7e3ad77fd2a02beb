"""`--config FILE` and `coinswarm config show|init`: the configuration file at work.

The root callback reads `coinswarm.toml` (or `--config FILE`, or `COINSWARM_CONFIG`) before
any command runs and hands its values to click as the context's `default_map`: click then
takes each option from the command line, else from its `COINSWARM_*` variable, else from the
file, else from the built-in default. A bad file stops every command with one `error:` line.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit

import typer

from coinswarm.cli._config import (
    CONFIG_FILE,
    CONFIG_VARIABLE,
    SECRET_KEY,
    ConfigError,
    ConfigFile,
    find_config,
    load_config,
)
from coinswarm.cli._options import CommandPath, CommandSpec, OptionSpec, describe
from coinswarm.cli._shared import UsageError, app, config_app, fail, stdout

_LOADED = "coinswarm.config"  # the key of the checked file in the context's shared `meta`

TEMPLATE = """\
## coinswarm.toml: the values your flags would hold, read from the working folder (or from
## --config FILE, or COINSWARM_CONFIG). A flag, then an option's COINSWARM_* variable, win
## over this file; it wins over the built-in defaults. See what a command would use, and where
## each value comes from: coinswarm config show --command backtest
##
## A key is the flag without its dashes; --param KEY=VALUE is a [COMMAND.params] table.
## Relative paths, and sqlite:/// URLs, are read from this file's folder. Secrets (API keys,
## passwords) never go here: they stay in their COINSWARM_* variables or the keyring.
## Uncomment what you use.

## Every command that takes one of these options:
# [defaults]
# db = "sqlite:///coinswarm.db"
# fee_bps = 60
# slippage_bps = "model"

# [backtest]
# data = ["BTC_USDT-1h.csv.gz", "ETH_USDT-1h.csv.gz"]
# start = "2021-01-01"
# strategy = "sma-cross"
# phase = "default"
# cash = 10000
# quiet = true

# [backtest.params]
# fast = 20
# slow = 50

# [paper]
# speed = "max"
# strategy = "committee"

# [sandbox]
# bar_seconds = 1.0
# warmup = 300

# [risk.status]
# mode = "paper"
"""


@app.callback()
def configure(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            envvar=CONFIG_VARIABLE,
            help=f"configuration file (default: {CONFIG_FILE} in the working folder, if any)",
        ),
    ] = None,
) -> None:
    """Read the configuration file, if there is one, before the command runs."""
    path = find_config(config)
    if path is None:
        return
    try:
        loaded = load_config(path, describe(app))
    except ConfigError as error:
        raise fail(error) from None
    ctx.default_map = loaded.default_map()
    ctx.meta[_LOADED] = loaded


@config_app.command("show")
def config_show(
    ctx: typer.Context,
    command: Annotated[
        str | None,
        typer.Option(
            help="one command ('backtest', 'risk status'): every value it would use; "
            "default: what the file and the variables set, for every command"
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Print the values a command would use and where each comes from (no secrets)."""
    commands = describe(app)
    loaded: ConfigFile | None = ctx.meta.get(_LOADED)
    try:
        chosen = _chosen(commands, command)
    except UsageError as error:
        raise fail(error) from None
    shown = {
        " ".join(spec.path): rows
        for spec in chosen
        if (rows := _rows(spec, loaded, every=command is not None))
    }
    if as_json:
        answer = {"config": None if loaded is None else str(loaded.path), "commands": shown}
        typer.echo(json.dumps(answer, sort_keys=True))
        return
    _print(loaded, shown)


def _chosen(commands: dict[CommandPath, CommandSpec], command: str | None) -> list[CommandSpec]:
    if command is None:
        return list(commands.values())
    path = tuple(command.replace(".", " ").split())
    if path not in commands:
        known = ", ".join(" ".join(p) for p in commands)
        raise UsageError(f"--command: expected one of {known}, found {command!r}")
    return [commands[path]]


def _rows(spec: CommandSpec, loaded: ConfigFile | None, *, every: bool) -> dict[str, Any]:
    values = {} if loaded is None else loaded.values.get(spec.path, {})
    origins = {} if loaded is None else loaded.origins.get(spec.path, {})
    rows: dict[str, Any] = {}
    for key, option in spec.options.items():
        variable = option.envvar and os.environ.get(option.envvar)
        if variable:
            value, source = variable, f"env {option.envvar}"
        elif option.name in values:
            value, source = values[option.name], str(origins[option.name])
        elif every:
            value, source = option.default, "default"
        else:
            continue
        rows[key] = {"value": _masked(option, _plain(value)), "source": source}
    return rows


def _plain(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _masked(option: OptionSpec, value: Any) -> Any:
    """Return the value with anything secret hidden: a URL's password, a key-like option."""
    if isinstance(value, list):
        return [_masked(option, item) for item in value]
    if not isinstance(value, str):
        return value
    if SECRET_KEY.search(option.key) or "-----BEGIN" in value:
        return "****"
    return _without_password(value)


def _without_password(text: str) -> str:
    if "://" not in text:
        return text
    try:
        parts = urlsplit(text)
        password = parts.password
    except ValueError:
        return re.sub(r"//[^@/]*@", "//****@", text)
    if not password:
        return text
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:****@{host}"))


def _print(loaded: ConfigFile | None, shown: dict[str, Any]) -> None:
    where = str(loaded.path) if loaded is not None else f"none (no {CONFIG_FILE} here)"
    stdout.print(f"configuration file: {where}", markup=False, highlight=False)
    if not shown:
        stdout.print("every command uses its built-in defaults", markup=False, highlight=False)
    for name, rows in shown.items():
        stdout.print(f"coinswarm {name}", markup=False, highlight=False)
        cells = [(key, _cell(row["value"]), row["source"]) for key, row in rows.items()]
        key_width = max(len(key) for key, _, _ in cells)
        value_width = min(max(len(value) for _, value, _ in cells), 60)
        for key, value, source in cells:
            line = f"  {key:<{key_width}}  {value:<{value_width}}  {source}"
            stdout.print(line, markup=False, highlight=False, soft_wrap=True)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(_cell(item) for item in value) or "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@config_app.command("init")
def config_init(
    path: Annotated[Path, typer.Argument(help="where to write it")] = Path(CONFIG_FILE),
) -> None:
    """Write a commented configuration file to start from; an existing file is kept."""
    try:
        with path.open("x", encoding="utf-8") as file:
            file.write(TEMPLATE)
    except FileExistsError:
        raise fail(UsageError(f"{path} exists already; it is left as it is")) from None
    except OSError as error:
        raise fail(error) from None
    stdout.print(f"wrote {path}: uncomment what you use", markup=False, highlight=False)
