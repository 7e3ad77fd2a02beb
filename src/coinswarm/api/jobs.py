"""Backtests and discovery runs an operator starts from the API, each in a process of its own.

A job is `python -m coinswarm backtest ... --json` (or `evolve`), run without a shell from
arguments checked here first: a strategy by its registered name only (never a file of code),
data files that exist, bounded numbers, parameters the strategy accepts. The API cannot ask
for another risk phase, a risk file or any other limit: a job runs on its command's defaults.
Its database and runs folder are the server's, so its run shows in the API once it is
stored. A child never sees the API's tokens (every COINSWARM_API_* variable is left out).

At most `max_running` jobs run at once (`JobsBusyError` beyond, a 409). A job's status, exit
code, last stderr line and run id (read from its `--json` answer) are kept in memory for the
server's life, the newest `keep` of them. Jobs end when the server does: each gets SIGTERM
(a backtest and a discovery run both stop cleanly on it, keeping what they stored), then,
after `grace_s`, its whole process group is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from coinswarm.api.settings import ServeSettings
from coinswarm.domain.errors import CoinswarmError
from coinswarm.strategies import parameter_model, strategy_names
from coinswarm.strategies.loader import installed_strategies

__all__ = [
    "JOBS",
    "BacktestJob",
    "EvolveJob",
    "JobRefusedError",
    "JobView",
    "Jobs",
    "JobsBusyError",
]

JOBS = "jobs"
"""The Jobs' name in `Services.parts`."""

Status = Literal["running", "finished", "failed", "interrupted", "stopped"]
_INTERRUPTED = 130  # what a command exits with after Ctrl-C or SIGTERM
_STDOUT_LIMIT = 8 * 1024 * 1024  # a --json answer is far smaller; more is not kept
_DATA_SUFFIXES = (".csv", ".csv.gz", ".parquet")

Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,63}$")]
ParamName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]
ParamValue = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f]{1,200}$")]
DataPath = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f]{1,1000}$")]
Moment = Annotated[
    str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2})?(Z|\+00:00)?)?$")
]


class JobRefusedError(CoinswarmError, ValueError):
    """A job whose arguments cannot run as given (a 422: the message names the field)."""


class JobsBusyError(CoinswarmError):
    """As many jobs run as the server allows at once (a 409)."""


class BacktestJob(BaseModel):
    """A backtest: `coinswarm backtest` with a small, checked subset of its options."""

    model_config = ConfigDict(extra="forbid")

    strategy: Name = "sma-cross"
    data: list[DataPath] = Field(default_factory=list, max_length=8)
    """Bar files on the server; none: the synthetic market of `bars` hourly bars."""
    bars: int | None = Field(default=None, ge=2, le=200_000)
    seed: int | None = Field(default=None, ge=0, le=2**32 - 1)
    start: Moment | None = None
    end: Moment | None = None
    params: dict[ParamName, ParamValue] = Field(default_factory=dict, max_length=32)


class EvolveJob(BaseModel):
    """A discovery run: `coinswarm evolve` on a synthetic market (`demo`) or bar files."""

    model_config = ConfigDict(extra="forbid")

    demo: bool = False
    data: list[DataPath] = Field(default_factory=list, max_length=8)
    cycles: int = Field(default=3, ge=1, le=200)
    seed: int = Field(default=0, ge=0, le=2**32 - 1)
    workers: int = Field(default=1, ge=1, le=8)


class JobView(BaseModel):
    """A job as the API shows it."""

    id: str
    kind: Literal["backtest", "evolve"]
    status: Status
    command: list[str]
    """The `coinswarm` arguments it runs with."""
    by: str
    started_ns: int
    ended_ns: int | None
    exit_code: int | None
    run_id: str | None
    last_stderr: str | None


