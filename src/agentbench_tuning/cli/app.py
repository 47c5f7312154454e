"""The typer apps every command module registers on, and the one way a command reports a user error."""

from __future__ import annotations

import functools
import os
import sys

import typer
from rich.console import Console

console = Console()

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="AgentBench Tuning: evaluate, generate data, fine-tune (SFT) for ALFWorld and DB Bench.")
eval_app = typer.Typer(no_args_is_help=True, help="Run a benchmark harness with any agent and grade the episodes.")
data_app = typer.Typer(no_args_is_help=True, help="Generate and convert training data.")
db_app = typer.Typer(no_args_is_help=True, help="Manage a private MariaDB server for DB Bench.")
prompts_app = typer.Typer(no_args_is_help=True, help="Prompt texts used by the harnesses.")
app.add_typer(eval_app, name="eval")
app.add_typer(data_app, name="data")
app.add_typer(db_app, name="db")
app.add_typer(prompts_app, name="prompts")


def fail(message: str, code: int = 2) -> None:
    """One clear line on stderr and exit code 2: the user's input was wrong, not the program."""
    Console(stderr=True).print(f"[red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean bad input (a file, a flag, a config): shown as one line, not a traceback."""
    from agentbench_tuning.config import ConfigError
    from agentbench_tuning.eval.runner import RunMismatch
    from agentbench_tuning.locks import DirectoryInUse
    from agentbench_tuning.records import RecordError

    return (ConfigError, RecordError, RunMismatch, DirectoryInUse, FileNotFoundError, IsADirectoryError, NotADirectoryError,
            ValueError, UnicodeDecodeError)


def friendly(command):
    """Decorate a command so a user error (`user_errors()`) is one line and exit code 2, under any runner
    (the console script, `python -m`, typer's CliRunner in tests). `ABTUNE_DEBUG=1` keeps the traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except user_errors() as err:
            if os.environ.get("ABTUNE_DEBUG"):
                raise
            fail(str(err))

    return wrapper


def main() -> None:
    """Entry point: user errors become one line and exit code 2 (`ABTUNE_DEBUG=1` shows the traceback)."""
    try:
        code = app(standalone_mode=False)  # click returns an Exit's code instead of raising it here
        sys.exit(code if isinstance(code, int) else 0)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        sys.exit(130)
    except Exception as err:
        import click

        if isinstance(err, click.ClickException):
            err.show()
            sys.exit(err.exit_code)
        if isinstance(err, user_errors()) and not os.environ.get("ABTUNE_DEBUG"):
            Console(stderr=True).print(f"[red]error:[/] {err}", highlight=False, soft_wrap=True)
            sys.exit(2)
        raise
