"""Response-only masking for chat conversations, with the model's own chat template.

`encode_messages` renders a conversation with the model's *own* chat template (the one vLLM serves with,
so training and serving see the same ids) and marks as trained exactly the content of each assistant turn
plus its end-of-turn token (`<|im_end|>` for Qwen and SmolLM2); everything else (system, user, the
assistant header, the newline after the end-of-turn token) gets label -100. An assistant message with
`"loss": False` is masked too (AgentInstruct style).

Nothing about the template is assumed: `template_form(tokenizer)` renders a probe conversation, reads off
how the template ends an assistant turn, and checks it token by token; every conversation is then checked
turn by turn against that form, so a template the masking does not understand fails loudly.

    from agentbench_tuning.chat import encode_messages, show_mask
    enc = encode_messages(messages, tokenizer)
    print(show_mask(enc, tokenizer))
"""

from __future__ import annotations

import html
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

IGNORE_INDEX = -100
# The probe conversation `template_form` renders: plain words, no leading or trailing whitespace.
PROBE_USER = "Probe question?"
PROBE_REPLY = "Probe reply."


@dataclass(frozen=True)
class Encoded:
    input_ids: list[int]
    labels: list[int]
    # Token-index spans [start, end) of each trained assistant turn, in order.
    trained_spans: tuple[tuple[int, int], ...] = field(default=())

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def num_trained(self) -> int:
        return sum(label != IGNORE_INDEX for label in self.labels)


# ------------------------------------------------------------------------------- the template's form


@dataclass(frozen=True)
class TemplateForm:
    """How a chat template renders an assistant turn: `<generation prompt>{content}{end_of_turn}`.

    `end_of_turn` is the text after the content up to and including the first special token (the token the
    model must generate to stop: `<|im_end|>` in ChatML, `<|eot_id|>` in Llama 3); it is trained.
    `separator` is whatever the template writes after it before the next turn (ChatML's "\\n"); masked.
    """

    end_of_turn: str
    end_of_turn_ids: tuple[int, ...]
    separator: str

    @property
    def stop_id(self) -> int:
        return self.end_of_turn_ids[-1]


_FORMS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _model_name(tokenizer) -> str:
    return getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__


def template_form(tokenizer) -> TemplateForm:
    """Read the assistant-turn form off `tokenizer`'s chat template and check it token by token.

    Checked: the rendering of [user, assistant] is the rendering of [user] with the generation prompt,
    then the content, then the end of turn; the end of turn holds a special token; token boundaries fall
    exactly at the content's end and the end-of-turn's end, so the mask never splits a token; and the
    generation prompt alone tokenizes to a prefix of the rendered ids, so the ids trained on are the ids
    the served model continues from. Ids are those of the rendered text tokenized without added special
    tokens, as `apply_chat_template(tokenize=True)` and vLLM's chat endpoint do. Cached per tokenizer and
    chat template.
    """
    cached = _FORMS.get(tokenizer)
    if cached is not None and cached[0] == tokenizer.chat_template:
        return cached[1]
    form = _read_template_form(tokenizer)
    _FORMS[tokenizer] = (tokenizer.chat_template, form)
    return form


def _read_template_form(tokenizer) -> TemplateForm:
    name = _model_name(tokenizer)
    if not tokenizer.chat_template:
        raise ValueError(f"{name}: the tokenizer has no chat template; use an instruct/chat checkpoint")
    probe = [{"role": "user", "content": PROBE_USER}, {"role": "assistant", "content": PROBE_REPLY}]
    text = tokenizer.apply_chat_template(probe, tokenize=False)
    prefix = tokenizer.apply_chat_template(probe[:1], tokenize=False, add_generation_prompt=True)
    content_end = len(prefix) + len(PROBE_REPLY)
    if not text.startswith(prefix) or text[len(prefix) : content_end] != PROBE_REPLY:
        raise ValueError(
            f"{name}: the chat template does not render an assistant turn as '<generation prompt>{{content}}"
            f"<end of turn>' (rendered {text[-200:]!r}); response-only masking needs that form"
        )
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = list(enc["input_ids"]), enc["offset_mapping"]
    _check_prompt_is_a_token_prefix(tokenizer, name, ids, prefix)
    return _end_of_turn(tokenizer, name, text, ids, offsets, content_end)


def _check_prompt_is_a_token_prefix(tokenizer, name: str, ids: list[int], prefix: str) -> None:
    """The rendered turn's ids start with the generation prompt's own ids (what a served model is given)."""
    prefix_ids = list(tokenizer(prefix, add_special_tokens=False)["input_ids"])
    if ids[: len(prefix_ids)] != prefix_ids:
        raise ValueError(
            f"{name}: the generation prompt {prefix[-30:]!r} tokenizes differently on its own than before the "
            f"assistant content ({prefix_ids[-3:]} vs {ids[len(prefix_ids) - 3 : len(prefix_ids)]}), so trained "
            "ids would differ from what the served model sees; e.g. a prompt ending in a space merges with the "
            "content's first word. Use a template whose generation prompt ends at a token boundary."
        )


