"""A small SFT file of made-up agent conversations (ours), written per test session."""

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
