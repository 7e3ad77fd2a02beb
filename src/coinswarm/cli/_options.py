"""The options every command declares, read from its function the way typer reads them.

The configuration file is checked against these, so the commands are its schema. They are
read from the functions' signatures, not from click's objects: `coinswarm backtest` builds
only the backtest command (cli/__init__.py), and building every command's click options just
to check a file would cost more than the check. tests/unit/test_config_file.py compares what
this reads with the options typer builds, for every command.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import typer
from typer.main import get_command_name
from typer.models import ArgumentInfo, OptionInfo

__all__ = ["PARAMS", "CommandPath", "CommandSpec", "OptionSpec", "describe"]

PARAMS = "params"  # how the file names the repeated `--param KEY=VALUE`: a table
_PARAM_OPTION = "param"

CommandPath = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class OptionSpec:
    """One option of a command as the file may set it."""

    name: str  # the command function's parameter: the key of click's default_map
    key: str  # how the file spells it: the long flag without dashes, `_` for `-`
    flag: str
    kind: type | None  # str, int, float, bool or Path; None: a type this module does not know
    many: bool
    low: float | None
    high: float | None
    envvar: str | None
    default: Any
    undoable: bool  # a flag can give back what the file set: False for a switch with no --no-


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """A leaf command and its options, by the key the file uses."""

    path: CommandPath
    options: Mapping[str, OptionSpec]

    @property
    def title(self) -> str:
        return "coinswarm " + " ".join(self.path)


def describe(app: typer.Typer) -> dict[CommandPath, CommandSpec]:
    """Return every leaf command of `app` with the options it declares."""
    return {path: _spec(path, callback) for path, callback in _leaves(app, ())}


def _leaves(
    app: typer.Typer, path: CommandPath
) -> Iterator[tuple[CommandPath, Callable[..., Any]]]:
    for command in app.registered_commands:
        if command.callback is not None:
            name = command.name or get_command_name(command.callback.__name__)
            yield (*path, name), command.callback
    for group in app.registered_groups:
        sub = group.typer_instance
        if sub is None:
            continue
        group_name = group.name if isinstance(group.name, str) else sub.info.name
        if isinstance(group_name, str):
            yield from _leaves(sub, (*path, group_name))


def _spec(path: CommandPath, callback: Callable[..., Any]) -> CommandSpec:
    hints = typing.get_type_hints(callback, include_extras=True)
    options: dict[str, OptionSpec] = {}
    for name, parameter in inspect.signature(callback).parameters.items():
        option = _option(name, parameter, hints.get(name))
        if option is not None:
            options[option.key] = option
    return CommandSpec(path, options)


def _option(name: str, parameter: inspect.Parameter, annotation: Any) -> OptionSpec | None:
    info: Any = None
    default = parameter.default
    declared: list[str] = []
    if typing.get_origin(annotation) is typing.Annotated:
        annotation, *extras = typing.get_args(annotation)
        info = next((e for e in extras if isinstance(e, OptionInfo | ArgumentInfo)), None)
        if isinstance(info, OptionInfo) and info.default is not ...:
            # Inside Annotated, Option's first positional is a flag, not a default (typer).
            declared.append(str(info.default))
    elif isinstance(default, OptionInfo | ArgumentInfo):
        info, default = default, default.default
    if isinstance(info, ArgumentInfo) or _is_context(annotation):
        return None
    if info is None and default is inspect.Parameter.empty:
        return None  # typer makes a plain parameter without a default an argument
    kind, many = _kind(annotation)
    declared.extend(getattr(info, "param_decls", None) or ())
    primary, secondary = _flags(name, kind, declared)
    flag = next((opt for opt in primary if opt.startswith("--")), f"--{name}")
    key = PARAMS if name == _PARAM_OPTION else flag[2:].replace("-", "_")
    envvar = getattr(info, "envvar", None)
    return OptionSpec(
        name=name,
        key=key,
        flag=flag,
        kind=kind,
        many=many,
        low=getattr(info, "min", None),
        high=getattr(info, "max", None),
        envvar=envvar if isinstance(envvar, str) else None,
        default=None if default in (inspect.Parameter.empty, ...) else default,
        undoable=kind is not bool or bool(secondary),
    )


def _is_context(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, typer.Context)


def _flags(name: str, kind: type | None, declared: list[str]) -> tuple[list[str], list[str]]:
    """Return the option's flags and its `--no-` flags, by typer's rule for declaring them."""
    if not declared:
        dashed = name.replace("_", "-")
        declared = [f"--{dashed}/--no-{dashed}" if kind is bool else f"--{dashed}"]
    primary: list[str] = []
    secondary: list[str] = []
    for declaration in declared:
        first, slash, second = declaration.partition("/")
        if first.strip().startswith("-"):
            primary.append(first.strip())
        if slash:
            secondary.append(second.strip())
    return primary, secondary


def _kind(annotation: Any) -> tuple[type | None, bool]:
    """Return the option's value type and whether it repeats."""
    many = False
    if typing.get_origin(annotation) in (Union, types.UnionType):
        rest = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        annotation = rest[0] if len(rest) == 1 else None
    if typing.get_origin(annotation) is list:
        many, annotation = True, (typing.get_args(annotation) or (None,))[0]
    if isinstance(annotation, type) and issubclass(annotation, Path):
        return Path, many
    if annotation in (str, int, float, bool):
        return annotation, many
    return None, many
