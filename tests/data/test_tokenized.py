"""The pre-tokenized dataset the SFT trainer consumes carries exactly `encode_messages`'s ids and labels."""

from __future__ import annotations

from agentbench_tuning.chat import IGNORE_INDEX, encode_messages
from agentbench_tuning.data import load_conversations, sample_path, to_dataset, tokenized_dataset


def test_dataset_rows_equal_encode_messages(family, tokenizers):
    tok = tokenizers[family]
    conversations = load_conversations(sample_path()).conversations
    tokenized = tokenized_dataset(conversations, tok, max_length=8192)
    assert tokenized.dataset.column_names == ["input_ids", "labels"]
    assert len(tokenized.dataset) == len(conversations)
    for row, conversation in zip(tokenized.dataset, conversations, strict=True):
        encoded = encode_messages(conversation["messages"], tok)
        assert row["input_ids"] == encoded.input_ids
        assert row["labels"] == encoded.labels
    # The sample's "Ok." acknowledgements carry loss false: some assistant text must be masked.
    assert any(label == IGNORE_INDEX for label in tokenized.dataset[0]["labels"])


def test_over_long_examples_are_dropped_and_reported(tokenizers):
    tok = tokenizers["qwen2.5"]
    conversations = load_conversations(sample_path()).conversations
    lengths = [len(encode_messages(c["messages"], tok)) for c in conversations]
    limit = sorted(lengths)[5]  # the 6 shortest (ties included) fit
    tokenized = tokenized_dataset(conversations, tok, max_length=limit)
    fitting = sum(n <= limit for n in lengths)
    assert len(tokenized.dataset) == fitting
    assert tokenized.report.dropped == len(conversations) - fitting
    assert all(len(ids) <= limit for ids in tokenized.dataset["input_ids"])


def test_to_dataset_of_nothing_is_empty():
    assert len(to_dataset([])) == 0


def test_trl_sft_trainer_keeps_our_labels(tokenizers, tiny_model_dirs, tmp_path):
    # The SFT path relies on TRL using a provided `labels` column as it is: check that its dataset
    # preparation (truncation, masked-example filter) and its collator leave our masks untouched.
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig, SFTTrainer

    tok = tokenizers["qwen2.5"]
    tokenized = tokenized_dataset(load_conversations(sample_path()).conversations, tok)
    args = SFTConfig(
        output_dir=str(tmp_path), use_cpu=True, bf16=False, max_length=8192, report_to=[],
        per_device_train_batch_size=2, shuffle_dataset=False, max_steps=1,
    )  # fmt: skip
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dirs["qwen2.5"])
    trainer = SFTTrainer(model=model, args=args, train_dataset=tokenized.dataset, processing_class=tok)
    assert trainer.train_dataset["labels"] == tokenized.dataset["labels"]
    assert trainer.train_dataset["input_ids"] == tokenized.dataset["input_ids"]
    batch = trainer.data_collator([trainer.train_dataset[0], trainer.train_dataset[1]])
    first = tokenized.dataset[0]["labels"]
    assert batch["labels"][0, : len(first)].tolist() == first
    assert set(batch["labels"][0, len(first) :].tolist()) <= {IGNORE_INDEX}  # padding is masked
