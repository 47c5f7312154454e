"""`abtune sweep`, `abtune ablate` and `abtune run --spec`: experiments over run configs."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from agentbench_tuning.cli.app import app, console, friendly


@app.command(context_settings={"allow_extra_args": True},
             epilog="Example: abtune sweep --config configs/sweeps/debug.yaml study.n_trials=8")
@friendly
def sweep(ctx: typer.Context, config: Path = typer.Option(..., "--config", "-c", help="Sweep YAML.")) -> None:
    """Optuna search over config keys that maximises validation success; the top trials are retrained with
    several seeds and the winner is named on the test split. Killed? Run the same command: it resumes."""
    from agentbench_tuning.config import load_config
    from agentbench_tuning.experiments.settings import SweepRunConfig
    from agentbench_tuning.experiments.sweep import run_sweep

    result = run_sweep(load_config(config, SweepRunConfig, ctx.args))
    console.print((result.out_dir / "trials.md").read_text(), highlight=False)
    console.print(f"trials: {result.out_dir / 'trials.csv'}; winner: {result.out_dir / 'winner.json'}")


@app.command(context_settings={"allow_extra_args": True},
             epilog="Example: abtune ablate --config configs/ablations/debug.yaml")
@friendly
def ablate(ctx: typer.Context, config: Path = typer.Option(..., "--config", "-c", help="Ablation YAML.")) -> None:
    """The base config and named variants, same seeds, data and evaluation; one table with paired tests."""
    from agentbench_tuning.config import load_config
    from agentbench_tuning.experiments.ablate import run_ablation
    from agentbench_tuning.experiments.settings import AblationRunConfig

    result = run_ablation(load_config(config, AblationRunConfig, ctx.args))
    console.print(result.table, highlight=False)
    console.print(f"wrote {result.out_dir / 'ablation.md'}")


@app.command("run", epilog="Example: abtune run --spec task.json  (schema: abtune run --print-schema run_spec)")
@friendly
def run(
    spec: Path = typer.Option(None, "--spec", help="A JSON run spec (data + method + evaluation [+ sweep])."),
    print_schema: str = typer.Option(None, "--print-schema", help="Print a shipped JSON Schema: run_spec | result."),
) -> None:
    """One JSON document in, result.json out: for scripts and coding agents."""
    from agentbench_tuning.experiments.spec import run_spec, schema

    if print_schema:
        typer.echo(json.dumps(schema(print_schema), indent=2))
        return
    if spec is None:
        raise ValueError("--spec FILE.json is required (or --print-schema run_spec)")
    result = run_spec(spec)
    typer.echo(json.dumps({k: result[k] for k in ("name", "status", "metrics", "best_params")}, indent=2))
