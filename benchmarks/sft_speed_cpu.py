"""CPU speed of one LoRA training step at a tiny Qwen2.5 shape: gradient checkpointing on/off, sdpa vs eager.

    PYTHONPATH=src python benchmarks/sft_speed_cpu.py

Only the direction of an effect is meaningful here (a CPU, fp32, a tiny model whose 152k-row LM head
dominates the compute); GPU speed must be measured on a GPU (docs/planning.md lists what). Writes
benchmarks/results/sft_speed_cpu.json and .md.
"""

from __future__ import annotations

import datetime
import itertools
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

from agentbench_tuning.models import TinySize, tiny_config

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"
SIZE = TinySize(hidden_size=256, num_hidden_layers=4, num_attention_heads=8, num_key_value_heads=2,
                intermediate_size=1024, head_dim=32)  # fmt: skip
SEQ_LEN, BATCH, WARMUP_STEPS, STEPS = 512, 2, 1, 4


def build(attn: str, checkpointing: bool):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(
        tiny_config("qwen2.5", SIZE), dtype=torch.float32, attn_implementation=attn
    )
    model = get_peft_model(
        model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear")
    )
    model.train()
    if checkpointing:
        model.gradient_checkpointing_enable({"use_reentrant": False})
        model.enable_input_require_grads()
    return model


def tokens_per_second(attn: str, checkpointing: bool) -> dict:
    model = build(attn, checkpointing)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    ids = torch.randint(0, 151643, (BATCH, SEQ_LEN))
    times = []
    for step in range(WARMUP_STEPS + STEPS):
        started = time.perf_counter()
        model(input_ids=ids, labels=ids).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step >= WARMUP_STEPS:
            times.append(time.perf_counter() - started)
    per_step = statistics.median(times)
    return {
        "attn": attn,
        "gradient_checkpointing": checkpointing,
        "median_step_s": round(per_step, 3),
        "tokens_per_s": round(BATCH * SEQ_LEN / per_step, 1),
        "load_avg_1min": round(os.getloadavg()[0], 2),
    }


def main() -> int:
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    rows = []
    for attn, checkpointing in itertools.product(("sdpa", "eager"), (False, True)):
        rows.append(tokens_per_second(attn, checkpointing))
        print(rows[-1], flush=True)
    report = {
        "command": "PYTHONPATH=src python benchmarks/sft_speed_cpu.py",
        "date_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "gpu": "none"},
        "shape": {
            **SIZE.__dict__,
            "vocab": 152064,
            "seq_len": SEQ_LEN,
            "batch": BATCH,
            "dtype": "fp32",
            "lora_r": 16,
            "steps_timed": STEPS,
        },  # fmt: skip
        "rows": rows,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "sft_speed_cpu.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "# SFT step speed on CPU (tiny Qwen2.5 shape, LoRA r=16, fp32)",
        "",
        f"`{report['command']}` — {report['date_utc']}, {os.cpu_count()} cores shared with other jobs "
        "(load in the table); no GPU. Direction only: not a GPU number.",
        "",
        "| attention | gradient checkpointing | median step s | tokens/s | load (1 min) |",
        "|---|---|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['attn']} | {'on' if r['gradient_checkpointing'] else 'off'} | {r['median_step_s']} | "
                     f"{r['tokens_per_s']} | {r['load_avg_1min']} |")  # fmt: skip
    (RESULTS / "sft_speed_cpu.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