def _end_of_turn(tokenizer, name: str, text: str, ids: list[int], offsets, content_end: int) -> TemplateForm:
    """The tokens from the content's end up to and including the first special token."""
    # Named special tokens plus added tokens flagged special (Llama 3's <|eot_id|> is only the latter).
    special = set(tokenizer.all_special_ids)
    special |= {i for i, token in tokenizer.added_tokens_decoder.items() if token.special}
    after = [i for i, (tok_start, _) in enumerate(offsets) if tok_start >= content_end]
    if not after or offsets[after[0]][0] != content_end:
        raise ValueError(f"{name}: no token boundary at the end of the assistant content in {text!r}")
    stop = next((i for i in after if ids[i] in special), None)
    if stop is None:
        raise ValueError(
            f"{name}: the chat template ends an assistant turn with {text[content_end:]!r}, which holds no "
            "special token, so the model has no token to stop on; use a template whose assistant turns end "
            "with the eos or another special token"
        )
    eot_end = offsets[stop][1]
    return TemplateForm(
        end_of_turn=text[content_end:eot_end],
        end_of_turn_ids=tuple(ids[after[0] : stop + 1]),
        separator=text[eot_end:],
    )


def turn_stop_ids(tokenizer, generation_config=None) -> list[int]:
    """Ids a generator stops on: the template's end-of-turn token, the tokenizer's eos and the model's
    generation-config eos ids (Qwen's lists `<|endoftext|>` too), without repeats, in that order."""
    ids = [template_form(tokenizer).stop_id, tokenizer.eos_token_id]
    if generation_config is not None:
        eos = generation_config.eos_token_id
        ids += eos if isinstance(eos, list) else [eos]
    return list(dict.fromkeys(i for i in ids if i is not None))


# ----------------------------------------------------------------------------------------- masking


def _template_view(message: dict) -> dict:
    """The message as the chat template should see it: our bookkeeping keys removed."""
    return {k: v for k, v in message.items() if k not in ("loss", "weight")}


def is_trained(message: dict) -> bool:
    return message["role"] == "assistant" and message.get("loss", True) is not False


def _assistant_char_spans(messages: Sequence[dict], tokenizer, text: str, tools) -> list[tuple[int, int]]:
    """Character spans of `content + end_of_turn` of each trained assistant turn in the rendered `text`.

    The prefix before assistant turn i is the rendering of messages[:i] with the generation prompt: the
    template's form (checked by `template_form`) says an assistant turn is that prompt followed by the
    content and the end of turn. We check this for every turn instead of assuming it, so a turn the
    template renders otherwise (tool calls, reasoning) fails loudly rather than mis-masking.
    """
    end_of_turn = template_form(tokenizer).end_of_turn
    spans = []
    for i, message in enumerate(messages):
        if not is_trained(message):
            continue
        prefix = tokenizer.apply_chat_template(
            [_template_view(m) for m in messages[:i]], tools=tools, tokenize=False, add_generation_prompt=True
        )
        content = message.get("content") or ""
        start, end = len(prefix), len(prefix) + len(content) + len(end_of_turn)
        if not text.startswith(prefix) or text[start:end] != content + end_of_turn:
            raise ValueError(
                f"message {i}: the chat template of {_model_name(tokenizer)} does not render this assistant "
                f"turn as '<generation prompt>{{content}}{end_of_turn}' (tool calls or a thinking template?); "
                "response-only masking needs that form"
            )
        spans.append((start, end))
    return spans


def encode_messages(messages: Sequence[dict], tokenizer, tools: list[dict] | None = None) -> Encoded:
    """Token ids as the model's chat template renders them, labels only on trained assistant turns.

    A token counts as trained when its characters overlap a trained span; the only tokens that can straddle
    a span edge are newline runs at the start of a content that itself begins with a newline.
    """
    if not messages:
        raise ValueError("empty conversation")
    view = [_template_view(m) for m in messages]
    text = tokenizer.apply_chat_template(view, tools=tools, tokenize=False)
    char_spans = _assistant_char_spans(messages, tokenizer, text, tools)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    input_ids, offsets = enc["input_ids"], enc["offset_mapping"]
    labels = [IGNORE_INDEX] * len(input_ids)
    token_spans = []
    cursor = 0
    for start, end in char_spans:
        first = None
        while cursor < len(offsets) and offsets[cursor][0] < end:
            tok_start, tok_end = offsets[cursor]
            if tok_end > start:
                labels[cursor] = input_ids[cursor]
                first = cursor if first is None else first
            cursor += 1
        token_spans.append((first if first is not None else cursor, cursor))
    return Encoded(input_ids=list(input_ids), labels=labels, trained_spans=tuple(token_spans))


