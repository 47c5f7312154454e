"""Conversations -> the pre-tokenized train/eval datasets the SFT trainer consumes.

Each example is rendered with the model's own chat template by `chat.encode_messages`; over-long examples
are dropped or cut at a turn boundary (`chat.fit_to_length`), and both outcomes are reported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from agentbench_tuning.chat import ContextReport, context_report, encode_messages, fit_to_length
from agentbench_tuning.config import DataSettings


@dataclass
class SFTData:
    train: object  # datasets.Dataset with input_ids, labels
    eval: object | None
    context_train: ContextReport
    context_eval: ContextReport | None


def _read_jsonl_messages(path: str) -> list[dict]:
    rows = []
    with Path(path).open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rows.append(json.loads(line))
    return rows


def tokenize_conversations(conversations: list[dict], tokenizer, max_length: int, overlong: str):
    """(datasets.Dataset with input_ids/labels, ContextReport)."""
    from datasets import Dataset

    encoded = [encode_messages(c["messages"], tokenizer) for c in conversations]
    report = context_report(encoded, max_length, overlong)
    fitted = [fit_to_length(e, max_length, overlong).encoded for e in encoded]
    rows = [{"input_ids": e.input_ids, "labels": e.labels} for e in fitted if e is not None and e.num_trained]
    return Dataset.from_list(rows), report


def load_conversations(sources: list[str]) -> list[dict]:
    """Conversations from every source (files for now; generators are wired in by the env packages)."""
    return [c for source in sources for c in _read_jsonl_messages(source)]


def prepare_sft_data(settings: DataSettings, tokenizer) -> SFTData:
    import random

    train = load_conversations(settings.train)
    evaluation = load_conversations(settings.eval)
    if not evaluation and settings.eval_fraction > 0:
        random.Random(settings.seed).shuffle(train)
        n_eval = max(1, int(len(train) * settings.eval_fraction))
        evaluation, train = train[:n_eval], train[n_eval:]
    train_ds, train_report = tokenize_conversations(train, tokenizer, settings.max_length, settings.overlong)
    eval_ds, eval_report = (None, None)
    if evaluation:
        eval_ds, eval_report = tokenize_conversations(
            evaluation, tokenizer, settings.max_length, settings.overlong
        )
    return SFTData(train_ds, eval_ds, train_report, eval_report)
