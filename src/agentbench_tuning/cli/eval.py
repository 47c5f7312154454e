"""`abtune eval dbbench|alfworld`: any agent (model, or the benchmark's scripted ones) on the shared runner.

Both commands build one `EvalRunConfig` (from `--config` and/or flags; flags win) and call
`eval.runner.evaluate`. The model/engine options are one group shared by both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from agentbench_tuning.cli.app import console, eval_app, fail, friendly

MODEL = "Model agent"
# The model/engine option group, shared by every eval command (and later by GRPO rollouts).
MODEL_OPT = typer.Option(None, "--model", help="Hub id, local directory, tiny:<family>, smollm2 or gguf:<file> "
                         "(engine openai: the served name).",
                         rich_help_panel=MODEL)
ADAPTER_OPT = typer.Option(None, "--adapter", help="PEFT LoRA adapter directory to apply.", rich_help_panel=MODEL)
ENGINE_OPT = typer.Option(None, "--engine", help="vllm (default) | transformers | openai", rich_help_panel=MODEL)
BASE_URL_OPT = typer.Option(None, "--base-url", help="OpenAI-compatible server for --engine openai.",
                            rich_help_panel=MODEL)
SEEDS_OPT = typer.Option(None, "--seeds", help="Comma-separated seeds (default 0). Seeds differ only when "
                         "--temperature > 0; a deterministic agent runs the first seed only.", rich_help_panel=MODEL)
TEMPERATURE_OPT = typer.Option(None, "--temperature", help="Default 0 = greedy, as AgentBench v0.2's agent.",
                               rich_help_panel=MODEL)
MAX_NEW_TOKENS_OPT = typer.Option(None, "--max-new-tokens", help="Per model turn (default 512, as v0.2).",
                                  rich_help_panel=MODEL)
MAX_CONTEXT_OPT = typer.Option(None, "--max-context", help="Served context (default 8192); longer prompts end "
                               "the episode as `agent context limit`.", rich_help_panel=MODEL)
DTYPE_OPT = typer.Option(None, "--dtype", help="auto (the checkpoint's own) | bfloat16 | float16 | float32",
                         rich_help_panel=MODEL)
CONFIG_OPT = typer.Option(None, "--config", "-c", help="Eval YAML (sections model, rollout, eval); flags win.")
OVERWRITE_OPT = typer.Option(False, "--overwrite", help="Start over in --out (earlier files are moved aside).")
OUT_OPT = typer.Option(None, "--out", help="Run directory: records.jsonl (resumable), summary.json, identity.json.")
PROMPT_OPT = typer.Option(None, "--prompt-file", help="Prompt file from `abtune prompts import` (evaluation only).")
RESPONSES_OPT = typer.Option(None, "--responses", "--replay",
                             help="replay agent: a replay JSONL or another run's records.jsonl.")
LIMIT_OPT = typer.Option(None, "--limit", help="Only the first N tasks.")


def build_eval_config(config: Path | None, overrides: list[str], flags: dict[str, Any]):
    """`--config` (optional) + `key=value` overrides + the flags that were given (None = not given)."""
    from agentbench_tuning.config import load_config
    from agentbench_tuning.rollout.engines import parse_seeds

    mapping = {
        "model": "model.name_or_path", "adapter": "rollout.adapter", "engine": "rollout.engine",
        "base_url": "rollout.base_url", "dtype": "rollout.dtype", "temperature": "rollout.sampling.temperature",
        "max_new_tokens": "rollout.sampling.max_new_tokens", "max_context": "rollout.limits.max_context",
    }
    given = [f"{mapping.get(k, 'eval.' + k)}={_yaml(v)}" for k, v in flags.items() if v is not None and k != "seeds"]
    if flags.get("seeds") is not None:
        given.append(f"eval.seeds={parse_seeds(flags['seeds'])}")
    defaults = [] if config else ["rollout.limits.progress=true"]
    return load_config(config, "eval", [*defaults, *overrides, *given])


def _yaml(value: Any) -> str:
    import json

    if isinstance(value, Path):
        value = str(value)
    return json.dumps(value)  # JSON is YAML: strings stay strings ("0.10" is not read as a float)


def run_eval(cfg) -> None:
    from agentbench_tuning.eval.report import load_run, summary_table, type_table
    from agentbench_tuning.eval.runner import evaluate

    result = evaluate(cfg)
    if result.summary.get("seeds_note"):
        console.print(f"[yellow]note:[/] {result.summary['seeds_note']}")
    run = load_run(result.out_dir)
    console.print(summary_table([run]))
    console.print(type_table(run))
    console.print(f"records: {result.out_dir / 'records.jsonl'}; summary: {result.out_dir / 'summary.json'}")
    if result.task_errors:
        fail(f"{result.task_errors} episodes ended in `task error` (an infrastructure failure, not a grade; see "
             "info.error in their records); fix the cause and re-run the same command: those episodes run again",
             code=1)


@eval_app.command("dbbench", context_settings={"allow_extra_args": True},
                  epilog="Examples: abtune eval dbbench --data data/db/heldout.jsonl --agent oracle --out runs/db-oracle\n\n"
                         "abtune eval dbbench --data data/db/heldout.jsonl --agent model --model tiny:qwen2.5 "
                         "--engine transformers --temperature 0.7 --seeds 0,1,2 --out runs/db-tiny")
@friendly
def eval_dbbench(
    ctx: typer.Context,
    data: Path = typer.Option(None, "--data", help="v0.2-format samples (JSONL), e.g. from `abtune data dbbench-gen`."),
    agent: str = typer.Option(None, "--agent", help="oracle (default) | replay | model"),
    backend: str = typer.Option(None, "--backend", help="mysql (faithful) | sqlite (default; an approximation)"),
    out: Path = OUT_OPT,
    db_url: str = typer.Option(None, "--db-url", help="mysql://user:password@host:port (default: `abtune db start`'s)."),
    responses: Path = RESPONSES_OPT,
    prompt_file: Path = PROMPT_OPT,
    compare: str = typer.Option(None, "--compare", help="SELECT answer comparison: v0.2 (default) | fc"),
    limit: int = LIMIT_OPT,
    allow_broken_tables: bool = typer.Option(False, "--allow-broken-tables", help="Run samples whose table "
                                             "cannot be created (duplicate/empty column names) table-less, as v0.2."),
    config: Path = CONFIG_OPT,
    overwrite: bool = OVERWRITE_OPT,
    model: str = MODEL_OPT, adapter: str = ADAPTER_OPT, engine: str = ENGINE_OPT, base_url: str = BASE_URL_OPT,
    seeds: str = SEEDS_OPT, temperature: float = TEMPERATURE_OPT, max_new_tokens: int = MAX_NEW_TOKENS_OPT,
    max_context: int = MAX_CONTEXT_OPT, dtype: str = DTYPE_OPT,
) -> None:
    """Run DB Bench episodes and grade them exactly as AgentBench v0.2 does."""
    flags = dict(data=data, agent=agent, backend=backend, out=out, db_url=db_url, responses=responses,
                 allow_broken_tables=allow_broken_tables or None,
                 prompt_file=prompt_file, compare=compare, limit=limit, model=model, adapter=adapter,
                 engine=engine, base_url=base_url, seeds=seeds, temperature=temperature,
                 max_new_tokens=max_new_tokens, max_context=max_context, dtype=dtype)
    flags["overwrite"] = overwrite or None
    if agent is None and config is None:
        flags["agent"] = "oracle"
    run_eval(build_eval_config(config, ["eval.benchmark=dbbench", *ctx.args], flags))


@eval_app.command("alfworld", context_settings={"allow_extra_args": True},
                  epilog="Examples: abtune eval alfworld --agent expert --games 60 --out runs/alf-expert\n\n"
                         "abtune eval alfworld --env textworld --game-dir games/ --agent model --model M --out runs/alf")
@friendly
def eval_alfworld(
    ctx: typer.Context,
    out: Path = OUT_OPT,
    env: str = typer.Option("sim", "--env", help="sim (our simulator) | textworld (the real engine)."),
    games: int = typer.Option(None, "--games", help="sim: number of generated games (default 60)."),
    seed: int = typer.Option(None, "--seed", help="sim: generation seed (default 0; training data uses others)."),
    game_dir: Path = typer.Option(None, "--game-dir", help="textworld: every game.tw-pddl below DIR, sorted."),
    split: Path = typer.Option(None, "--split", help="textworld: an AgentBench split JSON, in file order."),
    data_root: Path = typer.Option(None, "--data-root", help="textworld: folder the --split paths are relative to."),
    agent: str = typer.Option(None, "--agent", help="expert (default) | replay | model"),
    responses: Path = RESPONSES_OPT,
    prompt_file: Path = typer.Option(None, "--prompt-file", "--prompts-file",
                                     help="Prompts JSON from `abtune prompts import` (evaluation only)."),
    limit: int = LIMIT_OPT,
    config: Path = CONFIG_OPT,
    overwrite: bool = OVERWRITE_OPT,
    model: str = MODEL_OPT, adapter: str = ADAPTER_OPT, engine: str = ENGINE_OPT, base_url: str = BASE_URL_OPT,
    seeds: str = SEEDS_OPT, temperature: float = TEMPERATURE_OPT, max_new_tokens: int = MAX_NEW_TOKENS_OPT,
    max_context: int = MAX_CONTEXT_OPT, dtype: str = DTYPE_OPT,
) -> None:
    """Play ALFWorld games under the AgentBench v0.2 harness and grade them."""
    if env not in ("sim", "textworld"):
        fail(f"--env {env!r}: use sim (our simulator) or textworld (the real engine)")
    benchmark = "alfworld-sim" if env == "sim" else "alfworld-engine"
    flags = dict(out=out, games=games, game_seed=seed, game_dir=game_dir, split=split, data_root=data_root,
                 agent=agent, responses=responses, prompt_file=prompt_file, limit=limit, model=model,
                 adapter=adapter, engine=engine, base_url=base_url, seeds=seeds, temperature=temperature,
                 max_new_tokens=max_new_tokens, max_context=max_context, dtype=dtype)
    flags["overwrite"] = overwrite or None
    if agent is None and config is None:
        flags["agent"] = "expert"
    run_eval(build_eval_config(config, [f"eval.benchmark={benchmark}", *ctx.args], flags))
