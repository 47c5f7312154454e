"""Reward functions for GRPO, with TRL's signature: `fn(completions, **kwargs) -> list[float]`.

The episode-success rewards call the benchmark graders themselves, so the training signal and the
evaluation metric cannot drift apart. Shaping terms are separate functions so each is logged on its own.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentbench_tuning.envs.dbbench.env import Backend
    from agentbench_tuning.envs.dbbench.task import DBTask

# ------------------------------------------------------------------ DB Bench
# Dataset column `sample`: one v0.2-format DB Bench sample (dict or its JSON text) per prompt.


def _completion_text(completion: Any) -> str:
    """TRL passes plain strings, or conversations (lists of messages) whose last message is the model's."""
    if isinstance(completion, str):
        return completion
    return completion[-1]["content"]


def _dbbench_task(sample: Any):
    from agentbench_tuning.envs.dbbench.task import parse_sample

    return parse_sample(json.loads(sample) if isinstance(sample, str) else sample, 0, "reward column `sample`")


def dbbench_success(completions: list[Any], verdict: list[bool], **kwargs) -> list[float]:
    """The v0.2 grader's verdict of each finished episode (the rollout ran the env), as 1.0 / 0.0."""
    return [1.0 if v else 0.0 for v in verdict]


def dbbench_format(completions: list[Any], **kwargs) -> list[float]:
    """1.0 when the v0.2 harness accepts the turn: an `Action: Operation` with a ```sql block, or an answer."""
    from agentbench_tuning.envs.dbbench.grade import parse_action, parse_final_answer, parse_sql

    scores = []
    for completion in completions:
        text = _completion_text(completion)
        if parse_action(text) == "Operation":
            scores.append(1.0 if parse_sql(text) is not None else 0.0)
        else:
            scores.append(1.0 if parse_final_answer(text) is not None else 0.0)
    return scores


def _run_on_fresh_copy(task, sqls: list[str]) -> tuple[str, str]:
    """(last statement's result text, table hash) after running `sqls` on a fresh SQLite copy of the table."""
    from agentbench_tuning.envs.dbbench.sqlite_backend import SQLiteBackend

    backend = SQLiteBackend(timeout_s=2.0)
    backend.open(task)
    try:
        result = ""
        for sql in sqls:
            result = backend.execute(sql)
        return result, backend.table_hash(task)
    finally:
        backend.close()


def _same_rows(a: str, b: str) -> bool:
    """Two result texts hold the same rows (order-insensitive); an error text is no rows. The parser reads
    MySQL's printed values (Decimal('6.00') included) without evaluating anything."""
    from agentbench_tuning.envs.dbbench.grade import parse_result_rows

    rows_a, rows_b = parse_result_rows(a), parse_result_rows(b)
    return rows_a is not None and rows_b is not None and sorted(map(repr, rows_a)) == sorted(map(repr, rows_b))


def dbbench_sql_execution(completions: list[Any], sample: list[Any], **kwargs) -> list[float]:
    """Single-turn SQL correctness: run the completion's SQL and the gold SQL on fresh copies of the table;
    1.0 if the results match (SELECT types, as a multiset of rows) or the table hashes match (INSERT/UPDATE/
    DELETE, the grader's own fingerprint). Gold SQL: `label` for mutating samples, else `sql.query`."""
    from agentbench_tuning.envs.dbbench.grade import parse_sql

    scores = []
    for completion, raw in zip(completions, sample, strict=True):
        task = _dbbench_task(raw)
        predicted = parse_sql(_completion_text(completion))
        if predicted is None:
            scores.append(0.0)
            continue
        gold = task.label if task.mutating else [task.extra["sql"]["query"]]
        got_rows, got_hash = _run_on_fresh_copy(task, [predicted])
        gold_rows, gold_hash = _run_on_fresh_copy(task, gold)
        ok = got_hash == gold_hash if task.mutating else _same_rows(got_rows, gold_rows)
        scores.append(1.0 if ok else 0.0)
    return scores


def _result_values(text: str) -> list[str] | None:
    """The values of a backend's result text (`str(cursor.fetchall())`), flattened, as strings; None for an
    error text. Read by the grader's own parser (MySQL's `Decimal('1.5')` included), never evaluated."""
    from agentbench_tuning.envs.dbbench.grade import parse_result_rows

    rows = parse_result_rows(text)
    if rows is None or not all(isinstance(r, tuple) for r in rows):
        return None
    return [str(v) for row in rows for v in row]


