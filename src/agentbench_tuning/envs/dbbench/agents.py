"""Agents for the DB Bench harness: callables `agent(messages) -> str`, made per task by a factory.

- `oracle_agent(task)`: runs the gold SQL of INSERT/UPDATE/DELETE samples one statement per turn, and answers
  SELECT-type samples with the label; scoring 100% validates a database set-up and the grader.
- `ReplayAgents(replay)`: plays the assistant turns of a `{"index": i, "turns": [...]}` file, so transcripts
  produced anywhere are graded under the exact rules (a missing turn is an empty reply).
"""

from __future__ import annotations

from collections.abc import Callable

from .task import DBTask

Agent = Callable[[list[dict[str, str]]], str]
AgentFactory = Callable[[DBTask], Agent]


class ContextLimitExceeded(Exception):
    """Raised by an agent whose prompt no longer fits; the episode ends as `agent context limit`."""


def operation_turn(sql: str, thought: str = "I will run this statement.") -> str:
    return f"{thought}\nAction: Operation\n```sql\n{sql}\n```"


def answer_turn(answer: list, thought: str = "I have the answer.") -> str:
    # repr of a list of str/int/float is a Python literal that parses back to the same list.
    return f"{thought}\nAction: Answer\nFinal Answer: {answer!r}"


def _scripted(turns: list[str]) -> Agent:
    remaining = list(turns)

    def agent(messages: list[dict[str, str]]) -> str:
        return remaining.pop(0) if remaining else ""

    return agent


def oracle_agent(task: DBTask) -> Agent:
    if task.mutating:
        turns = [operation_turn(sql) for sql in task.label] + [answer_turn([], "The change is done.")]
    else:
        turns = [answer_turn(list(task.label))]
    return _scripted(turns)


class ReplayAgents:
    def __init__(self, replay: dict[int, list[str]]):
        self.replay = replay

    def __call__(self, task: DBTask) -> Agent:
        return _scripted(self.replay.get(task.index, []))
