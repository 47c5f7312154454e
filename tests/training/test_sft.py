"""SFT smoke runs on tiny Qwen-shaped models: loss goes down, LoRA weights move, base weights do not;
QLoRA on CPU; a crashed run resumes from its last checkpoint; the merged export round-trips."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from transformers import TrainerCallback

from agentbench_tuning.training.sft import build_sft_trainer, train

pytestmark = pytest.mark.slow


def snapshot(model, lora: bool) -> dict[str, torch.Tensor]:
    return {
        name: param.detach().clone()
        for name, param in model.named_parameters()
        if ("lora_" in name) == lora and (not lora or "lora_B" in name or "lora_A" in name)
    }


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory, tiny_config):
    tmp_path = tmp_path_factory.mktemp("lora")
    cfg = tiny_config(tmp_path)
    setup = build_sft_trainer(cfg)
    model = setup.trainer.model
    before_lora, before_base = snapshot(model, lora=True), snapshot(model, lora=False)
    result = train(setup, cfg)
    return cfg, result, model, before_lora, before_base


def test_lora_loss_goes_down_and_only_adapters_move(lora_run):
    cfg, result, model, before_lora, before_base = lora_run
    assert result.global_step == 8
    losses = result.losses
    assert len(losses) == 8 and losses[-1] < losses[0]
    after_lora, after_base = snapshot(model, lora=True), snapshot(model, lora=False)
    assert before_lora and all(not torch.equal(before_lora[k], after_lora[k]) for k in before_lora)
    assert all(torch.equal(before_base[k], after_base[k]) for k in before_base)
    # LoRA on every linear projection of every layer (7 per layer x 2 layers, A and B each).
    assert len(before_lora) == 2 * 7 * 2
    assert (result.adapter_dir / "adapter_model.safetensors").is_file()
    assert (result.adapter_dir / "chat_template.jinja").is_file()
    meta = json.loads((result.output_dir / "run.json").read_text())
    assert meta["kind"] == "sft" and meta["config"]["lora"]["r"] == 8 and meta["seeds"] == [42, 0]
    assert meta["packages"]["trl"] and "commit" in meta["git"] and meta["hardware"]["cpu_count"]


def test_export_round_trips(lora_run, tmp_path):
    from transformers import AutoModelForCausalLM

    from agentbench_tuning.models import official_chat_template, resolve_model_path
    from agentbench_tuning.training.export import PROBE, _probe_logits, export_merged

    _, result, _, _, _ = lora_run
    report = export_merged(result.adapter_dir, tmp_path / "merged", dtype="float32")
    assert report.ok and report.max_abs_logit_diff <= 1e-3
    assert (tmp_path / "merged" / "model.safetensors").is_file()
    assert (tmp_path / "merged" / "chat_template.jinja").read_text() == official_chat_template("qwen2.5")
    # The merge changed the model: the base alone gives different logits on the probe.
    from agentbench_tuning.models import load_tokenizer

    base = AutoModelForCausalLM.from_pretrained(resolve_model_path("tiny:qwen2.5"), dtype=torch.float32)
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged", dtype=torch.float32)
    tok = load_tokenizer(str(tmp_path / "merged"))
    assert PROBE
    assert float((_probe_logits(base, tok) - _probe_logits(merged, tok)).abs().max()) > 1e-3


class CrashAt(TrainerCallback):
    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise KeyboardInterrupt(f"simulated kill at step {self.step}")


def test_killed_run_resumes_from_last_checkpoint(tmp_path, tiny_config):
    cfg = tiny_config(tmp_path, "train.max_steps=6", "train.save_steps=2", "train.eval_steps=2")
    with pytest.raises(KeyboardInterrupt):
        train(build_sft_trainer(cfg, callbacks=[CrashAt(5)]), cfg)
    checkpoints = sorted(p.name for p in (tmp_path / "run").glob("checkpoint-*"))
    assert checkpoints == ["checkpoint-2", "checkpoint-4"]
    result = train(build_sft_trainer(cfg), cfg)
    assert result.resumed_from.endswith("checkpoint-4")
    assert result.global_step == 6
    logged_steps = [e["step"] for e in result.log_history if "loss" in e]
    assert logged_steps == [1, 2, 3, 4, 5, 6]  # steps 1-4 from the checkpoint's state, 5-6 run again


def test_qlora_runs_on_cpu_and_leaves_4bit_base_untouched(tmp_path, tiny_config):
    pytest.importorskip("bitsandbytes")
    cfg = tiny_config(
        tmp_path,
        "model.name_or_path=tiny:qwen3-2507",
        "model.quantization=4bit",
        "train.max_steps=3",
        "data.eval_fraction=0.0",
    )
    setup = build_sft_trainer(cfg)
    model = setup.trainer.model
    quantized = {n: p.detach().clone() for n, p in model.named_parameters() if p.dtype == torch.uint8}
    assert quantized, "expected bitsandbytes 4-bit (uint8-packed) base weights"
    before_lora = snapshot(model, lora=True)
    result = train(setup, cfg)
    assert result.global_step == 3
    after = dict(model.named_parameters())
    assert all(torch.equal(quantized[n], after[n]) for n in quantized)
    assert all(not torch.equal(before_lora[n], after[n]) for n in before_lora if "lora_B" in n)


def test_runs_distributed_with_two_processes(tmp_path, sft_file):
    """The same `abtune sft` entry point in a 2-process DDP run (gloo on CPU), launched by torch.distributed.run,
    the launcher `accelerate launch` itself uses for multi-GPU (its --cpu mode starts a single process)."""
    import math

    from agentbench_tuning.data import dedupe, load_conversations

    config = tmp_path / "ddp.yaml"
    config.write_text(
        f"model:\n  name_or_path: tiny:qwen2.5\ndata:\n  train: [{sft_file}]\n  eval_fraction: 0.0\n"
        f"  max_length: 256\ntrain:\n  output_dir: {tmp_path / 'run'}\n  num_train_epochs: 1\n"
        "  per_device_train_batch_size: 2\n  gradient_accumulation_steps: 1\n  gradient_checkpointing: false\n"
        "  precision: fp32\n  logging_steps: 1\n  save_steps: 1000\n"
    )
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "agentbench_tuning.cli",
               "sft", "--config", str(config)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    n_examples = len(dedupe(load_conversations(sft_file).conversations).kept)
    # One epoch over 2 processes x 2 examples per device: ceil(n / 4) optimizer steps (one process: ceil(n / 2)).
    assert f"done: {math.ceil(n_examples / 4)} steps" in result.stdout
    assert (tmp_path / "run" / "final" / "adapter_model.safetensors").is_file()
