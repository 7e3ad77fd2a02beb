"""Find a user's strategy class: in a Python file (`path/to/file.py:ClassName`), or in an
installed package that declares it under the `coinswarm.strategies` entry-point group.

Loading imports the user's code, which happens before any bar is shown and outside the fence;
the instance is then built inside the fence and every call of `on_bar` runs fenced, exactly as
for the built-in strategies.

A loaded strategy is named by a *pinned* spec that says exactly which code ran: a file's
absolute path, class and the SHA-256 of its bytes (`/abs/x.py:Breakout@sha256:<hex>`), or an
entry point's name with its distribution and version (`breakout@my-pkg==1.2`). The pinned spec
goes into the run's identity, its stored inputs and its session journal, so `resume` and
`replay` load the same code again, and refuse, naming both digests, if the file has changed.
"""

from __future__ import annotations

import hashlib
import inspect
import re
import sys
import traceback
import types
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

from pydantic import BaseModel

from coinswarm.domain.errors import CoinswarmError

__all__ = [
    "ENTRY_POINT_GROUP",
    "InvalidStrategyError",
    "LoadedStrategy",
    "installed_strategies",
    "is_file_spec",
    "load_entry_point",
    "load_file",
]

ENTRY_POINT_GROUP = "coinswarm.strategies"
PARAMETERS_ATTRIBUTE = "Parameters"
_DIGEST_MARK = "@sha256:"
_VERSION_MARK = "@"
# Modules made from users' files are cached by path and content: the same bytes are one
# module (a live shadow builds a second instance of the session's class, not a second class).
_MODULE_PREFIX = "coinswarm_user_strategy_"


class InvalidStrategyError(CoinswarmError, ValueError):
    """An unknown strategy, one that cannot be loaded, or a parameter it does not accept."""


@dataclass(frozen=True, slots=True)
class LoadedStrategy:
    """A user's strategy class, where it came from, and the parameters type it takes."""

    pinned: str
    label: str
    cls: type
    parameters: type[BaseModel] | None


def is_file_spec(spec: str) -> bool:
    """Return whether `spec` names a file (`path.py:Class`) rather than a registered name."""
    path = spec.partition(_DIGEST_MARK)[0].rpartition(":")[0] or spec
    return path.endswith(".py") or "/" in spec or "\\" in spec


def load_file(spec: str) -> LoadedStrategy:
    """Import the class `spec` names (`path/to/file.py:ClassName`, optionally pinned).

    Refused with one sentence: no such file, a syntax error (with its line), an import that
    raises (with the line of the file), no such class, or a class that is not a strategy. A
    pinned spec whose file no longer has the pinned digest is refused, naming both digests.
    """
    text, _, pinned_digest = spec.partition(_DIGEST_MARK)
    where, colon, class_name = text.rpartition(":")
    if not colon or not where.endswith(".py") or not class_name.isidentifier():
        msg = f"--strategy: expected path/to/file.py:ClassName, found {spec!r}"
        raise InvalidStrategyError(msg)
    path = Path(where).expanduser().resolve()
    if not path.is_file():
        msg = f"strategy file {where} not found"
        raise InvalidStrategyError(msg)
    source = path.read_bytes()
    digest = hashlib.sha256(source).hexdigest()
    if pinned_digest and digest != pinned_digest:
        msg = (
            f"strategy file {path} changed since the run: its sha256 is now {digest}, "
            f"the run used {pinned_digest}; restore that file to resume or replay the run"
        )
        raise InvalidStrategyError(msg)
    module = _module(path, source, digest)
    found = getattr(module, class_name, None)
    if found is None:
        candidates = ", ".join(_strategy_classes(module)) or "none"
        msg = f"{where} has no class {class_name} (strategy classes in it: {candidates})"
        raise InvalidStrategyError(msg)
    cls = _check_class(found, f"{where}:{class_name}")
    return LoadedStrategy(
        pinned=f"{path}:{class_name}{_DIGEST_MARK}{digest}",
        label=f"{path.name}:{class_name}",
        cls=cls,
        parameters=_parameters_type(cls, f"{where}:{class_name}"),
    )


