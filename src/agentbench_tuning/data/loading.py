"""Read conversations from JSONL, JSON, parquet or a Hugging Face `datasets` id into the one schema.

Every record is validated by `schema.to_conversation`; errors say where the record is: `file:line` for
JSONL and JSON (the line its object starts on), `file:row N` for parquet and `org/name[split]:row N` for a
hub dataset (rows count from 0, like `dataset[N]`).

    from agentbench_tuning.data import load_conversations
    loaded = load_conversations("train.jsonl")          # raises DataError on the first bad record
    loaded = load_conversations("org/name", split="train", on_error="skip")
    loaded = load_all(["dbbench.jsonl", "alfworld.jsonl"])  # several sources, concatenated in order
    print(loaded.summary())
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .schema import DataError, record_format, to_conversation

SUFFIXES = (".jsonl", ".json", ".parquet")


@dataclass(frozen=True)
class LoadResult:
    source: str
    conversations: list[dict]
    formats: dict[str, int]  # input format -> number of records in it
    skipped: list[str] = field(default_factory=list)  # one error line per skipped record (on_error="skip")

    def summary(self) -> str:
        formats = ", ".join(f"{name}: {count}" for name, count in sorted(self.formats.items())) or "none"
        return (
            f"{self.source}: {len(self.conversations)} conversations ({formats}); skipped {len(self.skipped)}"
        )


def _jsonl_records(path: Path, name: str) -> Iterator[tuple[str, Any]]:
    with open(path, "rb") as handle:  # bytes, so a non-UTF-8 line is reported with its number
        for lineno, raw in enumerate(handle, start=1):
            where = f"{name}:{lineno}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise DataError(
                    where, None, f"not UTF-8 text (byte {raw[err.start]:#04x})", "re-save the file as UTF-8"
                ) from None
            if not line.strip():
                continue
            try:
                yield where, json.loads(line)
            except json.JSONDecodeError as err:
                yield (
                    where,
                    DataError(
                        where,
                        None,
                        f"invalid JSON: {err.msg} (column {err.colno})",
                        "fix the line or delete it",
                    ),
                )


def _json_records(path: Path, name: str) -> Iterator[tuple[str, Any]]:
    """Records of a file holding one JSON array, each located at the line its value starts on."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise DataError(
            f"{name}:{line}",
            None,
            f"not UTF-8 text (byte {raw[err.start]:#04x})",
            "re-save the file as UTF-8",
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(
            f"{name}:{err.lineno}",
            None,
            f"invalid JSON: {err.msg} (column {err.colno})",
            "fix the file (or write one record per line as .jsonl)",
        ) from None
    if not isinstance(data, list):
        raise DataError(
            f"{name}:1",
            None,
            f"expected a JSON array of records, got {type(data).__name__}",
            "put the records in a top-level array (or write one record per line as .jsonl)",
        )
    # The file parsed, so walking it element by element with raw_decode cannot fail; it gives positions.
    decoder, pos = json.JSONDecoder(), text.index("[") + 1
    line, counted_to = 1, 0  # lines are counted incrementally: recounting from 0 is quadratic in big files
    for _ in data:
        while text[pos] in " \t\r\n,":
            pos += 1
        line += text.count("\n", counted_to, pos)
        counted_to = pos
        value, pos = decoder.raw_decode(text, pos)
        yield f"{name}:{line}", value


def _parquet_records(path: Path, name: str) -> Iterator[tuple[str, Any]]:
    import pyarrow.parquet as pq

    for row, record in enumerate(pq.read_table(path).to_pylist()):
        yield f"{name}:row {row}", record


def _hub_records(dataset_id: str, split: str) -> Iterator[tuple[str, Any]]:
    import datasets

    dataset = datasets.load_dataset(dataset_id, split=split)
    for row, record in enumerate(dataset):
        yield f"{dataset_id}[{split}]:row {row}", record


def read_records(source: str | os.PathLike, split: str = "train") -> Iterator[tuple[str, Any]]:
    """(location, raw record) pairs from a local file, or from a hub dataset id when no such file exists.

    A bad JSONL line comes back as a `DataError` in place of the record, so a caller can skip it.
    """
    path = Path(source)
    name = str(source)
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".jsonl":
            return _jsonl_records(path, name)
        if suffix == ".json":
            return _json_records(path, name)
        if suffix == ".parquet":
            return _parquet_records(path, name)
        raise DataError(
            name, None, f"unsupported file type {suffix or '(none)'!r}", f"use one of {', '.join(SUFFIXES)}"
        )
    if path.is_dir():
        raise DataError(name, None, "is a directory", f"pass one {', '.join(SUFFIXES)} file inside it")
    if path.suffix.lower() in SUFFIXES or path.exists() or name.startswith((".", "/", "~")):
        raise DataError(name, None, "no such file", "check the path")
    return _hub_records(name, split)


def load_conversations(
    source: str | os.PathLike,
    split: str = "train",
    on_error: str = "raise",
    require_final_assistant: bool = True,
) -> LoadResult:
    """Load and validate every record of `source` (a .jsonl/.json/.parquet file or a hub dataset id).

    on_error="raise" stops at the first bad record with its `DataError`; on_error="skip" leaves bad records
    out and lists their error lines in `LoadResult.skipped`.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', not {on_error!r}")
    conversations, formats, skipped = [], Counter(), []
    for where, record in read_records(source, split):
        try:
            if isinstance(record, DataError):
                raise record
            kind = record_format(record, where)
            conversations.append(to_conversation(record, where, require_final_assistant))
            formats[kind] += 1
        except DataError as err:
            if on_error == "raise":
                raise
            skipped.append(str(err))
    return LoadResult(str(source), conversations, dict(formats), skipped)


def load_all(
    sources: Sequence[str | os.PathLike],
    split: str = "train",
    on_error: str = "raise",
    require_final_assistant: bool = True,
) -> LoadResult:
    """`load_conversations` of each source, concatenated in order (formats summed, skipped lines joined)."""
    if not sources:
        raise ValueError("no data sources given")
    results = [load_conversations(s, split, on_error, require_final_assistant) for s in sources]
    formats: Counter = Counter()
    for result in results:
        formats.update(result.formats)
    return LoadResult(
        source=", ".join(r.source for r in results),
        conversations=[c for r in results for c in r.conversations],
        formats=dict(formats),
        skipped=[line for r in results for line in r.skipped],
    )
