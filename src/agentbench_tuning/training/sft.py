"""Supervised fine-tuning with LoRA or QLoRA through TRL's SFTTrainer.

The datasets reach TRL pre-tokenized (`input_ids` + `labels` from `chat.encode_messages`), so the loss
covers exactly each assistant turn's content and its `<|im_end|>`, rendered by the model's own template.

    abtune sft --config configs/debug.yaml
    accelerate launch --config_file configs/accelerate/ddp.yaml -m agentbench_tuning.cli sft --config X.yaml

Steps: load_policy -> prepare_sft_data -> build_sft_trainer -> train (resumes the newest complete
checkpoint; a finished run is reported, not trained again) -> save the adapter + tokenizer + resolved config.
The resume rules live in `training/resume.py`, the arguments and train-and-save shared with the other methods in `training/runtime.py`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from agentbench_tuning.chat import ContextReport
from agentbench_tuning.config import SFTRunConfig, TrainSettings
from agentbench_tuning.training.resume import FinishedRun, finished_run
from agentbench_tuning.training.runtime import (
    TrainResult,
    finished_result,
    lora_config,
    quiet_optional_kernels_probe,
    resolve_precision,
    resume_plan,
    train_and_save,
    training_arguments,
)

__all__ = ["SFTResult", "SFTSetup", "build_sft_trainer", "lora_config", "resolve_precision", "run_sft", "sft_args",
           "train"]

logger = logging.getLogger(__name__)


def sft_args(train: TrainSettings, max_length: int, has_eval: bool):
    """Map our settings to TRL's SFTConfig: the shared TrainingArguments plus SFT's own fields."""
    from trl import SFTConfig

    eval_kwargs = {}
    if has_eval:
        eval_kwargs = dict(eval_strategy="steps", eval_steps=train.eval_steps)
        if train.early_stopping_patience is not None:
            eval_kwargs.update(
                load_best_model_at_end=True, metric_for_best_model="eval_loss", greater_is_better=False
            )
    return SFTConfig(**training_arguments(train), max_length=max_length, packing=train.packing, **eval_kwargs)


@dataclass
class SFTSetup:
    trainer: object
    resume_from: str | None
    context_train: ContextReport
    context_eval: ContextReport | None
    finished: FinishedRun | None = None  # set when the output dir holds this config's finished run
    notice: str | None = None  # what resuming or re-running does, for the notebook and the log


def print_memory_plan(cfg: SFTRunConfig) -> None:
    """On a GPU: the planner's peak-memory breakdown for this run, and a warning with settings that fit when
    it will not (before minutes of loading end in an out-of-memory error)."""
    from agentbench_tuning.plan import format_plan, plan_for_sft_config, recommend
    from agentbench_tuning.plan_shapes import detect_gpu

    gpu = detect_gpu()
    if gpu is None:
        return
    try:
        plan = plan_for_sft_config(cfg, gpu)
    except ValueError as err:  # a model whose shape the planner cannot read without downloading
        logger.info("memory plan skipped: %s", err)
        return
    logger.info("memory plan on %s:\n%s", gpu, format_plan(plan))
    if not plan.fits:
        logger.warning("this run will not fit on %s; %s", gpu, recommend(plan.request).summary())


def build_sft_trainer(cfg: SFTRunConfig, callbacks: list | None = None) -> SFTSetup:
    """Model, tokenizer, data and TRL trainer for `cfg` (validated), and where training resumes from."""
    quiet_optional_kernels_probe()
    from transformers import EarlyStoppingCallback
    from trl import SFTTrainer

    from agentbench_tuning.models import load_policy
    from agentbench_tuning.training.sft_data import prepare_sft_data

    cfg.validate()
    print_memory_plan(cfg)
    policy = load_policy(
        cfg.model.name_or_path,
        quantization=cfg.model.quantization,
        dtype=cfg.model.dtype,
        attn_implementation=cfg.model.attn_implementation,
    )
    data = prepare_sft_data(cfg.data, policy.tokenizer)
    callbacks = list(callbacks or [])
    if cfg.train.early_stopping_patience is not None:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=cfg.train.early_stopping_patience))
    trainer = SFTTrainer(
        model=policy.model,
        args=sft_args(cfg.train, cfg.data.max_length, has_eval=data.eval is not None),
        train_dataset=data.train,
        eval_dataset=data.eval,
        processing_class=policy.tokenizer,
        peft_config=lora_config(cfg.lora) if cfg.lora.enabled else None,
        callbacks=callbacks,
    )
    finished, resume_from, notice = resume_plan(cfg.train)
    return SFTSetup(trainer, resume_from, data.context_train, data.context_eval, finished, notice)


SFTResult = TrainResult  # the name this module has always exported


def train(setup: SFTSetup, cfg: SFTRunConfig) -> TrainResult:
    """Train (from the newest complete checkpoint if there is one), then save the adapter, tokenizer, config and
    trainer state in `final/`, the context report beside it. A finished run returns its result without training."""
    if setup.finished:
        return finished_result(setup.finished)

    def context_report(out: Path) -> None:
        reports = {"train": setup.context_train.summary(), "eval": setup.context_eval and setup.context_eval.summary()}
        (out / "context_report.json").write_text(json.dumps(reports, indent=2))

    return train_and_save(setup.trainer, cfg, setup.resume_from, setup.notice, [cfg.train.seed, cfg.data.seed], "sft",
                          write_reports=context_report)


def run_sft(cfg: SFTRunConfig, callbacks: list | None = None) -> TrainResult:
    """Build and train; a finished run is reported before any model is loaded."""
    finished = finished_run(cfg.train)
    if finished:
        return finished_result(finished)
    return train(build_sft_trainer(cfg, callbacks), cfg)
