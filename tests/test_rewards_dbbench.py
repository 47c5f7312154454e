"""DB Bench rewards: table-driven, with TRL's calling convention (completions + dataset columns as kwargs)."""

from __future__ import annotations

import json

import pytest

from agentbench_tuning.envs.dbbench import DBTask
from agentbench_tuning.rewards import dbbench_format, dbbench_sql_execution, dbbench_success

T = "`Shop (east)`"


def sample(type_: str, label, query: str) -> str:
    task = DBTask(0, "q", "d", type_, "Shop (east)", ["Item", "Price"],
                  [["pen", "3"], ["ink", "12"], ["cap", "5"]], label,
                  answer_md5="[('x',)]" if type_ in ("INSERT", "UPDATE", "DELETE") else None,
                  extra={"sql": {"query": query}})
    return json.dumps(task.to_sample())


def op(sql: str) -> str:
    return f"Plan.\nAction: Operation\n```sql\n{sql}\n```"


@pytest.mark.parametrize(("completion", "score"), [
    (op("SELECT 1"), 1.0),
    ("Action: Operation\nSELECT 1", 0.0),  # no sql block: v0.2 fails validation
    ('Done.\nAction: Answer\nFinal Answer: ["a"]', 1.0),
    ('Action: Answer Final Answer: ["a"]', 0.0),  # no newline before Final Answer
    ([{"role": "assistant", "content": op("SELECT 2")}], 1.0),  # conversational completions
])
def test_format(completion, score):
    assert dbbench_format([completion]) == [score]


def test_success_is_the_verdict():
    assert dbbench_success(["a", "b"], verdict=[True, False]) == [1.0, 0.0]


RANK = sample("ranking", ["ink"], f"SELECT `Item` FROM {T} ORDER BY CAST(`Price` AS DECIMAL(10,2)) DESC LIMIT 1;")
UPD = sample("UPDATE", [f"UPDATE {T} SET `Price` = '4' WHERE `Item` = 'pen';"], "")


@pytest.mark.parametrize(("completion", "row", "score", "why"), [
    (op(f"SELECT `Item` FROM {T} ORDER BY CAST(`Price` AS DECIMAL(10,2)) DESC LIMIT 1;"), RANK, 1.0, "gold"),
    (op(f"SELECT `Item` FROM {T} ORDER BY `Price` DESC LIMIT 1;"), RANK, 0.0, "text order: '5' > '3' > '12'"),
    (op(f"SELECT `Item` FROM {T} WHERE `Price` = '12';"), RANK, 1.0, "different SQL, same rows"),
    (op("SELECT nonsense FROM"), RANK, 0.0, "an error is not a result"),
    ('Action: Answer\nFinal Answer: ["ink"]', RANK, 0.0, "no SQL to execute"),
    (op(f"UPDATE {T} SET `Price` = '4' WHERE `Item` = 'PEN';"), UPD, 1.0, "same table hash (case-insensitive =)"),
    (op(f"UPDATE {T} SET `Price` = '4';"), UPD, 0.0, "changes every row: different hash"),
])
def test_sql_execution(completion, row, score, why):
    assert dbbench_sql_execution([completion], sample=[row]) == [score], why