def installed_strategies() -> dict[str, EntryPoint]:
    """Return every strategy that installed packages declare, by entry-point name."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def load_entry_point(spec: str) -> LoadedStrategy | None:
    """Load the strategy an installed package declares as `spec` (optionally pinned), or None.

    A pinned spec (`name@dist==version`) is refused if that distribution's installed version
    is another one.
    """
    name, _, pinned_version = spec.partition(_VERSION_MARK)
    entry = installed_strategies().get(name)
    if entry is None:
        return None
    dist = entry.dist
    version = "" if dist is None else f"{dist.name}=={dist.version}"
    if pinned_version and version != pinned_version:
        msg = (
            f"strategy {name} now comes from {version or 'an unknown distribution'}, "
            f"the run used {pinned_version}; install that version to resume or replay the run"
        )
        raise InvalidStrategyError(msg)
    label = f"{name} ({entry.value})"
    try:
        found = entry.load()
    except Exception as exc:  # the package's own import failed: say which and why
        msg = f"strategy {label}: importing it raised {type(exc).__name__}: {exc}"
        raise InvalidStrategyError(msg) from None
    cls = _check_class(found, label)
    return LoadedStrategy(
        pinned=f"{name}{_VERSION_MARK}{version}" if version else name,
        label=name,
        cls=cls,
        parameters=_parameters_type(cls, label),
    )


def _module(path: Path, source: bytes, digest: str) -> types.ModuleType:
    stem = re.sub(r"\W", "_", path.stem)
    name = f"{_MODULE_PREFIX}{stem}_{digest[:16]}"
    cached = sys.modules.get(name)
    if cached is not None and getattr(cached, "__file__", None) == str(path):
        return cached
    try:
        # Compiled from the bytes just digested: the code that runs is the code identified.
        code = compile(source, str(path), "exec")
    except SyntaxError as exc:
        msg = f"{path}, line {exc.lineno}: syntax error: {exc.msg}"
        raise InvalidStrategyError(msg) from None
    module = types.ModuleType(name)
    module.__file__ = str(path)
    # Registered before it runs, as importlib does: dataclasses and pickling look it up.
    sys.modules[name] = module
    try:
        exec(code, module.__dict__)  # noqa: S102 - importing the user's own strategy file
    except Exception as exc:
        del sys.modules[name]
        line = _line_in(exc, str(path))
        where = f"{path}, line {line}" if line else str(path)
        msg = f"{where}: importing the strategy file raised {type(exc).__name__}: {exc}"
        raise InvalidStrategyError(msg) from None
    return module


def _line_in(exc: BaseException, filename: str) -> int | None:
    """Return the line of `filename` deepest in the traceback of `exc`, if any."""
    lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if f.filename == filename]
    return lines[-1] if lines else None


def _is_strategy_class(thing: object) -> bool:
    return (
        inspect.isclass(thing)
        and callable(getattr(thing, "on_bar", None))
        and isinstance(getattr(thing, "name", None), str)
    )


def _strategy_classes(module: types.ModuleType) -> list[str]:
    return sorted(
        name
        for name, thing in vars(module).items()
        if _is_strategy_class(thing) and getattr(thing, "__module__", None) == module.__name__
    )


def _check_class(found: object, label: str) -> type:
    if not inspect.isclass(found):
        msg = f"{label} is a {type(found).__name__}, not a strategy class"
        raise InvalidStrategyError(msg)
    if not _is_strategy_class(found):
        msg = (
            f"{label} is not a strategy: expected a class with a `name` (a str) and an "
            "`on_bar(bar, context)` method returning a list of orders (coinswarm.strategies."
            "Strategy)"
        )
        raise InvalidStrategyError(msg)
    return found


def _parameters_type(cls: type, label: str) -> type[BaseModel] | None:
    declared = getattr(cls, PARAMETERS_ATTRIBUTE, None)
    if declared is None:
        return None
    if not (inspect.isclass(declared) and issubclass(declared, BaseModel)):
        msg = (
            f"{label}.{PARAMETERS_ATTRIBUTE} must be a pydantic BaseModel class (the "
            f"parameters --param fills), found {declared!r}"
        )
        raise InvalidStrategyError(msg)
    return declared
