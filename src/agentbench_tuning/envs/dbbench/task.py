"""DB Bench samples: the AgentBench v0.2 JSONL sample format, loaded and validated.

    from agentbench_tuning.envs.dbbench import load_tasks
    tasks = load_tasks("dbbench_gen/test.jsonl")
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MUTATING_TYPES = ("INSERT", "UPDATE", "DELETE")
SELECT_TYPES = ("other", "counting", "comparison", "ranking",
                "aggregation-SUM", "aggregation-MIN", "aggregation-MAX", "aggregation-AVG")


@dataclass
class DBTask:
    """One sample. `label` is the answer list (SELECT types) or the gold SQL list (INSERT/UPDATE/DELETE)."""

    index: int
    description: str
    add_description: str
    type: str
    table_name: str
    columns: list[str]
    rows: list[list[Any]]
    label: list[Any]
    answer_md5: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def mutating(self) -> bool:
        return self.type in MUTATING_TYPES

    @property
    def prompt(self) -> str:
        return self.description + "\n" + self.add_description

    def to_sample(self) -> dict[str, Any]:
        """Back to the v0.2 sample format (what `load_tasks` reads)."""
        sample = {
            "description": self.description,
            "add_description": self.add_description,
            "label": self.label,
            "type": [self.type],
            "table": {"table_name": self.table_name, "table_info": {
                "columns": [{"name": c, "type": "TEXT"} for c in self.columns], "rows": self.rows}},
            **self.extra,
        }
        if self.answer_md5 is not None:
            sample["answer_md5"] = self.answer_md5
        return sample


def _require(obj: dict, key: str, kind: type | tuple, where: str) -> Any:
    if key not in obj:
        raise ValueError(f'{where}: field "{key}" is missing; see docs/dbbench.md for the sample format')
    if not isinstance(obj[key], kind):
        raise ValueError(f'{where}: field "{key}" has type {type(obj[key]).__name__}, expected {kind}')
    return obj[key]


def parse_sample(obj: Any, index: int, where: str) -> DBTask:
    if not isinstance(obj, dict):
        raise ValueError(f"{where}: a sample must be a JSON object, got {type(obj).__name__}")
    types = _require(obj, "type", list, where)
    if len(types) != 1 or types[0] not in (*SELECT_TYPES, *MUTATING_TYPES):
        raise ValueError(f'{where}: field "type" must be a one-element list of {SELECT_TYPES + MUTATING_TYPES}, '
                         f"got {types!r}")
    table = _require(obj, "table", dict, where)
    name = _require(table, "table_name", str, where + ":table")
    info = _require(table, "table_info", dict, where + ":table")
    columns = _require(info, "columns", list, where + ":table.table_info")
    rows = _require(info, "rows", list, where + ":table.table_info")
    for i, col in enumerate(columns):
        if not isinstance(col, dict) or "name" not in col:
            raise ValueError(f'{where}: field "table.table_info.columns[{i}]" needs a "name"')
    answer_md5 = obj.get("answer_md5")
    if types[0] in MUTATING_TYPES and not isinstance(answer_md5, str):
        raise ValueError(f'{where}: field "answer_md5" (a string) is required for {types[0]} samples')
    known = {"description", "add_description", "label", "type", "table", "answer_md5"}
    return DBTask(
        index=index,
        description=_require(obj, "description", str, where),
        add_description=_require(obj, "add_description", str, where),
        type=types[0],
        table_name=name,
        columns=[str(c["name"]) for c in columns],
        rows=rows,
        label=_require(obj, "label", list, where),
        answer_md5=answer_md5,
        extra={k: v for k, v in obj.items() if k not in known},
    )


def load_tasks(path: str | Path) -> list[DBTask]:
    """Read a JSONL (or a JSON list) of v0.2 samples; the index is the position in the file, as in v0.2."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        objs = json.loads(text)
        return [parse_sample(o, i, f"{path}:item {i}") for i, o in enumerate(objs)]
    tasks: list[DBTask] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{lineno}: not valid JSON ({err.msg}); one sample per line") from None
        tasks.append(parse_sample(obj, len(tasks), f"{path}:{lineno}"))
    return tasks
