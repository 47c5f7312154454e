"""Append-only evaluation records: one JSON line per finished episode, never rewritten.

A crash loses at most the episode in flight; re-running skips every key already on disk.

    with RecordWriter(out_dir / "records.jsonl") as records:
        for item in items:
            if records.done(item.key):
                continue
            records.append({"index": ..., "seed": ..., ...})
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def record_key(record: dict[str, Any]) -> tuple:
    """Records are identified by (index, seed); seed defaults to 0 for single-seed runs."""
    return (record["index"], record.get("seed", 0))


def read_records(path: str | Path) -> Iterator[dict[str, Any]]:
    """Yield the complete records of a records.jsonl; a torn last line (a crash mid-write) is skipped."""
    path = Path(path)
    if not path.exists():
        return
    with path.open(encoding="utf-8") as fh:
        lines = fh.readlines()
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError:
            if lineno == len(lines) and not line.endswith("\n"):
                return  # the write that was interrupted; the episode will be run again
            raise ValueError(f"{path}:{lineno}: corrupt record (not JSON); fix or remove that line") from None


class RecordWriter:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._done = {record_key(r) for r in read_records(self.path)}
        self._truncate_torn_tail()
        self._fh = self.path.open("a", encoding="utf-8")

    def _truncate_torn_tail(self) -> None:
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        data = self.path.read_bytes()
        if not data.endswith(b"\n"):
            with self.path.open("r+b") as fh:
                fh.truncate(data.rfind(b"\n") + 1)

    def done(self, index: int, seed: int = 0) -> bool:
        return (index, seed) in self._done

    @property
    def finished(self) -> set[tuple]:
        return set(self._done)

    def append(self, record: dict[str, Any]) -> None:
        key = record_key(record)
        if key in self._done:
            raise ValueError(f"record {key} is already in {self.path}; records are append-only")
        self._fh.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._done.add(key)

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """Write JSON via a temporary file and rename, so a reader never sees half a file."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)
