"""`abtune`: the command line. Each command wires package functions together; no logic lives here.

abtune --help
abtune sft --config configs/debug.yaml max_steps=20
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

console = Console()

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__.split("\n")[0])
eval_app = typer.Typer(no_args_is_help=True, help="Run a benchmark harness and grade the episodes.")
data_app = typer.Typer(no_args_is_help=True, help="Generate and convert training data.")
db_app = typer.Typer(no_args_is_help=True, help="Manage a private MariaDB server for DB Bench.")
prompts_app = typer.Typer(no_args_is_help=True, help="Prompt texts used by the harnesses.")
app.add_typer(eval_app, name="eval")
app.add_typer(data_app, name="data")
app.add_typer(db_app, name="db")
app.add_typer(prompts_app, name="prompts")


# ------------------------------------------------------------------ training (foundation)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def sft(
    ctx: typer.Context,
    config: Path = typer.Option(..., "--config", "-c", help="YAML run config (see configs/)"),
) -> None:
    """LoRA/QLoRA supervised fine-tuning. Extra `section.key=value` arguments override the YAML."""
    from agentbench_tuning.config import ConfigError, load_sft_config
    from agentbench_tuning.training.sft import run_sft

    try:
        cfg = load_sft_config(config, ctx.args)
    except (ConfigError, FileNotFoundError) as err:
        _fail(str(err))
    result = run_sft(cfg)
    losses = result.losses
    trend = f"loss {losses[0]:.4f} -> {losses[-1]:.4f}" if losses else "no loss logged"
    resumed = f", resumed from {result.resumed_from}" if result.resumed_from else ""
    console.print(
        f"[green]done[/]: {result.global_step} steps{resumed}; {trend}; adapter in {result.adapter_dir}"
    )


@app.command()
def export(
    adapter: Path = typer.Option(..., help="LoRA adapter directory (e.g. runs/sft/final)"),
    out: Path = typer.Option(..., help="where to write the merged model"),
    base: str = typer.Option(None, help="base model (default: the adapter's base_model_name_or_path)"),
    dtype: str = typer.Option("auto", help="auto | bfloat16 | float16 | float32"),
) -> None:
    """Merge an adapter into its base, save safetensors + chat template, verify the logits round-trip."""
    from agentbench_tuning.training.export import export_merged

    report = export_merged(adapter, out, base=base, dtype=dtype)
    console.print(report.summary())


# ------------------------------------------------------------------ DB Bench


# ------------------------------------------------------------------ ALFWorld


# ------------------------------------------------------------------ evaluation, reports, diagnostics


def _fail(message: str) -> None:
    """One clear line on stderr, exit code 2: the user's input was wrong, not the program."""
    Console(stderr=True).print(f"[red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