@dataclass
class _Job:
    id: str
    kind: Literal["backtest", "evolve"]
    command: list[str]
    by: str
    started_ns: int
    process: subprocess.Popen[bytes]
    ended_ns: int | None = None
    exit_code: int | None = None
    run_id: str | None = None
    last_stderr: str | None = None
    stopping: bool = False
    done: threading.Event = field(default_factory=threading.Event)

    def view(self) -> JobView:
        return JobView(
            id=self.id,
            kind=self.kind,
            status=self.status,
            command=self.command,
            by=self.by,
            started_ns=self.started_ns,
            ended_ns=self.ended_ns,
            exit_code=self.exit_code,
            run_id=self.run_id,
            last_stderr=self.last_stderr,
        )

    @property
    def status(self) -> Status:
        if self.exit_code is None:
            return "running"
        if self.exit_code == 0:
            return "finished"
        if self.stopping:
            return "stopped"
        return "interrupted" if self.exit_code == _INTERRUPTED else "failed"


class Jobs:
    """Start, watch and stop the operator's jobs (a part of the server)."""

    def __init__(
        self,
        settings: ServeSettings,
        *,
        max_running: int = 2,
        keep: int = 100,
        grace_s: float = 10.0,
        clock_ns: Callable[[], int] = time.time_ns,
        python: str = sys.executable,
    ) -> None:
        self._settings = settings
        self._max = max_running
        self._grace_s = grace_s
        self._clock_ns = clock_ns
        self._python = python
        self._jobs: deque[_Job] = deque(maxlen=keep)
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self._closed = False

    async def start(self) -> None:
        """Nothing to start: a job starts when the operator asks for one."""

    async def stop(self) -> None:
        """Stop every running job: SIGTERM, then after the grace period, kill its group."""
        with self._lock:
            self._closed = True
            running = [job for job in self._jobs if job.exit_code is None]
        await asyncio.to_thread(self._stop_all, running)

    def views(self) -> list[JobView]:
        """Return every job kept, newest first."""
        with self._lock:
            return [job.view() for job in reversed(self._jobs)]

    def backtest_command(self, job: BacktestJob) -> list[str]:
        """Return the `coinswarm` arguments of a backtest job; `JobRefusedError` if it cannot
        run as given."""
        _check_strategy(job.strategy, job.params)
        if job.data and job.bars is not None:
            raise JobRefusedError("bars: the synthetic market's length; drop it with data files")
        args = ["backtest", "--json", "--quiet", "--strategy", job.strategy]
        args += _data_args(job.data)
        args += _optional("--bars", job.bars) + _optional("--seed", job.seed)
        args += _optional("--start", _moment("start", job.start))
        args += _optional("--end", _moment("end", job.end))
        for name, value in sorted(job.params.items()):
            args += ["--param", f"{name}={value}"]
        return args + self._stores(runs=True)

    def evolve_command(self, job: EvolveJob) -> list[str]:
        """Return the `coinswarm` arguments of a discovery job."""
        if job.demo == bool(job.data):
            raise JobRefusedError("demo: give either demo true or data files, not both")
        args = ["evolve", "--json", "--cycles", str(job.cycles), "--seed", str(job.seed)]
        args += ["--workers", str(job.workers)]
        args += ["--demo"] if job.demo else _data_args(job.data)
        return args + self._stores(runs=False)

    def launch(self, kind: Literal["backtest", "evolve"], args: list[str], *, by: str) -> JobView:
        """Start `coinswarm ARGS` as a job; `JobsBusyError` when as many already run."""
        with self._lock:
            if self._closed:
                raise JobsBusyError("the server is stopping: no job starts now")
            running = sum(1 for job in self._jobs if job.exit_code is None)
            if running >= self._max:
                raise JobsBusyError(
                    f"{running} jobs are running, the most this server runs at once; "
                    "wait for one to end (GET /api/jobs)"
                )
            process = subprocess.Popen(  # noqa: S603 - no shell; every argument checked above
                [self._python, "-m", "coinswarm", *args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=_child_environment(os.environ),
                start_new_session=True,  # its own group: stopped with the server, not by Ctrl-C
            )
            job = _Job(f"job-{next(self._numbers)}", kind, args, by, self._clock_ns(), process)
            self._jobs.append(job)
        threading.Thread(target=self._watch, args=(job,), name=job.id, daemon=True).start()
        return job.view()

    def wait(self, job_id: str, timeout_s: float) -> JobView:
        """Wait until the job ends (or `timeout_s` passes); return it as it stands."""
        with self._lock:
            found = [j for j in self._jobs if j.id == job_id]
        if not found:
            raise KeyError(job_id)
        job = found[0]
        job.done.wait(timeout_s)
        return job.view()

    def _stores(self, *, runs: bool) -> list[str]:
        args = _optional("--db", self._settings.db)
        if runs and self._settings.runs_dir is not None:
            args += ["--runs-dir", str(self._settings.runs_dir)]
        return args

    def _watch(self, job: _Job) -> None:
        process = job.process
        assert process.stdout is not None
        assert process.stderr is not None
        errors = threading.Thread(target=self._follow_stderr, args=(job, process.stderr))
        errors.start()
        answer = process.stdout.read(_STDOUT_LIMIT)
        process.stdout.close()
        errors.join()
        code = process.wait()
        with self._lock:
            job.run_id = _run_id(answer)
            job.ended_ns = self._clock_ns()
            job.exit_code = code
        job.done.set()

    @staticmethod
    def _follow_stderr(job: _Job, stream: IO[bytes]) -> None:
        for raw in stream:
            line = raw.decode("utf-8", "replace").strip()
            if line:
                job.last_stderr = line[:500]
        stream.close()

    def _stop_all(self, running: list[_Job]) -> None:
        for job in running:
            job.stopping = True
            with contextlib.suppress(ProcessLookupError):
                job.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self._grace_s
        for job in running:
            job.done.wait(max(deadline - time.monotonic(), 0.0))
        for job in running:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(job.process.pid, signal.SIGKILL)  # its workers too
        for job in running:
            job.done.wait(self._grace_s)


def _check_strategy(name: str, params: Mapping[str, str]) -> None:
    known = set(strategy_names()) | set(installed_strategies())
    if name not in known:
        expected = ", ".join(sorted(known))
        raise JobRefusedError(f"strategy: expected one of {expected}, found {name!r}")
    model = parameter_model(name)
    if model is None:
        if params:
            raise JobRefusedError(f"params: {name} takes no parameters")
        return
    try:
        model.model_validate(dict(params))
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "params"
        raise JobRefusedError(f"params.{where}: {first['msg']}") from None


def _data_args(paths: Sequence[str]) -> list[str]:
    args: list[str] = []
    for text in paths:
        path = Path(text).expanduser()
        if not path.is_file():
            raise JobRefusedError(f"data: no file at {text}")
        if not path.name.lower().endswith(_DATA_SUFFIXES):
            raise JobRefusedError(f"data: expected a CSV or Parquet bar file, found {text}")
        args += ["--data", str(path.resolve())]
    return args


def _moment(name: str, text: str | None) -> str | None:
    if text is None:
        return None
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T"))
    except ValueError:
        msg = f"{name}: expected a UTC date like 2021-01-31, found {text!r}"
        raise JobRefusedError(msg) from None
    return text


def _optional(option: str, value: object) -> list[str]:
    return [] if value is None else [option, str(value)]


def _child_environment(environment: Mapping[str, str]) -> dict[str, str]:
    """Return the server's environment without its tokens and settings, progress off."""
    kept = {k: v for k, v in environment.items() if not k.startswith("COINSWARM_API_")}
    return {**kept, "COINSWARM_PROGRESS": "off"}


def _run_id(answer: bytes) -> str | None:
    """Return the run id of a `--json` answer: one object, printed last."""
    text = answer.decode("utf-8", "replace").strip()
    for candidate in (text, text.rsplit("\n", 1)[-1]):
        try:
            found = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(found, dict) and isinstance(found.get("run"), str):
            return str(found["run"])
    return None
