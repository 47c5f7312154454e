"""Run DB Bench episodes with a scripted or model agent and write resumable records plus a summary.

    python -m agentbench_tuning.cli eval dbbench --data tasks.jsonl --agent oracle --backend sqlite --out runs/db
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ...eval.records import RecordWriter, read_records, write_json_atomic
from .agents import AgentFactory, ContextLimitExceeded
from .env import DBBenchEnv
from .grade import summarize
from .task import DBTask


def run_episode(env: DBBenchEnv, task: DBTask, agent_factory: AgentFactory) -> dict[str, Any]:
    """One episode from reset to grade; the record holds the transcript and the grader's outcome."""
    started = time.perf_counter()
    env.reset(task)
    agent = agent_factory(task)
    while True:
        try:
            text = agent(env.messages)
        except ContextLimitExceeded:
            result = env.context_limit()
            break
        result = env.step(text)
        if result.done:
            break
    info = result.info
    return {
        "index": task.index, "seed": 0, "type": task.type, "status": info["status"], "verdict": info["verdict"],
        "reward": info["reward"], "answer": info["answer"], "rounds": info["rounds"], "error": info["error"],
        "transcript": env.messages,
        "timings": {"episode_s": round(time.perf_counter() - started, 6), "sql_s": round(env.sql_seconds, 6)},
    }


def evaluate(tasks: Iterable[DBTask], env: DBBenchEnv, agent_factory: AgentFactory, out_dir: str | Path,
             on_record=None) -> dict[str, Any]:
    """Run every task not yet in `out_dir/records.jsonl`; write `out_dir/summary.json`; return the summary."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with RecordWriter(out / "records.jsonl") as records:
        for task in tasks:
            if records.done(task.index):
                continue
            record = run_episode(env, task, agent_factory)
            records.append(record)
            if on_record is not None:
                on_record(record)
    summary = summarize(list(read_records(out / "records.jsonl")))
    write_json_atomic(out / "summary.json", summary)
    return summary
