"""`coinswarm.toml`: read against the commands themselves, each error at its file and line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from test_cli_startup import HEAVY, REPORT, RUN
from typer.testing import CliRunner

from coinswarm import bootstrap
from coinswarm.cli import app, runs
from coinswarm.cli._config import (
    ConfigError,
    _date,
    _phase,
    _slippage,
    _speed,
    find_config,
    load_config,
)
from coinswarm.cli._options import CommandSpec, describe
from coinswarm.cli._shared import UsageError, bound
from coinswarm.cli._toml_lines import key_lines
from coinswarm.cli.config import TEMPLATE
from coinswarm.domain.errors import CoinswarmError


@pytest.fixture(scope="module")
def commands() -> dict[tuple[str, ...], CommandSpec]:
    return describe(app)


def built_options(group: typer.core.TyperGroup, path: tuple[str, ...] = ()):
    """Yield every command's options as typer builds them for click."""
    context = typer.Context(group)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        if isinstance(command, typer.core.TyperGroup):
            yield from built_options(command, (*path, name))
        elif command is not None:
            for param in command.params:
                if isinstance(param, typer.core.TyperOption) and "--help" not in param.opts:
                    yield (*path, name), param


def test_the_options_read_from_the_functions_are_those_typer_builds(commands):
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    built = list(built_options(group))
    assert len(built) > 100
    assert {path for path, _ in built} <= set(commands)
    for path, param in built:
        (option,) = [o for o in commands[path].options.values() if o.name == param.name]
        assert option.flag in param.opts, (path, param.name)
        assert option.undoable == (not param.is_flag or bool(param.secondary_opts)), path
        assert option.many == bool(param.multiple), (path, param.name)
        assert option.envvar == param.envvar, (path, param.name)
        assert (option.low, option.high) == (param.min, param.max), (path, param.name)
        assert option.default == param.default, (path, param.name)
    assert sum(len(spec.options) for spec in commands.values()) == len(built)


