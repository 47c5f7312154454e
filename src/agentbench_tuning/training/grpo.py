"""Multi-turn GRPO with LoRA / QLoRA: whole DB Bench or ALFWorld episodes, rewarded by the benchmark graders.

    abtune grpo --config configs/grpo_debug.yaml
    accelerate launch --config_file configs/accelerate/ddp.yaml -m agentbench_tuning.cli grpo --config X.yaml

Steps: load_policy -> load_tasks (the benchmark table's generated training tasks, never the evaluation set, or
a DB Bench task file, optionally filtered by a pass-rate screen: `tasks.screen`)
-> build_grpo_trainer (TRL GRPOConfig from our config; `MultiTurnGRPOTrainer` with `EpisodeRollout` as its
rollout_func; rewards from the benchmark table plus optional shaping and an invalid-action penalty) -> train
(resumes the newest complete checkpoint; a finished run is reported, not trained again) -> final/ adapter.

Generation inside training: `rollout.engine=transformers` samples with the trainer's live model; `vllm`
runs vLLM in-process and serves each step's adapter as a new LoRA request (TRL's own `use_vllm` stays off: it
merges the adapter into the base weights each step). Sampling keeps top_p 1 and top_k off at
`rollout.sampling.temperature`, which is also TRL's `temperature`. Why episodes are trained row by row
for ALFWorld: see `training/grpo_trainer.py` and docs/rl.md.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentbench_tuning.config import EvalSettings
from agentbench_tuning.rl_config import GRPORunConfig, GRPOSettings, GRPOTaskSettings
from agentbench_tuning.training.resume import FinishedRun, finished_run
from agentbench_tuning.training.runtime import (
    TrainResult,
    finished_result,
    lora_config,
    quiet_optional_kernels_probe,
    resume_plan,
    train_and_save,
    training_arguments,
)

__all__ = ["GRPOResult", "GRPOSetup", "build_grpo_trainer", "grpo_args", "grpo_trainer_for", "load_tasks",
           "reward_functions", "run_grpo", "screen_pass_rates", "task_dataset", "train"]

logger = logging.getLogger(__name__)


def grpo_args(cfg: GRPORunConfig) -> Any:
    """Our config -> TRL's GRPOConfig: the shared TrainingArguments plus GRPO's own fields."""
    from trl import GRPOConfig

    g, sampling = cfg.grpo, cfg.rollout.sampling
    _, weights = reward_names_and_weights(g, cfg.tasks.benchmark)
    return GRPOConfig(
        **training_arguments(cfg.train),
        num_generations=g.num_generations,
        steps_per_generation=g.steps_per_generation,
        num_iterations=g.num_iterations,
        beta=g.beta,
        epsilon=g.epsilon,
        loss_type=g.loss_type,
        scale_rewards=g.scale_rewards,
        reward_weights=weights,
        temperature=sampling.temperature,
        top_p=1.0,
        top_k=0,
        max_completion_length=sampling.max_new_tokens,  # per turn; TRL does not enforce it on rollout_func output
        use_vllm=False,  # our own engine runs inside rollout_func (adapter hot-swap, no merge)
        mask_truncated_completions=False,  # grpo.truncated decides, per episode
        log_completions=False,
    )


def reward_names_and_weights(g: GRPOSettings, benchmark: str) -> tuple[list[str], list[float]]:
    """The reward functions by name and their weights: `grpo.rewards` or the benchmark's (success first),
    weighted by `grpo.reward_weights` or 1.0 / `shaping_weight`; plus `invalid_actions` when penalised."""
    from agentbench_tuning.envs.benchmarks import get_benchmark

    names = list(g.rewards or get_benchmark(benchmark).rewards)
    weights = list(g.reward_weights or [1.0] + [g.shaping_weight] * (len(names) - 1))
    if g.invalid_action_penalty > 0 and "invalid_actions" not in names:
        names.append("invalid_actions")
        weights.append(g.invalid_action_penalty)
    return names, weights


def reward_functions(g: GRPOSettings, benchmark: str) -> list:
    from agentbench_tuning.rewards import REWARDS

    names, _ = reward_names_and_weights(g, benchmark)
    unknown = [n for n in names if n not in REWARDS]
    if unknown:
        raise ValueError(f"grpo.rewards: unknown reward {unknown[0]!r}; known: {', '.join(REWARDS)}")
    return [REWARDS[n] for n in names]


def eval_settings(tasks: GRPOTaskSettings) -> EvalSettings:
    """The environment settings `open_envs` reads, from the tasks section."""
    return EvalSettings(benchmark=tasks.benchmark, backend=tasks.backend, db_url=tasks.db_url,
                        prompt_file=tasks.prompt_file, data=tasks.data, limit=tasks.count,
                        games=tasks.count, game_seed=tasks.seed, world=tasks.world)


def load_tasks(tasks: GRPOTaskSettings) -> dict:
    """{dataset prompt key: TaskKey} for the benchmark's generated training tasks, or the first `count` tasks
    of `tasks.data`."""
    from agentbench_tuning.envs.benchmarks import get_benchmark
    from agentbench_tuning.training.grpo_rollout import TaskKey, task_prompt

    bench = get_benchmark(tasks.benchmark)
    generated = not tasks.data and tasks.benchmark != "alfworld-sim"  # alfworld-sim: games=count, seed, world
    specs = bench.sft_tasks(tasks.count, tasks.seed) if generated else bench.load_tasks(eval_settings(tasks))
    if tasks.screen:
        specs = screened(specs, tasks)
    return {task_prompt(tasks.benchmark, s.index, tasks.env_seed): TaskKey(s, tasks.env_seed) for s in specs}


def screen_pass_rates(screen: str | Path, data: str | Path) -> dict[int, tuple[int, int]]:
    """{task index: (successes, episodes)} of a screening evaluation (`abtune eval` run directory) of `data`;
    a `ConfigError` when the run evaluated another file or has no episodes."""
    import json

    from agentbench_tuning.config import ConfigError
    from agentbench_tuning.records import TASK_ERROR, hash_path, latest_records

    run = Path(screen)
    identity_path, records_path = run / "identity.json", run / "records.jsonl"
    if not identity_path.exists() or not records_path.exists():
        raise ConfigError(f"tasks.screen={screen}: not an evaluation run directory (no identity.json / records.jsonl); "
                          "run `abtune eval dbbench --data <tasks.data> --temperature 0.8 --seeds 0,1,2,3 --out "
                          f"{screen}` with the starting model first")
    screened_data = json.loads(identity_path.read_text(encoding="utf-8")).get("data") or {}
    if screened_data.get("sha256") != hash_path(data):
        raise ConfigError(f"tasks.screen={screen} evaluated {screened_data.get('path')!r}, not tasks.data={data} "
                          "(identity.json's sha256 of the file's name and content differs); screen the file you train on")
    rates: dict[int, tuple[int, int]] = {}
    for record in latest_records(records_path):
        if record["status"] == TASK_ERROR:
            continue
        wins, n = rates.get(record["index"], (0, 0))
        rates[record["index"]] = (wins + int(record["success"]), n + 1)
    if not rates:
        raise ConfigError(f"tasks.screen={screen}: {records_path} has no graded episodes")
    return rates


def screened(specs: list, tasks: GRPOTaskSettings) -> list:
    """The tasks whose screening pass rate lies in `tasks.pass_rate` (tasks the screen did not play are left
    out); a `ConfigError` when none is left."""
    from agentbench_tuning.config import ConfigError

    assert tasks.screen and tasks.data
    rates = screen_pass_rates(tasks.screen, tasks.data)
    low, high = tasks.pass_rate
    kept = [s for s in specs if s.index in rates and low <= rates[s.index][0] / rates[s.index][1] <= high]
    unscreened = sum(1 for s in specs if s.index not in rates)
    logger.warning("tasks.screen: %d of %d tasks have a pass rate in [%g, %g] (%d not screened)", len(kept),
                   len(specs), low, high, unscreened)
    if not kept:
        raise ConfigError(f"tasks.screen={tasks.screen}: no task of tasks.data has a pass rate in "
                          f"tasks.pass_rate={tasks.pass_rate}; widen the range or screen more samples per task")
    return kept


def task_dataset(task_keys: dict) -> Any:
    """One row per task: `prompt` (the task key), `task_index`, `env_seed`, `task_type`."""
    from datasets import Dataset

    return Dataset.from_list([{"prompt": key, "task_index": k.spec.index, "env_seed": k.env_seed,
                               "task_type": str(k.spec.type)} for key, k in task_keys.items()])


@dataclass
class GRPOSetup:
    trainer: object
    rollout: object  # EpisodeRollout: `.last` holds the latest step's trajectories
    envs: object  # EnvSource, closed after training
    resume_from: str | None
    finished: FinishedRun | None = None
    notice: str | None = None


def build_grpo_trainer(cfg: GRPORunConfig, callbacks: list | None = None) -> GRPOSetup:
    """Policy, tasks, environments, rollout and trainer for `cfg` (validated), and where training resumes."""
    quiet_optional_kernels_probe()
    from agentbench_tuning.envs.benchmarks import get_benchmark
    from agentbench_tuning.models import load_policy

    cfg.validate()
    policy = load_policy(cfg.model.name_or_path, quantization=cfg.model.quantization, dtype=cfg.model.dtype,
                         attn_implementation=cfg.model.attn_implementation)
    envs = get_benchmark(cfg.tasks.benchmark).open_envs(eval_settings(cfg.tasks))
    trainer, rollout = grpo_trainer_for(cfg, policy, load_tasks(cfg.tasks), envs.make_env,
                                        reward_functions(cfg.grpo, cfg.tasks.benchmark), callbacks)
    finished, resume_from, notice = resume_plan(cfg.train)
    return GRPOSetup(trainer, rollout, envs, resume_from, finished, notice)


def grpo_trainer_for(cfg: GRPORunConfig, policy: Any, task_keys: dict, make_env: Any, rewards: list,
                     callbacks: list | None = None) -> Any:
    """(MultiTurnGRPOTrainer, EpisodeRollout) for any tasks and environments (the benchmark table's, or a
    user's own as in benchmarks/grpo_learning.py); `rewards` are TRL reward functions, weighted by
    `grpo.reward_weights` (or 1.0 each when that is unset and the names are not the benchmark's)."""
    from agentbench_tuning.training.grpo_rollout import EngineOptions, EpisodeRollout
    from agentbench_tuning.training.grpo_trainer import MultiTurnGRPOTrainer

    engine = EngineOptions(
        batch_size=cfg.rollout.batch_size,
        adapter_root=str(Path(cfg.train.output_dir) / "rollout_adapters"),
        adapter_keep=cfg.grpo.adapter_keep,
        kv_cache_bytes=_kv_cache_bytes(cfg.grpo.vllm_kv_cache_gb),
        model_path=policy.path,
    )
    rollout = EpisodeRollout(task_keys, make_env, cfg.rollout, engine)
    args = grpo_args(cfg)
    if len(args.reward_weights) != len(rewards):
        args.reward_weights = list(cfg.grpo.reward_weights or [1.0] * len(rewards))
    trainer = MultiTurnGRPOTrainer(
        model=policy.model,
        reward_funcs=rewards,
        args=args,
        train_dataset=task_dataset(task_keys),
        processing_class=policy.tokenizer,
        peft_config=lora_config(cfg.lora) if not _has_adapter(policy.model) else None,
        rollout_func=rollout,
        callbacks=callbacks,
        truncated=cfg.grpo.truncated,
        turn_weighting=cfg.grpo.turn_weighting,
        measure_logprob_gap=cfg.grpo.logprob_gap,
        rows_per_backward=cfg.grpo.rows_per_backward,
    )
    return trainer, rollout


def _has_adapter(model) -> bool:
    """A policy loaded with its SFT adapter (trainable) continues that adapter instead of adding a new one."""
    from peft import PeftModel

    return isinstance(model, PeftModel)


def _kv_cache_bytes(gb: float | None) -> int | None:
    if gb is not None:
        return int(gb * 2**30)
    import torch

    return 8 * 2**30 if torch.cuda.is_available() else None  # None: the engine's small CPU default


GRPOResult = TrainResult


def train(setup: GRPOSetup, cfg: GRPORunConfig) -> TrainResult:
    """Train (from the newest complete checkpoint if any), then save adapter, tokenizer, config and trainer state
    in `final/`; the environments are closed even when training fails. A finished run returns its result."""
    if setup.finished:
        return finished_result(setup.finished)
    return train_and_save(setup.trainer, cfg, setup.resume_from, setup.notice, [cfg.train.seed, cfg.tasks.seed], "grpo",
                          close=setup.envs.close)


def run_grpo(cfg: GRPORunConfig, callbacks: list | None = None) -> TrainResult:
    """Build and train; a finished run is reported before any model is loaded."""
    finished = finished_run(cfg.train)
    if finished:
        return finished_result(finished)
    return train(build_grpo_trainer(cfg, callbacks), cfg)
