"""Response-only masking: ids equal the official template; trained tokens are exactly each assistant
turn's content plus <|im_end|>, for both families, 1-4 assistant turns, with/without system, loss=false."""

from __future__ import annotations

import itertools

import pytest

from agentbench_tuning.chat import (
    IGNORE_INDEX,
    Encoded,
    context_report,
    encode_messages,
    fit_to_length,
    show_mask,
)

ASSISTANT_TEXTS = [
    "Action: Operation\n```sql\nSELECT COUNT(*) FROM `orders 2020`;\n```",
    "THOUGHT: I should check the fridge.\nACTION: open fridge 1",
    "\nStarts with a newline (merges with the header's newline)",
    'Final Answer: ["42", "Vienna"]',
]
USER_TEXTS = ["[(17,)]", "You open the fridge 1. In it, you see a apple 2.", "Go on.", "What now?"]


def conversation(n_assistant: int, system: bool, masked_turn: int | None = None) -> list[dict]:
    messages = [{"role": "system", "content": "You are an agent."}] if system else []
    for i in range(n_assistant):
        messages.append({"role": "user", "content": USER_TEXTS[i]})
        turn = {"role": "assistant", "content": ASSISTANT_TEXTS[i]}
        if masked_turn == i:
            turn["loss"] = False
        messages.append(turn)
    return messages


def expected_trained_text(messages: list[dict]) -> str:
    return "".join(
        m["content"] + "<|im_end|>" for m in messages if m["role"] == "assistant" and m.get("loss", True)
    )


CASES = [
    (n, system, masked)
    for n, system in itertools.product(range(1, 5), (False, True))
    for masked in (None, 0 if n > 1 else None)
]


@pytest.mark.parametrize("n_assistant,system,masked", CASES)
def test_ids_match_template_and_mask_is_exact(tokenizers, family, n_assistant, system, masked):
    tok = tokenizers[family]
    messages = conversation(n_assistant, system, masked)
    enc = encode_messages(messages, tok)
    plain = [{k: v for k, v in m.items() if k != "loss"} for m in messages]
    assert enc.input_ids == tok.apply_chat_template(plain, tokenize=True)["input_ids"]
    trained = [t for t, label in zip(enc.input_ids, enc.labels, strict=False) if label != IGNORE_INDEX]
    assert all(label in (IGNORE_INDEX, t) for t, label in zip(enc.input_ids, enc.labels, strict=False))
    decoded = tok.decode(trained, skip_special_tokens=False)
    expected = expected_trained_text(messages)
    # A content that starts with "\n" shares one "\n\n" token with the header's newline: that token is
    # trained (it contains content), so the decoded text has one extra leading "\n" for such a turn.
    assert decoded.replace("\n\n", "\n") == expected.replace("\n\n", "\n")
    assert trained.count(151645) == sum(
        1 for m in messages if m["role"] == "assistant" and m.get("loss", True)
    )
    assert len(enc.trained_spans) == trained.count(151645)


def test_exact_labels_for_a_small_case(tokenizers):
    tok = tokenizers["qwen3-2507"]
    enc = encode_messages([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hello"}], tok)
    # <|im_start|> user \n hi <|im_end|> \n <|im_start|> assistant \n Hello <|im_end|> \n
    assert enc.input_ids == [151644, 872, 198, 6023, 151645, 198, 151644, 77091, 198, 9707, 151645, 198]
    assert enc.labels == [-100] * 9 + [9707, 151645, -100]
    assert show_mask(enc, tok, "plain").endswith("assistant\n[[Hello<|im_end|>]]\n")


def test_trl_generation_template_differs_only_by_the_turn_newlines(tokenizers, family):
    """TRL's {% generation %} masks (assistant_only_loss) train the newline after <|im_end|> (and for
    Qwen2.5 also the one after the header). We train exactly content + <|im_end|> and hand TRL our labels;
    here we check the two masks agree on everything else."""
    from agentbench_tuning.models import official_chat_template

    tok = tokenizers[family]
    messages = conversation(3, system=True)
    ours = encode_messages(messages, tok)
    trl = tok.apply_chat_template(
        messages,
        chat_template=official_chat_template(family, training=True),
        tokenize=True,
        return_dict=True,
        return_assistant_tokens_mask=True,
    )
    assert trl["input_ids"] == ours.input_ids
    trl_mask = trl["assistant_masks"]
    ours_mask = [int(label != IGNORE_INDEX) for label in ours.labels]
    only_trl = {ours.input_ids[i] for i, (a, b) in enumerate(zip(trl_mask, ours_mask, strict=False)) if a and not b}
    only_ours = [i for i, (a, b) in enumerate(zip(trl_mask, ours_mask, strict=False)) if b and not a]
    assert only_ours == []
    assert only_trl == {198}  # "\n" only


def test_loss_false_masks_the_whole_turn(tokenizers):
    tok = tokenizers["qwen2.5"]
    messages = conversation(2, system=False, masked_turn=1)
    enc = encode_messages(messages, tok)
    decoded = tok.decode([t for t, lab in zip(enc.input_ids, enc.labels, strict=False) if lab != IGNORE_INDEX])
    assert ASSISTANT_TEXTS[0] in decoded and "open fridge" not in decoded


def test_fit_to_length_never_cuts_inside_a_trained_turn():
    # Two trained turns at [3, 5) and [8, 10) in a 12-token example.
    enc = Encoded(list(range(12)), [-100] * 3 + [3, 4] + [-100] * 3 + [8, 9] + [-100] * 2, ((3, 5), (8, 10)))
    assert fit_to_length(enc, 12).action == "kept"
    assert fit_to_length(enc, 9).action == "dropped"
    cut = fit_to_length(enc, 9, "truncate_turns")
    assert cut.action == "truncated" and cut.turns_removed == 1
    assert cut.encoded.input_ids == list(range(5)) and cut.encoded.labels[-2:] == [3, 4]
    assert fit_to_length(enc, 4, "truncate_turns").action == "dropped"
    report = context_report(
        [enc, Encoded([1, 2], [1, -100], ((0, 1),))], max_length=9, policy="truncate_turns"
    )
    assert (report.over_limit, report.kept, report.truncated, report.dropped) == (1, 1, 1, 0)
    assert (report.trained_tokens_before, report.trained_tokens_after) == (5, 3)


def test_template_drift_is_an_error(tokenizers):
    tok = tokenizers["qwen2.5"]
    with pytest.raises(ValueError, match="does not render this assistant turn"):
        encode_messages(
            [
                {"role": "user", "content": "x"},
                {
                    "role": "assistant",
                    "content": "y",
                    "tool_calls": [{"function": {"name": "f", "arguments": {}}}],
                },
            ],
            tok,
        )
