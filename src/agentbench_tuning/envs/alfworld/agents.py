"""Scripted agents for the ALFWorld harness (`envs.base.ScriptedAgent`), played by the shared runner.

- `ExpertAgent`: on simulator games, our planner's turns (thought + action); on real engine games, the
  engine's PDDL planner (fast-downward's plan from the current state) and ALFWorld's hand-coded expert as the
  fallback when the planner has no plan. The record's `info["expert"]` counts which one chose each action.
- `ReplayAgent(replay)`: raw outputs from a replay file or another run's records (`envs.base.load_replay`);
  an exhausted list answers "".
"""

from __future__ import annotations

import random
from typing import Any

from agentbench_tuning.envs.alfworld.sim import SimGame


class ExpertAgent:
    name = "expert"

    def begin(self, task: Any, env: Any) -> None:
        self.env = env
        self._turns = env.game.expert_turns() if isinstance(env.game, SimGame) else None

    def act(self, messages: list[dict[str, str]]) -> str:
        if self._turns is None:
            return f"ACTION: {self.env.game.expert_action()}"
        return self._turns.pop(0).text() if self._turns else "ACTION: look"


class ReplayAgent:
    name = "replay"

    def __init__(self, replay: dict[int, list[str]]):
        self.replay = replay

    def begin(self, task: Any, env: Any) -> None:
        self._turns = list(self.replay.get(task.index, []))

    def act(self, messages: list[dict[str, str]]) -> str:
        return self._turns.pop(0) if self._turns else ""


class DerailedExpert(ExpertAgent):
    """Follows the expert for `keep` turns, then picks random admissible commands (a realistic failure)."""

    name = "derailed-expert"

    def __init__(self, keep: int, rng: random.Random):
        self.keep, self.rng = keep, rng

    def begin(self, task: Any, env: Any) -> None:
        super().begin(task, env)
        self.acted = 0

    def act(self, messages: list[dict[str, str]]) -> str:
        self.acted += 1
        if self.acted <= self.keep and self._turns:
            return self._turns.pop(0).text()
        return f"ACTION: {self.rng.choice(self.env.admissible)}"


class StepRecorder:
    """Wraps an agent and keeps, per step, the chat it answered and its answer; with `wrong_choice`, also a
    wrong admissible command at that step (for step-level DPO pairs)."""

    def __init__(self, agent: Any, rng: random.Random | None = None):
        self.agent, self.rng = agent, rng
        self.name = agent.name
        self.steps: list[dict[str, Any]] = []

    def begin(self, task: Any, env: Any) -> None:
        self.env = env
        self.agent.begin(task, env)

    def act(self, messages: list[dict[str, str]]) -> str:
        output = self.agent.act(messages)
        step: dict[str, Any] = {"messages": messages, "output": output}
        if self.rng is not None:
            chosen = output.split("ACTION:", 1)[-1].strip()
            wrong = [c for c in self.env.admissible
                     if c != chosen and not c.startswith(("examine", "look", "inventory"))]
            step["wrong"] = f"ACTION: {self.rng.choice(wrong)}" if wrong else None
        self.steps.append(step)
        return output
