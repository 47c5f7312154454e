"""training/runtime.py without a model: which checkpoint dirs count as complete, the shared TrainingArguments,
the finished-run rule, and the filter for bitsandbytes' `kernels` probe warning."""

from __future__ import annotations

import json
import logging
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from agentbench_tuning.config import TrainSettings
from agentbench_tuning.training.resume import (
    checkpoint_problem,
    find_resume_checkpoint,
    finished_run,
    restore_final,
    scan_checkpoints,
)
from agentbench_tuning.training.runtime import _KernelsProbeFilter, training_arguments

ROOT = Path(__file__).resolve().parents[2]


def safetensors_bytes(n_floats: int) -> bytes:
    header = json.dumps({"w": {"dtype": "F32", "shape": [n_floats], "data_offsets": [0, 4 * n_floats]}}).encode()
    return struct.pack("<Q", len(header)) + header + b"\0" * (4 * n_floats)


def write_checkpoint(directory: Path, step: int, *, state=True, weights=True, max_steps=1000) -> Path:
    path = directory / f"checkpoint-{step}"
    path.mkdir(parents=True)
    if state:
        state = {"global_step": step, "max_steps": max_steps, "epoch": 0.5, "log_history": [{"loss": 2.0}]}
        (path / "trainer_state.json").write_text(json.dumps(state))
    if weights:
        (path / "adapter_model.safetensors").write_bytes(safetensors_bytes(16))
    return path


def test_complete_and_torn_checkpoints(tmp_path):
    assert checkpoint_problem(write_checkpoint(tmp_path, 2)) is None
    assert "no trainer_state.json" in checkpoint_problem(write_checkpoint(tmp_path, 3, state=False))
    assert "no model or adapter weights" in checkpoint_problem(write_checkpoint(tmp_path, 4, weights=False))
    cut = write_checkpoint(tmp_path, 5)
    data = (cut / "adapter_model.safetensors").read_bytes()
    (cut / "adapter_model.safetensors").write_bytes(data[:-10])
    assert checkpoint_problem(cut) == f"adapter_model.safetensors is {len(data) - 10} bytes, its header says {len(data)} (cut short)"
    half_state = write_checkpoint(tmp_path, 6)
    (half_state / "trainer_state.json").write_text('{"global_step": 6, "log_hi')
    assert "not valid JSON" in checkpoint_problem(half_state)


def test_auto_resume_takes_newest_complete_and_says_what_it_skipped(tmp_path, caplog):
    write_checkpoint(tmp_path, 2)
    write_checkpoint(tmp_path, 10)
    write_checkpoint(tmp_path, 12, state=False)
    write_checkpoint(tmp_path, 100, weights=False)
    (tmp_path / "checkpoint-notes").mkdir()  # not a checkpoint name: ignored
    scan = scan_checkpoints(tmp_path)
    assert [p.name for p in scan.complete] == ["checkpoint-10", "checkpoint-2"]  # numeric order, not text
    with caplog.at_level(logging.WARNING, logger="agentbench_tuning.training.resume"):
        assert find_resume_checkpoint(str(tmp_path), "auto") == str(tmp_path / "checkpoint-10")
    assert caplog.messages == [
        f"skipping incomplete checkpoint {tmp_path / 'checkpoint-100'}: no model or adapter weights "
        "(adapter_model.safetensors, adapter_model.bin, model.safetensors, ...)",
        f"skipping incomplete checkpoint {tmp_path / 'checkpoint-12'}: no trainer_state.json "
        "(the run was stopped while saving it)",
    ]
    assert find_resume_checkpoint(str(tmp_path), "never") is None
    assert find_resume_checkpoint(str(tmp_path / "none-yet"), "auto") is None
    with pytest.raises(ValueError, match=r"checkpoint-12'? cannot be resumed: no trainer_state.json.*resume=auto"):
        find_resume_checkpoint(str(tmp_path), str(tmp_path / "checkpoint-12"))


def finish(out: Path, global_step: int, max_steps: int, recorded: dict) -> None:
    import yaml

    final = out / "final"
    final.mkdir(parents=True)
    state = {"global_step": global_step, "max_steps": max_steps, "epoch": 1.0, "log_history": [{"loss": 1.0}]}
    (final / "trainer_state.json").write_text(json.dumps(state))
    (final / "resolved_config.yaml").write_text(yaml.safe_dump({"train": recorded}))


