"""DPO with LoRA or QLoRA through TRL's DPOTrainer, on step-level or whole-trajectory pairs.

    abtune dpo --config configs/dpo_debug.yaml
    abtune dpo-round --config configs/dpo_debug.yaml      # explore -> pair -> DPO (training/dpo_round.py)

Steps: load_policy -> prepare_pairs (exact completion masks, `training/dpo_data.py`) -> build_dpo_trainer ->
train (resumes the newest complete checkpoint; a finished run is reported, not trained again) -> save the
adapter + tokenizer + resolved config in `final/`.

The reference model: with a fresh adapter it is the base with the adapter disabled (no copy in memory); with
`dpo.init_adapter` (e.g. the SFT adapter, ETO's recipe) TRL 1.16 adds a frozen copy of it named "ref" and the
reference is the starting policy. Losses: `sigmoid` (DPO) and `sigmoid_norm` (log-ratios divided by the number
of trained tokens of each side, so long trajectories do not dominate); `dpo.sft_weight` adds TRL's "sft" term
(the chosen side's mean token NLL over its trained tokens, observations masked as in the log-ratios).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agentbench_tuning.config import ConfigError
from agentbench_tuning.rl_config import DPORunConfig
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
    from trl import DPOConfig

__all__ = ["DPOResult", "DPOSetup", "build_dpo_trainer", "dpo_args", "run_dpo", "train"]

logger = logging.getLogger(__name__)


def dpo_args(cfg: DPORunConfig, has_eval: bool) -> DPOConfig:
    """Map our settings to TRL's DPOConfig: the shared TrainingArguments plus DPO's own fields."""
    from trl import DPOConfig

    t = cfg.train
    eval_kwargs = dict(eval_strategy="steps", eval_steps=t.eval_steps) if has_eval else {}
    return DPOConfig(
        **training_arguments(t),
        beta=cfg.dpo.beta,
        loss_type=[cfg.dpo.loss_type] + (["sft"] if cfg.dpo.sft_weight else []),
        loss_weights=[1.0, cfg.dpo.sft_weight] if cfg.dpo.sft_weight else None,
        max_length=cfg.pairs.max_length,
        precompute_ref_log_probs=cfg.dpo.precompute_ref_log_probs,
        # Our rows are chosen/rejected ids + masks, not TRL's signature columns: keep them for the collator.
        remove_unused_columns=False,
        **eval_kwargs,
    )


def _prepared_dpo_trainer_class():
    """DPOTrainer whose dataset preparation keeps our pre-tokenized rows. TRL 1.16 has no hook for that:
    `_prepare_dataset` always re-tokenizes prompt/chosen/rejected and would replace the masks with
    "everything after the prompt", so it is the one method overridden (it only checks the columns here)."""
    from trl import DPOTrainer

    class MaskedDPOTrainer(DPOTrainer):
        def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
            missing = {"chosen_input_ids", "chosen_completion_mask", "rejected_input_ids",
                       "rejected_completion_mask"} - set(dataset.column_names)
            if missing:
                raise ValueError(f"{dataset_name} dataset lacks {sorted(missing)}; build it with dpo_data.prepare_pairs")
            return dataset

    return MaskedDPOTrainer


@dataclass
class DPOSetup:
    trainer: object
    resume_from: str | None
    data: object  # dpo_data.PairData
    finished: FinishedRun | None = None
    notice: str | None = None


def _load_model(cfg: DPORunConfig):
    from agentbench_tuning.models import load_policy

    m = cfg.model
    return load_policy(m.name_or_path, lora=cfg.dpo.init_adapter, quantization=m.quantization, dtype=m.dtype,
                       attn_implementation=m.attn_implementation, trainable=cfg.dpo.init_adapter is not None)


def build_dpo_trainer(cfg: DPORunConfig, callbacks: list | None = None, extra_pairs: list | None = None) -> DPOSetup:
    """Model, tokenizer, encoded pairs and TRL trainer for `cfg`, and where training resumes from.
    `extra_pairs` (pair dicts) are trained along with `pairs.train` (dpo-round passes its fresh pairs)."""
    quiet_optional_kernels_probe()
    from agentbench_tuning.training.dpo_data import PreferenceMaskCollator, prepare_pairs

    cfg.validate()
    if not cfg.pairs.train and not extra_pairs:
        raise ConfigError("pairs.train is empty: list a pairs JSONL, runs:DIR,DIR or gen:alfworld-steps:N")
    policy = _load_model(cfg)
    data = prepare_pairs(cfg.pairs, policy.tokenizer, extra_pairs or ())
    logger.warning(data.summary())
    trainer = _prepared_dpo_trainer_class()(
        model=policy.model,
        ref_model=None,
        args=dpo_args(cfg, has_eval=data.eval is not None),
        data_collator=PreferenceMaskCollator(policy.tokenizer.pad_token_id, cfg.pairs.max_length),
        train_dataset=data.train,
        eval_dataset=data.eval,
        processing_class=policy.tokenizer,
        peft_config=lora_config(cfg.lora) if cfg.lora.enabled and not cfg.dpo.init_adapter else None,
        callbacks=callbacks,
    )
    finished, resume_from, notice = resume_plan(cfg.train)
    return DPOSetup(trainer, resume_from, data, finished, notice)


DPOResult = TrainResult


def train(setup: DPOSetup, cfg: DPORunConfig) -> TrainResult:
    """Train (from the newest complete checkpoint if there is one), then save adapter, tokenizer, config,
    trainer state and the pairs report in `final/`. A finished run returns its result without training."""
    if setup.finished:
        return finished_result(setup.finished)
    return train_and_save(setup.trainer, cfg, setup.resume_from, setup.notice, [cfg.train.seed, cfg.pairs.seed], "dpo",
                          write_reports=lambda out: (out / "pairs_report.txt").write_text(setup.data.summary() + "\n"))


def run_dpo(cfg: DPORunConfig, callbacks: list | None = None) -> TrainResult:
    """Build and train; a finished run is reported before any model is loaded."""
    finished = finished_run(cfg.train)
    if finished:
        return finished_result(finished)
    return train(build_dpo_trainer(cfg, callbacks), cfg)
