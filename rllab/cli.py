"""`rllab`: train, evaluate and watch agents from the command line.

    rllab train [RECIPE] [--algo A --env ENV_ID] [--steps N] [--seed S] [--run-dir DIR] [--device D] [key=value ...]
    rllab train --resume RUN_DIR
    rllab eval  RUN_DIR_OR_CHECKPOINT [--episodes 20] [--seed S] [--json]
    rllab enjoy RUN_DIR_OR_CHECKPOINT [--episodes 1] [--out episode.gif]
    rllab tune  [RECIPE] [--algo A --env ENV_ID] --trials N [--seeds K] [--steps S] [--storage URL] [--study NAME]
                [--jobs J] [--out best.toml] [key=value ...]
    rllab plot  RUN_DIR_OR_GLOB... [--tag rollout/ep_rew_mean] [--group-by recipe|algo|env] [--aggregate]
    rllab list

Exit codes: 0 success, 1 the run failed (e.g. non-finite loss), 2 bad input, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from functools import partial
from pathlib import Path
from typing import Any

from labcore import plot, tune
from labcore.cli import Parser, parse, run_command
from labcore.config import build, read_toml
from labcore.errors import UsageError
from labcore.space import parse_space
from rllab import recipes, search
from rllab.algos import ALGOS, DEFAULT_RECIPE, config_help, entry, resolve_values, reward_threshold


# Only what --help, list and bad input need is imported above: torch (≈ 2 s) and Gymnasium are imported by the
# commands that train, evaluate or load a policy (`entry`).
def make_parser() -> Parser:
    parser = Parser(prog="rllab", description="Train, evaluate and watch RL agents on Gymnasium environments.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    t = sub.add_parser(
        "train", help="train an agent (no arguments: DQN on CartPole-v1)",
        description="Train an agent. RECIPE is a name from `rllab list` or a TOML file; without one, "
        "--algo/--env pick the tuned recipe for that pair if there is one, else the algorithm's defaults. "
        "Later settings win: recipe < flags < key=value. Data-parallel (ac, ppo): torchrun --nproc_per_node=N -m "
        "rllab train ... (steps counts the whole job's environment steps and num_envs is per process: divide a "
        "recipe's num_envs by N to keep its batch; docs/scaling.md).",
        epilog=config_help(), formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    t.add_argument("items", nargs="*", metavar="[RECIPE] [key=value ...]",
                   help=f"recipe name or .toml path (default {DEFAULT_RECIPE}), then config overrides")
    t.add_argument("--algo", help=f"algorithm: {', '.join(ALGOS)}")
    t.add_argument("--env", help="Gymnasium environment id (CartPole-v1, LunarLander-v3, ALE/Pong-v5), or "
                   "module:EnvId for your own: importing module (from the current directory too) registers EnvId")
    t.add_argument("--env-package", action="append", metavar="MODULE",
                   help="import MODULE before making the environment (a plugin that registers ids); repeatable")
    t.add_argument("--steps", type=int, help="total environment steps")
    t.add_argument("--seed", type=int, help="random seed")
    t.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps")
    t.add_argument("--run-dir", type=Path, help="run directory (default runs/<algo>-<env>-s<seed>-<time>)")
    t.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue a stopped run exactly where it stopped")

    e = sub.add_parser("eval", help="evaluate a run's greedy policy",
                       description="Evaluate the final greedy policy of a run (checkpoints/last.pt) or of a "
                       "given checkpoint, on separately seeded environments; writes eval.json in the run dir.")
    e.add_argument("run", type=Path, metavar="RUN_DIR_OR_CHECKPOINT")
    e.add_argument("--episodes", type=int, default=20, help="episodes to average (default 20)")
    e.add_argument("--seed", type=int, help="seed of the first episode (default: the run's seed + 10000)")
    e.add_argument("--device", default="cpu", help="device for the policy (default cpu)")
    e.add_argument("--json", action="store_true", help="print one JSON object on stdout and nothing else")

    j = sub.add_parser("enjoy", help="render episodes of a trained agent to a GIF")
    j.add_argument("run", type=Path, metavar="RUN_DIR_OR_CHECKPOINT")
    j.add_argument("--episodes", type=int, default=1, help="episodes to record (default 1)")
    j.add_argument("--out", type=Path, help="GIF path (default RUN_DIR/episode.gif)")
    j.add_argument("--seed", type=int, default=0, help="environment seed (default 0)")
    j.add_argument("--fps", type=int, default=30, help="GIF frame rate (default 30)")
    j.add_argument("--force", action="store_true", help="overwrite --out if it exists")

    u = sub.add_parser(
        "tune", help="search hyper-parameters with Optuna (several seeds per trial, pruning, a study database)",
        description="Search a recipe's hyper-parameters with Optuna: each trial trains the recipe with sampled "
        "settings on --seeds seeds, and scores the mean of their final greedy returns. The space is the recipe's "
        "[search] table, else the algorithm's default (rllab/search.py). The study lives in a database; the same "
        "command again continues it. docs/tuning.md.")
    u.add_argument("items", nargs="*", metavar="[RECIPE] [key=value ...]",
                   help="recipe name or .toml path, then fixed config overrides")
    u.add_argument("--algo", help=f"algorithm: {', '.join(ALGOS)}")
    u.add_argument("--env", help="Gymnasium environment id, or module:EnvId")
    u.add_argument("--env-package", action="append", metavar="MODULE", help="import MODULE first; repeatable")
    tune.add_arguments(u)

    p = sub.add_parser("plot", help="learning curves and final-score statistics over seeds, from TensorBoard events",
                       description="Plot a tag of many runs, grouped across seeds: the IQM (or mean) with a 95 %% "
                       "stratified-bootstrap band. --aggregate adds the final scores' IQM, median, mean and "
                       "optimality gap with their intervals, and the probability of improvement between groups.")
    plot.add_arguments(p, tag="rollout/ep_rew_mean", groups=("recipe", "algo", "env"))
    sub.add_parser("list", help="list algorithms and recipes (with the scores they reach)")
    return parser


def resolve_config(args: argparse.Namespace) -> tuple[str, Any]:
    algo, values, _, note = resolve_values(args)
    cfg = build(ALGOS[algo].config, values)
    from labcore import distributed  # torch: only once the input is known to be good

    if note and distributed.launched_main():  # once the config is good: a bad one is one line alone
        print(note, file=sys.stderr)
    return algo, cfg


def cmd_train(args: argparse.Namespace) -> int:
    algo, cfg, run_dir, state = resumed_run(args) if args.resume else new_run(args)
    from labcore import distributed
    from labcore.run import for_this_rank

    if distributed.launched_size() > 1 and ALGOS[algo].one_process:
        raise UsageError(f"{algo} trains in one process, not under torchrun: {ALGOS[algo].one_process}; "
                         "ac and ppo train data-parallel")
    with distributed.session(cfg.backend):
        main_rank = distributed.is_main()
        status = entry(ALGOS[algo].module, "train")(cfg, run_dir, state and for_this_rank(state))
    if status == "interrupted":
        if main_rank:
            print(f"interrupted; checkpoint saved. Continue with: rllab train --resume {run_dir}", file=sys.stderr)
        return 130
    if not main_rank:  # rank 0 reports for the job
        return 0
    result = json.loads((run_dir / "eval.json").read_text())
    print(f"run directory: {run_dir}")
    print(f"final greedy policy: {result['mean_return']:.1f} ± {result['std_return']:.1f} "
          f"over {result['episodes']} episodes")
    return 0


def new_run(args: argparse.Namespace) -> tuple[str, Any, Path, None]:
    algo, cfg = resolve_config(args)  # bad input is answered before torch is imported
    from labcore.run import resolve_device
    from labcore.rundir import check_new_run_dir, default_run_dir

    env_name = cfg.env.rpartition(":")[2].replace("/", "-")  # my_envs:MyEnv-v0 → MyEnv-v0
    run_dir = args.run_dir or default_run_dir(f"{algo}-{env_name}", cfg.seed)
    check_new_run_dir(run_dir)
    resolve_device(cfg.device)
    return algo, cfg, run_dir, None


def resumed_run(args: argparse.Namespace) -> tuple[str, Any, Path, dict]:
    given = (args.algo, args.env, args.env_package, args.steps, args.seed, args.run_dir)
    if args.items or any(v is not None for v in given):
        raise UsageError("--resume continues a run with its stored config; pass no recipe, flags or overrides")
    from labcore.rundir import checked_config, load_checkpoint

    state, run_dir = load_checkpoint(args.resume)
    algo = state.get("algo")
    if algo not in ALGOS:
        raise UsageError(f"{args.resume} holds a checkpoint of {algo!r}, not of an rllab algorithm "
                         f"({', '.join(ALGOS)}); it cannot resume here")
    values = checked_config(run_dir, state)
    if args.device:
        values["device"] = args.device
    return algo, build(ALGOS[algo].config, values), run_dir, state


def load_run(path: Path, device: str = "cpu"):
    from labcore.run import resolve_device
    from labcore.rundir import load_checkpoint

    state, run_dir = load_checkpoint(path)
    algo = state.get("algo")
    if algo not in ALGOS:
        raise UsageError(f"{path} holds an unknown algorithm {algo!r}")
    cfg = build(ALGOS[algo].config, state["config"])
    return entry(ALGOS[algo].policy_module, "load_policy")(state, cfg, resolve_device(device)), cfg, run_dir


def cmd_eval(args: argparse.Namespace) -> int:
    from labcore.rundir import atomic_write
    from rllab.envs import EnvSpec
    from rllab.evaluate import evaluate, summary

    if args.episodes <= 0:
        raise UsageError(f"--episodes must be positive, not {args.episodes}")
    policy, cfg, run_dir = load_run(args.run, args.device)
    seed = cfg.seed + 10_000 if args.seed is None else args.seed
    result = summary(evaluate(policy, EnvSpec.of(cfg), args.episodes, seed))
    if (run_dir / "config.toml").exists():
        text = json.dumps({**result, "checkpoint": str(args.run)}, indent=2) + "\n"
        atomic_write(run_dir / "eval.json", lambda f: f.write(text.encode()))  # as the run writes it
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{cfg.env}: {result['mean_return']:.2f} ± {result['std_return']:.2f} over {args.episodes} episodes")
    return 0


def cmd_enjoy(args: argparse.Namespace) -> int:
    from labcore.media import encode_gif
    from rllab.envs import EnvSpec
    from rllab.evaluate import play

    if args.episodes <= 0:
        raise UsageError(f"--episodes must be positive, not {args.episodes}")
    policy, cfg, run_dir = load_run(args.run)
    out = args.out or run_dir / "episode.gif"
    if out.suffix.lower() != ".gif":
        raise UsageError(f"--out must end in .gif, not {out}")
    if out.exists() and not args.force:
        raise UsageError(f"{out} already exists; pass --force to overwrite it or choose another --out")
    frames, returns, _ = play(policy, EnvSpec.of(cfg), [args.seed + e for e in range(args.episodes)])
    out.write_bytes(encode_gif(frames, args.fps))
    print(f"wrote {out}: {len(frames)} frames, returns {', '.join(f'{r:.1f}' for r in returns)}")
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    from labcore import distributed

    if distributed.launched_size() > 1:
        raise UsageError("tune trains each trial in one process; start it without torchrun (--jobs J runs J trials "
                         "at once)")
    algo, values, recipe, note = resolve_values(args)
    table = recipes.search_table(recipe) if recipe else None
    config = ALGOS[algo].config
    build(config, values)
    if note:
        print(note, file=sys.stderr)
    space = parse_space(search.SPACES[algo] if table is None else table, [f.name for f in fields(config)])
    env_name = values.get("env", config.env).rpartition(":")[2].replace("/", "-").lower()
    target = tune.Target(
        prog="rllab", name=Path(recipe).stem if recipe else f"{algo}-{env_name}", head={"algo": algo},
        base=values, space=space, metric="eval/mean_reward", direction="maximize",
        build=partial(build, config), train=partial(entry(ALGOS[algo].module, "train"), resume=None),
        score=lambda run_dir: json.loads((run_dir / "eval.json").read_text())["mean_return"],
        describe_score="greedy return", trial_only={"video_freq": 0})
    return tune.tune(args, target, args.argv)


def cmd_plot(args: argparse.Namespace) -> int:
    return plot.plot(args, describe_run)


def describe_run(run_dir: Path) -> plot.RunInfo:
    """What `plot` groups a run by: its algorithm (from its checkpoint), environment and config."""
    values = read_toml(run_dir / "config.toml")
    algo = plot.checkpoint_entry(run_dir, "algo")
    env = values.get("env")
    return plot.RunInfo(config={"algo": algo, **values}, groups={"algo": algo, "env": env}, task=env,
                        target=reward_threshold(env))


def cmd_list(args: argparse.Namespace) -> int:
    print("algorithms:")
    for name, a in ALGOS.items():
        print(f"  {name:10s} {a.about}")
    print("recipes (rllab train NAME):")
    for name in recipes.available():
        algo, values, result = recipes.load(name)
        score = result.get("score", "not measured")
        print(f"  {name:26s} {algo:9s} {values.get('env', ''):25s} {values.get('steps', '')!s:>8} steps  {score}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse(make_parser(), argv)
    if isinstance(args, int):
        return args
    args.argv = sys.argv[1:] if argv is None else list(argv)
    commands = {"train": cmd_train, "eval": cmd_eval, "enjoy": cmd_enjoy, "tune": cmd_tune, "plot": cmd_plot,
                "list": cmd_list}
    return run_command("rllab", args.command, commands[args.command], args)


if __name__ == "__main__":
    sys.exit(main())
