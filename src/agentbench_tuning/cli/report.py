"""`abtune report` (tables, CIs, plots, paired comparison) and `abtune diagnose` (training-log checks)."""

from __future__ import annotations

from pathlib import Path

import typer

from agentbench_tuning.cli.app import app, fail, friendly


@app.command(epilog="Example: abtune report runs/eval/base runs/eval/sft --compare runs/eval/base runs/eval/sft")
@friendly
def report(
    run_dirs: list[Path] = typer.Argument(..., help="Evaluation run directories (each with records.jsonl)."),
    compare: tuple[str, str] | None = typer.Option(None, "--compare", help="Two of the runs to compare, A B."),
    out: Path = typer.Option(None, "--out", help="Where report.md and the plots go (default: the first run)."),
) -> None:
    """Write report.md with tables, CIs and PNG plots; with --compare, a paired test and a verdict."""
    from agentbench_tuning.eval.report import write_report

    pair = compare if compare and all(compare) else None
    result = write_report(run_dirs, out or run_dirs[0], compare=pair)
    typer.echo(result.text)
    typer.echo(f"wrote {result.path}")


@app.command(epilog="Example: abtune diagnose runs/sft")
@friendly
def diagnose(run_dir: Path = typer.Argument(..., help="Training run directory (trainer_state.json or exports).")) -> None:
    """Look for overfitting, divergence, NaNs, spikes, LR anomalies and GRPO failure modes in the logs."""
    from agentbench_tuning.eval.diagnose import diagnose as run_checks
    from agentbench_tuning.eval.diagnose import format_findings, load_training_log

    log = load_training_log(run_dir)
    if log is None:
        fail(f"{run_dir}: no trainer_state.json or *.csv log export found; point at a training output_dir")
    findings = run_checks(log)
    typer.echo(format_findings(log, findings))
    raise typer.Exit(1 if any(f.severity == "error" for f in findings) else 0)
