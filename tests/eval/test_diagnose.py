"""`abtune diagnose` on synthetic trainer logs: one log per failure mode, and a healthy one that stays quiet."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from agentbench_tuning.cli import app
from agentbench_tuning.eval.diagnose import TrainingLog, diagnose, load_training_log


def healthy_sft(n=20):
    """Loss falling smoothly, eval loss falling, LR warmup then linear decay, steady gradients."""
    rows = []
    for step in range(1, n + 1):
        lr = 2e-4 * min(step / 3, (n - step + 1) / (n - 2))
        rows.append({"step": step, "loss": 2.0 - 0.05 * step, "grad_norm": 1.0 + 0.01 * step, "learning_rate": lr})
        if step % 4 == 0:
            rows.append({"step": step, "eval_loss": 2.1 - 0.04 * step})
    return rows


def healthy_grpo(n=20):
    return [{"step": s, "loss": 0.01, "reward": 0.2 + 0.02 * s, "reward_std": 0.3, "frac_reward_zero_std": 0.2,
             "kl": 0.01 + 0.001 * s, "entropy": 0.9, "clip_ratio/region_mean": 0.01,
             "completions/mean_length": 120 + s} for s in range(1, n + 1)]


def checks(rows):
    return [f.check for f in diagnose(TrainingLog(rows, "synthetic"))]


def test_healthy_runs_have_no_findings():
    assert checks(healthy_sft()) == []
    assert checks(healthy_grpo()) == []


def edit(rows, key, fn, start=0):
    return [dict(r, **{key: fn(r["step"], r[key])}) if key in r and r["step"] >= start else r for r in rows]


@pytest.mark.parametrize(
    "rows, expected",
    [
        # A NaN loss at step 7.
        (edit(healthy_sft(), "loss", lambda s, v: math.nan if s == 7 else v), ["nan_inf"]),
        # Loss falls to 1.5 by step 10, then climbs to 4.5: above 1.5x its low and above its start (1.95).
        (edit(healthy_sft(), "loss", lambda s, v: 1.5 + 0.3 * (s - 10), start=11), ["divergence"]),
        # Eval loss bottoms at step 8 then rises at steps 12, 16, 20 while training loss keeps falling.
        (edit(healthy_sft(), "eval_loss", lambda s, v: 1.78 + 0.1 * (s - 8), start=12), ["overfitting"]),
        # One gradient norm of 50 against a median of about 1.1.
        (edit(healthy_sft(), "grad_norm", lambda s, v: 50.0 if s == 13 else v), ["grad_spikes"]),
        # A schedule that jumps back up at step 15 (resumed with a different max_steps).
        (edit(healthy_sft(), "learning_rate", lambda s, v: 2e-4, start=15), ["lr_schedule"]),
        # Learning rate 0 throughout.
        (edit(healthy_sft(), "learning_rate", lambda s, v: 0.0), ["lr_schedule"]),
    ],
)
def test_sft_failures(rows, expected):
    assert checks(rows) == expected


@pytest.mark.parametrize(
    "rows, expected",
    [
        # Reward climbs to 0.5 by step 15 then drops to 0: the last-window mean fell > half the range.
        (edit(healthy_grpo(), "reward", lambda s, v: 0.0, start=16), ["reward_collapse"]),
        (edit(healthy_grpo(), "frac_reward_zero_std", lambda s, v: 0.9), ["zero_variance_groups"]),
        # KL from ~0.013 to 2.0 (>10x and > 0.5).
        (edit(healthy_grpo(), "kl", lambda s, v: 2.0, start=19), ["kl_blowup"]),
        (edit(healthy_grpo(), "entropy", lambda s, v: 12.0, start=20), ["entropy_blowup"]),
        (edit(healthy_grpo(), "entropy", lambda s, v: 0.02, start=20), ["entropy_collapse"]),
        (edit(healthy_grpo(), "clip_ratio/region_mean", lambda s, v: 0.4), ["clip_ratio"]),
        (edit(healthy_grpo(), "completions/mean_length", lambda s, v: 5.0, start=20), ["length_collapse"]),
    ],
)
def test_grpo_failures(rows, expected):
    assert checks(rows) == expected


def test_cli_reads_trainer_state_and_exits_nonzero_on_errors(tmp_path):
    checkpoint = tmp_path / "checkpoint-20"
    checkpoint.mkdir()
    rows = edit(healthy_sft(), "loss", lambda s, v: math.nan if s == 7 else v)
    # json writes NaN as a bare NaN token, which is what transformers' trainer_state.json contains too.
    (checkpoint / "trainer_state.json").write_text(json.dumps({"log_history": rows}))
    result = CliRunner().invoke(app, ["diagnose", str(tmp_path)])
    assert result.exit_code == 1
    assert "[error] nan_inf: loss became nan at step 7 (1 non-finite values)" in result.output
    (checkpoint / "trainer_state.json").write_text(json.dumps({"log_history": healthy_sft()}))
    result = CliRunner().invoke(app, ["diagnose", str(tmp_path)])
    assert result.exit_code == 0 and "no problems found" in result.output


def test_wandb_and_tensorboard_exports(tmp_path):
    (tmp_path / "history.csv").write_text("_step,train/loss,eval/loss\n1,2.0,\n2,1.5,1.7\n")
    log = load_training_log(tmp_path)
    assert log.series("loss") == [(1, 2.0), (2, 1.5)] and log.series("eval_loss") == [(2, 1.7)]
    tb = tmp_path / "tb"
    tb.mkdir()
    (tb / "scalars.csv").write_text("tag,step,value\ntrain/reward,1,0.1\ntrain/kl,1,0.01\ntrain/reward,2,0.3\n")
    log = load_training_log(tb)
    assert log.series("reward") == [(1, 0.1), (2, 0.3)] and log.series("kl") == [(1, 0.01)]
