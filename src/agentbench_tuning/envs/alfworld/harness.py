"""The AgentBench v0.2 ALFWorld harness as a text environment, over any game backend.

`AlfworldEnv` owns the conversation exactly as v0.2's `alfworld_run` builds it: instruction, acknowledgement,
the 1-shot example of the game's task type, `Here is your task. ` + observation + the action list; then per
step: parse `ACTION:`, snap to an admissible command, drop the action list from the previous user turn, step
the game, append the observation with the new list, fail on three identical outputs, finish on `done`, stop
at 35 steps. `messages` is the chat v0.2 would send now (its history filter applied).

A backend is anything with `name`, `task_type`, `reset()`/`step(command) -> GameState`, `progress()`, `close()`:
`SimGame` (our simulator) or `TextWorldGame` (the real engine on a game.tw-pddl file). Tasks are cheap
specs with `load() -> backend`, so a list of them costs nothing until played.

    env = AlfworldEnv()
    obs = env.reset(SimTask(index=0, seed=0))
    while not (result := env.step(generate(env.messages))).done:
        pass
    print(result.info["status"], result.info["won"])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from agentbench_tuning.envs.alfworld.prompts import Prompts, default_prompts
from agentbench_tuning.envs.alfworld.protocol import (
    available_actions,
    drop_available_actions,
    extract_action,
    filter_history,
    initial_observation,
    repeated_three,
    snap_action,
    step_observation,
)
from agentbench_tuning.envs.base import (
    COMPLETED,
    CONTEXT_LIMIT,
    INVALID_ACTION,
    TASK_LIMIT,
    UNKNOWN,
    StepResult,
)

MAX_STEPS = 35


@dataclass
class GameState:
    feedback: str  # raw engine text (reset: with banner; step: with "You arrive at loc N. ")
    admissible: list[str]
    won: bool
    done: bool


class Game(Protocol):
    name: str
    task_type: str

    def reset(self) -> GameState: ...

    def step(self, command: str) -> GameState: ...

    def progress(self) -> float | None:
        """Fraction of the goal's sub-goals reached now, or None when the backend cannot tell."""
        ...

    def close(self) -> None: ...


class Task(Protocol):
    index: int

    def load(self) -> Game: ...


class AlfworldEnv:
    def __init__(self, prompts: Prompts | None = None, max_steps: int = MAX_STEPS):
        self.prompts = prompts or default_prompts()
        self.max_steps = max_steps
        self.game: Game | None = None
        self.done = True
        self.history: list[dict[str, str]] = []
        self.log: list[dict[str, Any]] = []
        self.admissible: list[str] = []

    # ------------------------------------------------------------------ contract
    def reset(self, task: Task | Game, seed: int | None = None) -> str:
        """Start an episode; `seed` is unused because a task already names one game."""
        game = task.load() if hasattr(task, "load") else task
        if self.game is not None and self.game is not game:
            self.game.close()  # the real engine holds a loaded game; release it before the next one
        self.game = game
        state = self.game.reset()
        self.admissible = state.admissible
        self.log = []
        self.done = False
        self.status: str | None = None
        self.won = False
        observation = initial_observation(state.feedback)
        self.history = [
            {"role": "user", "content": self.prompts.instruction},
            {"role": "assistant", "content": self.prompts.acknowledgement},
        ]
        example = self.prompts.example_for(self.game.task_type)
        example[0] = "Here is one example.\n" + example[0]
        roles = ("user", "assistant")
        self.history += [{"role": roles[i % 2], "content": text} for i, text in enumerate(example)]
        self.init_prompt = "Here is your task. " + observation + available_actions(self.admissible)
        self.history.append({"role": "user", "content": self.init_prompt})
        return observation

    @property
    def messages(self) -> list[dict[str, str]]:
        """The chat v0.2 sends the model now: the history filter over the full history."""
        if not self.history:
            return []
        # Copies, so a caller keeping this list never sees the later action-list removal.
        if len(self.history) % 2 == 1:
            return [dict(m) for m in filter_history(self.history)]
        return self.transcript  # the episode ended on an unparseable output; nothing more is sent

    def step(self, action: str) -> StepResult:
        if self.done:
            raise RuntimeError("step() after the episode ended; call reset() first")
        output = action or ""
        self.history.append({"role": "assistant", "content": output})
        written = extract_action(output)
        if written is None:
            return self._finish(INVALID_ACTION, observation="")
        command = snap_action(written, self.admissible)
        as_written = written in self.admissible  # for the valid-action shaping reward
        previous = self.history[-2]
        self.history[-2] = {**previous, "content": drop_available_actions(previous["content"])}
        try:
            state = self.game.step(command)
        except Exception as err:  # v0.2 reports any engine failure as status "unknown"; keep the reason
            return self._finish(UNKNOWN, observation="", error=f"{type(err).__name__}: {err}")
        observation = step_observation(state.feedback)
        self.admissible = state.admissible
        self.history.append({"role": "user", "content": observation + available_actions(state.admissible)})
        self.log.append(
            {
                "round": len(self.log) + 1,
                "output": output,
                "action": command,
                "as_written": as_written,
                "observation": observation,
                "done": state.done,
            }
        )
        # The loop check comes before the done check, so a winning third identical output still fails.
        if repeated_three([entry["output"] for entry in self.log]):
            return self._finish(INVALID_ACTION, observation)
        if state.done:
            self.won = state.won
            return self._finish(COMPLETED, observation)
        if len(self.log) >= self.max_steps:
            return self._finish(TASK_LIMIT, observation)
        return StepResult(observation=observation, reward=0.0, done=False,
                          info={"action": command, "action_failed": observation == "Nothing happens."})

    def context_limit(self) -> StepResult:
        """The agent could not answer because its context is full: v0.2 ends with `agent context limit`."""
        return self._finish(CONTEXT_LIMIT, observation="")

    # ------------------------------------------------------------------ helpers
    def _finish(self, status: str, observation: str, error: str | None = None) -> StepResult:
        self.done = True
        self.status = status
        won = self.won and status == COMPLETED
        info = {
            "status": status,
            "won": won,
            "reward": float(won),
            "steps": len(self.log),
            "game": self.game.name,
            "valid_action_fraction": sum(e["as_written"] for e in self.log) / max(len(self.log), 1),
            "action_failed": observation == "Nothing happens.",
        }
        progress = self.game.progress()
        if progress is not None:  # the simulator knows its sub-goals; the real engine does not say
            info["progress"] = progress
        if self.log:
            info["action"] = self.log[-1]["action"]
        expert_used = getattr(self.game, "expert_used", None)  # only engine games have two experts
        if expert_used:
            info["expert"] = dict(expert_used)
        if error:
            info["error"] = error
        return StepResult(observation=observation, reward=float(won), done=True, info=info)

    @property
    def transcript(self) -> list[dict[str, str]]:
        """The full, unfiltered history (with the action-list removals v0.2 made)."""
        return [dict(m) for m in self.history]
