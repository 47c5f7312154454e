"""Data sources -> the pre-tokenized train/eval datasets the SFT trainer consumes.

A source is a file (jsonl/json/parquet), a `datasets` hub id, or `gen:<env>:<n>[:<seed>]`, which asks our own
generators for SFT data from n tasks (`gen:dbbench:3000`, `gen:alfworld:1500`, `gen:alfworld:200:7` with an explicit
seed; `gen:alfworld-listed:N`: whole games with every observation's action list kept, `gen:alfworld-steps:N`: one
sample per step under the exact prompt, see `data.generated`). Conversations are deduplicated,
fitted to `max_length` (dropped or cut at a turn boundary, never inside a trained turn), split stratified by
task, and encoded with the model's own chat template by `chat.encode_messages`.
"""

from __future__ import annotations

from dataclasses import dataclass

from agentbench_tuning.chat import ContextReport
from agentbench_tuning.config import DataSettings
from agentbench_tuning.data import filter_by_length, load_all, prepare_conversations, to_dataset

GENERATORS = ("dbbench", "alfworld", "alfworld-listed", "alfworld-steps")  # the `gen:` names


def generate_conversations(env: str, n: int, seed: int) -> list[dict]:
    """SFT data from n tasks of our own generator for `env` (no benchmark data involved)."""
    from agentbench_tuning.data import generated

    if env not in GENERATORS:
        raise ValueError(f"gen:{env}: unknown generator; use " + " or ".join(f"gen:{g}:N" for g in GENERATORS))
    if env == "alfworld-listed":
        return list(generated.alfworld_listed_conversations(n, seed))
    if env == "alfworld-steps":
        return list(generated.alfworld_step_samples(n, seed))
    return generated.generated_sft({"dbbench": "dbbench", "alfworld": "alfworld-sim"}[env], n, seed=seed)


def load_sources(sources: list[str], seed: int = 0) -> list[dict]:
    """Conversations of every source, in order. A `gen:` source without its own seed uses `seed + 1`:
    generated evaluation sets use seed 0 by default, so training games never coincide with them."""
    conversations: list[dict] = []
    files = []
    for source in sources:
        if source.startswith("gen:"):
            parts = source.split(":")
            if len(parts) not in (3, 4) or not all(p.isdigit() for p in parts[2:]):
                raise ValueError(f"data source {source!r}: write gen:<{'|'.join(GENERATORS)}>:<count>[:<seed>]")
            conversations += generate_conversations(parts[1], int(parts[2]), int(parts[3]) if len(parts) == 4 else seed + 1)
        else:
            files.append(source)
    if files:
        conversations += load_all(files).conversations
    return conversations


@dataclass
class SFTData:
    train: object  # datasets.Dataset with input_ids, labels
    eval: object | None
    context_train: ContextReport
    context_eval: ContextReport | None
    summary: str


def prepare_sft_data(settings: DataSettings, tokenizer) -> SFTData:
    """Load, dedupe, fit, split (stratified by task) and tokenize."""
    fraction = 0.0 if settings.eval else settings.eval_fraction
    prepared = prepare_conversations(
        load_sources(settings.train, settings.seed), tokenizer, settings.max_length, fraction, settings.seed,
        settings.overlong,
    )
    eval_encoded, eval_report = prepared.validation_encoded, None
    if settings.eval:
        fitted = filter_by_length(load_sources(settings.eval, settings.seed), tokenizer, settings.max_length,
                                  settings.overlong)
        eval_encoded, eval_report = fitted.encoded, fitted.report
    if not prepared.train_encoded:
        raise ValueError(f"no training examples left: {prepared.summary()}")
    return SFTData(
        train=to_dataset(prepared.train_encoded),
        eval=to_dataset(eval_encoded) if eval_encoded else None,
        context_train=prepared.report,
        context_eval=eval_report,
        summary=prepared.summary(),
    )
