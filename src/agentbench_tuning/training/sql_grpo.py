"""Single-turn SQL GRPO: the cheap RL variant for one Colab GPU, with TRL's GRPOTrainer and plain reward functions.

    abtune sql-grpo --config configs/sql_grpo_debug.yaml

Prompt = the DB Bench v0.2 conversation as the harness opens it (the instruction, the injected "Ok.", the task
turn: question + table description), for generated samples on training tables only (the generator's held-out
tables never reach training). Completion = one assistant turn. Rewards, each logged on its own:
`dbbench_sql_correct` (`rewards.SQLExecutionReward`: -1 unparsable / 0 wrong / 1 right, executed on a fresh copy
of the table on SQLite or MySQL/MariaDB) and `dbbench_format` (1 when the harness accepts the turn), weighted by
`grpo.correctness_weight` / `grpo.format_weight`. No rollout_func: one turn needs none.

Steps: sql_prompts -> load_policy -> build_sql_grpo_trainer -> train (resume rules of training/resume.py)
-> save the adapter in `final/`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agentbench_tuning.rl_config import SQLGRPORunConfig, SQLTaskSettings
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

if TYPE_CHECKING:
    from datasets import Dataset
    from trl import GRPOConfig

    from agentbench_tuning.rewards import SQLExecutionReward

__all__ = ["SQLGRPOResult", "SQLGRPOSetup", "build_sql_grpo_trainer", "run_sql_grpo", "sql_grpo_args", "sql_prompts",
           "train"]

logger = logging.getLogger(__name__)


def sql_prompts(settings: SQLTaskSettings) -> Dataset:
    """A `datasets.Dataset` of {"prompt": the harness's opening messages, "sample": the v0.2 sample as JSON,
    "type": its type}: generated samples on training tables (never the held-out split), graded gold on SQLite."""
    from datasets import Dataset

    from agentbench_tuning.envs.dbbench import DBBenchEnv, SQLiteBackend
    from agentbench_tuning.envs.dbbench.generate import DEFAULT_MIX, DBGenConfig, generate

    unknown = sorted(set(settings.types) - set(DEFAULT_MIX))
    if unknown:
        raise ValueError(f"data.types: unknown sample types {unknown}; choose from {', '.join(DEFAULT_MIX)}")
    mix = {t: w for t, w in DEFAULT_MIX.items() if not settings.types or t in settings.types}
    backend = SQLiteBackend()
    try:
        wanted = int(settings.n / (1 - DBGenConfig.heldout_fraction)) + 8
        generated = generate(DBGenConfig(n=wanted, seed=settings.seed, mix=mix), backend)
        tasks = [g.task for g in generated if not g.heldout][: settings.n]
        if len(tasks) < settings.n:
            raise ValueError(f"data.n={settings.n}: the generator gave {len(tasks)} training samples; lower data.n")
        env = DBBenchEnv(backend)
        rows = []
        for task in tasks:
            env.reset(task)
            rows.append({"prompt": env.messages, "sample": json.dumps(task.to_sample()), "type": task.type})
    finally:
        backend.close()
    return Dataset.from_list(rows)


def sql_reward(settings: SQLTaskSettings) -> SQLExecutionReward:
    """The correctness reward on the configured backend (MySQL: `data.db_url`, else the managed server)."""
    from agentbench_tuning.rewards import SQLExecutionReward

    url = settings.db_url
    if settings.backend == "mysql" and not url:
        from agentbench_tuning.envs.dbbench import server

        info = server.status()
        if info is None:
            raise ValueError("data.backend=mysql needs data.db_url or a managed server: run `abtune db start`")
        url = info.url
    return SQLExecutionReward(settings.backend, url, settings.timeout_s)


def sql_grpo_args(cfg: SQLGRPORunConfig) -> GRPOConfig:
    """Map our settings to TRL's GRPOConfig: the shared TrainingArguments plus GRPO's own fields."""
    from trl import GRPOConfig

    g = cfg.grpo
    vllm = dict(use_vllm=True, vllm_mode=g.vllm_mode, vllm_gpu_memory_utilization=g.vllm_gpu_memory_utilization) \
        if g.use_vllm else {}
    return GRPOConfig(
        **training_arguments(cfg.train),
        num_generations=g.num_generations,
        max_completion_length=g.max_completion_length,
        temperature=g.temperature,
        top_p=1.0,
        beta=g.beta,
        loss_type=g.loss_type,
        epsilon=g.epsilon,
        reward_weights=[g.correctness_weight, g.format_weight],
        log_completions=False,
        **vllm,
    )


@dataclass
class SQLGRPOSetup:
    trainer: object
    resume_from: str | None
    reward: object  # the SQLExecutionReward (close() it when done: it holds a database sandbox user)
    finished: FinishedRun | None = None
    notice: str | None = None


def build_sql_grpo_trainer(cfg: SQLGRPORunConfig, callbacks: list | None = None,
                           extra_rewards: list | None = None) -> SQLGRPOSetup:
    """Model, prompts, rewards and TRL trainer. `extra_rewards` (TRL reward functions, weight 1 each) are
    added after correctness and format, e.g. a shaping term under study."""
    quiet_optional_kernels_probe()
    from trl import GRPOTrainer

    from agentbench_tuning.models import load_policy
    from agentbench_tuning.rewards import dbbench_format

    cfg.validate()
    m = cfg.model
    policy = load_policy(m.name_or_path, quantization=m.quantization, dtype=m.dtype,
                         attn_implementation=m.attn_implementation)
    reward = sql_reward(cfg.data)
    args = sql_grpo_args(cfg)
    extra_rewards = list(extra_rewards or [])
    args.reward_weights = [*args.reward_weights, *[1.0] * len(extra_rewards)]
    trainer = GRPOTrainer(
        model=policy.model,
        reward_funcs=[reward, dbbench_format, *extra_rewards],
        args=args,
        train_dataset=sql_prompts(cfg.data),
        processing_class=policy.tokenizer,
        peft_config=lora_config(cfg.lora) if cfg.lora.enabled else None,
        callbacks=callbacks,
    )
    finished, resume_from, notice = resume_plan(cfg.train)
    return SQLGRPOSetup(trainer, resume_from, reward, finished, notice)


SQLGRPOResult = TrainResult


def train(setup: SQLGRPOSetup, cfg: SQLGRPORunConfig) -> TrainResult:
    """Train (resuming the newest complete checkpoint), then save adapter, tokenizer, state and config in final/;
    the reward's database copies are closed even when training fails."""
    if setup.finished:
        return finished_result(setup.finished)
    return train_and_save(setup.trainer, cfg, setup.resume_from, setup.notice, [cfg.train.seed, cfg.data.seed],
                          "sql_grpo", close=setup.reward.close)


def run_sql_grpo(cfg: SQLGRPORunConfig, callbacks: list | None = None) -> TrainResult:
    """Build and train; a finished run is reported before any model is loaded."""
    finished = finished_run(cfg.train)
    if finished:
        return finished_result(finished)
    return train(build_sql_grpo_trainer(cfg, callbacks), cfg)
