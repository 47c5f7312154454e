"""What every training method (SFT now, GRPO and DPO next) shares at run time: precision, the LoRA config,
the TrainingArguments fields common to all TRL configs, the run files written next to the checkpoints, and
the resume rules.

    args = SFTConfig(**training_arguments(cfg.train), max_length=..., packing=...)
    done = finished_run(cfg.train)               # a finished run is reported, never trained again
    checkpoint = find_resume_checkpoint(cfg.train.output_dir, cfg.train.resume)

Resume rules (`train.resume=auto`): the newest *complete* `checkpoint-N` in the output dir, where complete
means `trainer_state.json` parses and the model/adapter weights are there and whole (a run killed while
writing a checkpoint leaves a torn one: it is skipped, with a message saying which and why). A run whose
`final/` holds the end state of the same plan (same `max_steps` / epochs) is finished: re-running it trains
nothing and returns that result. `train.resume=never` starts over; a path resumes that checkpoint.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentbench_tuning.config import LoraSettings, TrainSettings, config_to_dict
from agentbench_tuning.quiet import KernelsProbeFilter as _KernelsProbeFilter  # noqa: F401
from agentbench_tuning.quiet import quiet_optional_kernels_probe  # noqa: F401 - re-exported

logger = logging.getLogger(__name__)

FINAL_DIR = "final"
CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")
WEIGHT_FILES = (
    "adapter_model.safetensors",
    "adapter_model.bin",
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)


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


# ------------------------------------------------------------------ checkpoints


def _safetensors_problem(path: Path) -> str | None:
    """A safetensors file is an 8-byte header length, a JSON header, then the tensors; a file cut short by a
    kill is shorter than its header says."""
    size = path.stat().st_size
    if size < 8:
        return f"{path.name} is {size} bytes (cut short)"
    with path.open("rb") as f:
        header_len = int.from_bytes(f.read(8), "little")
        if 8 + header_len > size:
            return f"{path.name} is cut short ({size} bytes, header alone needs {8 + header_len})"
        try:
            header = json.loads(f.read(header_len))
        except ValueError:
            return f"{path.name} has an unreadable header"
    data_end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
    if size != 8 + header_len + data_end:
        return f"{path.name} is {size} bytes, its header says {8 + header_len + data_end} (cut short)"
    return None


def weights_problem(directory: str | Path) -> str | None:
    """Why `directory` holds no usable model/adapter weights (None when they are there and whole)."""
    directory = Path(directory)
    weights = [directory / name for name in WEIGHT_FILES if (directory / name).is_file()]
    if not weights and not any(directory.glob("pytorch_model_fsdp_*")):
        return f"no model or adapter weights ({', '.join(WEIGHT_FILES[:3])}, ...)"
    for path in weights:
        if path.suffix == ".safetensors" and (problem := _safetensors_problem(path)):
            return problem
    return None


def checkpoint_problem(checkpoint: str | Path) -> str | None:
    """Why `checkpoint` cannot be resumed (None when it is complete): `trainer_state.json` missing or not
    JSON, or no model/adapter weights, or a weights file cut short. The Trainer writes the state file after
    the weights, optimizer and RNG state, so a parsable one means the save got that far."""
    state = Path(checkpoint) / "trainer_state.json"
    if not state.is_file():
        return "no trainer_state.json (the run was stopped while saving it)"
    try:
        json.loads(state.read_text())
    except ValueError:
        return "trainer_state.json is not valid JSON (cut short while saving)"
    return weights_problem(checkpoint)


@dataclass(frozen=True)
class SkippedCheckpoint:
    path: Path
    reason: str

    def message(self) -> str:
        return f"skipping incomplete checkpoint {self.path}: {self.reason}"


@dataclass(frozen=True)
class CheckpointScan:
    complete: list[Path]  # newest first
    skipped: list[SkippedCheckpoint]

    @property
    def newest(self) -> Path | None:
        return self.complete[0] if self.complete else None


def scan_checkpoints(output_dir: str | Path) -> CheckpointScan:
    """The `checkpoint-N` dirs in `output_dir`, newest (highest N) first, split into complete and torn."""
    found = []
    if Path(output_dir).is_dir():
        found = [p for p in Path(output_dir).iterdir() if p.is_dir() and CHECKPOINT_RE.match(p.name)]
    found.sort(key=lambda p: int(CHECKPOINT_RE.match(p.name).group(1)), reverse=True)
    complete, skipped = [], []
    for path in found:
        problem = checkpoint_problem(path)
        if problem:
            skipped.append(SkippedCheckpoint(path, problem))
        else:
            complete.append(path)
    return CheckpointScan(complete, skipped)


def find_resume_checkpoint(output_dir: str, resume: str) -> str | None:
    """`train.resume`: "never" -> None; "auto" -> the newest complete checkpoint in `output_dir` (torn ones are
    skipped with a logged reason), or None; anything else is a checkpoint path, which must be complete."""
    if resume == "never":
        return None
    if resume != "auto":
        if not Path(resume).is_dir():
            raise FileNotFoundError(f"train.resume={resume!r}: no such checkpoint directory")
        if problem := checkpoint_problem(resume):
            raise ValueError(
                f"train.resume={resume!r} cannot be resumed: {problem}. Pick another checkpoint, "
                "or set train.resume=auto to take the newest complete one"
            )
        return resume
    scan = scan_checkpoints(output_dir)
    for skipped in scan.skipped:
        logger.warning(skipped.message())
    return str(scan.newest) if scan.newest else None


def resume_notice(output_dir: str | Path, checkpoint: str) -> str:
    """What resuming does to the run's outputs, to show before training starts."""
    out = Path(output_dir)
    step = json.loads((Path(checkpoint) / "trainer_state.json").read_text())["global_step"]
    notice = f"resuming {checkpoint} (step {step}); when training ends, {out / FINAL_DIR} is replaced"
    if (out / "merged").is_dir():
        notice += (
            f". {out / 'merged'} still holds weights merged from the earlier adapter: re-export it afterwards "
            f"(abtune export --adapter {out / FINAL_DIR} --out {out / 'merged'})"
        )
    return notice + ". To start over instead: train.resume=never or a new train.output_dir."


