"""Supervised fine-tuning with LoRA or QLoRA through TRL's SFTTrainer.

The datasets reach TRL pre-tokenized (`input_ids` + `labels` from `chat.encode_messages`), so the loss
covers exactly each assistant turn's content and its `<|im_end|>`, rendered by the model's own template.

    abtune sft --config configs/debug.yaml
    accelerate launch --config_file configs/accelerate/ddp.yaml -m agentbench_tuning.cli sft --config X.yaml

Steps: load_policy -> prepare_sft_data -> build_sft_trainer -> train (resumes the last checkpoint) ->
save the adapter + tokenizer + resolved config.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from agentbench_tuning.chat import ContextReport
from agentbench_tuning.config import LoraSettings, SFTRunConfig, TrainSettings, config_to_dict


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


def sft_args(train: TrainSettings, max_length: int, has_eval: bool):
    """Map our settings to TRL's SFTConfig (one place, flat)."""
    import torch
    from trl import SFTConfig

    from agentbench_tuning.tracking import report_to

    precision = resolve_precision(train.precision)
    on_cpu = not torch.cuda.is_available()
    eval_kwargs = {}
    if has_eval:
        eval_kwargs = dict(eval_strategy="steps", eval_steps=train.eval_steps)
        if train.early_stopping_patience is not None:
            eval_kwargs.update(
                load_best_model_at_end=True, metric_for_best_model="eval_loss", greater_is_better=False
            )
    return SFTConfig(
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
        max_length=max_length,
        packing=train.packing,
        logging_steps=train.logging_steps,
        save_strategy="steps",
        save_steps=train.save_steps,
        save_total_limit=train.save_total_limit,
        seed=train.seed,
        data_seed=train.seed,
        report_to=report_to(train.report_to) or "none",
        run_name=train.run_name,
        optim=train.optim if not on_cpu or "fused" not in train.optim else "adamw_torch",
        dataloader_pin_memory=not on_cpu,
        **eval_kwargs,
    )


@dataclass
class SFTSetup:
    trainer: object
    resume_from: str | None
    context_train: ContextReport
    context_eval: ContextReport | None


def find_resume_checkpoint(output_dir: str, resume: str) -> str | None:
    if resume == "never":
        return None
    if resume != "auto":
        if not Path(resume).is_dir():
            raise FileNotFoundError(f"train.resume={resume!r}: no such checkpoint directory")
        return resume
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(output_dir) if Path(output_dir).is_dir() else None


def build_sft_trainer(cfg: SFTRunConfig, callbacks: list | None = None) -> SFTSetup:
    """Model, tokenizer, data and TRL trainer for `cfg` (validated)."""
    from transformers import EarlyStoppingCallback
    from trl import SFTTrainer

    from agentbench_tuning.models import load_policy
    from agentbench_tuning.training.sft_data import prepare_sft_data

    cfg.validate()
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
    return SFTSetup(
        trainer=trainer,
        resume_from=find_resume_checkpoint(cfg.train.output_dir, cfg.train.resume),
        context_train=data.context_train,
        context_eval=data.context_eval,
    )


@dataclass
class SFTResult:
    output_dir: Path
    adapter_dir: Path
    global_step: int
    resumed_from: str | None
    log_history: list[dict]

    @property
    def losses(self) -> list[float]:
        return [entry["loss"] for entry in self.log_history if "loss" in entry]


def train(setup: SFTSetup, cfg: SFTRunConfig) -> SFTResult:
    """Train (from the last checkpoint if there is one), then save the adapter, tokenizer and config."""
    import yaml

    from agentbench_tuning.tracking import save_run_metadata

    trainer = setup.trainer
    out = Path(cfg.train.output_dir)
    main_process = trainer.is_world_process_zero()  # under DDP every rank runs this; one writes the files
    if main_process:
        out.mkdir(parents=True, exist_ok=True)
        (out / "resolved_config.yaml").write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
        save_run_metadata(out, config_to_dict(cfg), [cfg.train.seed, cfg.data.seed], kind="sft")
    trainer.train(resume_from_checkpoint=setup.resume_from)
    adapter_dir = out / "final"
    trainer.save_model(str(adapter_dir))  # saves on the main process only
    if main_process:
        trainer.processing_class.save_pretrained(str(adapter_dir))
        reports = {"train": setup.context_train.summary(), "eval": setup.context_eval and setup.context_eval.summary()}
        (out / "context_report.json").write_text(json.dumps(reports, indent=2))
    return SFTResult(
        out, adapter_dir, trainer.state.global_step, setup.resume_from, trainer.state.log_history
    )


def run_sft(cfg: SFTRunConfig, callbacks: list | None = None) -> SFTResult:
    return train(build_sft_trainer(cfg, callbacks), cfg)
