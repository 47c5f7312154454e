"""`abtune`: the command line. Each command wires package functions together; no logic lives here.

    abtune --help
    abtune sft --config configs/debug.yaml max_steps=20
"""

from __future__ import annotations

import typer

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


# ------------------------------------------------------------------ DB Bench


# ------------------------------------------------------------------ ALFWorld


# ------------------------------------------------------------------ evaluation, reports, diagnostics
# Model-agent options shared by `abtune eval dbbench|alfworld --agent model` (use them as parameter defaults
# there, then call `model_options(...)` and `eval.runner.evaluate_with_options`).
MODEL_OPT = typer.Option(None, "--model", help="Hub id or local directory (for --engine openai: the served name).")
ADAPTER_OPT = typer.Option(None, "--adapter", help="PEFT LoRA adapter directory to apply.")
ENGINE_OPT = typer.Option("vllm", "--engine", help="Generator: vllm | transformers | openai.")
BASE_URL_OPT = typer.Option(None, "--base-url", help="OpenAI-compatible server for --engine openai.")
SEEDS_OPT = typer.Option("0", "--seeds", help="Comma-separated seeds; every task runs once per seed.")
TEMPERATURE_OPT = typer.Option(0.0, "--temperature", help="0 = greedy, as AgentBench v0.2's agent.")
MAX_NEW_TOKENS_OPT = typer.Option(512, "--max-new-tokens", help="Per model turn (AgentBench v0.2: 512).")
MAX_CONTEXT_OPT = typer.Option(8192, "--max-context", help="Served context; longer prompts -> agent context limit.")


def model_options(model, engine, adapter, base_url, seeds, temperature, max_new_tokens=512, max_context=8192):
    """Turn the shared CLI options into a validated `ModelOptions` (a clear error for bad values)."""
    from agentbench_tuning.rollout.engines import ModelOptions, parse_seeds

    if not model:
        raise typer.BadParameter("--agent model needs --model PATH_OR_ID")
    try:
        opts = ModelOptions(model=model, engine=engine, adapter=adapter, base_url=base_url, seeds=parse_seeds(seeds),
                            temperature=temperature, max_new_tokens=max_new_tokens, max_context=max_context)
        opts.validate()
    except ValueError as err:
        raise typer.BadParameter(str(err)) from None
    return opts


@app.command()
def report(
    run_dirs: list[str] = typer.Argument(..., help="Evaluation run directories (each with records.jsonl)."),
    compare: tuple[str, str] | None = typer.Option(None, "--compare", help="Two of the runs to compare, A B."),
    out: str = typer.Option(None, "--out", help="Where report.md and the plots go (default: the first run)."),
) -> None:
    """Write report.md with tables, CIs and PNG plots; with --compare, a paired test and a verdict."""
    from agentbench_tuning.eval.report import write_report

    pair = compare if compare and all(compare) else None
    result = write_report(run_dirs, out or run_dirs[0], compare=pair)
    typer.echo(result.text)
    typer.echo(f"wrote {result.path}")


@app.command()
def diagnose(run_dir: str = typer.Argument(..., help="Training run directory (trainer_state.json or exports).")) -> None:
    """Look for overfitting, divergence, NaNs, spikes, LR anomalies and GRPO failure modes in the logs."""
    from agentbench_tuning.eval.diagnose import diagnose as run_checks
    from agentbench_tuning.eval.diagnose import format_findings, load_training_log

    log = load_training_log(run_dir)
    if log is None:
        typer.echo(f"{run_dir}: no trainer_state.json or *.csv log export found", err=True)
        raise typer.Exit(2)
    findings = run_checks(log)
    typer.echo(format_findings(log, findings))
    raise typer.Exit(1 if any(f.severity == "error" for f in findings) else 0)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
