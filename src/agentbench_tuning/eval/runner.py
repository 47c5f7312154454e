"""Evaluate a model agent on a harness: play every (task, seed), keep one JSON line per episode, summarize.

Both `abtune eval dbbench --agent model` and `abtune eval alfworld --agent model` call `evaluate_model`.
Records are append-only and keyed by (index, seed): a killed run restarted with the same arguments redoes
only the episodes that were in flight, and `summary.json` is rebuilt from every record on disk.

    summary = evaluate_model(make_env, specs, generator, EvalSettings(seeds=(0, 1, 2)), "runs/eval/sft")
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from agentbench_tuning.envs.base import TextEnv
from agentbench_tuning.eval.records import RecordWriter, read_records, write_json_atomic
from agentbench_tuning.eval.stats import success_rate, summarize_records
from agentbench_tuning.rollout.episodes import EpisodeSpec, Limits, Trajectory, run_episodes
from agentbench_tuning.rollout.generator import Generator, Sampling


@dataclass(frozen=True)
class EvalSettings:
    seeds: tuple[int, ...] = (0,)
    sampling: Sampling = field(default_factory=Sampling)
    limits: Limits = field(default_factory=Limits)


def evaluate_model(
    make_env: Callable[[], TextEnv],
    specs: Sequence[EpisodeSpec],
    generator: Generator,
    settings: EvalSettings,
    out_dir: str | Path,
    summarize: Callable[[list[dict]], dict] = success_rate,
    score_key: str = "success_rate",
) -> dict:
    """Run the missing episodes, then write and return `summary.json` (multi-seed statistics).

    `summarize(records of one seed) -> dict` is the harness's metric (e.g. `stats.dbbench_score` with
    `score_key="overall_cat_accuracy"`); its `score_key` entry is averaged over seeds.
    """
    out_dir = Path(out_dir)
    _check_unique(specs)
    started = time.perf_counter()
    with RecordWriter(out_dir / "records.jsonl") as writer:
        for seed in settings.seeds:
            pending = [s for s in specs if not writer.done(s.index, seed)]
            if pending:

                def keep(trajectory: Trajectory) -> None:
                    writer.append(trajectory.to_record())

                run_episodes(generator, make_env, pending, [seed], settings.sampling, settings.limits, keep)
    return write_summary(out_dir, specs, settings, summarize, score_key, time.perf_counter() - started)


def write_summary(out_dir, specs, settings: EvalSettings, summarize, score_key: str, wall_s: float) -> dict:
    wanted = {(s.index, seed) for s in specs for seed in settings.seeds}
    records = [r for r in read_records(Path(out_dir) / "records.jsonl") if (r["index"], r["seed"]) in wanted]
    summary = summarize_records(records, metric=summarize, key=score_key)
    summary["sampling"] = asdict(settings.sampling)
    summary["limits"] = asdict(settings.limits)
    summary["tokens"] = {
        "prompt": sum(r["prompt_tokens"] for r in records),
        "completion": sum(r["completion_tokens"] for r in records),
    }
    summary["generate_s"] = round(sum(r["generate_s"] for r in records), 3)
    summary["wall_s_this_invocation"] = round(wall_s, 3)
    write_json_atomic(Path(out_dir) / "summary.json", summary)
    return summary


def _check_unique(specs: Sequence[EpisodeSpec]) -> None:
    seen: set[int] = set()
    for spec in specs:
        if spec.index in seen:
            raise ValueError(f"task index {spec.index} appears twice; records are keyed by (index, seed)")
        seen.add(spec.index)


def evaluate_with_options(
    opts,
    make_env: Callable[[], TextEnv],
    specs: Sequence[EpisodeSpec],
    out_dir: str | Path,
    summarize: Callable[[list[dict]], dict] = success_rate,
    score_key: str = "success_rate",
    config: dict | None = None,
) -> dict:
    """What `abtune eval <task> --agent model` does: save run metadata, build the generator from the
    command-line `ModelOptions`, evaluate every (task, seed), close the engine."""
    from agentbench_tuning.rollout.engines import build_generator
    from agentbench_tuning.tracking import save_run_metadata

    opts.validate()
    save_run_metadata(out_dir, {"model_options": asdict(opts), **(config or {})}, opts.seeds)
    generator = build_generator(opts)
    settings = EvalSettings(opts.seeds, opts.sampling, Limits(max_context=opts.max_context, concurrency=opts.concurrency, progress=True))
    try:
        return evaluate_model(make_env, specs, generator, settings, out_dir, summarize, score_key)
    finally:
        generator.close()
