"""Dedupe, length filter and the stratified split, with hand-worked expected values."""

from __future__ import annotations

import hashlib

from agentbench_tuning.chat import encode_messages
from agentbench_tuning.data import (
    conversation_hash,
    dedupe,
    filter_by_length,
    prepare_conversations,
    split_train_validation,
    stratum,
)
from agentbench_tuning.data.curation import _validation_counts


def conv(*contents, task=None, source=None, loss=None):
    """user/assistant alternating turns with the given contents."""
    messages = []
    for i, content in enumerate(contents):
        messages.append({"role": "user" if i % 2 == 0 else "assistant", "content": content})
        if i % 2 == 1 and loss is not None:
            messages[-1]["loss"] = loss
    return {"messages": messages, "task": task, "source": source}


def test_hash_is_sha256_of_roles_and_whitespace_normalised_contents():
    # The spec: json of [[role, " ".join(content.split())], ...]; metadata and loss flags are not part of it.
    expected = hashlib.sha256(b'[["user", "a b"], ["assistant", "c"]]').hexdigest()
    assert conversation_hash(conv("  a \n b", "c ", task="x", loss=False)) == expected


def test_dedupe_keeps_the_first_of_each_duplicate():
    first, same_text, other_role = (
        conv("a  b", "c", task="t1"),
        conv("a b", "c", task="t2"),
        conv("a b", "c d"),
    )
    result = dedupe([first, same_text, other_role, first])
    assert result.kept == [first, other_role]
    assert result.duplicates == 2


def test_validation_counts_largest_remainder_by_hand():
    # 20 conversations * 0.25 = 5 to validation. Floors: a 2 (2.5), b 1 (1.5), c 0 (0.75), d 0 (0.25) = 3.
    # The 2 left go to the largest remainders: c (.75), then a (.5, before b by name). d could never give
    # up its only example anyway.
    assert _validation_counts({"a": 10, "b": 6, "c": 3, "d": 1}, 0.25) == {"a": 3, "b": 1, "c": 1, "d": 0}


def test_validation_counts_never_empty_a_stratum():
    # round(2 * 0.9) = 2, but each stratum keeps one training example.
    assert _validation_counts({"a": 1, "b": 1}, 0.9) == {"a": 0, "b": 0}
    assert _validation_counts({"a": 3}, 0.9) == {"a": 2}


def test_stratified_split_proportions_and_seeds():
    data = (
        [conv(f"a{i}", "x", task="a") for i in range(10)]
        + [conv(f"b{i}", "x", task="b") for i in range(6)]
        + [conv(f"c{i}", "x", source="c") for i in range(3)]
        + [conv("d", "x")]
    )
    split = split_train_validation(data, validation_fraction=0.25, seed=0)
    assert split.strata == {"(none)": (1, 0), "source:c": (2, 1), "task:a": (7, 3), "task:b": (5, 1)}
    assert sorted(split.train_indices + split.validation_indices) == list(range(20))
    assert split.train_indices == sorted(split.train_indices)
    assert [stratum(data[i]) for i in split.validation_indices].count("task:a") == 3
    assert split_train_validation(data, 0.25, seed=0) == split  # seeded: same seed, same split
    assert split_train_validation(data, 0.25, seed=1).validation_indices != split.validation_indices


def test_split_of_one_stratum_does_not_move_when_another_is_added():
    tasks_a = [conv(f"a{i}", "x", task="a") for i in range(10)]
    alone = split_train_validation(tasks_a, 0.2, seed=3)
    with_b = split_train_validation(tasks_a + [conv(f"b{i}", "x", task="b") for i in range(10)], 0.2, seed=3)
    assert [i for i in with_b.validation_indices if i < 10] == alone.validation_indices


def test_stratum_prefers_task_then_source():
    assert stratum(conv("a", "b", task="db", source="sim")) == "task:db"
    assert stratum(conv("a", "b", source="sim")) == "source:sim"
    assert stratum(conv("a", "b")) == "(none)"


def test_length_filter_drop_and_truncate(tokenizers):
    tok = tokenizers["qwen3-2507"]
    two_turns = conv("Open the drawer.", "ACTION: open drawer 1", "The drawer is open.", "ACTION: look")
    short = conv("Hi.", "Hello.")
    full = encode_messages(two_turns["messages"], tok)
    first_turn_end = full.trained_spans[0][1]
    # A limit between the end of the first trained turn and the full length: "drop" drops the example,
    # "truncate_turns" keeps exactly the prefix up to the first turn's <|im_end|>.
    limit = first_turn_end + 1
    assert first_turn_end < limit < len(full)
    dropped = filter_by_length([two_turns, short], tok, max_length=limit, policy="drop")
    assert dropped.kept == [short] and dropped.too_long == 1 and dropped.report.over_limit == 1
    truncated = filter_by_length([two_turns, short], tok, max_length=limit, policy="truncate_turns")
    assert truncated.kept == [two_turns, short]
    assert truncated.encoded[0].input_ids == full.input_ids[:first_turn_end]
    assert truncated.encoded[0].labels == full.labels[:first_turn_end]
    assert (truncated.report.truncated, truncated.report.dropped) == (1, 0)


def test_length_filter_drops_conversations_with_nothing_to_train(tokenizers):
    result = filter_by_length([conv("a", "b", loss=False)], tokenizers["qwen2.5"], max_length=8192)
    assert result.kept == [] and result.nothing_to_train == 1


def test_prepare_counts_every_drop(tokenizers):
    data = (
        [conv(f"q{i}", "answer", task="db") for i in range(8)]
        + [conv("q0", "answer", task="db")]
        + [conv("long " * 300, "answer", task="house")]
        + [conv("x", "y", task="house", loss=False)]
    )
    prepared = prepare_conversations(
        data, tokenizers["qwen2.5"], max_length=200, validation_fraction=0.25, seed=0
    )
    assert prepared.dropped == {"duplicate": 1, "too_long": 1, "nothing_to_train": 1}
    # 8 left, all in stratum task:db: round(8 * 0.25) = 2 to validation.
    assert (len(prepared.train), len(prepared.validation)) == (6, 2)
    assert prepared.strata == {"task:db": (6, 2)}
    for conversation, encoded in zip(prepared.train, prepared.train_encoded, strict=True):
        assert encoded == encode_messages(conversation["messages"], tokenizers["qwen2.5"])
