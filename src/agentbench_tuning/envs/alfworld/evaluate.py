"""Play ALFWorld tasks with a scripted or model agent under the v0.2 harness; keep raw records; summarize.

    tasks = sim_tasks(60, seed=0)
    summary = evaluate(tasks, ExpertAgent(), out_dir="runs/alf-expert")   # records.jsonl + summary.json

An agent has `start(env, task)` and `act(env) -> str | None` (None = the prompt no longer fits: the episode
ends with `agent context limit`). Re-running `evaluate` skips every index already in records.jsonl.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Protocol

from agentbench_tuning.envs.alfworld.harness import AlfworldEnv, Task
from agentbench_tuning.envs.alfworld.prompts import Prompts
from agentbench_tuning.envs.alfworld.sim import SimGame
from agentbench_tuning.eval.records import RecordWriter, read_records, write_json_atomic


class Agent(Protocol):
    def start(self, env: AlfworldEnv, task: Task) -> None: ...

    def act(self, env: AlfworldEnv) -> str | None: ...


class ExpertAgent:
    """Our planner on simulator games; the engine's handcoded expert on TextWorld games (load with expert=True)."""

    def start(self, env: AlfworldEnv, task: Task) -> None:
        self._turns = env.game.expert_turns() if isinstance(env.game, SimGame) else None

    def act(self, env: AlfworldEnv) -> str | None:
        if self._turns is None:
            return f"ACTION: {env.game.expert_action()}"
        return self._turns.pop(0).text() if self._turns else "ACTION: look"


class ReplayAgent:
    """Raw model outputs from a replay file (`envs.base.load_replay`); an exhausted list answers ""."""

    def __init__(self, replay: dict[int, list[str]]):
        self.replay = replay

    def start(self, env: AlfworldEnv, task: Task) -> None:
        self._turns = list(self.replay.get(task.index, []))

    def act(self, env: AlfworldEnv) -> str | None:
        return self._turns.pop(0) if self._turns else ""


def run_episode(env: AlfworldEnv, task: Task, agent: Agent) -> dict[str, Any]:
    """One episode; returns its record (the transcript is the full history v0.2 kept)."""
    env.reset(task)
    agent.start(env, task)
    while True:
        output = agent.act(env)
        result = env.context_limit() if output is None else env.step(output)
        if result.done:
            break
    info = result.info
    return {
        "index": task.index,
        "game": env.game.name,
        "task_type": env.game.task_type,
        "status": info["status"],
        "won": info["won"],
        "reward": info["reward"],
        "steps": info["steps"],
        "actions": [entry["action"] for entry in env.log],
        "transcript": env.transcript,
        **({"error": info["error"]} if "error" in info else {}),
    }


def evaluate(tasks: list[Task], agent: Agent, out_dir: str | Path, prompts: Prompts | None = None) -> dict:
    out_dir = Path(out_dir)
    env = AlfworldEnv(prompts=prompts)
    with RecordWriter(out_dir / "records.jsonl") as records:
        for task in tasks:
            if not records.done(task.index):
                records.append(run_episode(env, task, agent))
    summary = summarize(list(read_records(out_dir / "records.jsonl")))
    write_json_atomic(out_dir / "summary.json", summary)
    return summary


def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Success overall and per task type, status fractions and mean steps; pure over the records."""
    n = len(records)
    by_type: dict[str, list[bool]] = defaultdict(list)
    for r in records:
        by_type[r["task_type"]].append(bool(r["won"]))
    statuses = Counter(r["status"] for r in records)
    return {
        "n": n,
        "success": sum(bool(r["won"]) for r in records) / n if n else 0.0,
        "per_task_type": {t: {"n": len(w), "success": sum(w) / len(w)} for t, w in sorted(by_type.items())},
        "status": {s: c / n for s, c in sorted(statuses.items())},
        "mean_steps": sum(r["steps"] for r in records) / n if n else 0.0,
    }
