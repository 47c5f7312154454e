"""A small SFT file of made-up agent conversations (ours), written per test session, and the tiny-model run
config the training tests start from (`tiny_config(tmp_path, "train.max_steps=2", ...)`)."""

from __future__ import annotations

import json
import random

import pytest


def make_conversations(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for _i in range(n):
        a, b = rng.randint(1, 60), rng.randint(1, 60)
        table = rng.choice(["sales 2020", "crew list", "tour-dates"])
        rows.append(
            {
                "task": rng.choice(["dbbench", "alfworld"]),
                "messages": [
                    {"role": "user", "content": f"The table `{table}` has a column `n`. Add {a} and {b}."},
                    {"role": "assistant", "content": f"Action: Operation\n```sql\nSELECT {a} + {b};\n```"},
                    {"role": "user", "content": f"[({a + b},)]"},
                    {"role": "assistant", "content": f'Action: Answer\nFinal Answer: ["{a + b}"]'},
                ],
            }
        )
    return rows


@pytest.fixture(scope="session")
def sft_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("sft-data") / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in make_conversations(48)))
    return path


@pytest.fixture(scope="session")
def tiny_config(sft_file):
    """Build an SFT config for a tiny Qwen2.5-shaped model writing to `<dir>/run`; extra overrides win."""
    from agentbench_tuning.config import load_sft_config

    def build(directory, *extra: str):
        overrides = [
            "model.name_or_path=tiny:qwen2.5",
            f"data.train=[{sft_file}]",
            "data.max_length=256",
            "data.eval_fraction=0.1",
            f"train.output_dir={directory / 'run'}",
            "train.max_steps=8",
            "train.per_device_train_batch_size=4",
            "train.gradient_accumulation_steps=1",
            "train.learning_rate=3e-3",
            "train.warmup_ratio=0.0",
            "train.logging_steps=1",
            "train.eval_steps=4",
            "train.save_steps=4",
            "train.gradient_checkpointing=false",
            "train.precision=fp32",
            "lora.r=8",
            "lora.dropout=0.0",
            *extra,
        ]
        return load_sft_config(None, overrides)

    return build
