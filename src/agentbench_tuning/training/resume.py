"""The resume rules every training method follows, and how a finished run is recognised.

    done = finished_run(cfg.train)               # a finished run is reported, never trained again
    checkpoint = find_resume_checkpoint(cfg.train.output_dir, cfg.train.resume)

Resume rules (`train.resume=auto`): the newest *complete* `checkpoint-N` in the output dir, where complete
means `trainer_state.json` parses and the model/adapter weights are there and whole (a run killed while
writing a checkpoint leaves a torn one: it is skipped, with a message saying which and why). A run whose
`final/` holds the end state of the same plan (same `max_steps` / epochs) is finished: re-running it trains
nothing and returns that result. `train.resume=never` starts over; a path resumes that checkpoint.
`training/runtime.py` builds on these (`resume_plan`, `finished_result`, `train_and_save`).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from agentbench_tuning.config import TrainSettings

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
