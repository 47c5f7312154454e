"""Scripted agents for the DB Bench harness (`envs.base.ScriptedAgent`), played by the shared runner.

- `OracleAgent`: runs the gold SQL of INSERT/UPDATE/DELETE samples one statement per turn, and answers
  SELECT-type samples with the label; scoring 100% validates a database set-up and the grader.
- `ReplayAgent(replay)`: plays the turns of a `{"index": i, "turns": [...]}` file or of another run's records,
  so transcripts produced anywhere are graded under the exact rules (a missing turn is an empty reply).
- `ExpertTurnsAgent`: plays the expert trajectory the generator wrote for a generated task.
"""

from __future__ import annotations

from typing import Any

from .task import DBTask


def operation_turn(sql: str, thought: str = "I will run this statement.") -> str:
    return f"{thought}\nAction: Operation\n```sql\n{sql}\n```"


def answer_turn(answer: list, thought: str = "I have the answer.") -> str:
    # repr of a list of str/int/float is a Python literal that parses back to the same list.
    return f"{thought}\nAction: Answer\nFinal Answer: {answer!r}"


def oracle_turns(task: DBTask) -> list[str]:
    if task.mutating:
        return [operation_turn(sql) for sql in task.label] + [answer_turn([], "The change is done.")]
    return [answer_turn(list(task.label))]


class _Scripted:
    name = "scripted"

    def __init__(self) -> None:
        self._turns: list[str] = []

    def act(self, messages: list[dict[str, str]]) -> str:
        return self._turns.pop(0) if self._turns else ""


class OracleAgent(_Scripted):
    name = "oracle"

    def begin(self, task: DBTask, env: Any) -> None:
        self._turns = oracle_turns(task)


class ReplayAgent(_Scripted):
    name = "replay"

    def __init__(self, replay: dict[int, list[str]]):
        super().__init__()
        self.replay = replay

    def begin(self, task: DBTask, env: Any) -> None:
        self._turns = list(self.replay.get(task.index, []))


class ExpertTurnsAgent(_Scripted):
    """The generator's expert: the turns it wrote for the task (`task.extra["expert_turns"]`), including
    deliberate mistakes that the environment flags as failed (`action_failed`) so they are never trained."""

    name = "expert"

    def begin(self, task: DBTask, env: Any) -> None:
        if "expert_turns" not in task.extra:
            raise ValueError(f"task {task.index} has no expert turns; the expert plays generated tasks only "
                             "(`abtune data dbbench-gen`), use the oracle for other files")
        self._turns = list(task.extra["expert_turns"])
