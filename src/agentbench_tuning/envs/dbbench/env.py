"""The DB Bench environment: AgentBench v0.2's conversation, action parsing, rounds and grading, step by step.

v0.2's `start_sample` is one loop over model turns; here each `step(text)` is one pass of that loop:
an `Action: Operation` turn (while fewer than 15 operations ran) executes the first ```sql block and the
result becomes the next user turn; any other turn ends the episode and is searched for `\\nFinal Answer:`.
After 15 operations the model still gets one more turn, whose answer counts (as in v0.2).

    env = DBBenchEnv(SQLiteBackend())
    obs = env.reset(task)
    result = env.step("Let me look.\\nAction: Operation\\n```sql\\nSELECT * FROM `t`;\\n```")
    result.info["action_failed"]  # True when the statement raised an SQL error (the observation is its text)

A statement's SQL error is an observation; a database failure (`DatabaseUnavailable`) is not: it propagates,
the episode is over ungraded, and the runner records it as `task error`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, Protocol

from ..base import COMPLETED, CONTEXT_LIMIT, TASK_LIMIT, VALIDATION_FAILED, StepResult
from .grade import answers_match, answers_match_fc, cut_result, parse_action, parse_final_answer, parse_sql
from .prompts import load_instruction
from .sandbox import SQLError
from .task import DBTask

MAX_ROUNDS = 15  # v0.2 configs/tasks/dbbench.yaml: max_round


class Backend(Protocol):
    name: str
    inexact: list[str]  # this episode's observations that may read differently on MariaDB (SQLite only)

    def open(self, task: DBTask) -> None: ...

    def run(self, sql: str) -> str:
        """The result text; raises `SQLError` (MySQL-format text) or `DatabaseUnavailable`."""
        ...

    def execute(self, sql: str) -> str:
        """`run`, with an SQL error returned as its text (v0.2's Container.execute)."""
        ...

    def table_hash(self, task: DBTask) -> str: ...

    def close_episode(self) -> None: ...

    def close(self) -> None: ...


class DBBenchEnv:
    """One episode at a time over a backend; `info` at `done` carries status, verdict, reward, answer."""

    def __init__(self, backend: Backend, prompt_file: str | Path | None = None, max_rounds: int = MAX_ROUNDS,
                 compare: Literal["v0.2", "fc"] = "v0.2"):
        self.backend = backend
        self.instruction = load_instruction(prompt_file)
        self.max_rounds = max_rounds
        self.compare = compare
        self.task: DBTask | None = None
        self._messages: list[dict[str, str]] = []
        self.rounds = 0
        self.done = True
        self.sql_seconds = 0.0

    @property
    def messages(self) -> list[dict[str, str]]:
        return list(self._messages)

    transcript = messages  # v0.2 sends DB Bench's whole history every turn

    def reset(self, task: DBTask, seed: int | None = None) -> str:
        """Seed is accepted for the common contract; DB Bench episodes are deterministic."""
        self.backend.open(task)
        self.task = task
        self.rounds = 0
        self.done = False
        self.sql_seconds = 0.0
        self._messages = [
            {"role": "user", "content": self.instruction},
            {"role": "assistant", "content": "Ok."},
            {"role": "user", "content": task.prompt},
        ]
        return task.prompt

    def step(self, action: str) -> StepResult:
        if self.done:
            raise RuntimeError("episode is over; call reset(task) first")
        self._messages.append({"role": "assistant", "content": action})
        if parse_action(action) == "Operation" and self.rounds < self.max_rounds:
            sql = parse_sql(action)
            if sql is None:
                return self._finish(VALIDATION_FAILED, "")
            started = time.perf_counter()
            try:
                response, failed = cut_result(self.backend.run(sql)), False
            except SQLError as err:
                response, failed = cut_result(str(err)), True
            except Exception:
                self._abandon()
                raise
            finally:
                self.sql_seconds += time.perf_counter() - started
            self._messages.append({"role": "user", "content": response})
            self.rounds += 1
            return StepResult(response, 0.0, False, {"rounds": self.rounds, "action_failed": failed})
        answer = parse_final_answer(action)
        status = COMPLETED if answer is not None else VALIDATION_FAILED
        answer = answer or ""
        if self.rounds >= self.max_rounds and not answer:
            status = TASK_LIMIT
        return self._finish(status, answer)

    def context_limit(self) -> StepResult:
        """The agent could not produce a turn because the conversation outgrew its context window."""
        return self._finish(CONTEXT_LIMIT, "")

    def _abandon(self) -> None:
        """The database failed mid-episode: end the episode ungraded; the caller re-raises the failure."""
        self.done = True
        self.backend.close_episode()

    def _finish(self, status: str, answer: str) -> StepResult:
        task = self.task
        assert task is not None
        if task.mutating:
            # v0.2 grades INSERT/UPDATE/DELETE by the table alone, whatever the status or the answer text.
            try:
                answer = self.backend.table_hash(task)
            except Exception:
                self._abandon()
                raise
            verdict = answer == task.answer_md5
        elif self.compare == "fc":
            verdict = answers_match_fc(answer, task.label)
        else:
            verdict = answers_match(answer, task.label)
        self.backend.close_episode()
        self.done = True
        info: dict[str, Any] = {"status": status, "verdict": verdict, "reward": 1.0 if verdict else 0.0,
                                "answer": answer, "type": task.type, "rounds": self.rounds, "error": "",
                                "action_failed": False}
        return StepResult("", info["reward"], True, info)


class EnvPool:
    """Fresh `DBBenchEnv`s for runners that play many episodes at once (batched evaluation, GRPO).

    A backend holds one episode at a time, so each live env gets its own; a backend whose env has finished
    is reused by the next env instead of opening another connection (and, on MySQL, another sandbox user).

        pool = EnvPool(lambda: make_backend("sqlite"))
        run_episodes(generator, pool.make_env, specs, ...); pool.close()
    """

    def __init__(self, make_backend: Callable[[], Backend], **env_options: Any):
        self._make_backend = make_backend
        self._env_options = env_options
        self._envs: list[DBBenchEnv] = []

    def make_env(self) -> DBBenchEnv:
        for i, env in enumerate(self._envs):
            if env.done:
                self._envs[i] = DBBenchEnv(env.backend, **self._env_options)
                return self._envs[i]
        self._envs.append(DBBenchEnv(self._make_backend(), **self._env_options))
        return self._envs[-1]

    def close(self) -> None:
        for env in self._envs:
            env.backend.close()
        self._envs.clear()
