"""The one conversation schema every training path consumes, and the validation that gets records into it.

A conversation is a plain dict (so it goes straight into `chat.encode_messages`, JSONL and `datasets`):

    {"messages": [{"role": "system"|"user"|"assistant", "content": str, "loss": bool (assistant only, optional)}],
     "task": str | None, "source": str | None, ...any other top-level keys of the record, kept as they are}

`to_conversation(record, where)` accepts three input formats and raises `DataError` with one line naming
`where` (file:line), the field path in the *input* record and what to do:

- OpenAI style:      {"messages": [{"role": ..., "content": ...}, ...]}
- ShareGPT / AgentInstruct: {"conversations": [{"from": "human"|"gpt"|"system", "value": ..., "loss": ...}]}
  (`user`/`assistant` are accepted in `from` too; nothing else)
- prompt/completion: {"prompt": str, "completion": str} or the conversational form with lists of
  messages (TRL's format); assistant turns inside a conversational `prompt` are context, so they get
  `loss: False` (TRL trains only the completion too).

    python -c "from agentbench_tuning.data.schema import to_conversation; print(to_conversation(
        {'messages': [{'role': 'user', 'content': 'hi'}, {'role': 'assistant', 'content': 'hello'}]}, 'x:1'))"
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ROLES = ("system", "user", "assistant")
# ShareGPT speaker names. `user`/`assistant` appear in many ShareGPT-style exports, so they are accepted;
# anything else (`bot`, `model`, `tool`, `observation`, ...) is an error rather than a guess.
SHAREGPT_ROLES = {
    "human": "user",
    "gpt": "assistant",
    "system": "system",
    "user": "user",
    "assistant": "assistant",
}
# Top-level keys that hold the conversation itself; every other key of a record is kept as metadata.
FORMAT_KEYS = ("messages", "conversations", "prompt", "completion")


class DataError(ValueError):
    """A record that cannot be turned into a conversation: `where: field: problem; fix`."""

    def __init__(self, where: str, field: str | None, problem: str, fix: str):
        self.where, self.field, self.problem, self.fix = where, field, problem, fix
        located = f"{where}: {field}: " if field else f"{where}: "
        super().__init__(f"{located}{problem}; {fix}")


@dataclass(frozen=True)
class SourceTurn:
    """One normalised turn plus the path of the input field it came from (for error messages)."""

    path: str  # the turn, e.g. "conversations[3]"
    content_path: str  # its text, e.g. "conversations[3].value"
    role: str
    content: str
    loss: bool | None = None


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _check_loss(value: Any, where: str, path: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise DataError(
        where,
        f"{path}.loss",
        f"expected true, false or null, got {_type_name(value)} {value!r}",
        "write a JSON boolean",
    )


def _check_content(value: Any, where: str, path: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        raise DataError(
            where,
            path,
            "expected a string, got a list (content parts are not supported)",
            "join the text parts into one string",
        )
    raise DataError(
        where, path, f"expected a string, got {_type_name(value)}", "write the turn's text as a string"
    )


def _turn_object(item: Any, where: str, path: str, keys: tuple[str, str]) -> dict:
    if not isinstance(item, dict):
        raise DataError(
            where,
            path,
            f"expected an object with {keys[0]!r} and {keys[1]!r}, got {_type_name(item)}",
            "write each turn as a JSON object",
        )
    for key in keys:
        if key not in item:
            raise DataError(
                where, f"{path}.{key}", "missing", f"every turn needs {keys[0]!r} and {keys[1]!r}"
            )
    return item


def _turn_list(value: Any, where: str, field: str) -> list:
    if not isinstance(value, list):
        raise DataError(
            where,
            field,
            f"expected a list of turns, got {_type_name(value)}",
            "write the conversation as a JSON array of turns",
        )
    if not value:
        raise DataError(where, field, "empty conversation", "remove the record or add its turns")
    return value


def _openai_turns(value: Any, where: str, field: str = "messages") -> list[SourceTurn]:
    turns = []
    for i, item in enumerate(_turn_list(value, where, field)):
        path = f"{field}[{i}]"
        item = _turn_object(item, where, path, ("role", "content"))
        role = item["role"]
        if role not in ROLES:
            raise DataError(
                where,
                f"{path}.role",
                f"{role!r} is not one of {', '.join(ROLES)}",
                "use one of those roles (the v0.2 text protocol has no tool messages)",
            )
        content = _check_content(item["content"], where, f"{path}.content")
        turns.append(SourceTurn(path, f"{path}.content", role, content, _check_loss(item.get("loss"), where, path)))
    return turns


def _sharegpt_turns(value: Any, where: str) -> list[SourceTurn]:
    turns = []
    for i, item in enumerate(_turn_list(value, where, "conversations")):
        path = f"conversations[{i}]"
        item = _turn_object(item, where, path, ("from", "value"))
        speaker = item["from"]
        if speaker not in SHAREGPT_ROLES:
            raise DataError(
                where,
                f"{path}.from",
                f"{speaker!r} is not one of {', '.join(SHAREGPT_ROLES)}",
                "map it to one of those before loading",
            )
        content = _check_content(item["value"], where, f"{path}.value")
        loss = _check_loss(item.get("loss"), where, path)
        turns.append(SourceTurn(path, f"{path}.value", SHAREGPT_ROLES[speaker], content, loss))
    return turns


def _prompt_completion_turns(record: dict, where: str) -> list[SourceTurn]:
    for key in ("prompt", "completion"):
        if key not in record:
            raise DataError(
                where, key, "missing", "a prompt/completion record needs both 'prompt' and 'completion'"
            )
    prompt, completion = record["prompt"], record["completion"]
    if isinstance(prompt, str) and isinstance(completion, str):
        return [
            SourceTurn("prompt", "prompt", "user", prompt),
            SourceTurn("completion", "completion", "assistant", completion),
        ]
    if isinstance(prompt, list) and isinstance(completion, list):
        # Assistant turns in the prompt are context: never trained, whatever their own `loss` says.
        context = [
            SourceTurn(t.path, t.content_path, t.role, t.content, False if t.role == "assistant" else None)
            for t in _openai_turns(prompt, where, "prompt")
        ]
        return context + _openai_turns(completion, where, "completion")
    if not isinstance(prompt, (str, list)):
        raise DataError(
            where,
            "prompt",
            f"expected a string or a list of messages, got {_type_name(prompt)}",
            "write the prompt as text or as messages",
        )
    wanted = "a string" if isinstance(prompt, str) else "a list of messages"
    raise DataError(
        where,
        "completion",
        f"expected {wanted} like 'prompt', got {_type_name(completion)}",
        "use two strings or two lists of messages",
    )


def _check_structure(turns: list[SourceTurn], where: str, require_final_assistant: bool) -> None:
    """Optional system first, then user/assistant alternating from a user turn, no empty turn."""
    for index, turn in enumerate(turns):
        if not turn.content.strip():
            raise DataError(
                where,
                turn.content_path,
                f"empty {turn.role} turn",
                "write the turn's text or remove the turn",
            )
        if turn.role == "system" and index > 0:
            raise DataError(
                where,
                f"{turn.path}.role",
                "'system' is only allowed as the first turn",
                "move it to the front or merge it into the next user turn",
            )
    dialogue = turns[1:] if turns[0].role == "system" else turns
    if not dialogue:
        raise DataError(where, turns[0].path, "only a system turn", "add the user and assistant turns")
    expected = "user"
    for turn in dialogue:
        if turn.role != expected:
            previous = (
                "the start"
                if turn is dialogue[0]
                else f"a {'assistant' if expected == 'user' else 'user'} turn"
            )
            raise DataError(
                where,
                f"{turn.path}.role",
                f"expected {expected!r} after {previous}, got {turn.role!r}",
                "user and assistant turns must alternate (merge consecutive turns of one role)",
            )
        expected = "assistant" if expected == "user" else "user"
    if require_final_assistant and dialogue[-1].role != "assistant":
        raise DataError(
            where,
            f"{dialogue[-1].path}.role",
            "the conversation ends with a user turn",
            "end it with the assistant's reply (or drop the trailing user turn)",
        )


def _check_label(record: dict, key: str, where: str) -> str | None:
    value = record.get(key)
    if value is None or isinstance(value, str):
        return value
    raise DataError(
        where,
        key,
        f"expected a string or null, got {_type_name(value)} {value!r}",
        f"write {key} as a string",
    )


def record_format(record: Any, where: str) -> str:
    """Which input format `record` is in: 'messages', 'conversations' or 'prompt_completion'."""
    if not isinstance(record, dict):
        raise DataError(
            where, None, f"expected a JSON object, got {_type_name(record)}", "write one object per record"
        )
    present = [key for key in ("messages", "conversations") if key in record]
    if len(present) == 2:
        raise DataError(where, None, "has both 'messages' and 'conversations'", "keep only one of them")
    if present:
        return present[0]
    if "prompt" in record or "completion" in record:
        return "prompt_completion"
    found = ", ".join(sorted(record)) or "none"
    raise DataError(
        where,
        None,
        f"no conversation: expected a 'messages', 'conversations' or 'prompt'+'completion' "
        f"field, found keys: {found}",
        "convert the record to one of those formats",
    )


def to_conversation(record: Any, where: str, require_final_assistant: bool = True) -> dict:
    """Validate `record` (any accepted format) and return it in the conversation schema.

    `where` is the record's location for error messages ("data.jsonl:17"). `require_final_assistant=False`
    accepts conversations that end with a user turn (prompts for generation rather than training data).
    """
    kind = record_format(record, where)
    if kind == "messages":
        turns = _openai_turns(record["messages"], where)
    elif kind == "conversations":
        turns = _sharegpt_turns(record["conversations"], where)
    else:
        turns = _prompt_completion_turns(record, where)
    _check_structure(turns, where, require_final_assistant)
    messages = []
    for turn in turns:
        message = {"role": turn.role, "content": turn.content}
        # `loss` is meaningful only on assistant turns (others are never trained), so it is dropped elsewhere.
        if turn.role == "assistant" and turn.loss is not None:
            message["loss"] = turn.loss
        messages.append(message)
    extra = {k: v for k, v in record.items() if k not in FORMAT_KEYS and k not in ("task", "source")}
    return {
        "messages": messages,
        "task": _check_label(record, "task", where),
        "source": _check_label(record, "source", where),
        **extra,
    }
