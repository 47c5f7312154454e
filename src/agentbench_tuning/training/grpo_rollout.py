"""GRPO rollouts: whole episodes played by the shared runner, turned into the rows the policy is trained on.

`EpisodeRollout` is TRL's `rollout_func(prompts, trainer)`. Each prompt is one task key (benchmark, task index,
env seed) of the task dataset; TRL passes it repeated G times in a row and gets one rollout back per entry, in
order. All entries are played in one `run_episodes` call with the trainer's current weights: transformers
on the live model (`trl.models.unwrap_model_for_generation`), or vLLM in-process with this step's adapter
saved to a directory and hot-swapped in as a new LoRA request (the base is never merged).

What an episode trains on (`episode_segments`) — token ids exactly as sampled, never re-tokenised:
- append-only history (DB Bench): one segment, `prompt = first prompt`, `completion = model turns + the
  environment tokens between them` with `env_mask` 1 on model tokens and 0 on environment tokens; the
  completion ends on the assistant's `<|im_end|>` (the "\\n" after it opens the next environment segment);
- edited history (ALFWorld v0.2 drops the previous action list): one segment per model turn, each under the
  exact prompt that turn was sampled with. `MultiTurnGRPOTrainer` gives every segment its episode's advantage.

    rollout = EpisodeRollout(task_keys, make_env, rollout_settings, engine_options)
    out = rollout(["alfworld-sim/3/0"] * 8, trainer)   # 8 episodes of task 3 from one initial state
"""

from __future__ import annotations

import math
import shutil
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentbench_tuning.config import RolloutSettings, Sampling
from agentbench_tuning.envs.base import CONTEXT_LIMIT, EpisodeSpec
from agentbench_tuning.rollout.episodes import Trajectory, run_episodes
from agentbench_tuning.rollout.generator import STOP

__all__ = ["EpisodeRollout", "Segment", "TaskKey", "episode_segments", "is_truncated", "rollout_output",
           "segment_encoded", "task_prompt"]


@dataclass(frozen=True)
class TaskKey:
    spec: EpisodeSpec
    env_seed: int


def task_prompt(benchmark: str, index: int, env_seed: int) -> str:
    """The dataset's `prompt` for a task: a key, not model text (the environment writes the real prompt)."""
    return f"{benchmark}/{index}/{env_seed}"


@dataclass
class Segment:
    """One training row: `prompt_ids + completion_ids`, loss on `env_mask == 1` tokens."""

    prompt_ids: list[int]
    completion_ids: list[int]
    env_mask: list[int]
    logprobs: list[float]  # the sampler's logprob per completion token; 0.0 on environment tokens


def episode_segments(trajectory: Trajectory) -> list[Segment]:
    """One flattened segment when the history is append-only, else one segment per model turn (see module doc).
    Turns with no tokens (a prompt the context rule refused) carry nothing to train."""
    flat = trajectory.flatten()
    if flat is not None and flat.completion_ids:
        return [Segment(flat.prompt_ids, flat.completion_ids, flat.env_mask, flat.logprobs)]
    segments = []
    for turn in trajectory.turns:
        n = len(turn.completion_ids)
        if n:
            logprobs = list(turn.logprobs) if turn.logprobs is not None else [math.nan] * n
            segments.append(Segment(list(turn.prompt_ids), list(turn.completion_ids), [1] * n, logprobs))
    return segments


def is_truncated(trajectory: Trajectory) -> bool:
    """The episode was cut, not finished by the model: the 8k context rule ended it, or its last model turn
    hit the token budget without `<|im_end|>`."""
    if trajectory.status == CONTEXT_LIMIT:
        return True
    sampled = [t for t in trajectory.turns if t.completion_ids]
    return bool(sampled) and sampled[-1].finish_reason != STOP


def _reward_columns(trajectory: Trajectory) -> dict:
    info = trajectory.info
    return {
        "verdict": bool(info.get("verdict", trajectory.success)),
        "won": bool(info.get("won", trajectory.success)),
        "valid_action_fraction": float(info.get("valid_action_fraction", math.nan)),
        "progress": float(info["progress"]) if info.get("progress") is not None else math.nan,
        "failed_turns": sum(t.failed for t in trajectory.turns),
        "turns": len(trajectory.turns),
        "status": trajectory.status,
        "episode_reward": trajectory.reward,
        "episode_index": trajectory.index,
        "info": dict(trajectory.info),  # the env's final info, for reward functions of other environments
    }


def rollout_output(trajectories: Sequence[Trajectory]) -> dict[str, list]:
    """TRL's rollout_func output, one entry per trajectory (already in prompt order).

    `prompt_ids`/`completion_ids`/`logprobs`/`env_mask` keep TRL's contract (the flattened episode, or the last
    turn when history was edited); `segments` holds every training row of the episode, `completions` the
    model's turns as a conversation (reward functions that read text see the last one), `truncated` the cut
    episodes, and the reward columns (`verdict`, `won`, `valid_action_fraction`, `progress`, `failed_turns`,
    `turns`) what the benchmark's reward functions read."""
    out: dict[str, list] = defaultdict(list)
    for trajectory in trajectories:
        segments = episode_segments(trajectory)
        main = segments[0] if len(segments) == 1 else (segments[-1] if segments else Segment([], [], [], []))
        out["prompt_ids"].append(main.prompt_ids)
        out["completion_ids"].append(main.completion_ids)
        out["logprobs"].append(main.logprobs)
        out["env_mask"].append(main.env_mask)
        out["segments"].append(segments)
        out["flattened"].append(len(segments) == 1 and trajectory.flatten() is not None)
        out["truncated"].append(is_truncated(trajectory))
        out["completions"].append([{"role": "assistant", "content": t.text} for t in trajectory.turns])
        for key, value in _reward_columns(trajectory).items():
            out[key].append(value)
    return dict(out)


