"""Training data from the simulator: expert SFT conversations, failure conversations and step-level DPO pairs.

Every conversation is what the v0.2 harness builds (instruction, acknowledgement, our 1-shot example, the
task turn, then THOUGHT/ACTION turns and observations), so training and evaluation prompts match. The last
user turn (the observation after the final action) is dropped: nothing follows it to learn.

    for conv in expert_conversations(sim_tasks(600)):
        conv["messages"]   # [{"role": "user", ...}, {"role": "assistant", ...}, ...]
    expert_step_samples(...)   # one sample per step, each prompt exactly as sent at that step
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from agentbench_tuning.envs.alfworld.evaluate import ExpertAgent, run_episode
from agentbench_tuning.envs.alfworld.harness import AlfworldEnv
from agentbench_tuning.envs.alfworld.prompts import Prompts
from agentbench_tuning.envs.alfworld.sim import SimTask


def _conversation(record: dict[str, Any], task: SimTask) -> dict[str, Any]:
    messages = record["transcript"]
    if messages[-1]["role"] == "user":
        messages = messages[:-1]
    return {
        "messages": messages,
        "index": task.index,
        "seed": task.seed,
        "task_type": record["task_type"],
        "won": record["won"],
        "status": record["status"],
        "steps": record["steps"],
    }


def expert_conversations(tasks: list[SimTask], prompts: Prompts | None = None) -> Iterator[dict[str, Any]]:
    env = AlfworldEnv(prompts=prompts)
    for task in tasks:
        record = run_episode(env, task, ExpertAgent())
        if not record["won"]:
            raise AssertionError(f"expert lost simulator game seed={task.seed} ({record['status']})")
        yield _conversation(record, task)


def expert_step_samples(tasks: list[SimTask], prompts: Prompts | None = None) -> Iterator[dict[str, Any]]:
    """One sample per expert step: the chat exactly as the harness sent it then (history filter applied, the
    action list in the newest turn only) plus the expert's output. Exact prompts, more tokens."""
    env = AlfworldEnv(prompts=prompts)
    for task in tasks:
        env.reset(task)
        agent = ExpertAgent()
        agent.start(env, task)
        samples = []
        while not env.done:
            sent = env.messages
            output = agent.act(env)
            result = env.step(output)
            samples.append(
                {
                    "messages": sent + [{"role": "assistant", "content": output}],
                    "index": task.index,
                    "seed": task.seed,
                    "task_type": env.game.task_type,
                    "step": len(samples),
                }
            )
        if not result.info["won"]:
            raise AssertionError(f"expert lost simulator game seed={task.seed} ({result.info['status']})")
        yield from samples


class _DerailedExpert(ExpertAgent):
    """Follows the expert for `keep` turns, then picks random admissible commands (a realistic failure)."""

    def __init__(self, keep: int, rng: random.Random):
        self.keep, self.rng = keep, rng

    def act(self, env: AlfworldEnv) -> str | None:
        if len(env.log) < self.keep and self._turns:
            return self._turns.pop(0).text()
        return f"ACTION: {self.rng.choice(env.admissible)}"


def failure_conversations(tasks: list[SimTask], prompts: Prompts | None = None) -> Iterator[dict[str, Any]]:
    """Lost episodes (for DPO rejected sides or analysis); episodes the random tail happens to win are skipped."""
    env = AlfworldEnv(prompts=prompts)
    for task in tasks:
        rng = random.Random(task.seed)
        record = run_episode(env, task, _DerailedExpert(keep=rng.randint(0, 4), rng=rng))
        if not record["won"]:
            yield _conversation(record, task)


def dpo_pairs(task: SimTask, prompts: Prompts | None = None) -> list[dict[str, Any]]:
    """At every expert step: prompt = the chat as sent, chosen = the expert's output, rejected = a wrong command."""
    env = AlfworldEnv(prompts=prompts)
    env.reset(task)
    rng = random.Random(task.seed)
    pairs = []
    for turn in env.game.expert_turns():
        wrong = [
            c
            for c in env.admissible
            if c != turn.action and not c.startswith(("examine", "look", "inventory"))
        ]
        if wrong:
            pairs.append(
                {
                    "prompt": env.messages,
                    "chosen": turn.text(),
                    "rejected": f"ACTION: {rng.choice(wrong)}",
                    "task_type": env.game.task_type,
                    "seed": task.seed,
                }
            )
        env.step(turn.text())
    return pairs


def write_jsonl(path, rows) -> int:
    """Write rows to `path` via a temporary file and rename (a crash never leaves half a data set)."""
    import json
    import os
    from pathlib import Path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    n = 0
    with tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    os.replace(tmp, path)
    return n


def sft_conversations(n: int, seed: int = 1) -> list[dict[str, Any]]:
    """n expert conversations on simulator games for SFT. The harness's acknowledgement and the 1-shot
    example's turns are part of every prompt but not the model's own output, so they get `loss: false`."""
    from agentbench_tuning.envs.alfworld.sim import sim_tasks

    conversations = []
    for conv in expert_conversations(sim_tasks(n, seed=seed)):
        messages = [dict(m) for m in conv["messages"]]
        task_turn = next(i for i, m in enumerate(messages) if m["role"] == "user" and
                         m["content"].startswith("Here is your task."))
        for message in messages[:task_turn]:
            if message["role"] == "assistant":
                message["loss"] = False
        conversations.append({"messages": messages, "task": "alfworld", "source": f"alfworld/{conv['task_type']}"})
    return conversations