# ----------------------------------------------------------------------------------------- viewing


def _segments(encoded: Encoded, tokenizer) -> list[tuple[str, bool]]:
    """Consecutive runs of (decoded text, trained?)."""
    runs: list[tuple[list[int], bool]] = []
    for token_id, label in zip(encoded.input_ids, encoded.labels, strict=False):
        trained = label != IGNORE_INDEX
        if runs and runs[-1][1] == trained:
            runs[-1][0].append(token_id)
        else:
            runs.append(([token_id], trained))
    return [(tokenizer.decode(ids, skip_special_tokens=False), trained) for ids, trained in runs]


def show_mask(encoded: Encoded, tokenizer, fmt: str = "ansi") -> str:
    """Render the conversation with trained tokens highlighted.

    fmt="ansi": green = trained, dim = masked (for a terminal); fmt="html": for notebooks;
    fmt="plain": trained runs wrapped in [[ ]] (for logs and tests).
    """
    parts = []
    for text, trained in _segments(encoded, tokenizer):
        if fmt == "ansi":
            parts.append(f"\x1b[1;32m{text}\x1b[0m" if trained else f"\x1b[2m{text}\x1b[0m")
        elif fmt == "html":
            style = "background:#c8f7c5;color:#000" if trained else "color:#888"
            parts.append(f'<span style="{style}">{html.escape(text)}</span>')
        elif fmt == "plain":
            parts.append(f"[[{text}]]" if trained else text)
        else:
            raise ValueError(f"fmt must be ansi, html or plain, not {fmt!r}")
    body = "".join(parts)
    if fmt == "html":
        return f'<pre style="white-space:pre-wrap;font-size:12px">{body}</pre>'
    return body


# ----------------------------------------------------------------------------------- context budget


@dataclass(frozen=True)
class Fitted:
    """What `fit_to_length` did with one example."""

    encoded: Encoded | None  # None when dropped
    action: str  # "kept" | "truncated" | "dropped"
    turns_removed: int = 0


def fit_to_length(encoded: Encoded, max_length: int, policy: str = "drop") -> Fitted:
    """Make an example fit `max_length` tokens without ever cutting inside a trained span.

    policy="drop": over-long examples are dropped. policy="truncate_turns": keep the longest prefix that
    ends right after a complete trained turn (the later turns are removed whole); drop if none fits.
    """
    if len(encoded) <= max_length:
        return Fitted(encoded, "kept")
    if policy == "drop":
        return Fitted(None, "dropped")
    if policy != "truncate_turns":
        raise ValueError(f"policy must be 'drop' or 'truncate_turns', not {policy!r}")
    fitting = [span for span in encoded.trained_spans if span[1] <= max_length]
    if not fitting:
        return Fitted(None, "dropped")
    cut = fitting[-1][1]
    kept = Encoded(encoded.input_ids[:cut], encoded.labels[:cut], tuple(fitting))
    return Fitted(kept, "truncated", turns_removed=len(encoded.trained_spans) - len(fitting))


@dataclass(frozen=True)
class ContextReport:
    max_length: int
    total: int
    over_limit: int
    kept: int
    truncated: int
    dropped: int
    trained_tokens_before: int
    trained_tokens_after: int
    longest: int
    lengths: tuple[int, ...]

    def summary(self) -> str:
        lost = self.trained_tokens_before - self.trained_tokens_after
        return (
            f"{self.over_limit}/{self.total} examples exceed {self.max_length} tokens (longest {self.longest}); "
            f"kept {self.kept}, truncated {self.truncated}, dropped {self.dropped}; "
            f"trained tokens lost: {lost} of {self.trained_tokens_before}"
        )


def context_report(encoded: Iterable[Encoded], max_length: int = 8192, policy: str = "drop") -> ContextReport:
    """How many examples exceed `max_length`, and what `fit_to_length(policy)` does to them."""
    items = list(encoded)
    fitted = [fit_to_length(e, max_length, policy) for e in items]
    actions = [f.action for f in fitted]
    return ContextReport(
        max_length=max_length,
        total=len(items),
        over_limit=sum(len(e) > max_length for e in items),
        kept=actions.count("kept"),
        truncated=actions.count("truncated"),
        dropped=actions.count("dropped"),
        trained_tokens_before=sum(e.num_trained for e in items),
        trained_tokens_after=sum(f.encoded.num_trained for f in fitted if f.encoded is not None),
        longest=max((len(e) for e in items), default=0),
        lengths=tuple(len(e) for e in items),
    )
