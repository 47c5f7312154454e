"""Evaluate any agent on any benchmark of the table: play every (task, seed) through the shared episode
runner, keep one record per episode, summarize.

`abtune eval <benchmark> --agent model|oracle|replay|expert` calls `evaluate(cfg)`. A run directory carries
the identity of its run (`identity.json`: benchmark, agent, tasks file hash, model and adapter, sampling,
prompt and environment options); resuming a different run into it is an error that names what differs, and
`overwrite` moves the earlier files aside. Records are append-only and keyed by (index, seed): a killed run
restarted with the same arguments plays only what is missing, plus every `task error` (an infrastructure
failure is not a grade). A lock file keeps two runs out of one directory.

    summary = evaluate(load_config("configs/eval_debug.yaml", "eval"))
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agentbench_tuning.config import EvalRunConfig, Limits, Sampling, SimWorld
from agentbench_tuning.envs.base import EpisodeSpec
from agentbench_tuning.envs.benchmarks import Benchmark, get_benchmark
from agentbench_tuning.eval.stats import success_rate, summarize_records
from agentbench_tuning.locks import RunLock
from agentbench_tuning.records import RecordWriter, hash_path, latest_records, write_json_atomic
from agentbench_tuning.rollout.episodes import Trajectory, run_episodes
from agentbench_tuning.rollout.generator import Generator

RUN_FILES = ("records.jsonl", "summary.json", "identity.json", "run.json")


class RunMismatch(ValueError):
    """`out` holds another run; the message names the differences and the way out."""


@dataclass(frozen=True)
class EvalResult:
    summary: dict
    out_dir: Path
    task_errors: int
    seeds_run: tuple[int, ...]


def effective_seeds(seeds: Sequence[int], deterministic: bool) -> tuple[tuple[int, ...], str | None]:
    """Several seeds of a deterministic agent (greedy decoding, a scripted agent) replay the same episodes:
    count every item once. Returns the seeds to run and a note saying why, when seeds were dropped."""
    seeds = tuple(seeds)
    if deterministic and len(seeds) > 1:
        return seeds[:1], (f"seeds {','.join(map(str, seeds))} requested, but the agent is deterministic (greedy "
                           f"decoding or a scripted agent), so every seed would repeat the same episodes; ran seed "
                           f"{seeds[0]} only. Use --temperature > 0 for seeds that differ.")
    return seeds, None


def run_identity(cfg: EvalRunConfig) -> dict[str, Any]:
    """What makes two runs the same run: everything that changes an episode's outcome."""
    e, r = cfg.eval, cfg.rollout
    identity: dict[str, Any] = {"benchmark": e.benchmark, "agent": e.agent}
    for key in ("data", "split", "game_dir", "prompt_file", "responses"):
        value = getattr(e, key)
        if value:
            identity[key] = {"path": str(value), "sha256": hash_path(value)}
    if e.benchmark == "dbbench":
        identity.update(backend=e.backend, compare=e.compare, allow_broken_tables=e.allow_broken_tables)
    if e.benchmark == "alfworld-sim":
        identity.update(games=e.games, game_seed=e.game_seed)
        if e.world != SimWorld():  # only when set: runs from before the option keep their identity
            identity["world"] = asdict(e.world)
    if e.agent == "model":
        identity.update(model=cfg.model.name_or_path, adapter=r.adapter, engine=r.engine, dtype=r.dtype,
                        base_url=r.base_url, sampling=asdict(r.sampling), max_context=r.limits.max_context)
        if r.adapter:
            identity["adapter_sha256"] = hash_path(r.adapter)
    return identity


