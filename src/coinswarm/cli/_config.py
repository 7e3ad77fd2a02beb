"""The configuration file, `coinswarm.toml`: read, checked against the commands, merged.

The file holds what the flags hold, in tables named after the commands, plus `[defaults]` for
every command that takes an option:

    [defaults]
    db = "sqlite:///coinswarm.db"
    fee_bps = 10
    [backtest]
    data = ["BTC_USDT-1h.csv.gz"]
    strategy = "committee"
    [backtest.params]
    fast = 10
    [risk.status]
    mode = "paper"

A key is an option's long flag without its dashes (`-` or `_` alike); `--param KEY=VALUE`
becomes a `params` table. The commands themselves are the schema: an option's Python type
(text, whole number, number, switch, path, a list of one of these) and its bounds decide what
the file may hold, so an option added to a command can be set in the file with no change here.
Values are checked before any command runs, with the messages the flags give, and every error
names the file, the line and the key. Relative paths (and `sqlite:///` URLs) are read from the
file's folder. Secrets never go in the file: a key that names one, a private key, a URL with a
password, or the sentence that confirms real-money trading is refused.

The merged values become the click context's `default_map`, so a flag and an option's
`COINSWARM_*` variable still win over the file, and the file over the built-in default.
"""

from __future__ import annotations

import difflib
import re
import tomllib
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from coinswarm.cli._options import PARAMS, CommandPath, CommandSpec, OptionSpec
from coinswarm.cli._shared import UsageError, decimal_option, replay_speed
from coinswarm.cli._toml_lines import key_lines

__all__ = [
    "CONFIG_FILE",
    "CONFIG_VARIABLE",
    "DEFAULTS",
    "SECRET_KEY",
    "ConfigError",
    "ConfigFile",
    "Origin",
    "find_config",
    "load_config",
]

CONFIG_FILE = "coinswarm.toml"
CONFIG_VARIABLE = "COINSWARM_CONFIG"
DEFAULTS = "defaults"

SECRET_KEY = re.compile(r"private_?key|secret|password|passphrase|token|api_?key|key_name", re.I)
_SQLITE_RELATIVE = re.compile(r"^(sqlite(?:\+\w+)?:///)(?!/|:memory:)(.+)$")


class ConfigError(UsageError):
    """The configuration file cannot be used: it names the file, the line and the key."""


@dataclass(frozen=True, slots=True)
class Origin:
    """Where in the file a value was set."""

    file: str
    line: int | None
    table: str

    def __str__(self) -> str:
        return self.file if self.line is None else f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class ConfigFile:
    """A checked configuration file: each command's values and where each was set."""

    path: Path
    values: Mapping[CommandPath, Mapping[str, Any]]  # by option name, as click takes them
    origins: Mapping[CommandPath, Mapping[str, Origin]]

    def default_map(self) -> dict[str, Any]:
        """Return the values nested by command and subcommand, as click's `default_map`."""
        nested: dict[str, Any] = {}
        for path, values in self.values.items():
            level = nested
            for name in path:
                level = level.setdefault(name, {})
            level.update(values)
        return nested


def find_config(explicit: Path | None, folder: Path | None = None) -> Path | None:
    """Return the file to read: the one given, else `coinswarm.toml` in the working folder."""
    if explicit is not None:
        return explicit
    candidate = Path(CONFIG_FILE) if folder is None else folder / CONFIG_FILE
    return candidate if candidate.is_file() else None


def _normal(key: str) -> str:
    return key.replace("-", "_")


def load_config(path: Path, commands: Mapping[CommandPath, CommandSpec]) -> ConfigFile:
    """Read and check the file at `path`; raise `ConfigError` at the first thing wrong."""
    text = _read(path)
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        line = re.search(r"at line (\d+)", str(error))
        where = f"{path}:{line.group(1)}" if line else str(path)
        raise ConfigError(f"{where}: not valid TOML: {error}") from None
    return _Reader(path, key_lines(text), commands).read(document)


def _read(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not valid TOML: expected UTF-8 text") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the configuration file: {error}") from None


