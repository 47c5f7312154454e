"""Supervised fine-tuning with LoRA or QLoRA through TRL's SFTTrainer.

The datasets reach TRL pre-tokenized (`input_ids` + `labels` from `chat.encode_messages`), so the loss
covers exactly each assistant turn's content and its `<|im_end|>`, rendered by the model's own template.

    abtune sft --config configs/debug.yaml
    accelerate launch --config_file configs/accelerate/ddp.yaml -m agentbench_tuning.cli sft --config X.yaml

Steps: load_policy -> prepare_sft_data -> build_sft_trainer -> train (resumes the newest complete
checkpoint; a finished run is reported, not trained again) -> save the adapter + tokenizer + resolved config.
The resume rules and the arguments shared with the other methods live in `training/runtime.py`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from agentbench_tuning.chat import ContextReport
from agentbench_tuning.config import SFTRunConfig, TrainSettings
from agentbench_tuning.training.runtime import (
    FinishedRun,
    find_resume_checkpoint,
    finished_run,
    lora_config,
    quiet_optional_kernels_probe,
    resolve_precision,
    restore_final,
    resume_notice,
    save_final_state,
    training_arguments,
    write_run_files,
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
    finished = finished_run(cfg.train)
    resume_from = None if finished else find_resume_checkpoint(cfg.train.output_dir, cfg.train.resume)
    notice = finished.message() if finished else resume_from and resume_notice(cfg.train.output_dir, resume_from)
    return SFTSetup(trainer, resume_from, data.context_train, data.context_eval, finished, notice)


@dataclass
class SFTResult:
    output_dir: Path
    adapter_dir: Path
    global_step: int
    resumed_from: str | None
    log_history: list[dict]
    already_finished: bool = False  # True: nothing was trained, this is the earlier run's result

    @property
    def losses(self) -> list[float]:
        return [entry["loss"] for entry in self.log_history if "loss" in entry]


def _finished_result(finished: FinishedRun) -> SFTResult:
    restore_final(finished)
    logger.warning(finished.message())
    return SFTResult(
        finished.output_dir, finished.adapter_dir, finished.global_step, None, finished.log_history, True
    )


def train(setup: SFTSetup, cfg: SFTRunConfig) -> SFTResult:
    """Train (from the newest complete checkpoint if there is one), then save the adapter, tokenizer, config
    and trainer state in `final/`. A finished run returns its result without training."""
    if setup.finished:
        return _finished_result(setup.finished)
    trainer = setup.trainer
    out = Path(cfg.train.output_dir)
    main_process = trainer.is_world_process_zero()  # under DDP every rank runs this; one writes the files
    if main_process:
        if setup.notice:
            logger.warning(setup.notice)
        write_run_files(cfg, [cfg.train.seed, cfg.data.seed], kind="sft")
    trainer.train(resume_from_checkpoint=setup.resume_from)
    adapter_dir = out / "final"
    trainer.save_model(str(adapter_dir))  # saves on the main process only
    if main_process:
        trainer.processing_class.save_pretrained(str(adapter_dir))
        save_final_state(trainer, cfg)
        reports = {"train": setup.context_train.summary(), "eval": setup.context_eval and setup.context_eval.summary()}
        (out / "context_report.json").write_text(json.dumps(reports, indent=2))
    return SFTResult(
        out, adapter_dir, trainer.state.global_step, setup.resume_from, trainer.state.log_history
    )


def run_sft(cfg: SFTRunConfig, callbacks: list | None = None) -> SFTResult:
    """Build and train; a finished run is reported before any model is loaded."""
    finished = finished_run(cfg.train)
    if finished:
        return _finished_result(finished)
    return train(build_sft_trainer(cfg, callbacks), cfg)
