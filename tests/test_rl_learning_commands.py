"""benchmarks/rl_learning.py builds the commands its published runs came from: the screened GRPO methods share
one screen that runs once before them, train on every screened task of the file, and differ only by their
overrides."""

import argparse
import importlib.util
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_script():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location("rl_learning", ROOT / "benchmarks" / "rl_learning.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def args(methods, train_tasks=512, benchmark="dbbench"):
    return argparse.Namespace(
        benchmark=benchmark, methods=methods, seeds=[0, 1], warm_start="W", prompt_file="P", max_new_tokens=96, screen_samples=4,
        pass_rate="0.25,0.75", sft_weight=1.0, dpo_lr=2e-4, dpo_tasks=64, grpo_steps=20, grpo_lr=2e-4,
        grpo_tasks=128, train_tasks=train_tasks, mysql=False, out=Path("out"))


def test_screened_methods_share_one_screen_and_train_on_every_task_of_the_file():
    rl = load_script()
    a = args(["grpo-screen", "grpo-keep", "dpo-step"])
    commands = rl.train_commands(a.out, {"train": "T.jsonl"}, a)
    assert [k for k in commands if k.startswith("screen")] == ["screen"]
    assert commands["screen"][commands["screen"].index("--seeds") + 1] == "0,1,2,3"
    screen, keep = commands["train-grpo-screen-seed1"], commands["train-grpo-keep-seed1"]
    for cmd in (screen, keep):
        assert "tasks.count=512" in cmd and "tasks.screen=out/screen" in cmd and "tasks.data=T.jsonl" in cmd
    assert set(keep) - set(screen) == {"grpo.truncated=keep", "train.output_dir=out/grpo-keep-seed1"}

    commands.update(rl.eval_commands(a))
    lanes = rl.method_lanes(commands, a.methods)
    grpo = lanes["train-grpo"][2].split(" && ")
    assert [shlex.split(c)[3:5] for c in grpo[:2]] == [["eval", "dbbench"], ["grpo", "--config"]]
    assert sum("rl_learning.py" not in c and "eval dbbench" in c for c in grpo) == 1  # the screen, once
    assert "eval-one --label warm-start" in lanes["train-dpo"][2]


def test_without_a_screened_method_there_is_no_screen():
    rl = load_script()
    a = args(["grpo", "dpo"])
    assert "screen" not in rl.train_commands(a.out, {"train": "T.jsonl"}, a)


def test_alfworld_dpo_explores_easy_worlds_of_its_own_seed_and_runs_each_seed_in_its_own_lane():
    """--benchmark alfworld-sim: no DB Bench task file anywhere; exploration plays learning.py's easy worlds on a
    game seed that is neither the held-out games' nor the warm start's SFT games'; seeds explore independently,
    so each training seed is a lane of its own, the warm start's evaluation joining the last."""
    rl = load_script()
    a = args(["dpo-step"], benchmark="alfworld-sim")
    commands = rl.train_commands(a.out, {}, a)
    assert list(commands) == ["train-dpo-step-seed0", "train-dpo-step-seed1"]
    cmd = commands["train-dpo-step-seed1"]
    assert {"explore.benchmark=alfworld-sim", "explore.data=null", "explore.world.min_receptacles=4",
            "explore.world.max_receptacles=6", "explore.world.distractors=2", "explore.world.hidden_prob=0.0",
            "explore.seeds=[1]", "explore.level=step", "pairs.level=step", "explore.out=out/dpo-seed1"} <= set(cmd)
    from agentbench_tuning.config import SimWorld, load_config

    cfg = load_config(cmd[cmd.index("--config") + 1], "dpo", cmd[cmd.index("--config") + 2:])  # what dpo-round loads
    assert (cfg.explore.benchmark, cfg.explore.data, cfg.explore.world) == ("alfworld-sim", None, SimWorld.easy())
    explore_seed = cfg.explore.task_seed
    assert explore_seed not in (rl.ALF_EVAL_SEED, rl.REPLICATION_SEED, 1)  # 1: learning.py's SFT games
    commands.update(rl.eval_commands(a))
    assert all(c[c.index("--benchmark") + 1] == "alfworld-sim" for k, c in commands.items() if k.startswith("eval-"))
    lanes = rl.method_lanes(commands, a.methods, per_seed=True)
    assert list(lanes) == ["train-dpo-seed0", "train-dpo-seed1"]
    for seed, lane in enumerate(lanes.values()):
        steps = lane[2].split(" && ")
        assert "dpo-round" in steps[0] and f"explore.seeds=[{seed}]" in steps[0]
        assert f"eval-one --label dpo-step-seed{seed}" in steps[1]
    assert "eval-one --label warm-start" in lanes["train-dpo-seed1"][2]


def test_each_held_out_set_has_its_own_folder_and_the_first_replication_keeps_its_names():
    rl = load_script()
    dirs = [rl.eval_dir(argparse.Namespace(replication=r)) for r in (None, rl.REPLICATION_SEED, 13)]
    assert dirs == ["eval", "eval-replication", "eval-replication-seed13"]
