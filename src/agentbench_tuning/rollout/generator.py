"""The generation protocol every backend follows, and the prompt rendering they all share.

A `Generator` turns a batch of `Prompt`s into `Generation`s that carry the sampled token ids and their
logprobs, so GRPO can train on exactly the tokens the policy produced without re-tokenizing text.
Prompts are rendered once, here, with the tokenizer's own chat template and `add_generation_prompt=True`,
which is what `vllm serve` does for `/v1/chat/completions`: local backends and a served model see the same ids.

    from agentbench_tuning.rollout.generator import Prompt, Sampling, render_prompt
    ids = render_prompt(tokenizer, messages)
    [gen] = generator.generate([Prompt(messages, ids, max_new_tokens=512)], Sampling())
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from agentbench_tuning.config import Sampling

__all__ = ["CONTEXT", "LENGTH", "STOP", "EpisodeRef", "Generation", "Generator", "Prompt", "Sampling",
           "decode_completion", "render_prompt", "stop_token_ids"]

# Finish reasons, as vLLM spells the first two; "context" means the backend refused the prompt as too long.
STOP = "stop"
LENGTH = "length"
CONTEXT = "context"


@dataclass(eq=False)
class EpisodeRef:
    """The episode a prompt belongs to (one object per episode, compared by identity): scripted agents use it
    to keep per-episode state; model engines ignore it."""

    index: int
    seed: int
    task: Any
    env: Any


@dataclass(frozen=True)
class Prompt:
    """One request: the chat (for HTTP backends), its rendered ids (for local ones), and its own budget."""

    messages: list[dict[str, str]]
    ids: list[int]
    max_new_tokens: int
    seed: int | None = None  # per-request sampling seed, so a sampled episode can be replayed
    episode: EpisodeRef | None = None


@dataclass
class Generation:
    token_ids: list[int]  # the sampled tokens, ending with the stop token when one was produced
    logprobs: list[float] | None  # log p of each sampled token under the raw model distribution
    text: str  # decoded without special tokens, as an OpenAI-compatible server returns `content`
    finish_reason: str  # STOP | LENGTH | CONTEXT
    prompt_ids: list[int] = field(default_factory=list)


class Generator(Protocol):
    """What the episode runner, evaluation and GRPO rollouts rely on."""

    tokenizer: Any  # the model's tokenizer (chat template included); None only for a remote model without one

    def generate(self, prompts: list[Prompt], sampling: Sampling) -> list[Generation]: ...

    def close(self) -> None: ...


def render_prompt(tokenizer, messages: list[dict[str, str]]) -> list[int]:
    """Token ids of `messages` plus the assistant header, exactly as vLLM's chat endpoint renders them.

    vLLM renders the template to text and tokenizes it without adding special tokens; doing the same here
    (rather than `tokenize=True`, whose return type changed across transformers versions) keeps ids equal.
    """
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def stop_token_ids(tokenizer, generation_config=None) -> list[int]:
    """The template's end-of-turn token (read off the chat template: `<|im_end|>` for Qwen and SmolLM2), the
    tokenizer's eos and the generation config's eos ids (Qwen lists `<|endoftext|>` too)."""
    from agentbench_tuning.chat import turn_stop_ids

    return turn_stop_ids(tokenizer, generation_config)


def decode_completion(tokenizer, token_ids: list[int]) -> str:
    return tokenizer.decode(token_ids, skip_special_tokens=True)