@dataclass
class EngineOptions:
    batch_size: int = 8  # transformers: rows per generate call
    adapter_root: str = "runs/grpo/rollout_adapters"  # vllm: one adapter directory per step
    adapter_keep: int = 2
    kv_cache_bytes: int | None = None
    model_path: str = ""  # vllm: the base model directory or hub id


@dataclass
class EpisodeRollout:
    """`rollout_func` for TRL's GRPOTrainer; see the module docstring."""

    tasks: dict[str, TaskKey]  # prompt key -> task
    make_env: Callable
    settings: RolloutSettings
    engine: EngineOptions = field(default_factory=EngineOptions)
    # Another policy to play the episodes (tests, scripted baselines): trainer -> context manager of a Generator.
    make_generator: Callable | None = None
    last: list[Trajectory] = field(default_factory=list)  # this step's episodes, for logging and notebooks
    seconds: float = 0.0
    _vllm: object = None

    @property
    def sampling(self) -> Sampling:
        s = self.settings.sampling
        return Sampling(temperature=s.temperature, top_p=1.0, max_new_tokens=s.max_new_tokens, top_k=0)

    def __call__(self, prompts: list, trainer) -> dict[str, list]:
        t0 = time.perf_counter()
        unknown = [p for p in prompts if p not in self.tasks]
        if unknown:
            raise KeyError(f"rollout got prompt {unknown[0]!r}, which is no task key of this run's dataset "
                           "(prompts must come from grpo.task_dataset)")
        # A distinct index per entry (and per step and process) gives every episode its own sampling seed,
        # while the task and env seed, hence the initial state, stay those of its group.
        base = (trainer.state.global_step * trainer.accelerator.num_processes + trainer.accelerator.process_index)
        specs = []
        for i, prompt in enumerate(prompts):
            key = self.tasks[prompt]
            specs.append((EpisodeSpec(base * len(prompts) + i, key.spec.task, key.spec.type), key.env_seed))
        by_seed: dict[int, list[EpisodeSpec]] = defaultdict(list)
        for spec, seed in specs:
            by_seed[seed].append(spec)
        played: dict[int, Trajectory] = {}
        with self._generator(trainer) as generator:
            for seed, group in by_seed.items():
                for trajectory in run_episodes(generator, self.make_env, group, [seed], self.sampling,
                                               self.settings.limits):
                    played[trajectory.index] = trajectory
        self.last = [played[spec.index] for spec, _ in specs]
        self.seconds = time.perf_counter() - t0
        return rollout_output(self.last)

    @contextmanager
    def _generator(self, trainer):
        if self.make_generator is not None:
            with self.make_generator(trainer) as generator:
                yield generator
            return
        if self.settings.engine == "transformers":
            from trl.models import unwrap_model_for_generation

            from agentbench_tuning.rollout.hf import TransformersGenerator

            with (
                unwrap_model_for_generation(trainer.model_wrapped, trainer.accelerator) as model,
                TransformersGenerator.around(model, trainer.processing_class, self.engine.batch_size) as generator,
            ):
                yield generator
            return
        yield self._vllm_generator(trainer)

    def _vllm_generator(self, trainer):
        """Save this step's adapter and serve it: the first call starts the engine with it, later calls swap it
        in as a new LoRA request. One engine per process; each process saves its own adapter copy."""
        root = Path(self.engine.adapter_root) / f"rank{trainer.accelerator.process_index}"
        step_dir = root / f"step-{trainer.state.global_step}"
        trainer.accelerator.unwrap_model(trainer.model).save_pretrained(str(step_dir))
        if self._vllm is None:
            from agentbench_tuning.rollout.engines import checkpoint_dtype
            from agentbench_tuning.rollout.vllm_engine import VLLMGenerator

            self._vllm = VLLMGenerator.load(
                self.engine.model_path, adapter=str(step_dir), max_context=self.settings.limits.max_context,
                dtype=checkpoint_dtype(self.engine.model_path, self.settings.dtype),
                kv_cache_bytes=self.engine.kv_cache_bytes,
            )
        else:
            self._vllm.set_adapter(str(step_dir))
        old = sorted((p for p in root.glob("step-*") if p != step_dir), key=lambda p: int(p.name.split("-")[1]))
        for stale in old[: max(0, len(old) - self.engine.adapter_keep + 1)]:
            shutil.rmtree(stale, ignore_errors=True)
        return self._vllm


def segment_encoded(segment: Segment) -> Any:
    """The segment as `chat.Encoded` (labels = ids on trained tokens), for `chat.show_mask`."""
    from agentbench_tuning.chat import IGNORE_INDEX, Encoded

    labels = [IGNORE_INDEX] * len(segment.prompt_ids)
    labels += [t if m else IGNORE_INDEX for t, m in zip(segment.completion_ids, segment.env_mask, strict=True)]
    return Encoded(segment.prompt_ids + segment.completion_ids, labels)
