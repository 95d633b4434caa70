"""Fuzzed command lines (Hypothesis): whatever is typed, both CLIs end in exit 0, 1 or 2 (or 130 where training
started and was stopped, below), never raise, never print a traceback, and never change a byte of an existing
run directory they were not asked to resume.

Training is real up to its first step: `Run.should_stop` answers "stop" there, so a command that would train
builds its config, environments or data, networks and run directory, then saves and exits with 130. Sizes that
allocate memory in proportion (`num_envs=10**12`, `net_arch=[10**9]`) are fuzzed with small and invalid values
only: a huge valid size is a request for that much memory. The default tier runs a fixed set of examples per
CLI (`derandomize`); `pytest -m slow tests/test_fuzz.py` runs many more, drawn afresh each time.
"""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import genlab.cli
import rllab.cli
from labcore.run import Run
from rllab.algos import ALGOS

FAST = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
LONG = settings(max_examples=600, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# flags whose valid values are amounts of work or memory: fuzzed with small and invalid values
COUNTS = {"--episodes", "--n", "--samples", "--k", "--metric-points", "--metric-test-points", "--dims", "--trials",
          "--seeds", "--fps", "--image", "--steps"}
NOT_FUZZED = {"--jobs", "--worker", "-h", "--help"}  # --jobs starts processes (tested in test_tune.py)
HUGE_OK = re.compile(r"(steps|seed|_freq|_interval|learning_starts|_at)$")  # int keys whose huge values cost nothing

WEIRD = ["", " ", "nan", "inf", "-inf", "1e400", "-0", "0x10", "1_000", "[1, 2]", "{a = 1}", "[", '"x', "'", "true",
         "2024-01-01", "é", "🎲", "\x00", "a=b", "--", "-", "=", "../..", "None", "null"]
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)
NUMBERS = st.one_of(st.integers(-10, 10), st.integers(-2**70, 2**70),
                    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0, -1, 2**63, 10**30]))
SMALL = st.one_of(st.integers(-3, 4), st.sampled_from(["0", "-5", "x", "1.5", "nan", "", "[1]"]))


def toml_literal(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, str):
        return value
    return repr(value)


def values(key: str = "") -> st.SearchStrategy[str]:
    """The text after `key=`: TOML literals of every type, huge and non-finite numbers, junk."""
    numbers = NUMBERS if HUGE_OK.search(key) or not key else st.one_of(SMALL, st.floats(allow_nan=True))
    scalar = st.one_of(numbers, st.booleans(), TEXT.map(lambda s: f'"{s}"'), TEXT, st.sampled_from(WEIRD))
    array = st.lists(st.one_of(st.integers(-3, 64), st.booleans(), TEXT.map(lambda s: f'"{s}"')), max_size=3)
    return st.one_of(scalar.map(toml_literal), array.map(lambda a: "[" + ", ".join(map(toml_literal, a)) + "]"),
                     st.just("{ a = 1 }"))


def field_names(configs) -> list[str]:
    return sorted({f.name for cls in configs for f in dataclasses.fields(cls)})


@dataclasses.dataclass
class Cli:
    main: object
    commands: dict[str, list[str]]  # subcommand → its option strings
    names: list[str]  # recipes and algorithms/models
    keys: list[str]  # config fields


def cli_of(module, names, configs) -> Cli:
    parser = module.make_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    commands = {name: [o for a in p._actions for o in a.option_strings if o not in NOT_FUZZED]
                for name, p in sub.choices.items()}
    return Cli(module.main, commands, names, field_names(configs))


def rllab_cli() -> Cli:
    from rllab import recipes
    return cli_of(rllab.cli, [*recipes.available(), *ALGOS], [a.config for a in ALGOS.values()])


def genlab_cli() -> Cli:
    from genlab import recipes
    from genlab.models import MODELS
    return cli_of(genlab.cli, [*recipes.available(), *MODELS], [m.config for m in MODELS.values()])


