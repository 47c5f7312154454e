"""The one record format: one JSON line per finished episode, the same keys for every benchmark and agent.

Evaluation, data generation and GRPO write it through `RecordWriter` (append-only, one fsynced line per
episode, a torn last line from a crash is dropped); report, diagnose, tracking, the statistics and the data
builders read it through `read_records`, which validates every line and names file, line and field.

A record (`RECORD_KEYS`, all present):

    index, seed            the task (its position in the task list) and the sampling seed
    benchmark, agent       e.g. "dbbench" / "alfworld-sim" / "alfworld-engine"; "model", "oracle", "expert", ...
    type                   task type (DB Bench question type, ALFWorld task type) for per-type statistics
    status, reward, success, verdict     the harness's grade (status is one of envs.base.STATUSES)
    turns                  number of agent turns
    messages               the whole conversation; an assistant message the agent produced in this episode has
                           "sampled": true (the injected acknowledgement and few-shot turns do not), and one
                           the environment rejected (an SQL error, "Nothing happens.") has "failed": true
    prompt_tokens, completion_tokens, max_prompt_tokens, finish_reasons      (0 / [] for scripted agents)
    generate_s, env_s, wall_s      timings
    info                   everything else the environment reported (answer, rounds, steps, error, ...)

    with RecordWriter("runs/eval/records.jsonl") as writer:
        if not writer.done(index, seed):
            writer.append(record)
    records = list(read_records("runs/eval/records.jsonl"))
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

RECORD_KEYS = (
    "index", "seed", "benchmark", "agent", "type", "status", "reward", "success", "verdict", "turns", "messages",
    "prompt_tokens", "completion_tokens", "max_prompt_tokens", "finish_reasons", "generate_s", "env_s", "wall_s",
    "info",
)
TASK_ERROR = "task error"  # the one status a resumed run plays again (envs.base.TASK_ERROR)
_TYPES: dict[str, type | tuple[type, ...]] = {
    "index": int, "seed": int, "benchmark": str, "agent": str, "type": str, "status": str, "reward": (int, float),
    "success": bool, "turns": int, "messages": list, "prompt_tokens": int, "completion_tokens": int,
    "max_prompt_tokens": int, "finish_reasons": list, "generate_s": (int, float), "env_s": (int, float),
    "wall_s": (int, float), "info": dict,
}


class RecordError(ValueError):
    """A records file that is not in the record format; the message names file, line and field."""


def record_key(record: dict[str, Any]) -> tuple[int, int]:
    return (record["index"], record["seed"])


def validate_record(record: Any, where: str) -> dict[str, Any]:
    """The record itself, or a `RecordError` naming `where` (file:line) and the first bad field."""
    if not isinstance(record, dict):
        raise RecordError(f"{where}: a record must be a JSON object, got {type(record).__name__}")
    missing = [k for k in RECORD_KEYS if k not in record]
    if missing:
        raise RecordError(
            f"{where}: record has no field {missing[0]!r} (missing: {', '.join(missing)}); records are written by "
            "`abtune eval`; re-run the evaluation to get records in the current format"
        )
    for key, kind in _TYPES.items():
        value = record[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise RecordError(f"{where}: field {key!r} = {value!r} has the wrong type; expected {kind}")
    for i, message in enumerate(record["messages"]):
        if not isinstance(message, dict) or not isinstance(message.get("content"), str) or \
                message.get("role") not in ("system", "user", "assistant"):
            raise RecordError(f"{where}: messages[{i}] must be {{'role': system|user|assistant, 'content': str}}")
    return record


def read_records(path: str | Path, validate: bool = True) -> Iterator[dict[str, Any]]:
    """Yield the complete records of a records file; a torn last line (a crash mid-write) is skipped."""
    path = Path(path)
    if not path.exists():
        return
    with path.open(encoding="utf-8") as fh:
        lines = fh.readlines()
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if lineno == len(lines) and not line.endswith("\n"):
                return  # the write that was interrupted; the episode will be run again
            raise RecordError(f"{path}:{lineno}: corrupt record (not JSON); fix or remove that line") from None
        yield validate_record(record, f"{path}:{lineno}") if validate else record


def latest_records(path: str | Path) -> list[dict[str, Any]]:
    """One record per (index, seed): the last one written. A key appears twice only when a `task error`
    (an infrastructure failure, not a grade) was re-run on resume; the re-run supersedes it."""
    latest: dict[tuple[int, int], dict[str, Any]] = {}
    for record in read_records(path):
        latest[record_key(record)] = record
    return list(latest.values())


class RecordWriter:
    """Append-only records keyed by (index, seed); `done` tells a resumed run what to skip. A record whose
    status is `task error` is not done: the episode is played again and its new record appended."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._truncate_torn_tail()
        self._records = {record_key(r): r for r in latest_records(self.path)}
        self._fh = self.path.open("a", encoding="utf-8")

    def _truncate_torn_tail(self) -> None:
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        data = self.path.read_bytes()
        if not data.endswith(b"\n"):
            with self.path.open("r+b") as fh:
                fh.truncate(data.rfind(b"\n") + 1)

    def done(self, index: int, seed: int = 0) -> bool:
        record = self._records.get((index, seed))
        return record is not None and record["status"] != TASK_ERROR

    def get(self, index: int, seed: int) -> dict[str, Any] | None:
        return self._records.get((index, seed))

    @property
    def finished(self) -> set[tuple[int, int]]:
        return set(self._records)

    def append(self, record: dict[str, Any]) -> None:
        validate_record(record, f"{self.path} (new record)")
        key = record_key(record)
        if self.done(*key):
            raise RecordError(f"record {key} is already in {self.path}; records are append-only")
        self._fh.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._records[key] = record

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """Write JSON via a temporary file and rename, so a reader never sees half a file."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write rows as JSON lines via a temporary file and rename (a crash never leaves half a data set)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    n = 0
    with tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
            n += 1
    os.replace(tmp, path)
    return n


def sampled_turns(record: dict[str, Any]) -> list[str]:
    """The agent's own outputs in order: what a replay agent plays back to reproduce the episode."""
    return [m["content"] for m in record["messages"] if m["role"] == "assistant" and m.get("sampled")]


def hash_path(path: str | Path) -> str | None:
    """sha256 of a file, or of every file below a folder (sorted names + contents); None if absent. Run identities
    (`identity.json`) record it for their input files, so a reader can check which file a run saw."""
    path = Path(path)
    if not path.exists():
        return None
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        digest.update(str(file.relative_to(path) if file != path else file.name).encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()