def prepare_run_dir(out_dir: Path, identity: dict[str, Any], overwrite: bool) -> None:
    """Claim `out_dir` for this run: refuse another run's directory (naming what differs) unless
    `overwrite`, which moves the earlier files into `previous-<time>/` (nothing is deleted)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "identity.json"
    existing = [name for name in RUN_FILES if (out_dir / name).exists()]
    if overwrite and existing:
        aside = out_dir / f"previous-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%f')}"
        aside.mkdir()
        for name in existing:
            os.replace(out_dir / name, aside / name)
    elif path.exists():
        before = json.loads(path.read_text(encoding="utf-8"))
        differs = sorted(k for k in before.keys() | identity.keys() if before.get(k) != identity.get(k))
        if differs:
            details = "; ".join(f"{k}: {_short(before.get(k))} -> {_short(identity.get(k))}" for k in differs)
            raise RunMismatch(f"{out_dir} holds another run ({details}); use another --out, or --overwrite to "
                              "start over (the earlier files are moved to previous-<time>/)")
    elif (out_dir / "records.jsonl").exists():
        raise RunMismatch(f"{out_dir} has records.jsonl but no identity.json (written by an older version?); "
                          "use another --out, or --overwrite to move them aside")
    write_json_atomic(path, identity)


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def play_and_record(generator: Generator, make_env, specs: Sequence[EpisodeSpec], seeds: Sequence[int],
                    sampling: Sampling, limits: Limits, writer: RecordWriter, names: tuple[str, str]) -> None:
    """Play every (spec, seed) the writer has no finished record of; append each record as it ends."""
    _check_unique(specs)
    benchmark, agent = names
    for seed in seeds:
        pending = [s for s in specs if not writer.done(s.index, seed)]
        if pending:

            def keep(trajectory: Trajectory) -> None:
                writer.append(trajectory.to_record(benchmark, agent))

            run_episodes(generator, make_env, pending, [seed], sampling, limits, keep)


def summarize_run(out_dir: Path, specs: Sequence[EpisodeSpec], seeds: Sequence[int], score=success_rate,
                  headline: str = "success_rate", extra: dict[str, Any] | None = None) -> dict:
    """`summary.json` over the run's records of (specs x seeds), scored by the benchmark's rule."""
    wanted = {(s.index, seed) for s in specs for seed in seeds}
    records = [r for r in latest_records(Path(out_dir) / "records.jsonl") if (r["index"], r["seed"]) in wanted]
    summary = summarize_records(records, metric=score, key=headline)
    summary["task_errors"] = sum(r["status"] == "task error" for r in records)
    summary["tokens"] = {"prompt": sum(r["prompt_tokens"] for r in records),
                         "completion": sum(r["completion_tokens"] for r in records)}
    summary["generate_s"] = round(sum(r["generate_s"] for r in records), 3)
    summary.update(extra or {})
    write_json_atomic(Path(out_dir) / "summary.json", summary)
    return summary


def _check_unique(specs: Sequence[EpisodeSpec]) -> None:
    seen: set[int] = set()
    for spec in specs:
        if spec.index in seen:
            raise ValueError(f"task index {spec.index} appears twice; records are keyed by (index, seed)")
        seen.add(spec.index)


def build_agent_generator(cfg: EvalRunConfig, bench: Benchmark) -> Generator:
    """The model engine for `agent: model`, else the benchmark's scripted agent behind the same protocol."""
    from agentbench_tuning.rollout.engines import build_generator
    from agentbench_tuning.rollout.scripted import ScriptedGenerator

    agent = cfg.eval.agent
    if agent == "model":
        return build_generator(cfg.model.name_or_path, cfg.rollout)
    if agent not in bench.agents:
        raise ValueError(f"--agent {agent!r}: {bench.name} has model, {', '.join(bench.agents)}")
    return ScriptedGenerator(bench.agents[agent](cfg.eval), name=agent)


def evaluate(cfg: EvalRunConfig) -> EvalResult:
    """What `abtune eval` does: claim the run directory, load tasks, open envs, play, summarize."""
    from agentbench_tuning.tracking import save_run_metadata

    cfg.validate()
    e, r = cfg.eval, cfg.rollout
    bench = get_benchmark(e.benchmark)
    out_dir = Path(e.out)
    specs = bench.load_tasks(e)
    if not specs:
        raise ValueError(f"{e.benchmark}: no tasks to evaluate (empty task list)")
    deterministic = e.agent != "model" or r.sampling.greedy
    seeds, note = effective_seeds(e.seeds, deterministic)
    identity = run_identity(cfg)
    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    with RunLock(out_dir):
        prepare_run_dir(out_dir, identity, e.overwrite)
        save_run_metadata(out_dir, {"eval_config": asdict(cfg), "identity": identity}, list(seeds), kind="eval")
        envs = bench.open_envs(e)
        generator = build_agent_generator(cfg, bench)
        try:
            with RecordWriter(out_dir / "records.jsonl") as writer:
                play_and_record(generator, envs.make_env, specs, seeds, r.sampling, r.limits, writer,
                                (bench.name, e.agent))
        finally:
            generator.close()
            envs.close()
        extra = {"benchmark": bench.name, "agent": e.agent, "sampling": asdict(r.sampling),
                 "limits": asdict(r.limits), "seeds_requested": list(e.seeds), "seeds_note": note,
                 "wall_s_this_invocation": round(time.perf_counter() - started, 3)}
        summary = summarize_run(out_dir, specs, seeds, bench.score, bench.headline, extra)
    return EvalResult(summary, out_dir, summary["task_errors"], seeds)
