# /// script
# requires-python = ">=3.11"
# dependencies = ["agentbench-tuning", "marimo>=0.25", "matplotlib>=3.8"]
#
# # The toolkit from this checkout (`uv run`, `marimo edit --sandbox`); the Colab export installs it from git.
# [tool.uv.sources]
# agentbench-tuning = { path = "..", editable = true }
# ///
"""Evaluation report, interactively: scores with CIs, per-type success, statuses, a paired comparison.

    marimo edit eval/report.py                                      # interactive
    python eval/report.py --runs runs/eval/base,runs/eval/sft       # as a script
    python eval/report.py --debug                                   # synthetic demo runs, headless
"""

import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium")


@app.cell
def _():
    import tempfile
    from pathlib import Path

    import marimo as mo

    from agentbench_tuning.eval import report as reports
    from agentbench_tuning.eval.stats import compare_runs

    return Path, compare_runs, mo, reports, tempfile


@app.cell
def _(mo):
    from agentbench_tuning.notebooks import cli_args, stop  # work in marimo, Jupyter and Colab alike

    args = cli_args()
    debug = "debug" in args
    runs_input = mo.ui.text(value=args.get("runs", ""), label="run directories (comma-separated)", full_width=True)
    out_input = mo.ui.text(value=args.get("out", ""), label="write report.md to (optional)")
    runs_input, out_input
    return debug, out_input, runs_input, stop


@app.cell
def _(Path, debug, reports, runs_input, stop, tempfile):
    run_dirs = [Path(p.strip()) for p in runs_input.value.split(",") if p.strip()]
    if not run_dirs and debug:
        # Synthetic records with a known difference, clearly named demo-*: not real results.
        run_dirs = reports.write_demo_runs(tempfile.mkdtemp(prefix="abtune-report-demo-"))
    # In marimo the cells below wait; in Jupyter/Colab they run on no runs and show nothing.
    stop(not run_dirs, "Enter one or more run directories, each with `records.jsonl`: the field above in marimo, "
         '`NOTEBOOK_ARGS = "--runs runs/eval/base,runs/eval/sft"` in Colab/Jupyter (`--debug`: synthetic demo runs).')
    runs = [reports.load_run(d) for d in run_dirs]
    return run_dirs, runs


@app.cell
def _(mo, reports, runs):
    mo.vstack([mo.md("## Scores"), mo.md(reports.summary_table(runs)),
               mo.md("## Status breakdown (% of episodes)"), mo.md(reports.status_table(runs))]) if runs else None
    return


@app.cell
def _(mo, reports, runs):
    mo.vstack([mo.md(f"### {run.name}: success by type\n\n" + reports.type_table(run)) for run in runs])
    return


@app.cell
def _(Path, mo, reports, runs, tempfile):
    from agentbench_tuning.eval import plots

    _figures = []
    if runs:
        plot_dir = Path(tempfile.mkdtemp(prefix="abtune-plots-"))
        _figures = [plots.per_type_plot(runs, plot_dir / "per_type.png"),
                    plots.status_plot(runs, plot_dir / "status.png"),
                    plots.learning_curves(runs, plot_dir / "learning_curves.png")]
    mo.vstack([mo.image(str(p)) for p in _figures if p])
    return


@app.cell
def _(compare_runs, mo, runs):
    # Plain if/else rather than mo.stop: the exported notebook also runs in Jupyter/Colab, where a stop raises.
    # The same comparison and wording as `abtune report --compare A B` (an expert run against a model run
    # included): pairs are matched by (item, seed).
    if len(runs) < 2:
        _view = mo.md("Give two runs to compare them." if runs else "")
    else:
        _a, _b = runs[0].name, runs[1].name
        comparison = compare_runs(runs[0].records, runs[1].records, names=(_a, _b))
        _view = mo.md(f"## Paired comparison\n\n{comparison.verdict}\n\nCohen's h = {comparison.cohens_h:+.3f} "
                      f"(positive: {_b} is higher than {_a}) over {comparison.n_pairs} matched (item, seed) pairs.")
    _view
    return


@app.cell
def _(mo, out_input, reports, run_dirs):
    _written = reports.write_report(run_dirs, out_input.value, compare=None) if out_input.value and run_dirs else None
    mo.md(f"wrote `{_written.path}`" if _written else "")
    return


if __name__ == "__main__":
    app.run()