class _Reader:
    """Walks one parsed file: tables to commands, keys to options, values to click's."""

    def __init__(
        self,
        path: Path,
        lines: Mapping[CommandPath, int],
        commands: Mapping[CommandPath, CommandSpec],
    ) -> None:
        self._path = path
        self._folder = path.resolve().parent
        self._lines = lines
        self._commands = commands
        self._values: dict[CommandPath, dict[str, Any]] = {}
        self._origins: dict[CommandPath, dict[str, Origin]] = {}

    def read(self, document: dict[str, Any]) -> ConfigFile:
        defaults = document.pop(DEFAULTS, {})
        if not isinstance(defaults, dict):
            raise self._error((DEFAULTS,), "expected a table of options")
        self._defaults(defaults)
        self._tables(document, ())
        return ConfigFile(self._path, self._values, self._origins)

    def _defaults(self, table: dict[str, Any]) -> None:
        for key, value in self._keys(table, (DEFAULTS,)).items():
            takers = [spec for spec in self._commands.values() if key in spec.options]
            if not takers:
                raise self._error((DEFAULTS, key), f"no command takes the option {key!r}")
            for spec in takers:
                self._set(spec, key, value, (DEFAULTS,))

    def _tables(self, table: dict[str, Any], path: CommandPath) -> None:
        for name, value in table.items():
            here = (*path, name)
            spec = self._commands.get(here)
            if spec is not None:
                if not isinstance(value, dict):
                    raise self._error(here, "expected a table of the command's options")
                for key, item in self._keys(value, here).items():
                    self._set(spec, key, item, here)
            elif any(command[: len(here)] == here for command in self._commands):
                if not isinstance(value, dict):
                    raise self._error(here, "expected a table of its commands")
                self._tables(value, here)
            else:
                raise self._error(here, self._unknown_command(here))

    def _unknown_command(self, here: CommandPath) -> str:
        parent = here[:-1]
        siblings = sorted({p[len(parent)] for p in self._commands if p[: len(parent)] == parent})
        if not parent:
            siblings = [DEFAULTS, *siblings]
        hint = _suggest(here[-1], siblings)
        if not hint and parent:
            hint = f" (coinswarm {' '.join(parent)} has: {', '.join(siblings)})"
        return f"unknown command {' '.join(here)!r}{hint}"

    def _keys(self, table: dict[str, Any], where: CommandPath) -> dict[str, Any]:
        """Return the table by normalised key, refusing secrets and a key given twice."""
        keys: dict[str, Any] = {}
        for key, value in table.items():
            if SECRET_KEY.search(_normal(key)):
                raise self._error((*where, key), _secret_message(key))
            normal = _normal(key)
            if normal in keys:
                raise self._error((*where, key), f"{normal!r} is given twice")
            keys[normal] = (key, value)
        return keys

    def _set(self, spec: CommandSpec, key: str, pair: tuple[str, Any], table: CommandPath) -> None:
        written, value = pair
        at = (*table, written)
        option = spec.options.get(key)
        if option is None:
            raise self._error(
                at, f"{spec.title} has no option {key!r}{_suggest(key, spec.options)}"
            )
        if key == "confirm":
            raise self._error(
                at,
                "the sentence that confirms real-money trading is typed each time (or given "
                "with --confirm), never kept in a file",
            )
        try:
            converted = self._convert(option, value)
        except UsageError as error:
            raise self._error(at, str(error)) from None
        self._values.setdefault(spec.path, {})[option.name] = converted
        self._origins.setdefault(spec.path, {})[option.name] = Origin(
            str(self._path), self._line(at), ".".join(table)
        )

    def _convert(self, option: OptionSpec, value: Any) -> Any:
        if not option.undoable:
            raise UsageError(
                f"{option.flag} is a switch with no --no- form, so a flag could not undo it "
                "here: pass it on the command line"
            )
        if option.key == PARAMS:
            return _params(value)
        if option.many:
            items = value if isinstance(value, list) else [value]
            return [self._one(option, item) for item in items]
        if isinstance(value, list):
            raise UsageError(f"expected one value, found a list: {value!r}")
        return self._one(option, value)

    def _one(self, option: OptionSpec, value: Any) -> Any:
        if isinstance(value, dict):
            raise UsageError(f"expected {_expected(option.kind)}, found a table")
        _refuse_secret_value(option, value)
        converted = _typed(option, value)
        if isinstance(converted, int | float) and not isinstance(converted, bool):
            _within(option, converted)
        if option.kind is Path:
            return str(self._folder / Path(str(converted)).expanduser())
        if isinstance(converted, str):
            _check_text(option, converted)
            relative = _SQLITE_RELATIVE.match(converted)
            if relative is not None:
                return f"{relative.group(1)}{self._folder / relative.group(2)}"
        return converted

    def _line(self, at: CommandPath) -> int | None:
        for end in range(len(at), 0, -1):
            found = self._lines.get(at[:end])
            if found is None:
                inside = [line for path, line in self._lines.items() if path[:end] == at[:end]]
                found = min(inside, default=None)
            if found is not None:
                return found
        return None

    def _error(self, at: CommandPath, message: str) -> ConfigError:
        line = self._line(at)
        where = str(self._path) if line is None else f"{self._path}:{line}"
        table, key = at[:-1], at[-1]
        name = f"[{'.'.join(table)}] {key}" if table else f"[{key}]"
        return ConfigError(f"{where}: {name}: {message}")