class SQLExecutionReward:
    """Single-turn SQL correctness (reward name `dbbench_sql_correct`), graded by the v0.2 rules on a fresh copy
    of the sample's table, on SQLite or MySQL/MariaDB:

    | the turn                                              | score |
    |-------------------------------------------------------|-------|
    | neither `Action: Operation` + ```sql block nor an answer (the harness would reject it) | -1 |
    | SQL whose result values, given as the answer, the v0.2 grader accepts (SELECT types)   |  1 |
    | SQL after which the table hash equals the gold SQL's (INSERT / UPDATE / DELETE)         |  1 |
    | a `Final Answer:` the grader accepts (SELECT types)                                     |  1 |
    | anything else: wrong result, SQL error, statement cut off by the time limit, a dropped table | 0 |

    Model SQL runs as the backend's sandbox user (MySQL: privileges on the episode database only, a statement
    time limit; SQLite: an in-memory copy with an authorizer and a progress-handler deadline); every completion
    gets its own fresh copy, so nothing it does reaches the next one. The gold table hash is computed on the same
    backend (cached per sample). Dataset column `sample`: one v0.2-format sample (dict or JSON text) per prompt.
    """

    __name__ = "dbbench_sql_correct"

    def __init__(self, backend: str = "sqlite", db_url: str | None = None, timeout_s: float = 2.0):
        self.kind, self.db_url, self.timeout_s = backend, db_url, timeout_s
        self._backend: Backend | None = None
        self._gold: dict[str, str] = {}

    def backend(self) -> Backend:
        if self._backend is None:
            from agentbench_tuning.envs.dbbench import MySQLBackend, SQLiteBackend

            if self.kind == "sqlite":
                self._backend = SQLiteBackend(timeout_s=self.timeout_s)
            elif self.kind == "mysql":
                if not self.db_url:
                    raise ValueError("the mysql SQL reward needs a db_url (start one with `abtune db start`)")
                self._backend = MySQLBackend(self.db_url, timeout_s=self.timeout_s, unique_databases=True)
            else:
                raise ValueError(f"SQL reward backend {self.kind!r}: choose sqlite or mysql")
        return self._backend

    def _run(self, task: DBTask, sqls: list[str]) -> tuple[str, str]:
        """(last result text, table hash) after `sqls` on a fresh copy of the task's table."""
        backend = self.backend()
        backend.open(task)
        try:
            result = ""
            for sql in sqls:
                result = backend.execute(sql)
            return result, backend.table_hash(task)
        finally:
            backend.close_episode()

    def gold_hash(self, task: DBTask, key: str) -> str:
        if key not in self._gold:
            self._gold[key] = self._run(task, list(task.label))[1]
        return self._gold[key]

    def score(self, text: str, raw_sample: Any) -> float:
        from agentbench_tuning.envs.dbbench.grade import (
            answers_match,
            parse_action,
            parse_final_answer,
            parse_sql,
        )

        task = _dbbench_task(raw_sample)
        sql = parse_sql(text) if parse_action(text) == "Operation" else None
        answer = parse_final_answer(text)
        if sql is None:
            if answer is None:
                return -1.0
            return float(not task.mutating and answers_match(answer, task.label))  # no table touched
        result, table_hash = self._run(task, [sql])
        if task.mutating:
            key = raw_sample if isinstance(raw_sample, str) else json.dumps(raw_sample, sort_keys=True)
            return float(table_hash == self.gold_hash(task, key))
        values = _result_values(result)
        return float(values is not None and answers_match(json.dumps(values, ensure_ascii=False), task.label))

    def __call__(self, completions: list[Any], sample: list[Any], **kwargs) -> list[float]:
        return [self.score(_completion_text(c), s) for c, s in zip(completions, sample, strict=True)]

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None


_SQLITE_REWARD = SQLExecutionReward("sqlite")


def dbbench_sql_correct(completions: list[Any], sample: list[Any], **kwargs: Any) -> list[float]:
    """`SQLExecutionReward` on SQLite (see its table): -1 unparsable, 0 wrong, 1 right."""
    return _SQLITE_REWARD(completions, sample)


# ------------------------------------------------------------------ ALFWorld
# Episode rewards read what the ALFWorld harness (`envs.alfworld.AlfworldEnv`) put in the episode's final info;
# the rollout passes `won`, `valid_action_fraction` and (simulator only) `progress` through as columns.


def alfworld_success(completions, won, **kwargs) -> list[float]:
    """The benchmark metric: 1.0 when the harness says the game was won, else 0.0."""
    return [1.0 if w else 0.0 for w in won]


def alfworld_valid_action(completions, valid_action_fraction, **kwargs) -> list[float]:
    """Shaping: fraction of steps whose action was admissible as written (no BLEU snapping needed)."""
    return [float(f) for f in valid_action_fraction]


def alfworld_progress(completions, progress, **kwargs) -> list[float]:
    """Shaping (simulator only): fraction of the goal's sub-goals reached at the end (e.g. hot but not placed = 0.5)."""
    return [float(p) for p in progress]


# ------------------------------------------------------------------ any benchmark (GRPO rollouts)


def invalid_actions(completions: list[Any], failed_turns: list[int], turns: list[int], **kwargs: Any) -> list[float]:
    """Penalty term: minus the fraction of an episode's turns whose action the environment rejected
    (`Turn.failed`, e.g. ALFWorld's "Nothing happens."); its config weight is `grpo.invalid_action_penalty`."""
    return [-(f / t) if t else 0.0 for f, t in zip(failed_turns, turns, strict=True)]


REWARDS = {
    fn.__name__: fn
    for fn in (dbbench_success, dbbench_format, dbbench_sql_execution, alfworld_success, alfworld_valid_action,
               alfworld_progress, invalid_actions)
}
