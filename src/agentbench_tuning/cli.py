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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
