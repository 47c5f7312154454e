"""Each input format round-trips to the one schema; record-level validation errors are exact."""

from __future__ import annotations

import pytest

from agentbench_tuning.data import DataError, to_conversation

USER, REPLY = "Put the cup in the sink.", "THOUGHT: the cup is on the table.\nACTION: go to table 1"


def expected(messages, task=None, source=None, **extra):
    return {"messages": messages, "task": task, "source": source, **extra}


def test_openai_messages_keep_extras_and_assistant_loss():
    record = {
        "id": "r1",
        "task": "alfworld",
        "source": "sim",
        "difficulty": 2,
        "messages": [
            {"role": "system", "content": "You steer a robot."},
            {"role": "user", "content": USER},
            {"role": "assistant", "content": "Ok.", "loss": False, "name": "ignored"},
            {"role": "user", "content": "Go on."},
            {"role": "assistant", "content": REPLY},
        ],
    }
    assert to_conversation(record, "x:1") == expected(
        [
            {"role": "system", "content": "You steer a robot."},
            {"role": "user", "content": USER},
            {"role": "assistant", "content": "Ok.", "loss": False},
            {"role": "user", "content": "Go on."},
            {"role": "assistant", "content": REPLY},
        ],
        task="alfworld",
        source="sim",
        id="r1",
        difficulty=2,
    )


def test_sharegpt_agentinstruct_style():
    # AgentInstruct marks every turn with `loss`; on human turns it means nothing (they are never trained),
    # so it is dropped there and kept on gpt turns.
    record = {
        "id": "os_3",
        "conversations": [
            {"from": "system", "value": "Be brief.", "loss": None},
            {"from": "human", "value": USER, "loss": True},
            {"from": "gpt", "value": "OK.", "loss": False},
            {"from": "user", "value": "Go on.", "loss": False},
            {"from": "assistant", "value": REPLY, "loss": True},
        ],
    }
    assert to_conversation(record, "x:1") == expected(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": USER},
            {"role": "assistant", "content": "OK.", "loss": False},
            {"role": "user", "content": "Go on."},
            {"role": "assistant", "content": REPLY, "loss": True},
        ],
        id="os_3",
    )


def test_prompt_completion_strings():
    assert to_conversation({"prompt": USER, "completion": REPLY, "task": "t"}, "x:1") == expected(
        [{"role": "user", "content": USER}, {"role": "assistant", "content": REPLY}], task="t"
    )


def test_conversational_prompt_completion_masks_prompt_assistant_turns():
    # Like TRL, only the completion is trained: the assistant turn inside the prompt gets loss False even
    # though it says loss True.
    record = {
        "prompt": [
            {"role": "user", "content": USER},
            {"role": "assistant", "content": "Ok.", "loss": True},
            {"role": "user", "content": "Go on."},
        ],
        "completion": [{"role": "assistant", "content": REPLY}],
    }
    assert to_conversation(record, "x:1")["messages"] == [
        {"role": "user", "content": USER},
        {"role": "assistant", "content": "Ok.", "loss": False},
        {"role": "user", "content": "Go on."},
        {"role": "assistant", "content": REPLY},
    ]


def turns(*pairs):
    return [{"role": role, "content": content} for role, content in pairs]


BAD_RECORDS = [
    (
        {"messages": "hello"},
        "messages: expected a list of turns, got str; write the conversation as a JSON array of turns",
    ),
    ({"messages": []}, "messages: empty conversation; remove the record or add its turns"),
    (
        {"messages": ["hi"]},
        "messages[0]: expected an object with 'role' and 'content', got str; write each turn as a JSON object",
    ),
    ({"messages": [{"content": "hi"}]}, "messages[0].role: missing; every turn needs 'role' and 'content'"),
    (
        {"messages": turns(("user", "a"), ("assistant", None))},
        "messages[1].content: expected a string, got null; write the turn's text as a string",
    ),
    (
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}]}]},
        "messages[0].content: expected a string, got a list (content parts are not supported); join the text parts into one string",
    ),
    (
        {
            "messages": [
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": "b", "loss": "yes"},
            ]
        },
        "messages[1].loss: expected true, false or null, got str 'yes'; write a JSON boolean",
    ),
    (
        {"messages": turns(("user", "a"), ("assistant", "b"), ("system", "c"), ("assistant", "d"))},
        "messages[2].role: 'system' is only allowed as the first turn; move it to the front or merge it into the next user turn",
    ),
    (
        {"messages": turns(("assistant", "a"), ("user", "b"))},
        "messages[0].role: expected 'user' after the start, got 'assistant'; user and assistant turns must alternate "
        "(merge consecutive turns of one role)",
    ),
    (
        {"messages": turns(("system", "a"))},
        "messages[0]: only a system turn; add the user and assistant turns",
    ),
    (
        {"messages": turns(("user", " "), ("assistant", "b"))},
        "messages[0].content: empty user turn; write the turn's text or remove the turn",
    ),
    (
        {"messages": turns(("user", "a"), ("assistant", "b")), "task": 3},
        "task: expected a string or null, got int 3; write task as a string",
    ),
    (
        {"messages": turns(("user", "a"), ("assistant", "b")), "conversations": []},
        "has both 'messages' and 'conversations'; keep only one of them",
    ),
    ({"prompt": "a"}, "completion: missing; a prompt/completion record needs both 'prompt' and 'completion'"),
    (
        {"prompt": 5, "completion": "b"},
        "prompt: expected a string or a list of messages, got int; write the prompt as text or as messages",
    ),
    (["not", "an", "object"], "expected a JSON object, got list; write one object per record"),
]


@pytest.mark.parametrize("record, message", BAD_RECORDS, ids=[m.split(";")[0][:40] for _, m in BAD_RECORDS])
def test_bad_record_message(record, message):
    with pytest.raises(DataError) as info:
        to_conversation(record, "f.jsonl:9")
    assert str(info.value) == f"f.jsonl:9: {message}"


def test_conversation_ending_with_user_is_allowed_when_asked():
    record = {"messages": turns(("user", "a"), ("assistant", "b"), ("user", "c"))}
    assert to_conversation(record, "x:1", require_final_assistant=False)["messages"][-1] == {
        "role": "user",
        "content": "c",
    }
