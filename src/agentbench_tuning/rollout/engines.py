"""Build a generator from the command-line model options shared by `abtune eval dbbench|alfworld`.

    opts = ModelOptions(model="Qwen/Qwen2.5-7B-Instruct", engine="vllm", adapter="runs/sft/adapter")
    generator = build_generator(opts)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from agentbench_tuning.rollout.generator import Generator, Sampling

Engine = Literal["vllm", "transformers", "openai"]
ENGINES = ("vllm", "transformers", "openai")


@dataclass(frozen=True)
class ModelOptions:
    model: str  # hub id or local directory; for --engine openai, the served model name
    engine: str = "vllm"
    adapter: str | None = None  # PEFT LoRA directory
    base_url: str | None = None  # for --engine openai, e.g. http://127.0.0.1:8000
    seeds: tuple[int, ...] = (0,)
    temperature: float = 0.0
    top_p: float = 1.0
    max_new_tokens: int = 512  # AgentBench v0.2 agent default
    max_context: int = 8192  # the max_model_len the competition serves with
    batch_size: int = 8  # transformers only; vLLM schedules its own batches
    concurrency: int = 16  # episodes played at once (one generate call covers all of them)
    tokenizer: str | None = None  # for --engine openai: where to load a tokenizer for context checks

    def validate(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"--engine must be one of {', '.join(ENGINES)}, not {self.engine!r}")
        if self.engine == "openai" and not self.base_url:
            raise ValueError("--engine openai needs --base-url, e.g. http://127.0.0.1:8000 (a running `vllm serve`)")
        if self.engine != "openai" and self.base_url:
            raise ValueError(f"--base-url is only used with --engine openai (got --engine {self.engine})")
        if self.engine == "openai" and self.adapter:
            raise ValueError("--adapter cannot be applied to a served model; serve it with `vllm serve --lora-modules`")
        if not self.seeds:
            raise ValueError("--seeds needs at least one seed, e.g. --seeds 0,1,2")
        self.sampling  # noqa: B018 - validates temperature, top_p, max_new_tokens

    @property
    def sampling(self) -> Sampling:
        return Sampling(self.temperature, self.top_p, self.max_new_tokens)


def parse_seeds(text: str) -> tuple[int, ...]:
    """`"0,1,2"` -> (0, 1, 2); a clear error for anything else."""
    try:
        seeds = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ValueError(f"--seeds must be comma-separated integers like 0,1,2, not {text!r}") from None
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds has a repeated seed: {text!r}")
    return seeds


def build_generator(opts: ModelOptions) -> Generator:
    from agentbench_tuning.models import resolve_model_path

    opts.validate()
    if opts.engine == "vllm":
        from agentbench_tuning.rollout.vllm_engine import VLLMGenerator

        model = resolve_model_path(opts.model)  # `tiny:<family>` works here as in training configs
        return VLLMGenerator.load(model, adapter=opts.adapter, max_context=opts.max_context)
    if opts.engine == "transformers":
        from agentbench_tuning.rollout.hf import TransformersGenerator

        model = resolve_model_path(opts.model)
        return TransformersGenerator.load(model, adapter=opts.adapter, batch_size=opts.batch_size)
    from agentbench_tuning.rollout.openai_http import OpenAIGenerator

    return OpenAIGenerator(opts.base_url, opts.model, tokenizer=_remote_tokenizer(opts))


def _remote_tokenizer(opts: ModelOptions):
    """A tokenizer for the served model, to check the context budget locally; None if none can be found."""
    from transformers import AutoTokenizer

    source = opts.tokenizer or opts.model
    try:
        return AutoTokenizer.from_pretrained(source)
    except OSError:
        # A served name like "qwen" has no tokenizer; the server's own context error still applies.
        return None
