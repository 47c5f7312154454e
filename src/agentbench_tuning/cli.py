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
    replay: str = typer.Option(None, "--replay", help='replay: JSONL of {"index": i, "turns": [...]}.'),
    model: str = typer.Option(None, "--model", help="model: a local transformers model folder."),
    prompts_file: str = typer.Option(None, "--prompts-file", help="Prompts JSON from `abtune prompts import`."),
) -> None:
    """Play ALFWorld games under the AgentBench v0.2 harness and grade them."""
    import json

    from agentbench_tuning.envs import alfworld
    from agentbench_tuning.envs.base import load_replay

    tasks = _alfworld_tasks(env, games, seed, game_dir, split, data_root, expert=agent == "expert")
    if agent == "expert":
        player = alfworld.ExpertAgent()
    elif agent == "replay":
        if not replay:
            raise typer.BadParameter("--agent replay needs --replay FILE.jsonl")
        player = alfworld.ReplayAgent(load_replay(replay))
    elif agent == "model":
        if not model:
            raise typer.BadParameter("--agent model needs --model PATH")
        player = alfworld.TransformersAgent(model)
    else:
        raise typer.BadParameter(f"--agent {agent!r}: use expert, replay or model")
    prompts = alfworld.load_prompts(prompts_file) if prompts_file else None
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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
