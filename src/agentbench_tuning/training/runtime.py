"""What every training method (SFT, GRPO, SQL-GRPO, DPO) shares at run time: precision, the LoRA config,
the TrainingArguments fields common to all TRL configs, the run files written next to the checkpoints, and one
train-and-save (`resume_plan` -> `train_and_save` -> `TrainResult`) on top of the resume rules of
`training/resume.py`.

    args = SFTConfig(**training_arguments(cfg.train), max_length=..., packing=...)
    finished, resume_from, notice = resume_plan(cfg.train)
    result = finished_result(finished) if finished else train_and_save(trainer, cfg, resume_from, notice, ...)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentbench_tuning.config import LoraSettings, TrainSettings, config_to_dict
from agentbench_tuning.quiet import KernelsProbeFilter as _KernelsProbeFilter  # noqa: F401
from agentbench_tuning.quiet import quiet_optional_kernels_probe  # noqa: F401 - re-exported
from agentbench_tuning.training.resume import (
    FINAL_DIR,
    FinishedRun,
    find_resume_checkpoint,
    finished_run,
    restore_final,
    resume_notice,
)

logger = logging.getLogger(__name__)

def resolve_precision(precision: str) -> str:
    """ "auto" -> bf16 on GPUs that have it (A100, L4, H100), fp16 on a T4, fp32 on CPU."""
    if precision != "auto":
        return precision
    import torch

    if not torch.cuda.is_available():
        return "fp32"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def lora_config(settings: LoraSettings):
    from peft import LoraConfig

    return LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=settings.target_modules,
        use_rslora=settings.use_rslora,
        bias="none",
        task_type="CAUSAL_LM",
    )


def training_arguments(train: TrainSettings) -> dict:
    """The TrainingArguments kwargs every TRL config (SFTConfig, GRPOConfig, DPOConfig) takes from our settings:
    schedule, batch, precision, CPU fallbacks, checkpoints, logging, seeds. Method-specific fields are added
    by the caller."""
    import torch

    from agentbench_tuning.tracking import report_to

    precision = resolve_precision(train.precision)
    on_cpu = not torch.cuda.is_available()
    return dict(
        output_dir=train.output_dir,
        num_train_epochs=train.num_train_epochs,
        max_steps=train.max_steps,
        per_device_train_batch_size=train.per_device_train_batch_size,
        per_device_eval_batch_size=train.per_device_eval_batch_size,
        gradient_accumulation_steps=train.gradient_accumulation_steps,
        learning_rate=train.learning_rate,
        lr_scheduler_type=train.lr_scheduler_type,
        warmup_steps=train.warmup_ratio,  # transformers 5 reads a float < 1 as a ratio of the total steps
        weight_decay=train.weight_decay,
        max_grad_norm=train.max_grad_norm,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        use_cpu=on_cpu,
        gradient_checkpointing=train.gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False},
        logging_steps=train.logging_steps,
        save_strategy="steps",
        save_steps=train.save_steps,
        save_total_limit=train.save_total_limit,
        seed=train.seed,
        data_seed=train.seed,
        report_to=report_to(train.report_to) or "none",
        run_name=train.run_name,
        # Fused optimizers are CUDA kernels; on CPU the same optimizer unfused.
        optim=train.optim if not on_cpu or "fused" not in train.optim else "adamw_torch",
        dataloader_pin_memory=not on_cpu,
    )


def write_run_files(cfg, seeds: list[int], kind: str) -> None:
    """`resolved_config.yaml` and `run.json` (config, seeds, commit, versions, hardware) in the output dir."""
    import yaml

    from agentbench_tuning.tracking import save_run_metadata

    out = Path(cfg.train.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "resolved_config.yaml").write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
    save_run_metadata(out, config_to_dict(cfg), seeds, kind=kind)


def save_final_state(trainer, cfg) -> Path:
    """Next to the adapter in `final/`: the trainer state and the config that produced it, which is how a
    re-run knows this run finished (see `finished_run`)."""
    import yaml

    final = Path(cfg.train.output_dir) / FINAL_DIR
    trainer.state.save_to_json(str(final / "trainer_state.json"))
    (final / "resolved_config.yaml").write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
    return final


# ------------------------------------------------------------------ one train-and-save for every method


@dataclass
class TrainResult:
    """What every training method (SFT, GRPO, SQL-GRPO, DPO) returns."""

    output_dir: Path
    adapter_dir: Path  # final/: the adapter (or full model), tokenizer, resolved config, trainer state
    global_step: int
    resumed_from: str | None
    log_history: list[dict]
    already_finished: bool = False  # True: nothing was trained, this is the earlier run's result

    @property
    def losses(self) -> list[float]:
        return [entry["loss"] for entry in self.log_history if "loss" in entry]

    def curve(self, key: str) -> list[float]:
        """A logged training metric per logging step ("loss", "reward", "logprob_gap/max", "rewards/margins", ...);
        steps that logged it as None and evaluation entries are left out."""
        return [entry[key] for entry in self.log_history if entry.get(key) is not None and "eval_loss" not in entry]


def resume_plan(train: TrainSettings) -> tuple[FinishedRun | None, str | None, str | None]:
    """(the finished run this config would repeat, the checkpoint to resume, the notice to print)."""
    finished = finished_run(train)
    resume_from = None if finished else find_resume_checkpoint(train.output_dir, train.resume)
    notice = finished.message() if finished else resume_from and resume_notice(train.output_dir, resume_from)
    return finished, resume_from, notice


def finished_result(finished: FinishedRun) -> TrainResult:
    """A finished run's result without training (its `final/` restored from the last checkpoint if needed)."""
    restore_final(finished)
    logger.warning(finished.message())
    return TrainResult(finished.output_dir, finished.adapter_dir, finished.global_step, None, finished.log_history,
                       True)


def train_and_save(trainer: Any, cfg: Any, resume_from: str | None, notice: str | None, seeds: list[int], kind: str,
                   close: Callable[[], None] | None = None,
                   write_reports: Callable[[Path], object] | None = None) -> TrainResult:
    """Train (from `resume_from` if given), then save adapter, tokenizer, config and trainer state in `final/`.
    Under DDP every rank runs this; the main process writes the files. `close` runs after training even when
    it fails (environments, database copies); `write_reports(out)` adds a method's own report files."""
    out = Path(cfg.train.output_dir)
    main_process = trainer.is_world_process_zero()
    if main_process:
        if notice:
            logger.warning(notice)
        write_run_files(cfg, seeds, kind=kind)
    try:
        trainer.train(resume_from_checkpoint=resume_from)
    finally:
        if close is not None:
            close()
    adapter_dir = out / FINAL_DIR
    trainer.save_model(str(adapter_dir))  # saves on the main process only
    if main_process:
        trainer.processing_class.save_pretrained(str(adapter_dir))
        save_final_state(trainer, cfg)
        if write_reports is not None:
            write_reports(out)
    return TrainResult(out, adapter_dir, trainer.state.global_step, resume_from, trainer.state.log_history)


# ------------------------------------------------------------------ library noise


def use_plain_progress(trainer) -> None:
    """Swap transformers' notebook progress bar for the console one. transformers picks the notebook bar for
    any process that imported marimo, so a notebook run as a script would print `<IPython...HTML object>`
    lines; call this where no notebook frontend shows HTML (`notebooks.shows_html()` is False)."""
    from transformers.trainer_callback import ProgressCallback
    from transformers.utils.notebook import NotebookProgressCallback

    if trainer.pop_callback(NotebookProgressCallback) is not None:
        trainer.add_callback(ProgressCallback)
