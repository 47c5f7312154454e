"""Turn loaded conversations into train/validation sets: dedupe, length filter, stratified split.

`prepare_conversations` runs the three steps in that order and says what each dropped:

    from agentbench_tuning.data import load_conversations, prepare_conversations
    from agentbench_tuning.models import offline_tokenizer
    loaded = load_conversations("train.jsonl")
    prepared = prepare_conversations(loaded.conversations, offline_tokenizer("qwen3-2507"), max_length=8192)
    print(prepared.summary())

Lengths are counted in tokens of the model's own chat template (`chat.encode_messages`), and over-long
examples are handled by `chat.fit_to_length` (drop, or remove whole trailing turns), never cut inside a
trained span. The split is stratified by `task` (falling back to `source`) and seeded.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from ..chat import ContextReport, Encoded, context_report, encode_messages, fit_to_length

NO_STRATUM = "(none)"


def conversation_hash(conversation: dict) -> str:
    """sha256 of the conversation's roles and whitespace-normalised contents.

    Metadata (task, source, ids) and `loss` flags are left out: two records that would show the model the
    same text are duplicates even when their labels differ; the first one wins.
    """
    normalised = [[m["role"], " ".join(m["content"].split())] for m in conversation["messages"]]
    return hashlib.sha256(json.dumps(normalised, ensure_ascii=False).encode()).hexdigest()


@dataclass(frozen=True)
class Deduped:
    kept: list[dict]
    duplicates: int


def dedupe(conversations: Sequence[dict]) -> Deduped:
    """Keep the first conversation of every `conversation_hash`, in input order."""
    seen: set[str] = set()
    kept = []
    for conversation in conversations:
        key = conversation_hash(conversation)
        if key not in seen:
            seen.add(key)
            kept.append(conversation)
    return Deduped(kept, len(conversations) - len(kept))


@dataclass(frozen=True)
class LengthFiltered:
    kept: list[dict]
    encoded: list[Encoded]  # aligned with `kept`, already fitted (truncated when the policy did so)
    report: ContextReport  # over all input conversations
    too_long: int  # dropped by fit_to_length
    nothing_to_train: int  # dropped because no assistant token is trained (all `loss: false`)


def filter_by_length(
    conversations: Sequence[dict], tokenizer, max_length: int = 8192, policy: str = "drop"
) -> LengthFiltered:
    """Encode every conversation and keep those that fit `max_length` tokens under `policy`."""
    encoded = []
    for index, conversation in enumerate(conversations):
        try:
            encoded.append(encode_messages(conversation["messages"], tokenizer))
        except ValueError as err:
            raise ValueError(f"conversation {index}: {err}") from err
    kept, kept_encoded, too_long, nothing = [], [], 0, 0
    for conversation, item in zip(conversations, encoded, strict=True):
        fitted = fit_to_length(item, max_length, policy)
        if fitted.encoded is None:
            too_long += 1
        elif fitted.encoded.num_trained == 0:
            nothing += 1
        else:
            kept.append(conversation)
            kept_encoded.append(fitted.encoded)
    report = context_report(encoded, max_length, policy)
    return LengthFiltered(kept, kept_encoded, report, too_long, nothing)


def stratum(conversation: dict) -> str:
    """The split stratum: the task, else the source, else one shared stratum."""
    if conversation.get("task") is not None:
        return f"task:{conversation['task']}"
    if conversation.get("source") is not None:
        return f"source:{conversation['source']}"
    return NO_STRATUM


def _validation_counts(sizes: dict[str, int], fraction: float) -> dict[str, int]:
    """How many of each stratum go to validation: round(total * fraction) overall, shared out by largest
    remainder (ties by name), never taking a stratum's last training example."""
    target = math.floor(sum(sizes.values()) * fraction + 0.5)
    caps = {name: max(size - 1, 0) for name, size in sizes.items()}
    counts = {name: min(math.floor(size * fraction), caps[name]) for name, size in sizes.items()}
    by_remainder = sorted(
        sizes, key=lambda name: (-(sizes[name] * fraction - math.floor(sizes[name] * fraction)), name)
    )
    while sum(counts.values()) < target:
        open_strata = [name for name in by_remainder if counts[name] < caps[name]]
        if not open_strata:
            break
        for name in open_strata[: target - sum(counts.values())]:
            counts[name] += 1
    return counts


@dataclass(frozen=True)
class Split:
    train_indices: list[int]
    validation_indices: list[int]
    strata: dict[str, tuple[int, int]]  # stratum -> (train, validation) counts


def split_train_validation(
    conversations: Sequence[dict], validation_fraction: float = 0.05, seed: int = 0
) -> Split:
    """Seeded split stratified by `stratum`; indices keep input order within each side."""
    if not 0 <= validation_fraction < 1:
        raise ValueError(f"validation_fraction must be in [0, 1), got {validation_fraction}")
    members: dict[str, list[int]] = {}
    for index, conversation in enumerate(conversations):
        members.setdefault(stratum(conversation), []).append(index)
    counts = _validation_counts({name: len(idx) for name, idx in members.items()}, validation_fraction)
    validation: set[int] = set()
    for name, indices in members.items():
        # One generator per stratum, so adding a task does not reshuffle the others' validation examples.
        validation.update(random.Random(f"{seed}:{name}").sample(indices, counts[name]))
    strata = {name: (len(idx) - counts[name], counts[name]) for name, idx in sorted(members.items())}
    train = [i for i in range(len(conversations)) if i not in validation]
    return Split(train, sorted(validation), strata)


@dataclass(frozen=True)
class Prepared:
    train: list[dict]
    validation: list[dict]
    train_encoded: list[Encoded]
    validation_encoded: list[Encoded]
    total: int
    dropped: dict[str, int]  # reason -> count: duplicate, too_long, nothing_to_train
    report: ContextReport
    strata: dict[str, tuple[int, int]]

    def summary(self) -> str:
        dropped = ", ".join(f"{reason} {count}" for reason, count in self.dropped.items())
        strata = ", ".join(f"{name} {t}/{v}" for name, (t, v) in self.strata.items())
        return (
            f"{self.total} conversations -> train {len(self.train)}, validation {len(self.validation)}; "
            f"dropped: {dropped}; train/validation per stratum: {strata}; {self.report.summary()}"
        )


def prepare_conversations(
    conversations: Sequence[dict],
    tokenizer,
    max_length: int = 8192,
    validation_fraction: float = 0.05,
    seed: int = 0,
    policy: str = "drop",
) -> Prepared:
    """dedupe -> filter_by_length -> split_train_validation, with the fitted encodings kept for training."""
    deduped = dedupe(conversations)
    fitted = filter_by_length(deduped.kept, tokenizer, max_length, policy)
    split = split_train_validation(fitted.kept, validation_fraction, seed)
    dropped = Counter(
        duplicate=deduped.duplicates, too_long=fitted.too_long, nothing_to_train=fitted.nothing_to_train
    )
    return Prepared(
        train=[fitted.kept[i] for i in split.train_indices],
        validation=[fitted.kept[i] for i in split.validation_indices],
        train_encoded=[fitted.encoded[i] for i in split.train_indices],
        validation_encoded=[fitted.encoded[i] for i in split.validation_indices],
        total=len(conversations),
        dropped=dict(dropped),
        report=fitted.report,
        strata=split.strata,
    )