def _suggest(key: str, choices: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _secret_message(key: str) -> str:
    return (
        f"secrets never go in the configuration file; give {key} through its COINSWARM_* "
        "variable or the keyring"
    )


def _params(value: Any) -> list[str]:
    if not isinstance(value, dict):
        raise UsageError(
            f"expected a table of strategy parameters, like [backtest.params] fast = 10, "
            f"found {value!r}"
        )
    pairs = []
    for key, item in value.items():
        if isinstance(item, dict | list):
            raise UsageError(f"{key}: expected a text, number or true/false, found {item!r}")
        text = ("true" if item else "false") if isinstance(item, bool) else str(item)
        pairs.append(f"{key}={text}")
    return pairs


_EXPECTED: dict[type | None, str] = {
    int: "a whole number",
    float: "a number",
    bool: "true or false",
    Path: "a path",
}


def _expected(kind: type | None) -> str:
    return _EXPECTED.get(kind, "a text or a number")


def _typed(option: OptionSpec, value: Any) -> Any:
    kind = option.kind
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif kind is Path:
        ok = isinstance(value, str) and value != ""
    else:  # text: a number is written as the flag would take it
        ok = isinstance(value, str | int | float) and not isinstance(value, bool)
        value = str(value) if ok else value
    if not ok:
        raise UsageError(f"expected {_expected(kind)}, found {value!r}")
    return float(value) if kind is float else value


def _within(option: OptionSpec, number: float) -> None:
    if option.low is not None and number < option.low:
        raise UsageError(f"expected {option.low} or more, found {number!r}")
    if option.high is not None and number > option.high:
        raise UsageError(f"expected {option.high} or less, found {number!r}")


def _refuse_secret_value(option: OptionSpec, value: Any) -> None:
    if not isinstance(value, str):
        return
    if "-----BEGIN" in value:
        raise UsageError(_secret_message("a private key"))
    if "://" in value:
        try:
            password = urlsplit(value).password
        except ValueError:
            password = None
        if password:
            instead = f"set {option.envvar}" if option.envvar else f"pass it with {option.flag}"
            raise UsageError(
                f"the URL holds a password, and secrets never go in the configuration file: "
                f"{instead} instead"
            )


def _date(text: str, flag: str) -> None:
    """Check a date as `_shared.bound` reads it, without loading `coinswarm.data` to do it."""
    stamp = text if "T" in text or " " in text else f"{text}T00:00:00Z"
    stamp = stamp if stamp.endswith(("Z", "+00:00")) else f"{stamp}Z"
    try:
        offset = datetime.fromisoformat(stamp).utcoffset()
    except ValueError:
        offset = None
    if offset != timedelta(0):
        raise UsageError(f"{flag}: expected a UTC date like 2021-01-31, found {text!r}")


def _slippage(text: str, flag: str) -> None:
    if text.strip().lower() != "model":
        decimal_option(text, flag)


def _phase(text: str, flag: str) -> None:
    if text not in ("none", "default") and not (text.isdigit() and 0 <= int(text) <= 5):
        raise UsageError(f"{flag}: expected 0 to 5, 'none' or 'default', found {text!r}")


def _speed(text: str, flag: str) -> None:
    replay_speed(text, flag)  # the flag's own rule


# The options the commands take as text and parse themselves: the file's value is checked by
# the same rule, so its error names the file's line instead of appearing once the command runs.
_TEXT_CHECKS: dict[str, Callable[[str, str], object]] = {
    "fee_bps": decimal_option,
    "cash": decimal_option,
    "max_volume_share": decimal_option,
    "slippage_bps": _slippage,
    "start": _date,
    "end": _date,
    "phase": _phase,
    "speed": _speed,
}


def _check_text(option: OptionSpec, text: str) -> None:
    check = _TEXT_CHECKS.get(option.key)
    if check is None:
        return
    try:
        check(text, option.flag)
    except UsageError as error:
        raise UsageError(str(error).removeprefix(f"{option.flag}: ")) from None
