"""Dataset statistics for the inspection notebook and the CLI: counts per task/source, turns, tokens.

from agentbench_tuning.data.stats import describe
stats = describe(conversations, [encode_messages(c["messages"], tok) for c in conversations])
print(stats.summary())
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from ..chat import Encoded


@dataclass(frozen=True)
class Spread:
    """min / median / mean / max of a list of counts (all 0 for an empty list)."""

    min: int
    median: float
    mean: float
    max: int

    @classmethod
    def of(cls, values: Sequence[int]) -> Spread:
        if not values:
            return cls(0, 0.0, 0.0, 0)
        return cls(min(values), float(statistics.median(values)), statistics.fmean(values), max(values))


@dataclass(frozen=True)
class DatasetStats:
    conversations: int
    per_task: dict[str, int]  # None is shown as "(none)"
    per_source: dict[str, int]
    assistant_turns: Spread  # per conversation
    tokens: Spread  # per conversation, chat-template tokens
    total_tokens: int
    trained_tokens: int
    max_length: int
    over_limit: int

    def summary(self) -> str:
        tasks = ", ".join(f"{k} {v}" for k, v in self.per_task.items())
        sources = ", ".join(f"{k} {v}" for k, v in self.per_source.items())
        return (
            f"{self.conversations} conversations; tasks: {tasks}; sources: {sources}; "
            f"assistant turns {self.assistant_turns.min}-{self.assistant_turns.max} "
            f"(median {self.assistant_turns.median:g}); tokens {self.tokens.min}-{self.tokens.max} "
            f"(median {self.tokens.median:g}); trained {self.trained_tokens} of {self.total_tokens} tokens; "
            f"{self.over_limit} over {self.max_length}"
        )


def _counts(values: Sequence[str | None]) -> dict[str, int]:
    counts = Counter("(none)" if v is None else v for v in values)
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def describe(
    conversations: Sequence[dict], encoded: Sequence[Encoded], max_length: int = 8192
) -> DatasetStats:
    """Statistics of `conversations` and their encodings (same order, same length)."""
    if len(conversations) != len(encoded):
        raise ValueError(f"{len(conversations)} conversations but {len(encoded)} encodings")
    lengths = [len(e) for e in encoded]
    return DatasetStats(
        conversations=len(conversations),
        per_task=_counts([c.get("task") for c in conversations]),
        per_source=_counts([c.get("source") for c in conversations]),
        assistant_turns=Spread.of(
            [sum(m["role"] == "assistant" for m in c["messages"]) for c in conversations]
        ),
        tokens=Spread.of(lengths),
        total_tokens=sum(lengths),
        trained_tokens=sum(e.num_trained for e in encoded),
        max_length=max_length,
        over_limit=sum(n > max_length for n in lengths),
    )