DATA_SPECS = st.one_of(
    st.sampled_from(["shapes", "mnist", "folder", "fashion-mnist", "shapes:", "shapes:scale=5", "shapes:scale=9",
                     "shapes:shape=0-7", "shapes:orientation=3-1", "shapes:x=1,x=2", "mnist:", "folder:/nonexistent",
                     "mnist:/dev/null", "shapes:scale=a", ":", "shapes:=,"]),
    st.builds(lambda kind, rest: f"{kind}:{rest}", st.sampled_from(["shapes", "mnist", "folder", "cifar"]), TEXT))


@st.composite
def command_lines(draw, cli: Cli, paths: list[str]) -> list[str]:
    command = draw(st.sampled_from([*cli.commands] * 4 + ["nosuch", ""]))
    argv = [command]
    flags = cli.commands.get(command, ["--help-me", "--steps"])
    if command in ("train", "tune") and draw(st.booleans()):  # mostly well-formed lines reach deeper
        argv.append(draw(st.sampled_from(cli.names)))
    elif command not in ("train", "tune", "list") and draw(st.integers(0, 3)):
        argv.append(draw(st.sampled_from(paths)))
    if command == "tune" and draw(st.booleans()):
        argv += ["--trials", str(draw(SMALL))]
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["flag", "flag", "key", "key", "name", "path", "junk"]))
        if kind == "flag":
            flag = draw(st.sampled_from([*flags, "--" + draw(TEXT)]))
            if flag == "--data":
                value = draw(DATA_SPECS)
            elif flag in ("--resume", "--run-dir", "--out", "--dir", "--recipe"):
                value = draw(st.sampled_from(paths))
            else:
                value = draw(SMALL.map(str) if flag in COUNTS else values())
            argv += [flag, value] if draw(st.booleans()) else [f"{flag}={value}"]
        elif kind == "key":
            key = draw(st.sampled_from(cli.keys) | TEXT)
            argv.append(f"{key}={draw(values(key))}")
        elif kind == "name":
            argv.append(draw(st.sampled_from(cli.names)))
        elif kind == "path":
            argv.append(draw(st.sampled_from(paths)))
        else:
            argv.append(draw(st.sampled_from(WEIRD) | TEXT))
    return argv


