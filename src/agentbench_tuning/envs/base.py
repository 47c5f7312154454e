"""The text-environment contract every environment follows (simulator, real engine, DB Bench).

An environment owns the conversation the way its benchmark harness builds it: `reset(task, seed)` starts an
episode and returns the first observation; `messages` is the chat the harness would send the model *now*
(instruction, acknowledgement, few-shot turns, history rules applied); `step(text)` takes the model's raw
output and returns a `StepResult`. When `done`, `info["status"]` is one of `STATUSES` and
`info["reward"]`/`info["verdict"]` carry the benchmark's grade. `context_limit()` ends an episode whose
conversation no longer fits the model's context.

    env = ENVS["dbbench"](...)          # see agentbench_tuning.envs
    obs = env.reset(task, seed=0)
    while True:
        result = env.step(generate(env.messages))
        if result.done:
            break
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from agentbench_tuning.records import TASK_ERROR as RECORD_TASK_ERROR

# Episode statuses, spelled as AgentBench v0.2 reports them.
COMPLETED = "completed"
CONTEXT_LIMIT = "agent context limit"
VALIDATION_FAILED = "agent validation failed"
INVALID_ACTION = "agent invalid action"
TASK_LIMIT = "task limit reached"
UNKNOWN = "unknown"
TASK_ERROR = RECORD_TASK_ERROR  # the record format owns the rule that a resumed run plays these again
STATUSES = (COMPLETED, CONTEXT_LIMIT, VALIDATION_FAILED, INVALID_ACTION, TASK_LIMIT, UNKNOWN, TASK_ERROR)


@dataclass
class StepResult:
    observation: str
    reward: float
    done: bool
    info: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class TextEnv(Protocol):
    """What the episode runner, evaluation and GRPO rely on."""

    def reset(self, task: Any, seed: int | None = None) -> str: ...

    def step(self, action: str) -> StepResult: ...

    def context_limit(self) -> StepResult:
        """The model cannot take another turn (its context is full): end the episode with status
        `agent context limit`, graded as the harness would (DB Bench still hashes a changed table)."""
        ...

    @property
    def messages(self) -> list[dict[str, str]]: ...

    @property
    def transcript(self) -> list[dict[str, str]]:
        """The whole conversation so far, unfiltered (what a record keeps; `messages` may apply a history
        window). Every `step` appends exactly one assistant message to it."""
        ...


@dataclass(frozen=True)
class EpisodeSpec:
    """One task to play: `index` identifies it in records; `type` drives per-type statistics."""

    index: int
    task: Any
    type: str = ""


@runtime_checkable
class ScriptedAgent(Protocol):
    """An agent that is not a model (oracle, replay, expert, a user's own policy): it sees the same chat a
    model would and answers with text. The runner plays it through `rollout.scripted.ScriptedGenerator`, the
    same loop that plays model agents. One instance per episode; `begin` gets the task and the live env."""

    name: str

    def begin(self, task: Any, env: TextEnv) -> None: ...

    def act(self, messages: list[dict[str, str]]) -> str: ...


def load_replay(path: str | Path) -> dict[int, list[str]]:
    """Read a replay file: one JSON object per line, `{"index": i, "turns": ["raw output", ...]}`, or a
    records file as `abtune eval` writes it (the agent's own turns of each record, seed 0 or the first seed).

    Shared by both harnesses so transcripts produced anywhere can be re-graded under the exact rules.
    """
    path = Path(path)
    replay: dict[int, list[str]] = {}
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(
                    f"{where}: not valid JSON ({err.msg}); each line must be one JSON object"
                ) from None
            if isinstance(obj, dict) and "messages" in obj and "turns" in obj and "index" in obj \
                    and not isinstance(obj["turns"], list):
                if obj["index"] not in replay:  # a record: replay its agent turns (first seed in the file)
                    replay[obj["index"]] = [m["content"] for m in obj["messages"]
                                            if m.get("role") == "assistant" and m.get("sampled")]
                continue
            if not isinstance(obj, dict) or "index" not in obj or "turns" not in obj:
                raise ValueError(
                    f'{where}: needs fields "index" and "turns", e.g. {{"index": 0, "turns": ["..."]}}'
                )
            if not isinstance(obj["index"], int):
                raise ValueError(f'{where}: field "index" must be an integer, got {obj["index"]!r}')
            turns = obj["turns"]
            if not isinstance(turns, list) or not all(isinstance(t, str) for t in turns):
                raise ValueError(f'{where}: field "turns" must be a list of strings')
            if obj["index"] in replay:
                raise ValueError(f"{where}: index {obj['index']} appears twice")
            replay[obj["index"]] = turns
    return replay
