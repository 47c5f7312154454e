"""`abtune sft` (LoRA/QLoRA/full supervised fine-tuning), `abtune export` (merge for serving), and the RL
commands `abtune grpo` (multi-turn), `abtune sql-grpo` (single-turn SQL), `abtune dpo`, `abtune dpo-round`."""

from __future__ import annotations

from pathlib import Path

import typer

from agentbench_tuning.cli.app import app, console, friendly


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
             epilog="Example: abtune sft --config configs/debug.yaml train.max_steps=20 lora.r=8")
@friendly
def sft(
    ctx: typer.Context,
    config: Path = typer.Option(..., "--config", "-c", help="YAML run config (see configs/)."),
) -> None:
    """Supervised fine-tuning. Extra `section.key=value` arguments override the YAML."""
    from agentbench_tuning.config import load_config
    from agentbench_tuning.training.sft import run_sft

    cfg = load_config(config, "sft", ctx.args)
    result = run_sft(cfg)
    if result.already_finished:
        console.print(f"[yellow]already finished[/]: {result.global_step} steps; adapter in {result.adapter_dir} "
                      "(train.resume=never or a new train.output_dir starts over)")
        return
    losses = result.losses
    trend = f"loss {losses[0]:.4f} -> {losses[-1]:.4f}" if losses else "no loss logged"
    resumed = f", resumed from {result.resumed_from}" if result.resumed_from else ""
    console.print(f"[green]done[/]: {result.global_step} steps{resumed}; {trend}; adapter in {result.adapter_dir}")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
             epilog="Example: abtune grpo --config configs/grpo_debug.yaml train.max_steps=4 tasks.benchmark=dbbench")
@friendly
def grpo(
    ctx: typer.Context,
    config: Path = typer.Option(..., "--config", "-c", help="YAML run config (see configs/grpo_*.yaml)."),
) -> None:
    """Multi-turn GRPO on whole episodes (LoRA/QLoRA). Extra `section.key=value` arguments override the YAML."""
    from agentbench_tuning.config import load_config
    from agentbench_tuning.training.grpo import run_grpo

    cfg = load_config(config, "grpo", ctx.args)
    result = run_grpo(cfg)
    rewards = result.curve("reward")
    trend = f"reward {rewards[0]:.3f} -> {rewards[-1]:.3f}" if rewards else "no reward logged"
    resumed = f", resumed from {result.resumed_from}" if result.resumed_from else ""
    console.print(f"[green]done[/]: {result.global_step} steps{resumed}; {trend}; adapter in {result.adapter_dir}")


@app.command(epilog="Example: abtune export --adapter runs/sft/final --out runs/sft/merged")
@friendly
def export(
    adapter: Path = typer.Option(..., help="LoRA adapter directory (e.g. runs/sft/final)."),
    out: Path = typer.Option(..., help="Where to write the merged model."),
    base: str = typer.Option(None, help="Base model (default: the adapter's base_model_name_or_path)."),
    dtype: str = typer.Option("auto", help="auto | bfloat16 | float16 | float32"),
) -> None:
    """Merge an adapter into its base, save safetensors + chat template, verify the logits round-trip."""
    from agentbench_tuning.training.export import export_merged

    if not adapter.is_dir():
        raise FileNotFoundError(f"--adapter {adapter}: no such directory (an SFT run writes OUTPUT_DIR/final)")
    console.print(export_merged(adapter, out, base=base, dtype=dtype).summary())


# ------------------------------------------------------------------ RL: DPO and single-turn SQL GRPO (issue 9)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
             epilog="Example: abtune dpo --config configs/dpo_debug.yaml dpo.loss_type=sigmoid_norm")
@friendly
def dpo(
    ctx: typer.Context,
    config: Path = typer.Option(..., "--config", "-c", help="YAML run config (see configs/dpo_*.yaml)."),
) -> None:
    """DPO on step-level or whole-trajectory pairs (observations masked). Extra `section.key=value` override."""
    from agentbench_tuning.config import load_config
    from agentbench_tuning.training.dpo import run_dpo

    result = run_dpo(load_config(config, "dpo", ctx.args))
    console.print(f"[green]done[/]: {result.global_step} steps; {_dpo_trend(result)}; adapter in {result.adapter_dir}")


@app.command("dpo-round", context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
             epilog="Example: abtune dpo-round --config configs/dpo_debug.yaml dpo.init_adapter=runs/debug/final")
@friendly
def dpo_round(
    ctx: typer.Context,
    config: Path = typer.Option(..., "--config", "-c", help="YAML run config (see configs/dpo_*.yaml)."),
) -> None:
    """One ETO round: the policy explores generated training tasks (temperature > 0), its failures are paired
    with the expert's trajectories of the same tasks, then DPO trains on the pairs."""
    from agentbench_tuning.config import load_config
    from agentbench_tuning.eval.runner import evaluate
    from agentbench_tuning.training.dpo_round import dpo_round as run_round

    result = run_round(load_config(config, "dpo", ctx.args), evaluate)
    console.print(f"explored: success {result.explore_success_rate:.3f} ({result.explore_dir}); "
                  f"{result.pairs} pairs in {result.pairs_file}")
    if result.dpo is None:
        console.print("[yellow]nothing to train[/]: no failed episode to pair with the expert's trajectory")
    else:
        console.print(f"[green]done[/]: {result.dpo.global_step} steps; {_dpo_trend(result.dpo)}; "
                      f"adapter in {result.dpo.adapter_dir}")


def _dpo_trend(result) -> str:
    losses, margins = result.curve("loss"), result.curve("rewards/margins")
    if not losses:
        return "no loss logged"
    return f"loss {losses[0]:.4f} -> {losses[-1]:.4f}, reward margin {margins[0]:.4f} -> {margins[-1]:.4f}"


@app.command("sql-grpo", context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
             epilog="Example: abtune sql-grpo --config configs/sql_grpo_debug.yaml data.backend=mysql")
@friendly
def sql_grpo(
    ctx: typer.Context,
    config: Path = typer.Option(..., "--config", "-c", help="YAML run config (see configs/sql_grpo_*.yaml)."),
) -> None:
    """Single-turn SQL GRPO on generated DB Bench samples, rewarded by execution on a fresh table copy."""
    from agentbench_tuning.config import load_config
    from agentbench_tuning.training.sql_grpo import run_sql_grpo

    result = run_sql_grpo(load_config(config, "sql_grpo", ctx.args))
    rewards = result.curve("reward")
    trend = f"reward {rewards[0]:.3f} -> {rewards[-1]:.3f}" if rewards else "no reward logged"
    console.print(f"[green]done[/]: {result.global_step} steps; {trend}; adapter in {result.adapter_dir}")
