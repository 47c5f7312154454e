"""Pre-tokenized `datasets.Dataset`s for the SFT trainer: columns `input_ids` and `labels`.

The ids and labels are `chat.encode_messages`'s (the model's own chat template, labels -100 except each
trained assistant turn's content and `<|im_end|>`), fitted to `max_length` by `chat.fit_to_length`. TRL's
SFTTrainer uses a `labels` column as it is, so the masks trained on are exactly the ones tested here.

    from agentbench_tuning.data import tokenized_dataset
    tokenized = tokenized_dataset(conversations, tokenizer, max_length=8192)
    print(tokenized.report.summary()); trainer_dataset = tokenized.dataset
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..chat import ContextReport, Encoded, context_report, encode_messages, fit_to_length


def to_dataset(encoded: Sequence[Encoded]):
    """A `datasets.Dataset` with one row per encoded example (`input_ids`, `labels`)."""
    import datasets

    features = datasets.Features(
        {
            "input_ids": datasets.List(datasets.Value("int32")),
            "labels": datasets.List(datasets.Value("int32")),
        }
    )
    return datasets.Dataset.from_dict(
        {"input_ids": [e.input_ids for e in encoded], "labels": [e.labels for e in encoded]},
        features=features,
    )


@dataclass(frozen=True)
class Tokenized:
    dataset: object  # datasets.Dataset
    report: ContextReport  # what fitting to max_length did (dropped examples are not in `dataset`)


def tokenized_dataset(
    conversations: Sequence[dict], tokenizer, max_length: int = 8192, policy: str = "drop"
) -> Tokenized:
    """Encode `conversations`, fit each to `max_length` under `policy`, and build the dataset."""
    encoded = [encode_messages(c["messages"], tokenizer) for c in conversations]
    fitted = [fit_to_length(e, max_length, policy) for e in encoded]
    kept = [f.encoded for f in fitted if f.encoded is not None]
    return Tokenized(to_dataset(kept), context_report(encoded, max_length, policy))