def write(folder: Path, text: str, name: str = "coinswarm.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_key_lines_place_tables_keys_and_dotted_keys_but_not_what_is_inside_a_value():
    text = "\n".join(
        [
            "# a comment",  # 1
            "[defaults]",  # 2
            'db = "sqlite:///x.db"  # trailing',  # 3
            "[backtest]",  # 4
            "data = [",  # 5
            '  "a=b.csv",',  # 6
            "]",  # 7
            'note = """',  # 8
            "fake = 1",  # 9
            '"""',  # 10
            "params.fast = 3",  # 11
            '"quoted key" = 1',  # 12
            "[ risk . status ]",  # 13
            'mode = "paper"',  # 14
        ]
    )
    lines = key_lines(text)
    assert lines[("defaults", "db")] == 3
    assert lines[("backtest",)] == 4
    assert lines[("backtest", "data")] == 5
    assert lines[("backtest", "params")] == 11
    assert lines[("backtest", "params", "fast")] == 11
    assert lines[("backtest", "quoted key")] == 12
    assert lines[("risk", "status", "mode")] == 14
    assert ("backtest", "fake") not in lines
    assert ("backtest", "a=b.csv") not in lines


def test_every_option_of_every_command_has_a_type_the_file_can_be_checked_against(commands):
    # A type the reader does not know would be taken as text and checked only when the command
    # runs: a new kind of option must be taught to the reader, not slip through it.
    untyped = [
        f"{' '.join(path)} {option.flag}"
        for path, spec in commands.items()
        for option in spec.options.values()
        if option.kind is None
    ]
    assert untyped == []
    assert commands[("backtest",)].options["fee_bps"].kind is str
    assert commands[("backtest",)].options["bars"].low == 2
    assert commands[("backtest",)].options["data"].many
    assert commands[("risk", "status")].options["mode"].kind is str


def test_the_file_sets_each_command_and_defaults_reach_every_command_that_takes_them(
    tmp_path, commands
):
    path = write(
        tmp_path,
        "[defaults]\n"
        "fee_bps = 10\n"
        'slippage_bps = "model"\n'
        "[backtest]\n"
        'data = ["BTC_USDT-1h.csv.gz", "/abs/ETH_USDT-1h.csv.gz"]\n'
        'strategy = "committee"\n'
        "fee-bps = 12\n"
        "bars = 500\n"
        "quiet = true\n"
        "[backtest.params]\n"
        "fast = 10\n"
        "threshold = 0.5\n"
        "veto = true\n"
        "[paper]\n"
        'speed = "max"\n'
        'db = "sqlite:///runs/paper.db"\n'
        "[risk.status]\n"
        'mode = "paper"\n',
    )
    loaded = load_config(path, commands)
    backtest, paper = loaded.values[("backtest",)], loaded.values[("paper",)]
    assert backtest["fee_bps"] == "12"  # the command's own table wins over [defaults]
    assert paper["fee_bps"] == "10"
    assert backtest["slippage_bps"] == paper["slippage_bps"] == "model"
    assert backtest["data"] == [str(tmp_path / "BTC_USDT-1h.csv.gz"), "/abs/ETH_USDT-1h.csv.gz"]
    assert backtest["param"] == ["fast=10", "threshold=0.5", "veto=true"]
    assert backtest["bars"] == 500
    assert backtest["quiet"] is True
    assert paper["db"] == f"sqlite:///{tmp_path / 'runs' / 'paper.db'}"
    assert loaded.values[("risk", "status")] == {"mode": "paper"}
    assert "fee_bps" not in loaded.values.get(("data", "inspect"), {})
    origins = loaded.origins
    assert str(origins[("backtest",)]["fee_bps"]) == f"{path}:7"
    assert str(origins[("paper",)]["fee_bps"]) == f"{path}:2"
    assert str(origins[("backtest",)]["param"]) == f"{path}:10"
    assert loaded.default_map()["risk"]["status"] == {"mode": "paper"}


def test_a_single_value_is_taken_for_a_repeatable_option(tmp_path, commands):
    loaded = load_config(write(tmp_path, '[paper]\ndata = "BTC.csv"\n'), commands)
    assert loaded.values[("paper",)]["data"] == [str(tmp_path / "BTC.csv")]


BAD_FILES = [
    ("[backtest]\nfee_bps = 'abc'\n", ":2: [backtest] fee_bps: expected a number, found 'abc'"),
    ("[backtest]\n\nfe_bps = 3\n", ":3: [backtest] fe_bps: coinswarm backtest has no option"),
    ("[backtst]\nx = 1\n", ":1: [backtst]: unknown command 'backtst' (did you mean 'backtest'?)"),
    ("[risk]\nmode = 'paper'\n", ":2: [risk] mode: unknown command 'risk mode'"),
    ("[backtest]\nbars = 1\n", ":2: [backtest] bars: expected 2 or more, found 1"),
    ("[backtest]\nbars = 2.5\n", ":2: [backtest] bars: expected a whole number, found 2.5"),
    ("[backtest]\nbars = true\n", ":2: [backtest] bars: expected a whole number, found True"),
    ("[backtest]\nstrategy = true\n", ":2: [backtest] strategy: expected a text or a number"),
    ("[backtest]\nquiet = 'yes'\n", ":2: [backtest] quiet: expected true or false"),
    ("[backtest]\ndata = [1]\n", ":2: [backtest] data: expected a path, found 1"),
    ("[backtest]\nstrategy = ['a']\n", ":2: [backtest] strategy: expected one value"),
    ("[backtest]\nparams = 3\n", ":2: [backtest] params: expected a table of strategy"),
    ("[backtest.params]\nfast = [1]\n", ":1: [backtest] params: fast: expected a text"),
    ("[backtest]\nparam = ['fast=1']\n", ":2: [backtest] param: coinswarm backtest has no"),
    ("[backtest]\njson = true\n", ":2: [backtest] json: --json is a switch with no --no- form"),
    ("[backtest]\nstart = 'yesterday'\n", ":2: [backtest] start: expected a UTC date"),
    ("[backtest]\nphase = 9\n", ":2: [backtest] phase: expected 0 to 5, 'none' or 'default'"),
    ("[backtest]\nslippage_bps = -1\n", ":2: [backtest] slippage_bps: expected a finite"),
    ("[paper]\nspeed = 0\n", ":2: [paper] speed: expected a multiple of real time above 0"),
    ("[defaults]\nnope = 1\n", ":2: [defaults] nope: no command takes the option 'nope'"),
    ("defaults = 3\n", ":1: [defaults]: expected a table of options"),
    ("backtest = 3\n", ":1: [backtest]: expected a table of the command's options"),
    ("[backtest]\nfee_bps = 1\nfee-bps = 2\n", ":3: [backtest] fee-bps: 'fee_bps' is given twice"),
    ("[backtest]\nfee_bps = \n", ":2: not valid TOML: Invalid value (at line 2, column 11)"),
    ("[backtest]\n[backtest]\n", ":2: not valid TOML: Cannot declare ('backtest',) twice"),
]


@pytest.mark.parametrize(("text", "message"), BAD_FILES)
def test_a_bad_file_is_one_error_naming_the_file_line_and_key(tmp_path, commands, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load_config(path, commands)
    assert str(raised.value).startswith(f"{path}{message}")
    assert "\n" not in str(raised.value)


def test_a_file_that_is_not_utf8_text_or_not_there_is_refused(tmp_path, commands):
    binary = tmp_path / "coinswarm.toml"
    binary.write_bytes(b"\xff\xfe[backtest]\n")
    with pytest.raises(ConfigError, match="not valid TOML: expected UTF-8 text"):
        load_config(binary, commands)
    with pytest.raises(ConfigError, match="configuration file not found"):
        load_config(tmp_path / "absent.toml", commands)


SECRETS = [
    ("[defaults]\nprivate_key = 'x'\n", "[defaults] private_key: secrets never go"),
    ("[sandbox]\napi-key = 'x'\n", "[sandbox] api-key: secrets never go"),
    ("[live]\nurl = 'https://u:pw@api.example'\n", "[live] url: the URL holds a password"),
    ("[paper]\nstate_url = 'redis://:pw@h/0'\n", "set COINSWARM_REDIS_URL instead"),
    ("[backtest]\ndb = 'postgresql://u:pw@h/db'\n", "set COINSWARM_DATABASE_URL instead"),
    ("[backtest]\nbus = 'nats://u:pw@h'\n", "pass it with --bus instead"),
    ("[live]\nurl = '-----BEGIN EC PRIVATE KEY-----'\n", "secrets never go"),
    ("[live]\nconfirm = 'trade real money on h'\n", "[live] confirm: the sentence that confirms"),
]


@pytest.mark.parametrize(("text", "message"), SECRETS)
def test_secrets_are_refused_with_where_they_belong(tmp_path, commands, text, message):
    with pytest.raises(ConfigError, match=r":2: ") as raised:
        load_config(write(tmp_path, text), commands)
    assert message in str(raised.value)
    assert "pw" not in str(raised.value).replace("password", "")


def test_the_working_folder_file_is_found_only_there_and_an_explicit_one_wins(tmp_path):
    assert find_config(None, tmp_path) is None
    write(tmp_path, "")
    assert find_config(None, tmp_path) == tmp_path / "coinswarm.toml"
    assert find_config(tmp_path / "other.toml", tmp_path) == tmp_path / "other.toml"
    (tmp_path / "sub").mkdir()
    assert find_config(None, tmp_path / "sub") is None  # no search up the folders


def test_the_template_loads_once_uncommented_and_init_never_overwrites(tmp_path, commands):
    uncommented = "\n".join(
        line.removeprefix("# ") for line in TEMPLATE.splitlines() if not line.startswith("##")
    )
    loaded = load_config(write(tmp_path, uncommented), commands)
    assert loaded.values[("backtest",)]["param"] == ["fast=20", "slow=50"]
    target = tmp_path / "fresh.toml"
    runner = CliRunner()
    first = runner.invoke(app, ["config", "init", str(target)])
    assert first.exit_code == 0, first.output
    assert target.read_text(encoding="utf-8") == TEMPLATE
    target.write_text("# mine\n", encoding="utf-8")
    again = runner.invoke(app, ["config", "init", str(target)])
    assert again.exit_code == 2
    assert "exists already" in again.output
    assert target.read_text(encoding="utf-8") == "# mine\n"


def show(*args: str, env: dict[str, str] | None = None) -> dict[str, object]:
    done = CliRunner().invoke(app, [*args, "config", "show", "--json"], env=env)
    assert done.exit_code == 0, done.output
    answer = json.loads(done.output)
    assert isinstance(answer, dict)
    return answer


def test_config_show_names_each_value_source_environment_over_file_over_default(tmp_path):
    path = write(
        tmp_path,
        "[defaults]\ndb = 'sqlite:////tmp/file.db'\n[backtest]\nphase = 0\nfee_bps = 10\n",
    )
    env = {
        "COINSWARM_DATABASE_URL": "postgresql://me:secret@db.example/coinswarm",
        "COINSWARM_PHASE": "",  # empty: click ignores it, so the file's value stands
    }
    answer = show("--config", str(path), env=env)
    assert answer["config"] == str(path)
    backtest = answer["commands"]["backtest"]
    assert backtest["db"] == {
        "value": "postgresql://me:****@db.example/coinswarm",
        "source": "env COINSWARM_DATABASE_URL",
    }
    assert backtest["phase"] == {"value": "0", "source": f"{path}:4"}
    assert backtest["fee_bps"] == {"value": "10", "source": f"{path}:5"}
    assert "cash" not in backtest  # defaults only with --command
    every = CliRunner().invoke(
        app,
        ["--config", str(path), "config", "show", "--command", "backtest", "--json"],
        env={"COINSWARM_PHASE": "3"},
    )
    assert every.exit_code == 0, every.output
    rows = json.loads(every.output)["commands"]["backtest"]
    assert rows["phase"] == {"value": "3", "source": "env COINSWARM_PHASE"}
    assert rows["cash"] == {"value": "10000", "source": "default"}
    assert rows["db"]["source"] == f"{path}:2"


def test_config_show_without_a_file_says_so_and_refuses_an_unknown_command(tmp_path):
    empty = write(tmp_path, "")
    assert show("--config", str(empty))["commands"] == {}
    done = CliRunner().invoke(app, ["--config", str(empty), "config", "show", "--command", "x"])
    assert done.exit_code == 2
    assert "--command: expected one of" in done.output


def test_the_readme_example_is_a_file_the_commands_accept(tmp_path, commands):
    readme = Path(__file__).resolve().parents[2] / "README.md"
    section = readme.read_text(encoding="utf-8").split("### Configuration file", 1)[1]
    example = section.split("```toml\n", 1)[1].split("```", 1)[0]
    loaded = load_config(write(tmp_path, example), commands)
    assert loaded.values[("backtest",)]["strategy"] == "committee"
    assert loaded.values[("risk", "status")]["mode"] == "paper"


def test_reading_a_file_loads_none_of_the_heavy_modules(tmp_path):
    # The file is read before every command, `coinswarm version` included: reading it must not
    # undo the lazy start-up (tests/unit/test_cli_startup.py).
    path = write(
        tmp_path,
        "[defaults]\ndb = 'sqlite:///x.db'\nfee_bps = 10\n[backtest]\nstart = '2021-01-01'\n"
        "data = ['a.csv']\n[backtest.params]\nfast = 3\n[paper]\nspeed = 'max'\n",
    )
    probe = RUN.format(args=["version"]) + REPORT.format(heavy=HEAVY)
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env={**os.environ, "COINSWARM_CONFIG": str(path), "COINSWARM_HOME": str(tmp_path)},
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


@pytest.mark.parametrize(
    "text",
    ["2021-01-01", "2021-01-01T05:00", "2021-01-01 05:00", "2021-01-01T05:00:00+00:00",
     "2021-01-01T05:00:00+02:00", "2021-01-01T05:00:00Z", "yesterday", "2021-13-01", ""],
)  # fmt: skip
def test_the_file_checks_a_date_as_the_flag_does(text):
    def outcome(check):
        try:
            check(text, "--start")
        except UsageError as error:
            return str(error)
        return "accepted"

    assert outcome(_date) == outcome(bound)


def refusal(check, text):
    try:
        check(text)
    except (UsageError, CoinswarmError) as error:
        return str(error)
    return "accepted"


@pytest.mark.parametrize("text", ["max", "60", "0.5", "0", "-1", "nan", "inf", "fast", ""])
def test_the_file_checks_a_speed_as_the_flag_does(text):
    assert refusal(lambda t: _speed(t, "--speed"), text) == refusal(runs._speed, text)


@pytest.mark.parametrize("text", ["model", "MODEL", "0", "12.5", "-1", "nan", "lots"])
def test_the_file_checks_a_slippage_as_the_flag_does(text):
    ours = refusal(lambda t: _slippage(t, "--slippage-bps"), text)
    assert ours == refusal(runs.slippage_option, text)


@pytest.mark.parametrize("text", ["0", "3", "5", "6", "-1", "x", "03"])
def test_the_file_checks_a_phase_as_the_flag_does(text):
    ours = refusal(lambda t: _phase(t, "--phase"), text)
    assert ours == refusal(bootstrap._phase_number, text)
