"""Training data: load files or hub datasets into one conversation schema, curate, tokenize.

    from agentbench_tuning.data import load_conversations, prepare_conversations, to_dataset
    loaded = load_conversations("train.jsonl")                       # validated, or DataError file:line
    prepared = prepare_conversations(loaded.conversations, tokenizer)  # dedupe, length filter, split
    train_dataset = to_dataset(prepared.train_encoded)                 # input_ids + labels for SFTTrainer

The schema, the accepted input formats and the error messages are described in docs/data.md.
"""

from .curation import (
    Prepared,
    conversation_hash,
    dedupe,
    filter_by_length,
    prepare_conversations,
    split_train_validation,
    stratum,
)
from .loading import LoadResult, load_all, load_conversations, read_records
from .samples import sample_path
from .schema import DataError, to_conversation
from .stats import DatasetStats, describe
from .tokenized import Tokenized, to_dataset, tokenized_dataset

__all__ = [
    "DataError",
    "DatasetStats",
    "LoadResult",
    "Prepared",
    "Tokenized",
    "conversation_hash",
    "dedupe",
    "describe",
    "filter_by_length",
    "load_all",
    "load_conversations",
    "prepare_conversations",
    "read_records",
    "sample_path",
    "split_train_validation",
    "stratum",
    "to_conversation",
    "to_dataset",
    "tokenized_dataset",
]
