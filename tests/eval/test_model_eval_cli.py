"""`abtune eval dbbench|alfworld --agent model` with a tiny model on CPU: finishes, and a run killed mid-way
(SIGKILL, between seeds) resumes without redoing or losing any finished episode."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _dbbench_data(path: Path, n: int) -> Path:
    from agentbench_tuning.envs.dbbench import SQLiteBackend
    from agentbench_tuning.envs.dbbench.generate import DBGenConfig, generate

    samples = generate(DBGenConfig(n=n, seed=11), SQLiteBackend())
    path.write_text("".join(json.dumps(s.task.to_sample()) + "\n" for s in samples))
    return path


def _command(task: str, model: Path, out: Path, tmp_path: Path, n: int) -> list[str]:
    # Sampled (temperature > 0): seeds of a greedy agent repeat the same episodes and only the first one runs.
    common = ["--agent", "model", "--engine", "transformers", "--model", str(model), "--seeds", "0,1,2",
              "--temperature", "0.7",
              "--max-new-tokens", "48", "--out", str(out)]
    if task == "dbbench":
        return ["eval", "dbbench", "--data", str(_dbbench_data(tmp_path / "db.jsonl", n)), *common]
    return ["eval", "alfworld", "--env", "sim", "--games", str(n), *common]


def _run(args: list[str], **kwargs) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false")
    return subprocess.Popen([sys.executable, "-m", "agentbench_tuning.cli", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.parametrize("task", ["dbbench", "alfworld"])
def test_model_eval_killed_and_resumed(task, tiny_model_dirs, tmp_path):
    n, seeds = 4, 3
    out = tmp_path / "run"
    args = _command(task, tiny_model_dirs["qwen2.5"], out, tmp_path, n)
    records = out / "records.jsonl"
    proc = _run(args)
    deadline = time.time() + 300
    while len(_lines(records)) < n and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # seed 0 is on disk; seeds 1-2 are in flight
    proc.wait()
    before = _lines(records)
    assert n <= len(before) < n * seeds, "the kill should land between the first and the last seed"

    resumed = _run(args)
    output, _ = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, output
    after = _lines(records)
    assert after[: len(before)] == before  # append-only: nothing rewritten
    keys = [(json.loads(line)["index"], json.loads(line)["seed"]) for line in after]
    assert sorted(keys) == [(i, s) for i in range(n) for s in range(seeds)]  # each exactly once
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_episodes"] == n * seeds and summary["seeds"] == [0, 1, 2]
    assert summary["metric"] == ("overall_cat_accuracy" if task == "dbbench" else "success_rate")
    # A random-weight model follows no format: every episode ends on the harness's format rule.
    statuses = {json.loads(line)["status"] for line in after}
    assert statuses <= {"agent validation failed", "agent invalid action", "task limit reached"}
    assert (out / "run.json").is_file()  # resolved options, seeds, git commit, versions, hardware
