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


def args(methods, train_tasks=512):
    return argparse.Namespace(
        methods=methods, seeds=[0, 1], warm_start="W", prompt_file="P", max_new_tokens=96, screen_samples=4,
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
