"""Generation with transformers: batched, left-padded, on CPU or GPU; optional LoRA adapter via peft.

The reference backend: slow but dependency-free, and the one the vLLM backend is checked against (same
greedy tokens on the same tiny model).

    gen = TransformersGenerator.load("Qwen/Qwen2.5-7B-Instruct", adapter="runs/sft/adapter")
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from agentbench_tuning.rollout.generator import (
    LENGTH,
    STOP,
    Generation,
    Prompt,
    Sampling,
    decode_completion,
    stop_token_ids,
)


@dataclass
class _Batch:
    input_ids: object  # torch.LongTensor [batch, width]
    attention_mask: object


class TransformersGenerator:
    def __init__(self, model, tokenizer, batch_size: int = 8):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.stop_ids = stop_token_ids(tokenizer, getattr(model, "generation_config", None))
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.stop_ids[-1]

    @classmethod
    def load(cls, model: str, adapter: str | None = None, dtype: str = "auto", batch_size: int = 8):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        device = "cuda" if torch.cuda.is_available() else "cpu"
        torch_dtype = {"auto": "auto", "float32": torch.float32, "bfloat16": torch.bfloat16,
                       "float16": torch.float16}[dtype]
        net = AutoModelForCausalLM.from_pretrained(model, dtype=torch_dtype).to(device)
        tokenizer = AutoTokenizer.from_pretrained(adapter if _has_tokenizer(adapter) else model)
        if adapter:
            from peft import PeftModel

            net = PeftModel.from_pretrained(net, adapter)
        return cls(net, tokenizer, batch_size)

    @classmethod
    @contextmanager
    def around(cls, model: Any, tokenizer: Any, batch_size: int = 8) -> Any:
        """A generator over a live in-memory model (GRPO: the policy being trained), in eval mode while in use;
        the model's own mode (train) is restored on exit, so the trainer's dropout and its mode checks are kept.

            with TransformersGenerator.around(model, tokenizer) as gen: run_episodes(gen, ...)
        """
        was_training = model.training
        try:
            yield cls(model, tokenizer, batch_size)
        finally:
            model.train(was_training)

    def generate(self, prompts: list[Prompt], sampling: Sampling) -> list[Generation]:
        out: list[Generation] = []
        for start in range(0, len(prompts), self.batch_size):
            out.extend(self._generate_batch(prompts[start : start + self.batch_size], sampling))
        return out

    def close(self) -> None:
        self.model = None

    def _pad_left(self, prompts: list[Prompt]) -> _Batch:
        import torch

        width = max(len(p.ids) for p in prompts)
        ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, p in enumerate(prompts):
            ids[row, width - len(p.ids) :] = torch.tensor(p.ids)
            mask[row, width - len(p.ids) :] = 1
        device = next(self.model.parameters()).device
        return _Batch(ids.to(device), mask.to(device))

    def _generate_batch(self, prompts: list[Prompt], sampling: Sampling) -> list[Generation]:
        import torch

        batch = self._pad_left(prompts)
        seeds = [p.seed for p in prompts if p.seed is not None]
        if seeds and not sampling.greedy:
            # One seed per batch: transformers cannot seed rows separately, so sampled runs are
            # reproducible for the same batch composition only (vLLM seeds each request).
            torch.manual_seed(seeds[0])
        # top_k=0 switches off transformers' default top-k of 50, which vLLM does not apply.
        extra = {} if sampling.greedy else {"temperature": sampling.temperature, "top_p": sampling.top_p,
                                             "top_k": sampling.top_k}
        with torch.no_grad():
            out = self.model.generate(
                input_ids=batch.input_ids,
                attention_mask=batch.attention_mask,
                max_new_tokens=max(p.max_new_tokens for p in prompts),
                do_sample=not sampling.greedy,
                eos_token_id=self.stop_ids,
                pad_token_id=self.pad_id,
                output_logits=True,
                return_dict_in_generate=True,
                **extra,
            )
        width = batch.input_ids.shape[1]
        new_tokens = out.sequences[:, width:].tolist()
        # Raw logits (before temperature/top-p) give the model's own logprobs, as vLLM reports by default.
        logprobs = torch.stack(out.logits, dim=1).float().log_softmax(-1)
        return [self._trim(p, new_tokens[row], logprobs[row]) for row, p in enumerate(prompts)]

    def _trim(self, prompt: Prompt, tokens: list[int], logprobs) -> Generation:
        """Cut a row at its first stop token (kept) or at its own token budget."""
        end, reason = min(len(tokens), prompt.max_new_tokens), LENGTH
        for i, tok in enumerate(tokens[:end]):
            if tok in self.stop_ids:
                end, reason = i + 1, STOP
                break
        kept = tokens[:end]
        lps = [float(logprobs[i, tok]) for i, tok in enumerate(kept)]
        text = decode_completion(self.tokenizer, kept)
        return Generation(kept, lps, text, reason, prompt_ids=list(prompt.ids))


def _has_tokenizer(directory: str | None) -> bool:
    from pathlib import Path

    return bool(directory) and (Path(directory) / "tokenizer_config.json").is_file()
