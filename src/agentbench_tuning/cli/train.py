"""`abtune sft` (LoRA/QLoRA/full supervised fine-tuning), `abtune grpo` (multi-turn GRPO) and `abtune export`
(merge for serving)."""

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
    rewards = result.series("reward")
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