def snapshot(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def flag_values(argv: list[str], flag: str) -> set[Path]:
    """The values given to `flag`, as `flag VALUE` or `flag=VALUE`."""
    found = {argv[i + 1] for i, a in enumerate(argv[:-1]) if a == flag}
    return {Path(v) for v in found | {a.partition("=")[2] for a in argv if a.startswith(flag + "=")}}


def check_untouched(before: dict[Path, bytes], argv: list[str]) -> None:
    """Every file of the existing runs is still there, byte for byte, except what the command was asked to write:
    the run `--resume` continues, a file `--out ... --force` overwrites, and the eval.json of the run `eval`
    evaluates (its last evaluation, by design)."""
    asked = flag_values(argv, "--resume") | (flag_values(argv, "--out") if "--force" in argv else set())
    for path, data in before.items():
        if path in asked or asked & set(path.parents) or (argv[0] == "eval" and path.name == "eval.json"):
            continue
        assert path.exists() and path.read_bytes() == data, f"{path} changed by {argv}"


@pytest.fixture(scope="module")
def existing_runs(tmp_path_factory) -> Path:
    """A finished rllab run and a finished genlab run, the TOML files a user might point at, and a plain file."""
    root = tmp_path_factory.mktemp("existing")
    assert rllab.cli.main(["train", "--algo", "ppo", "--env", "CartPole-v1", "--steps", "256", "--run-dir",
                           str(root / "rl"), "num_envs=2", "rollout_steps=64", "eval_episodes=1"]) == 0
    assert genlab.cli.main(["train", "vae", "--data", "shapes:scale=5,orientation=0", "--steps", "4", "--run-dir",
                            str(root / "gen"), "resolution=16", "eval_samples=16", "eval_k=2", "metrics=none",
                            "eval_images=16", "batch_size=8"]) == 0
    (root / "note.txt").write_text("not a run\n")
    (root / "bad.toml").write_text('algo = "ppo"\nsteps = [\n')
    (root / "odd.toml").write_text('algo = "dqn"\nmodel = "vae"\n[table]\nx = 1\n[result]\nscore = 3\n')
    return root


def fuzz_paths(root: Path) -> list[str]:
    return [str(root / "rl"), str(root / "gen"), str(root / "rl" / "checkpoints" / "last.pt"),
            str(root / "gen" / "checkpoints" / "last.pt"), str(root / "rl" / "config.toml"), str(root / "note.txt"),
            str(root / "bad.toml"), str(root / "odd.toml"), str(root / "nosuch"), str(root / "note.txt" / "run"),
            str(root), "", "é/🎲", "/dev/null"]


def run_fuzzed(cli: Cli, argv: list[str], root: Path, capsys, monkeypatch) -> None:
    before = snapshot(root)
    stopped = []

    def stop_at_first_step(self) -> bool:
        stopped.append(True)
        return True

    monkeypatch.setattr(Run, "should_stop", stop_at_first_step)
    code = cli.main(argv)  # an exception here fails the test with its traceback
    event(f"{argv[0] or '(empty)'} exit {code}")  # `pytest --hypothesis-show-statistics` shows how many ended how
    out, err = capsys.readouterr()
    assert "Traceback" not in err, (argv, err)
    allowed = {0, 1, 2} | ({130} if stopped else set())
    assert code in allowed, (argv, code, err)
    if code == 2:
        assert len(err.strip().splitlines()) <= 2, (argv, err)  # one line (plus a "using the recipe" note)
    check_untouched(before, argv)


def fuzz(cli_factory, profile):
    @profile
    @given(data=st.data())
    def test(data, existing_runs, capsys, monkeypatch, tmp_path_factory):
        cli = cli_factory()
        monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))  # default run and study folders land here
        argv = data.draw(command_lines(cli, fuzz_paths(existing_runs)), label="argv")
        run_fuzzed(cli, argv, existing_runs, capsys, monkeypatch)
    return test


test_rllab_command_lines = fuzz(rllab_cli, FAST)
test_genlab_command_lines = fuzz(genlab_cli, FAST)
test_rllab_command_lines_long = pytest.mark.slow(fuzz(rllab_cli, LONG))
test_genlab_command_lines_long = pytest.mark.slow(fuzz(genlab_cli, LONG))


TOML_KEYS = st.sampled_from(["algo", "model", "env", "steps", "seed", "data", "learning_rate", "net_arch",
                             "num_envs", "batch_size", "nosuch", "result", "search"])


@st.composite
def toml_texts(draw) -> str:
    """Recipe files: valid TOML with keys and values of every type, broken TOML, unknown tables."""
    lines = [draw(st.sampled_from(['algo = "ppo"', 'algo = "dqn"', 'model = "vae"', 'model = "gan"', ""]))]
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["pair", "pair", "pair", "table", "junk"]))
        if kind == "pair":
            key = draw(TOML_KEYS)
            lines.append(f"{key} = {draw(values(key))}")
        elif kind == "table":
            lines.append(f"[{draw(st.sampled_from(['result', 'search', 'nosuch', 'env_kwargs', 'a.b', '']))}]")
        else:
            lines.append(draw(TEXT))
    return "\n".join(lines) + "\n"


def recipe_files(cli_factory, command, profile):
    @profile
    @given(text=toml_texts())
    def test(text, existing_runs, capsys, monkeypatch, tmp_path_factory):
        cli = cli_factory()
        cwd = tmp_path_factory.mktemp("cwd")
        monkeypatch.chdir(cwd)
        (cwd / "recipe.toml").write_text(text)
        run_fuzzed(cli, [command, str(cwd / "recipe.toml"), "steps=64"], existing_runs, capsys, monkeypatch)
    return test


test_rllab_recipe_files = recipe_files(rllab_cli, "train", FAST)
test_genlab_recipe_files = recipe_files(genlab_cli, "train", FAST)
