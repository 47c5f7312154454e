"""Loading files into the conversation schema: every bad-input fixture fails with its exact one-line error,
and each file type (JSONL, JSON, parquet, hub) locates records the way its message promises."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentbench_tuning.data import DataError, load_all, load_conversations, read_records, sample_path

FIXTURES = Path(__file__).parent / "fixtures"


# (fixture file, exact error after "<path>:"). Line numbers are the lines the bad records sit on in the
# hand-written fixtures (empty_assistant.jsonl has a blank line 2, which is skipped but still counted).
BAD_FILES = [
    (
        "wrong_role.jsonl",
        "2: messages[1].role: 'bot' is not one of system, user, assistant; "
        "use one of those roles (the v0.2 text protocol has no tool messages)",
    ),
    (
        "empty_assistant.jsonl",
        "3: messages[1].content: empty assistant turn; write the turn's text or remove the turn",
    ),
    ("missing_field.jsonl", "3: messages[1].content: missing; every turn needs 'role' and 'content'"),
    (
        "non_alternating.jsonl",
        "1: messages[2].role: expected 'assistant' after a user turn, got 'user'; "
        "user and assistant turns must alternate (merge consecutive turns of one role)",
    ),
    ("bad_json.jsonl", "2: invalid JSON: Expecting ',' delimiter (column 49); fix the line or delete it"),
    (
        "sharegpt_wrong_speaker.jsonl",
        "1: conversations[1].from: 'bot' is not one of human, gpt, system, user, "
        "assistant; map it to one of those before loading",
    ),
    (
        "no_conversation.jsonl",
        "1: no conversation: expected a 'messages', 'conversations' or 'prompt'+'completion' "
        "field, found keys: id, text; convert the record to one of those formats",
    ),
    (
        "ends_with_user.jsonl",
        "1: messages[2].role: the conversation ends with a user turn; "
        "end it with the assistant's reply (or drop the trailing user turn)",
    ),
    (
        "prompt_completion_mixed.jsonl",
        "2: completion: expected a list of messages like 'prompt', got str; "
        "use two strings or two lists of messages",
    ),
    # A JSON array: the record's line is the line its object starts on (line 5 in records.json).
    (
        "records.json",
        "5: conversations[1].value: empty assistant turn; write the turn's text or remove the turn",
    ),
]


@pytest.mark.parametrize("name, message", BAD_FILES, ids=[name for name, _ in BAD_FILES])
def test_bad_file_fails_with_one_exact_line(name, message):
    path = FIXTURES / name
    with pytest.raises(DataError) as info:
        load_conversations(path)
    assert str(info.value) == f"{path}:{message}"
    assert "\n" not in str(info.value)


def test_skip_mode_keeps_good_records_and_lists_the_errors():
    path = FIXTURES / "wrong_role.jsonl"
    loaded = load_conversations(path, on_error="skip")
    # Line 1 is valid; line 2 has the wrong role.
    assert [c["messages"][1]["content"] for c in loaded.conversations] == ["ACTION: open box 1"]
    assert loaded.skipped == [
        f"{path}:2: messages[1].role: 'bot' is not one of system, user, assistant; "
        "use one of those roles (the v0.2 text protocol has no tool messages)"
    ]
    assert loaded.formats == {"messages": 1}
    assert loaded.summary() == f"{path}: 1 conversations (messages: 1); skipped 1"


def test_bad_json_line_is_skippable_too():
    loaded = load_conversations(FIXTURES / "bad_json.jsonl", on_error="skip")
    assert len(loaded.conversations) == 1 and len(loaded.skipped) == 1


def test_json_array_locations_are_the_lines_objects_start_on():
    locations = [where for where, _ in read_records(FIXTURES / "records.json")]
    assert locations == [f"{FIXTURES / 'records.json'}:2", f"{FIXTURES / 'records.json'}:5"]


def test_json_that_is_not_an_array(tmp_path):
    path = tmp_path / "one.json"
    path.write_text('{"messages": []}')
    with pytest.raises(
        DataError, match=r"one.json:1: expected a JSON array of records, got dict; put the records"
    ):
        load_conversations(path)


def test_invalid_json_file_names_the_line(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('[\n  {"messages": [}\n]')
    with pytest.raises(DataError) as info:
        load_conversations(path)
    assert str(info.value).startswith(f"{path}:2: invalid JSON: ")


def test_unsupported_suffix_and_missing_file(tmp_path):
    csv = tmp_path / "data.csv"
    csv.write_text("a,b\n")
    with pytest.raises(
        DataError, match=r"data.csv: unsupported file type '.csv'; use one of .jsonl, .json, .parquet"
    ):
        load_conversations(csv)
    with pytest.raises(DataError, match=r"nope.jsonl: no such file; check the path"):
        load_conversations(tmp_path / "nope.jsonl")


def test_parquet_rows_round_trip_like_jsonl(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    # A parquet struct column fills absent keys with null: turn 0 has no loss, which must read as "absent".
    rows = [
        {
            "id": "a",
            "conversations": [
                {"from": "human", "value": "Go.", "loss": None},
                {"from": "gpt", "value": "ACTION: go", "loss": True},
            ],
        },
        {
            "id": "b",
            "conversations": [
                {"from": "human", "value": "Stop.", "loss": False},
                {"from": "gpt", "value": "", "loss": True},
            ],
        },
    ]
    path = tmp_path / "data.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    loaded = load_conversations(path, on_error="skip")
    assert loaded.conversations == [
        {
            "messages": [
                {"role": "user", "content": "Go."},
                {"role": "assistant", "content": "ACTION: go", "loss": True},
            ],
            "task": None,
            "source": None,
            "id": "a",
        }
    ]
    # Parquet rows count from 0, like dataset[i]; row 1 is the second record.
    assert loaded.skipped == [
        f"{path}:row 1: conversations[1].value: empty assistant turn; "
        "write the turn's text or remove the turn"
    ]


def test_hub_ids_go_through_datasets_load_dataset(monkeypatch):
    import datasets

    calls = []

    def fake_load_dataset(name, split):
        # Stands in for the network fetch only; the rows then go through the real validation path.
        calls.append((name, split))
        return datasets.Dataset.from_list(
            [
                {
                    "messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}],
                    "task": "t",
                },
                {
                    "messages": [{"role": "user", "content": "a"}, {"role": "tool", "content": "b"}],
                    "task": "t",
                },
            ]
        )

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    with pytest.raises(DataError) as info:
        load_conversations("someorg/agent-data", split="dev")
    assert calls == [("someorg/agent-data", "dev")]
    assert str(info.value).startswith("someorg/agent-data[dev]:row 1: messages[1].role: 'tool' is not one of")


def test_packaged_sample_loads_in_all_three_formats():
    loaded = load_conversations(sample_path())
    # Hand-counted in sample_conversations.json: 5 messages records (4 SQL + its duplicate),
    # 3 ShareGPT household records, 2 prompt/completion records.
    assert loaded.formats == {"messages": 5, "conversations": 3, "prompt_completion": 2}
    assert [c["task"] for c in loaded.conversations].count("dbbench") == 5
    assert json.loads(json.dumps(loaded.conversations)) == loaded.conversations  # plain JSON data only


def test_non_utf8_file_names_the_line(tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"prompt": "a", "completion": "b"}\n{"prompt": "caf\xe9", "completion": "b"}\n')
    with pytest.raises(DataError) as info:
        load_conversations(path)
    assert str(info.value) == f"{path}:2: not UTF-8 text (byte 0xe9); re-save the file as UTF-8"


def test_directory_is_not_a_hub_id(tmp_path):
    with pytest.raises(DataError) as info:
        load_conversations(tmp_path)
    assert str(info.value) == f"{tmp_path}: is a directory; pass one .jsonl, .json, .parquet file inside it"


def test_json_array_line_numbers_over_many_records(tmp_path):
    # Records on lines 2, 3, 5 (a blank line 4 in between); the last one is bad.
    good = '{"prompt": "a", "completion": "b"}'
    path = tmp_path / "many.json"
    path.write_text(f'[\n{good},\n{good},\n\n{{"prompt": "a", "completion": " "}}\n]\n')
    with pytest.raises(DataError) as info:
        load_conversations(path)
    assert str(info.value).startswith(f"{path}:5: completion: empty assistant turn")


def test_non_utf8_json_array_names_the_line(tmp_path):
    path = tmp_path / "latin1.json"
    path.write_bytes(b'[\n{"prompt": "a", "completion": "b"},\n{"prompt": "caf\xe9", "completion": "b"}\n]')
    with pytest.raises(DataError) as info:
        load_conversations(path)
    assert str(info.value) == f"{path}:3: not UTF-8 text (byte 0xe9); re-save the file as UTF-8"


def test_schema_output_loads_back_unchanged(tmp_path):
    # The schema is itself a valid input (OpenAI style plus metadata), so normalising twice changes nothing.
    conversations = load_conversations(sample_path()).conversations
    path = tmp_path / "normalised.jsonl"
    path.write_text("".join(json.dumps(c) + "\n" for c in conversations))
    reloaded = load_conversations(path)
    assert reloaded.conversations == conversations
    assert reloaded.formats == {"messages": len(conversations)}


def test_load_all_concatenates_in_order():
    sample, bad = sample_path(), FIXTURES / "wrong_role.jsonl"
    loaded = load_all([sample, bad], on_error="skip")
    assert loaded.source == f"{sample}, {bad}"
    # 10 sample records (5 messages, 3 conversations, 2 prompt/completion) + 1 good line of wrong_role.jsonl.
    assert loaded.formats == {"messages": 6, "conversations": 3, "prompt_completion": 2}
    assert loaded.conversations[-1]["messages"][1]["content"] == "ACTION: open box 1"
    assert len(loaded.skipped) == 1 and loaded.skipped[0].startswith(f"{bad}:2: ")