def test_finished_run_rule(tmp_path):
    out = tmp_path / "run"
    train = TrainSettings(output_dir=str(out), max_steps=24)
    assert finished_run(train) is None  # nothing there yet
    write_checkpoint(out, 24)
    finish(out, 24, 24, {"max_steps": 24, "num_train_epochs": 2.0})
    done = finished_run(train)
    assert (done.global_step, done.max_steps, done.adapter_dir) == (24, 24, out / "final")
    assert str(out) in done.message() and "train.resume=never" in done.message()
    assert finished_run(TrainSettings(output_dir=str(out), max_steps=12)) is not None  # asks for less
    assert finished_run(TrainSettings(output_dir=str(out), max_steps=30)) is None  # asks for more: resume
    assert finished_run(TrainSettings(output_dir=str(out), max_steps=24, resume="never")) is None
    write_checkpoint(out, 26)  # continued after final/ and killed: resume, do not report finished
    assert finished_run(train) is None


def test_a_run_stopped_before_writing_final_is_finished_from_its_last_checkpoint(tmp_path):
    out = tmp_path / "run"
    write_checkpoint(out, 12, max_steps=24)
    assert finished_run(TrainSettings(output_dir=str(out), max_steps=24)) is None  # part-way: resume
    last = write_checkpoint(out, 24, max_steps=24)
    for name in ("optimizer.pt", "rng_state.pth", "tokenizer.json"):
        (last / name).write_text(name)
    (out / "resolved_config.yaml").write_text("train:\n  max_steps: 24\n")
    done = finished_run(TrainSettings(output_dir=str(out), max_steps=24))
    assert (done.source, done.global_step) == (last, 24)
    assert "final/ restored from checkpoint-24" in done.message()
    restore_final(done)
    assert sorted(p.name for p in (out / "final").iterdir()) == [
        "adapter_model.safetensors", "resolved_config.yaml", "tokenizer.json", "trainer_state.json"
    ]
    assert (out / "final" / "adapter_model.safetensors").read_bytes() == (last / "adapter_model.safetensors").read_bytes()
    assert finished_run(TrainSettings(output_dir=str(out), max_steps=24)).source == out / "final"


def test_early_stopped_run_with_the_same_plan_is_finished(tmp_path):
    out = tmp_path / "run"
    finish(out, 9, 40, {"max_steps": -1, "num_train_epochs": 2.0})
    assert finished_run(TrainSettings(output_dir=str(out), max_steps=-1, num_train_epochs=2.0)).global_step == 9
    assert finished_run(TrainSettings(output_dir=str(out), max_steps=-1, num_train_epochs=3.0)) is None


def test_training_arguments_on_cpu():
    kwargs = training_arguments(TrainSettings(optim="adamw_torch_fused", precision="auto", report_to="none"))
    assert kwargs["use_cpu"] and not kwargs["bf16"] and not kwargs["fp16"]
    assert kwargs["optim"] == "adamw_torch" and kwargs["report_to"] == "none"
    assert kwargs["save_strategy"] == "steps" and kwargs["seed"] == kwargs["data_seed"] == 42


def record(error: BaseException) -> logging.LogRecord:
    return logging.LogRecord(
        "bitsandbytes.backends.cpu.ops", logging.WARNING, "ops.py", 253,
        "Failed to load CPU gemm_4bit_forward from kernels-community: %s. Please make sure ...", (error,), None,
    )  # fmt: skip


def test_kernels_probe_filter_drops_only_the_not_installed_case():
    keep = _KernelsProbeFilter().filter
    assert not keep(record(ModuleNotFoundError("No module named 'kernels'", name="kernels")))
    assert keep(record(ModuleNotFoundError("No module named 'huggingface_hub'", name="huggingface_hub")))
    assert keep(record(RuntimeError("kernel version 0.9 too old")))
    other = logging.LogRecord("bitsandbytes.backends.cpu.ops", logging.WARNING, "ops.py", 1, "other", (), None)
    assert keep(other)


def python_output(code: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout + result.stderr


def test_importing_peft_after_the_training_package_prints_no_kernels_warning():
    pytest.importorskip("bitsandbytes")
    from bitsandbytes.functional import has_avx512bf16

    if has_avx512bf16():  # the control: bitsandbytes only probes `kernels` on CPUs with AVX512-BF16
        assert "Failed to load CPU gemm_4bit_forward" in python_output("import peft, bitsandbytes")
    output = python_output("import agentbench_tuning.training, peft, bitsandbytes")
    assert "gemm_4bit_forward" not in output and "kernels" not in output
