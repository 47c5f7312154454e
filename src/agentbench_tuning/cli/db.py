"""`abtune db start|stop|status`: a private MariaDB for DB Bench (no systemd needed; works as root)."""

from __future__ import annotations

from pathlib import Path

import typer

from agentbench_tuning.cli.app import db_app, friendly

DIR_OPT = typer.Option(None, "--dir", help="Data directory (default ~/.cache/agentbench_tuning/mariadb).")


@db_app.command("start", epilog="Example: abtune db start && abtune eval dbbench --backend mysql ...")
@friendly
def db_start(dir: Path = DIR_OPT) -> None:
    """Start a private MariaDB and print its URL."""
    from agentbench_tuning.envs.dbbench import server

    typer.echo(server.start(dir or server.DEFAULT_DIR).url)


@db_app.command("stop", epilog="Example: abtune db stop")
@friendly
def db_stop(dir: Path = DIR_OPT) -> None:
    """Stop the private MariaDB by its PID."""
    from agentbench_tuning.envs.dbbench import server

    typer.echo("stopped" if server.stop(dir or server.DEFAULT_DIR) else "not running")


@db_app.command("status", epilog="Example: abtune db status")
@friendly
def db_status(dir: Path = DIR_OPT) -> None:
    """Print the running private MariaDB's URL, or exit 1 if none runs."""
    from agentbench_tuning.envs.dbbench import server

    info = server.status(dir or server.DEFAULT_DIR)
    if info is None:
        typer.echo("not running")
        raise typer.Exit(1)
    typer.echo(f"{info.url}  (pid {info.pid}, data {info.data_dir})")
