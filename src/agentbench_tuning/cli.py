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


# Model-agent options shared by `abtune eval dbbench|alfworld --agent model` (use them as parameter defaults
# there, then call `model_options(...)` and `_eval_model`).
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


def _eval_model(opts, make_env, specs, out, metric, key: str, config: dict) -> None:
    """`--agent model` on either harness: the shared episode runner, then the summary tables."""
    from agentbench_tuning.eval.report import load_run, summary_table, type_table
    from agentbench_tuning.eval.runner import evaluate_with_options

    evaluate_with_options(opts, make_env, specs, out, metric, key, config)
    run = load_run(out)
    console.print(summary_table([run]))
    console.print(type_table(run))
    console.print(f"records: {Path(out) / 'records.jsonl'}; summary: {Path(out) / 'summary.json'}")


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


@eval_app.command("dbbench")
def eval_dbbench(
    data: Path = typer.Option(..., help="v0.2-format samples (JSONL), e.g. from `abtune data dbbench-gen`"),
    agent: str = typer.Option("oracle", help="oracle | replay | model"),
    backend: str = typer.Option("sqlite", help="mysql (faithful) | sqlite (quick approximation)"),
    out: Path = typer.Option(..., help="output directory: records.jsonl (resumable) and summary.json"),
    db_url: str = typer.Option(None, help="mysql://user:password@host:port (default: the managed server's)"),
    responses: Path = typer.Option(None, help='replay file, one {"index": i, "turns": [...]} per line'),
    prompt_file: Path = typer.Option(None, help="instruction text saved by `abtune prompts import`"),
    compare: str = typer.Option("v0.2", help="SELECT answer comparison: v0.2 | fc (AgentBench main)"),
    limit: int = typer.Option(None, help="only the first N samples"),
    model: str = MODEL_OPT,
    adapter: str = ADAPTER_OPT,
    engine: str = ENGINE_OPT,
    base_url: str = BASE_URL_OPT,
    seeds: str = SEEDS_OPT,
    temperature: float = TEMPERATURE_OPT,
    max_new_tokens: int = MAX_NEW_TOKENS_OPT,
    max_context: int = MAX_CONTEXT_OPT,
) -> None:
    """Run DB Bench episodes and grade them exactly as AgentBench v0.2 does."""
    from rich.table import Table

    from agentbench_tuning.envs.base import load_replay
    from agentbench_tuning.envs.dbbench import (
        DBBenchEnv,
        EnvPool,
        MySQLBackend,
        ReplayAgents,
        evaluate,
        load_tasks,
        make_backend,
        oracle_agent,
        server,
    )

    tasks = load_tasks(data)[:limit]
    if backend == "mysql" and db_url is None:
        running = server.status()
        db_url = running.url if running else None
    if agent == "model":
        from agentbench_tuning.eval.stats import dbbench_score
        from agentbench_tuning.rollout.episodes import EpisodeSpec

        opts = model_options(model, engine, adapter, base_url, seeds, temperature, max_new_tokens, max_context)
        make_db = (lambda: MySQLBackend(db_url, unique_databases=True)) if backend == "mysql" else (
            lambda: make_backend(backend))
        make_db().close()  # fail now, not inside the first episode, if the server is unreachable
        pool = EnvPool(make_db, prompt_file=prompt_file, compare=compare)
        specs = [EpisodeSpec(t.index, t, type=t.type) for t in tasks]
        config = {"task": "dbbench", "data": str(data), "backend": backend, "compare": compare, "limit": limit}
        try:
            _eval_model(opts, pool.make_env, specs, out, dbbench_score, "overall_cat_accuracy", config)
        finally:
            pool.close()
        return
    if agent == "oracle":
        factory = oracle_agent
    elif agent == "replay":
        if responses is None:
            raise typer.BadParameter("--agent replay needs --responses FILE.jsonl")
        factory = ReplayAgents(load_replay(responses))
    else:
        raise typer.BadParameter(f"--agent {agent!r}: choose oracle, replay or model")
    db = make_backend(backend, db_url)
    try:
        summary = evaluate(tasks, DBBenchEnv(db, prompt_file=prompt_file, compare=compare), factory, out)
    finally:
        db.close()
    table = Table(title=f"DB Bench ({backend}, {agent}) - {summary['episodes']} episodes")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in summary.items():
        if key.endswith("accuracy"):
            table.add_row(key, f"{value:.4f}")
    for status, share in summary["status"].items():
        table.add_row(f"status: {status}", f"{share:.4f}")
    console.print(table)


