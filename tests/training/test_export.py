"""`export_merged` on a non-Qwen base: SmolLM2-135M-Instruct (from its GGUF file, materialized) with a random
LoRA adapter merges into a plain safetensors directory that reproduces the adapter's logits and carries
SmolLM2's own tokenizer and chat template."""

from __future__ import annotations

import json

import pytest
import torch

pytestmark = pytest.mark.slow  # materializing SmolLM2 takes ~20 s the first time; then ~10 s per test


@pytest.fixture(scope="module")
def smol_adapter(tmp_path_factory):
    """A LoRA adapter on every linear layer of SmolLM2, with random (not zero) B matrices, saved with the
    base's tokenizer as the SFT trainer saves it."""
    from peft import LoraConfig, get_peft_model

    from agentbench_tuning.models import load_policy

    policy = load_policy("smollm2", dtype="float32")
    torch.manual_seed(0)
    model = get_peft_model(policy.model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear"))
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.01)
    out = tmp_path_factory.mktemp("smol-adapter")
    model.save_pretrained(out)
    policy.tokenizer.save_pretrained(out)
    return out, policy.path


def test_export_merges_a_lora_adapter_on_smollm2(smol_adapter, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from agentbench_tuning.chat import TemplateForm, template_form
    from agentbench_tuning.models import load_tokenizer
    from agentbench_tuning.training.export import _probe_logits, adapter_base, export_merged

    adapter, base_path = smol_adapter
    assert adapter_base(adapter) == base_path  # the materialized plain copy, which vLLM can open too
    report = export_merged(adapter, tmp_path / "merged", dtype="float32")
    assert report.ok and report.max_abs_logit_diff <= 1e-3 and report.base == base_path

    merged_dir = tmp_path / "merged"
    files = {p.name for p in merged_dir.iterdir()}
    assert {"model.safetensors", "config.json", "generation_config.json", "chat_template.jinja"} <= files
    assert {"tokenizer.json", "tokenizer_config.json"} <= files
    config = json.loads((merged_dir / "config.json").read_text())
    assert (config["architectures"], config["vocab_size"]) == (["LlamaForCausalLM"], 49152)
    assert "quantization_config" not in config
    smol_template = load_tokenizer("smollm2").chat_template
    assert (merged_dir / "chat_template.jinja").read_text() == smol_template
    tok = AutoTokenizer.from_pretrained(merged_dir)
    assert template_form(tok) == TemplateForm("<|im_end|>", (2,), "\n")

    # The merge changed the model: the base alone gives different logits on the probe.
    base = AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.float32)
    merged = AutoModelForCausalLM.from_pretrained(merged_dir, dtype=torch.float32)
    assert float((_probe_logits(base, tok) - _probe_logits(merged, tok)).abs().max()) > 1e-2


# The adapter ships a template whose turns end with <|endoftext|> (id 0), which is not SmolLM2's eos (2).
PLAIN_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] | capitalize + ':\n' + m['content'] + '<|endoftext|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'Assistant:\n' }}{% endif %}"
)


def test_export_accepts_the_gguf_spec_and_stops_at_the_templates_end_of_turn(smol_adapter, tmp_path):
    import shutil

    from transformers import AutoTokenizer, GenerationConfig

    from agentbench_tuning.training.export import export_merged

    adapter, _ = smol_adapter
    own_template = tmp_path / "adapter"
    shutil.copytree(adapter, own_template)
    tok = AutoTokenizer.from_pretrained(own_template)
    tok.chat_template = PLAIN_TEMPLATE
    tok.save_pretrained(own_template)

    report = export_merged(own_template, tmp_path / "merged", base="smollm2", dtype="float32")
    assert report.ok and report.base == "smollm2"
    assert (tmp_path / "merged" / "chat_template.jinja").read_text() == PLAIN_TEMPLATE
    assert GenerationConfig.from_pretrained(tmp_path / "merged").eos_token_id == [2, 0]


@pytest.mark.vllm
def test_vllm_serves_the_merged_model_like_transformers(smol_adapter, tmp_path):
    """The exported directory opens in vLLM and gives the same greedy tokens as transformers."""
    pytest.importorskip("vllm")
    from agentbench_tuning.rollout.generator import Prompt, Sampling, render_prompt
    from agentbench_tuning.rollout.hf import TransformersGenerator
    from agentbench_tuning.rollout.vllm_engine import VLLMGenerator
    from agentbench_tuning.training.export import export_merged

    adapter, _ = smol_adapter
    merged = str(export_merged(adapter, tmp_path / "merged", dtype="float32").out_dir)
    hf = TransformersGenerator.load(merged, dtype="float32")
    messages = [{"role": "user", "content": "Name a colour."}]
    prompt = Prompt(messages, render_prompt(hf.tokenizer, messages), max_new_tokens=8)
    [expected] = hf.generate([prompt], Sampling())
    vllm_gen = VLLMGenerator.load(merged, max_context=1024, dtype="float32")
    try:
        [got] = vllm_gen.generate([prompt], Sampling())
    finally:
        vllm_gen.close()
    assert got.token_ids == expected.token_ids
