"""Build a generator for a model from the rollout settings (`config.RolloutSettings`): vLLM in-process,
transformers, or an OpenAI-compatible server. The dtype is chosen explicitly and is the same on every
engine: `auto` means the checkpoint's own dtype (vLLM would otherwise run a float32 checkpoint in bfloat16).

    generator = build_generator("Qwen/Qwen2.5-7B-Instruct", RolloutSettings(engine="vllm", adapter="runs/sft/final"))
"""

from __future__ import annotations

import json
from pathlib import Path

from agentbench_tuning.config import ENGINES, ConfigError, RolloutSettings
from agentbench_tuning.rollout.generator import Generator

__all__ = ["ENGINES", "build_generator", "checkpoint_dtype", "parse_seeds"]


def parse_seeds(text: str) -> list[int]:
    """`"0,1,2"` -> [0, 1, 2]; a clear error for anything else."""
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"--seeds must be comma-separated integers like 0,1,2, not {text!r}") from None
    if not seeds:
        raise ValueError(f"--seeds needs at least one seed, e.g. 0,1,2 (got {text!r})")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds has a repeated seed: {text!r}")
    return seeds


def checkpoint_dtype(model_dir: str, requested: str = "auto") -> str:
    """The dtype to run: `requested` unless "auto", else the checkpoint's `dtype`/`torch_dtype` (float32 when
    the config does not say; transformers' default)."""
    if requested != "auto":
        return requested
    config = Path(model_dir) / "config.json"
    if not config.is_file():
        return "auto"  # a hub id: the engine reads the config itself
    values = json.loads(config.read_text(encoding="utf-8"))
    return str(values.get("dtype") or values.get("torch_dtype") or "float32")


def build_generator(model: str, rollout: RolloutSettings) -> Generator:
    from agentbench_tuning.models import resolve_model_path

    if rollout.engine not in ENGINES:
        raise ConfigError(f"--engine must be one of {', '.join(ENGINES)}, not {rollout.engine!r}")
    if rollout.engine == "vllm":
        from agentbench_tuning.rollout.vllm_engine import VLLMGenerator

        path = resolve_model_path(model)  # `tiny:<family>` works here as in training configs
        return VLLMGenerator.load(path, adapter=rollout.adapter, max_context=rollout.limits.max_context,
                                  dtype=checkpoint_dtype(path, rollout.dtype))
    if rollout.engine == "transformers":
        from agentbench_tuning.rollout.hf import TransformersGenerator

        path = resolve_model_path(model)
        return TransformersGenerator.load(path, adapter=rollout.adapter, batch_size=rollout.batch_size,
                                          dtype=checkpoint_dtype(path, rollout.dtype))
    from agentbench_tuning.rollout.openai_http import OpenAIGenerator

    return OpenAIGenerator(rollout.base_url, model, tokenizer=_remote_tokenizer(model, rollout.tokenizer))


def _remote_tokenizer(model: str, tokenizer: str | None):
    """A tokenizer for the served model, to check the context budget locally; None if none can be found."""
    from agentbench_tuning.models import load_tokenizer

    try:
        return load_tokenizer(tokenizer or model)  # hub ids, local folders, `smollm2` and `gguf:` specs
    except OSError:
        # A served name like "qwen" has no tokenizer; the server's own context error still applies.
        return None