@data_app.command("dbbench-gen")
def data_dbbench_gen(
    out: Path = typer.Option(..., help="output directory"),
    n: int = typer.Option(400, help="number of samples (train + held-out)"),
    seed: int = typer.Option(0),
    heldout_fraction: float = typer.Option(0.1, help="share of tables kept for the held-out split"),
    backend: str = typer.Option("sqlite", help="where gold hashes and expert observations are computed"),
    db_url: str = typer.Option(None, help="mysql://... for --backend mysql (default: the managed server's)"),
) -> None:
    """Generate DB Bench-style tasks with gold answers and expert trajectories (our own data, no AgentBench)."""
    import time

    from agentbench_tuning.envs.dbbench import make_backend, server
    from agentbench_tuning.envs.dbbench.generate import GenConfig, generate, write_generated

    if backend == "mysql" and db_url is None:
        running = server.status()
        db_url = running.url if running else None
    db = make_backend(backend, db_url)
    started = time.perf_counter()
    try:
        samples = generate(GenConfig(n=n, seed=seed, heldout_fraction=heldout_fraction), db)
    finally:
        db.close()
    seconds = time.perf_counter() - started
    stats = {"n": len(samples), "seed": seed, "backend": backend, "seconds": round(seconds, 3),
             "heldout": sum(s.heldout for s in samples)}
    paths = write_generated(samples, out, stats)
    typer.echo(f"{len(samples)} samples in {seconds:.1f} s -> " + ", ".join(str(p) for p in paths.values()))


@db_app.command("start")
def db_start(dir: Path = typer.Option(None, "--dir", help="data directory (default ~/.cache/agentbench_tuning/mariadb)")) -> None:
    """Start a private MariaDB (no systemd needed; works as root) and print its URL."""
    from agentbench_tuning.envs.dbbench import server

    info = server.start(dir or server.DEFAULT_DIR)
    typer.echo(info.url)


@db_app.command("stop")
def db_stop(dir: Path = typer.Option(None, "--dir")) -> None:
    """Stop the private MariaDB by its PID."""
    from agentbench_tuning.envs.dbbench import server

    typer.echo("stopped" if server.stop(dir or server.DEFAULT_DIR) else "not running")


@db_app.command("status")
def db_status(dir: Path = typer.Option(None, "--dir")) -> None:
    """Print the running private MariaDB's URL, or exit 1 if none runs."""
    from agentbench_tuning.envs.dbbench import server

    info = server.status(dir or server.DEFAULT_DIR)
    if info is None:
        typer.echo("not running")
        raise typer.Exit(1)
    typer.echo(f"{info.url}  (pid {info.pid}, data {info.data_dir})")


# ------------------------------------------------------------------ ALFWorld


def _alfworld_tasks(env: str, games: int, seed: int, game_dir: str | None, split: str | None,
                    data_root: str | None, expert: bool) -> list:
    from agentbench_tuning.envs import alfworld

    if env == "sim":
        return alfworld.sim_tasks(games, seed=seed)
    if env != "textworld":
        raise typer.BadParameter(f"--env {env!r}: use sim or textworld")
    if bool(game_dir) == bool(split):
        raise typer.BadParameter("--env textworld needs exactly one of --game-dir DIR or --split FILE.json")
    if game_dir:
        return alfworld.game_dir_tasks(game_dir, expert=expert)
    if not data_root:
        raise typer.BadParameter("--split needs --data-root DIR (the folder its game paths are relative to)")
    return alfworld.split_tasks(split, data_root, expert=expert)


