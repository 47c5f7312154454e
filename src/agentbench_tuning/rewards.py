"""Reward functions for GRPO, with TRL's signature: `fn(completions, **kwargs) -> list[float]`.

The episode-success rewards call the benchmark graders themselves, so the training signal and the
evaluation metric cannot drift apart. Shaping terms are separate functions so each is logged on its own.
"""

from __future__ import annotations

import json
from typing import Any

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
    import ast

    try:
        rows_a, rows_b = ast.literal_eval(a), ast.literal_eval(b)
    except (ValueError, SyntaxError):
        return False  # an error text, not rows
    return isinstance(rows_a, list) and sorted(map(repr, rows_a)) == sorted(map(repr, rows_b))


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


def invalid_actions(completions, failed_turns, turns, **kwargs) -> list[float]:
    """Penalty term: minus the fraction of an episode's turns whose action the environment rejected
    (`Turn.failed`, e.g. ALFWorld's "Nothing happens."); its config weight is `grpo.invalid_action_penalty`."""
    return [-(f / t) if t else 0.0 for f, t in zip(failed_turns, turns, strict=True)]


REWARDS = {
    fn.__name__: fn
    for fn in (dbbench_success, dbbench_format, dbbench_sql_execution, alfworld_success, alfworld_valid_action,
               alfworld_progress, invalid_actions)
}
