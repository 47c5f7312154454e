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
    def table_error(self) -> str | None:
        """Why MySQL cannot create this sample's table (v0.2 then ran the episode without it), or None."""
        return table_problem(self.table_name, self.columns)[1]

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


MAX_IDENTIFIER_CHARS = 64  # MySQL's limit for table and column names


def _name_problem(name: str) -> str | None:
    if not name:
        return "is empty"
    if len(name) > MAX_IDENTIFIER_CHARS:
        return f"is {len(name)} characters long (MySQL allows {MAX_IDENTIFIER_CHARS})"
    if name != name.rstrip(" "):
        return "ends with a space"
    return None


def table_problem(table_name: str, columns: list[str]) -> tuple[str, str | None]:
    """(the field, what is wrong) for a table MySQL cannot create; (\"\", None) if it can."""
    if problem := _name_problem(table_name):
        return "table.table_name", f"table name {table_name!r} {problem}"
    if not columns:
        return "table.table_info.columns", "the table has no columns"
    seen: set[str] = set()
    for i, name in enumerate(columns):
        if problem := _name_problem(name):
            return f"table.table_info.columns[{i}].name", f"column name {name!r} {problem}"
        if name.lower() in seen:  # MySQL column names are case-insensitive
            return f"table.table_info.columns[{i}].name", f"duplicate column name {name!r}"
        seen.add(name.lower())
    return "", None


def _require(obj: dict, key: str, kind: type | tuple, where: str) -> Any:
    if key not in obj:
        raise ValueError(f'{where}: field "{key}" is missing; see docs/dbbench.md for the sample format')
    if not isinstance(obj[key], kind):
        raise ValueError(f'{where}: field "{key}" has type {type(obj[key]).__name__}, expected {kind}')
    return obj[key]


def _check_rows(rows: list, width: int, where: str) -> None:
    for i, row in enumerate(rows):
        if not isinstance(row, list):
            raise ValueError(f'{where}: field "table.table_info.rows[{i}]" must be a list of {width} values, '
                             f"got {type(row).__name__}")
        if len(row) != width:
            raise ValueError(f'{where}: field "table.table_info.rows[{i}]" has {len(row)} values for {width} columns')
        for j, value in enumerate(row):
            if not (value is None or isinstance(value, (str, int, float))):
                raise ValueError(f'{where}: field "table.table_info.rows[{i}][{j}]" must be a string, number or '
                                 f"null, got {type(value).__name__}")


def parse_sample(obj: Any, index: int, where: str, allow_broken_tables: bool = False) -> DBTask:
    """One v0.2 sample; errors name `where` (file:line) and the field. A table MySQL cannot create (duplicate or
    empty column names) is an error unless `allow_broken_tables` (v0.2 ran such samples without their table)."""
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
        if not isinstance(col, dict) or not isinstance(col.get("name"), str):
            raise ValueError(f'{where}: field "table.table_info.columns[{i}]" must be an object with a string "name"')
    names = [c["name"] for c in columns]
    _check_rows(rows, len(names), where)
    field_name, problem = table_problem(name, names)
    if problem and not allow_broken_tables:
        raise ValueError(f'{where}: field "{field_name}": {problem}, so MySQL cannot create this table; fix the '
                         "sample, or load with allow_broken_tables=True to run it without a table as v0.2 did")
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
        columns=names,
        rows=rows,
        label=_require(obj, "label", list, where),
        answer_md5=answer_md5,
        extra={k: v for k, v in obj.items() if k not in known},
    )


def load_tasks(path: str | Path, allow_broken_tables: bool = False) -> list[DBTask]:
    """Read a JSONL (or a JSON list) of v0.2 samples; the index is the position in the file, as in v0.2."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        try:
            objs = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from None
        if not isinstance(objs, list):
            raise ValueError(f"{path}:1: a .json file must hold a list of samples, got {type(objs).__name__}")
        tasks = [parse_sample(o, i, f"{path}: item {i}", allow_broken_tables) for i, o in enumerate(objs)]
    else:
        tasks = []
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except (json.JSONDecodeError, RecursionError, ValueError) as err:
                raise ValueError(f"{path}:{lineno}: not valid JSON ({getattr(err, 'msg', err)}); "
                                 "one sample per line") from None
            tasks.append(parse_sample(obj, len(tasks), f"{path}:{lineno}", allow_broken_tables))
    if not tasks:
        raise ValueError(f"{path}: no samples (the file is empty); expected one JSON object per line")
    return tasks