# ------------------------------------------------------------------ finished runs


@dataclass(frozen=True)
class FinishedRun:
    output_dir: Path
    adapter_dir: Path
    global_step: int
    max_steps: int
    log_history: list[dict]
    source: Path  # final/, or the last checkpoint of a run stopped before it wrote final/

    def message(self) -> str:
        restored = ""
        if self.source != self.adapter_dir:
            restored = f" ({self.adapter_dir.name}/ restored from {self.source.name}, saved at the last step)"
        return (
            f"{self.output_dir} already finished: step {self.global_step} of {self.max_steps}, adapter in "
            f"{self.adapter_dir}{restored}. Nothing to train. To train again from scratch set train.resume=never "
            "(overwrites this run's checkpoints) or choose a new train.output_dir; to train longer raise "
            "train.max_steps or train.num_train_epochs."
        )


def _asks_for_more(train: TrainSettings, state: dict, recorded: dict) -> bool:
    """Whether `train` plans more training than the finished run in `state` (its `recorded` train settings)."""
    same_plan = recorded.get("max_steps") == train.max_steps and (
        train.max_steps > 0 or recorded.get("num_train_epochs") == train.num_train_epochs
    )
    if same_plan:  # also covers a run that early stopping ended before its last step
        return False
    if train.max_steps > 0:
        return train.max_steps > state["global_step"]
    return train.num_train_epochs > state["epoch"] + 1e-6


def _recorded_train_settings(config_path: Path) -> dict:
    import yaml

    return yaml.safe_load(config_path.read_text()).get("train", {}) if config_path.is_file() else {}


def _end_of_run(out: Path) -> tuple[dict, dict, Path] | None:
    """(trainer state, recorded train settings, directory) of the end of the run in `out`, None if it did not
    end: `final/` when its state is the newest, else a last checkpoint that reached its planned max_steps
    (a run stopped between that checkpoint and `final/`, or one written before `final/` kept its state)."""
    newest = scan_checkpoints(out).newest
    final_state = out / FINAL_DIR / "trainer_state.json"
    if final_state.is_file():
        state = json.loads(final_state.read_text())
        if newest and int(CHECKPOINT_RE.match(newest.name).group(1)) > state["global_step"]:
            return None  # trained on after final/ and stopped: resume
        return state, _recorded_train_settings(out / FINAL_DIR / "resolved_config.yaml"), out / FINAL_DIR
    if newest is None:
        return None
    state = json.loads((newest / "trainer_state.json").read_text())
    if "max_steps" not in state or state["global_step"] < state["max_steps"]:
        return None
    return state, _recorded_train_settings(out / "resolved_config.yaml"), newest


def finished_run(train: TrainSettings) -> FinishedRun | None:
    """The finished run in `train.output_dir` if re-running `train` has nothing left to do, else None.

    Finished: the run's end state (see `_end_of_run`) exists, no complete checkpoint is newer, and `train`
    plans no more steps or epochs than it ran. Only `train.resume=auto` looks: "never" starts over, a path
    resumes that checkpoint."""
    if train.resume != "auto":
        return None
    out = Path(train.output_dir)
    end = _end_of_run(out)
    if end is None or _asks_for_more(train, end[0], end[1]):
        return None
    state, _, source = end
    return FinishedRun(out, out / FINAL_DIR, state["global_step"], state["max_steps"], state["log_history"], source)


def restore_final(finished: FinishedRun) -> None:
    """Write `final/` from the last checkpoint when the run stopped before saving it (or mid-save): the model
    and tokenizer files and the trainer state, not the optimizer or RNG state. Main process only."""
    import os
    import shutil

    if finished.source == finished.adapter_dir or os.environ.get("RANK", "0") != "0":
        return
    if finished.adapter_dir.is_dir() and weights_problem(finished.adapter_dir) is None:
        return  # written before final/ kept its trainer state; the weights are whole
    tmp = finished.adapter_dir.with_name(FINAL_DIR + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    skip = shutil.ignore_patterns("optimizer.pt", "scheduler.pt", "scaler.pt", "rng_state*", "training_args.bin")
    shutil.copytree(finished.source, tmp, ignore=skip)
    if (finished.output_dir / "resolved_config.yaml").is_file():
        shutil.copy2(finished.output_dir / "resolved_config.yaml", tmp / "resolved_config.yaml")
    shutil.rmtree(finished.adapter_dir, ignore_errors=True)
    os.replace(tmp, finished.adapter_dir)


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