@eval_app.command("alfworld")
def eval_alfworld(
    out: str = typer.Option(..., "--out", help="Output folder: records.jsonl (resumable) and summary.json."),
    env: str = typer.Option("sim", "--env", help="sim (our simulator) or textworld (real engine)."),
    games: int = typer.Option(60, "--games", help="sim: number of generated games."),
    seed: int = typer.Option(0, "--seed", help="sim: generation seed."),
    game_dir: str = typer.Option(None, "--game-dir", help="textworld: every game.tw-pddl below DIR, sorted."),
    split: str = typer.Option(None, "--split", help="textworld: an AgentBench split JSON, in file order."),
    data_root: str = typer.Option(None, "--data-root", help="textworld: folder the --split paths are relative to."),
    agent: str = typer.Option("expert", "--agent", help="expert | replay | model"),
    replay: str = typer.Option(
        None, "--replay", "--responses", help='replay: JSONL of {"index": i, "turns": [...]} (as for DB Bench).'
    ),
    prompts_file: str = typer.Option(None, "--prompts-file", help="Prompts JSON from `abtune prompts import`."),
    model: str = MODEL_OPT,
    adapter: str = ADAPTER_OPT,
    engine: str = ENGINE_OPT,
    base_url: str = BASE_URL_OPT,
    seeds: str = SEEDS_OPT,
    temperature: float = TEMPERATURE_OPT,
    max_new_tokens: int = MAX_NEW_TOKENS_OPT,
    max_context: int = MAX_CONTEXT_OPT,
) -> None:
    """Play ALFWorld games under the AgentBench v0.2 harness and grade them."""
    import json

    from agentbench_tuning.envs import alfworld
    from agentbench_tuning.envs.base import load_replay

    tasks = _alfworld_tasks(env, games, seed, game_dir, split, data_root, expert=agent == "expert")
    prompts = alfworld.load_prompts(prompts_file) if prompts_file else None
    if agent == "model":
        from agentbench_tuning.eval.stats import success_rate
        from agentbench_tuning.rollout.episodes import EpisodeSpec

        opts = model_options(model, engine, adapter, base_url, seeds, temperature, max_new_tokens, max_context)
        specs = [EpisodeSpec(t.index, t, type=t.task_type) for t in tasks]
        config = {"task": "alfworld", "env": env, "games": games, "game_seed": seed, "game_dir": game_dir,
                  "split": split}
        _eval_model(opts, lambda: alfworld.AlfworldEnv(prompts=prompts), specs, out, success_rate, "success_rate",
                    config)
        return
    if agent == "expert":
        player = alfworld.ExpertAgent()
    elif agent == "replay":
        if not replay:
            raise typer.BadParameter("--agent replay needs --replay FILE.jsonl")
        player = alfworld.ReplayAgent(load_replay(replay))
    else:
        raise typer.BadParameter(f"--agent {agent!r}: use expert, replay or model")
    summary = alfworld.evaluate(tasks, player, out, prompts=prompts)
    typer.echo(json.dumps(summary, indent=2))


@data_app.command("alfworld-gen")
def data_alfworld_gen(
    out: str = typer.Option(..., "--out", help="JSONL of SFT conversations ({messages, task_type, seed, ...})."),
    games: int = typer.Option(600, "--games", help="Number of simulator games (task types round-robin)."),
    seed: int = typer.Option(1, "--seed", help="Generation seed (eval uses 0 by default; keep them apart)."),
    failures: str = typer.Option(None, "--failures", help="Also write lost episodes (for DPO) to this JSONL."),
    dpo: str = typer.Option(None, "--dpo", help="Also write step-level DPO pairs to this JSONL."),
    per_step: bool = typer.Option(False, "--per-step", help="One sample per step, prompt exactly as sent then."),
) -> None:
    """Write expert conversations from our household simulator in the v0.2 harness format."""
    from agentbench_tuning.envs import alfworld

    tasks = alfworld.sim_tasks(games, seed=seed)
    rows = alfworld.expert_step_samples(tasks) if per_step else alfworld.expert_conversations(tasks)
    n = alfworld.write_jsonl(out, rows)
    typer.echo(f"wrote {n} expert {'step samples' if per_step else 'conversations'} to {out}")
    if failures:
        typer.echo(f"wrote {alfworld.write_jsonl(failures, alfworld.failure_conversations(tasks))} failures to {failures}")
    if dpo:
        pairs = (pair for task in tasks for pair in alfworld.dpo_pairs(task))
        typer.echo(f"wrote {alfworld.write_jsonl(dpo, pairs)} DPO pairs to {dpo}")


# ------------------------------------------------------------------ evaluation, reports, diagnostics
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


@prompts_app.command("import")
def prompts_import(
    agentbench: Path = typer.Option(..., "--agentbench", help="your own AgentBench (v0.2) checkout"),
    out: Path = typer.Option(Path("prompts"), help="where to save the prompt files"),
) -> None:
    """Read the original harness prompts from your AgentBench checkout, for evaluation runs only
    (`eval dbbench --prompt-file`, `eval alfworld --prompts-file`). Never train on them."""
    from agentbench_tuning.envs import alfworld, dbbench

    if not agentbench.is_dir():
        _fail(f"--agentbench {agentbench}: not a directory")
    out.mkdir(parents=True, exist_ok=True)
    for name, importer in (("dbbench", dbbench.import_agentbench_prompts), ("alfworld", alfworld.import_agentbench_prompts)):
        try:
            console.print(f"{name}: saved {importer(agentbench, out)}")
        except (FileNotFoundError, ValueError) as err:
            _fail(f"{name}: {err}")


def _fail(message: str) -> None:
    """One clear line on stderr, exit code 2: the user's input was wrong, not the program."""
    Console(stderr=True).print(f"[red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
