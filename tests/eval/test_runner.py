"""The evaluation loop: records, summary, and a killed-and-resumed run that loses nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from eval_worker import WORDS, evaluate_toy, reply_even
from toy import ScriptedGenerator

from agentbench_tuning.records import read_records

WORKER = Path(__file__).parent / "eval_worker.py"


def _run(out_dir, tokenizer, calls=None):
    gen = ScriptedGenerator(tokenizer, reply_even(0.0))
    return evaluate_toy(out_dir, gen), gen


def test_summary_and_records(tmp_path, tokenizers):
    summary, gen = _run(tmp_path, tokenizers["qwen2.5"])
    records = list(read_records(tmp_path / "records.jsonl"))
    # 6 words x 2 seeds; even-indexed words are answered right in 1 turn, odd ones fail twice (2 turns).
    assert sorted((r["index"], r["seed"]) for r in records) == [(i, s) for i in range(6) for s in (0, 1)]
    assert sum(gen.calls) == 3 * 1 + 3 * 2 + 3 * 1 + 3 * 2
    assert summary["score"] == {"mean": 0.5, "std": 0.0, "per_seed": {0: 0.5, 1: 0.5}}
    assert summary["per_type"]["even"]["rate"] == 1.0 and summary["per_type"]["odd"]["rate"] == 0.0
    assert summary["status"] == {"completed": 0.5, "task limit reached": 0.5}
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert on_disk["n_episodes"] == 12 and on_disk["sampling"]["max_new_tokens"] == 512
    # A second call finds everything done and generates nothing.
    _, again = _run(tmp_path, tokenizers["qwen2.5"])
    assert again.calls == []


def test_killed_and_resumed_loses_nothing(tmp_path, tokenizers):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen([sys.executable, str(WORKER), str(tmp_path), "0.3"], env=env)
    records = tmp_path / "records.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and (not records.exists() or len(records.read_text().splitlines()) < 4):
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)  # no chance to clean up, like a Colab disconnect
    proc.wait()
    before = records.read_bytes()
    n_before = len(list(read_records(records)))
    assert 4 <= n_before < 12, "the worker should have been killed mid-run"
    # Simulate a crash in the middle of a write too: a torn last line.
    records.write_bytes(before + b'{"index": 99, "se')

    _, gen = _run(tmp_path, tokenizers["qwen2.5"])
    after = records.read_bytes()
    assert after.startswith(before)  # finished records are never rewritten
    done = [(r["index"], r["seed"]) for r in read_records(records)]
    assert sorted(done) == [(i, s) for i in range(len(WORDS)) for s in (0, 1)]  # none lost, none twice
    # Only the missing episodes ran: each remaining even word costs 1 generation, odd word 2.
    missing = {(i, s) for i in range(6) for s in (0, 1)} - {(r["index"], r["seed"]) for r in
                                                           [json.loads(line) for line in before.decode().splitlines()]}
    assert sum(gen.calls) == sum(1 if i % 2 == 0 else 2 for i, _ in missing)
