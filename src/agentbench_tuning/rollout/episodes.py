"""The one episode runner that evaluation and GRPO share.

`run_episodes` plays many episodes at once: every turn it collects the chat each live environment would
send now (`env.messages`), renders it with the model's chat template, generates for all of them in one
batch, and steps each environment with its model's text. It applies the served-model context rule the
competition evaluates under (vLLM with `max_model_len` 8192 rejects a prompt longer than that, and AgentBench
records `agent context limit`) and returns one `Trajectory` per (task, seed) with per-turn token ids,
logprobs and timings.

    trajectories = run_episodes(generator, make_env, [EpisodeSpec(0, task)], seeds=[0], sampling=Sampling())
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentbench_tuning.config import Limits
from agentbench_tuning.envs.base import CONTEXT_LIMIT, TASK_ERROR, TASK_LIMIT, EpisodeSpec, TextEnv
from agentbench_tuning.rollout.generator import (
    CONTEXT,
    EpisodeRef,
    Generation,
    Generator,
    Prompt,
    Sampling,
    render_prompt,
)

__all__ = ["EpisodeSpec", "Flat", "Limits", "Trajectory", "Turn", "rollout_fields", "run_episodes"]


@dataclass
class Turn:
    prompt_ids: list[int]  # everything the model saw at this turn
    completion_ids: list[int]  # what it produced (model tokens)
    logprobs: list[float] | None
    text: str
    finish_reason: str
    generate_s: float  # share of the batch's generation time
    stepped: bool = False  # the environment took this output (a refused prompt's turn is never stepped)
    failed: bool = False  # the environment rejected the action (StepResult.info["action_failed"])


@dataclass
class Trajectory:
    index: int
    seed: int
    type: str
    status: str = ""
    reward: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)
    turns: list[Turn] = field(default_factory=list)
    messages: list[dict[str, str]] = field(default_factory=list)  # the final chat, model replies included
    env_s: float = 0.0
    wall_s: float = 0.0

    @property
    def success(self) -> bool:
        return self.reward >= 1.0

    @property
    def prompt_tokens(self) -> int:
        return sum(len(t.prompt_ids) for t in self.turns)

    @property
    def completion_tokens(self) -> int:
        return sum(len(t.completion_ids) for t in self.turns)

    def flatten(self) -> Flat | None:
        """One sequence `prompt + completion` with `env_mask` (1 = model token, 0 = environment token).

        Possible only while every prompt extends the previous prompt plus the model's own tokens; harnesses
        that edit history (ALFWorld drops old action lists) break that, and then the answer is None: train on
        the per-turn samples (`turns[i].prompt_ids`, `turns[i].completion_ids`) instead.
        """
        if not self.turns:
            return None
        completion, mask, logprobs = [], [], []
        seen = list(self.turns[0].prompt_ids)
        for i, turn in enumerate(self.turns):
            if i:
                if turn.prompt_ids[: len(seen)] != seen:
                    return None
                env_tokens = turn.prompt_ids[len(seen) :]
                completion += env_tokens
                mask += [0] * len(env_tokens)
                logprobs += [0.0] * len(env_tokens)
                seen = list(turn.prompt_ids)
            completion += turn.completion_ids
            mask += [1] * len(turn.completion_ids)
            logprobs += turn.logprobs or [0.0] * len(turn.completion_ids)
            seen += turn.completion_ids
        return Flat(list(self.turns[0].prompt_ids), completion, mask, logprobs)

    def to_record(self, benchmark: str = "", agent: str = "") -> dict[str, Any]:
        """The record (see `agentbench_tuning.records`): transcript with the agent's turns flagged, grade,
        timings, token counts (not the token ids)."""
        return {
            "index": self.index,
            "seed": self.seed,
            "benchmark": benchmark,
            "agent": agent,
            "type": self.type,
            "status": self.status,
            "reward": self.reward,
            "success": self.success,
            "verdict": self.info.get("verdict", self.success),
            "turns": len(self.turns),
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "max_prompt_tokens": max((len(t.prompt_ids) for t in self.turns), default=0),
            "finish_reasons": [t.finish_reason for t in self.turns],
            "generate_s": round(sum(t.generate_s for t in self.turns), 4),
            "env_s": round(self.env_s, 4),
            "wall_s": round(self.wall_s, 4),
            "info": {k: v for k, v in self.info.items() if k not in ("status", "reward", "verdict", "type")},
            "messages": self.messages,
        }


@dataclass
class Flat:
    prompt_ids: list[int]
    completion_ids: list[int]
    env_mask: list[int]
    logprobs: list[float]


def rollout_fields(trajectories: Sequence[Trajectory]) -> dict[str, list]:
    """TRL `rollout_func` output for trajectories in prompt order: prompt_ids, completion_ids, logprobs,
    env_mask, plus `reward`, `status` and `flattened` for reward functions and logging.

    An episode whose history is not append-only cannot be one sequence; it contributes its last turn
    (the final prompt, history edits included, and the model's last reply) and `flattened` is False.
    """
    fields: dict[str, list] = {k: [] for k in ("prompt_ids", "completion_ids", "logprobs", "env_mask", "reward",
                                                "status", "flattened")}
    for trajectory in trajectories:
        flat = trajectory.flatten()
        fields["flattened"].append(flat is not None)
        if flat is None:
            if not trajectory.turns:
                raise ValueError(f"episode {trajectory.index} (seed {trajectory.seed}) has no model turn to train on")
            last = trajectory.turns[-1]
            n = len(last.completion_ids)
            flat = Flat(list(last.prompt_ids), list(last.completion_ids), [1] * n, list(last.logprobs or [0.0] * n))
        fields["prompt_ids"].append(flat.prompt_ids)
        fields["completion_ids"].append(flat.completion_ids)
        fields["logprobs"].append(flat.logprobs)
        fields["env_mask"].append(flat.env_mask)
        fields["reward"].append(trajectory.reward)
        fields["status"].append(trajectory.status)
    return fields


@dataclass
class _Live:
    env: TextEnv | None  # None when the env factory itself failed (the episode is a task error)
    trajectory: Trajectory
    started: float
    ref: EpisodeRef


def run_episodes(
    generator: Generator,
    make_env: Callable[[], TextEnv],
    specs: Sequence[EpisodeSpec],
    seeds: Sequence[int],
    sampling: Sampling,
    limits: Limits | None = None,
    on_done: Callable[[Trajectory], None] | None = None,
) -> list[Trajectory]:
    """Play every (spec, seed) pair, `limits.concurrency` at a time; `on_done` sees each as it finishes."""
    limits = limits or Limits()
    queue = [(spec, seed) for seed in seeds for spec in specs]
    queue.reverse()  # pop() from the end keeps the order above
    live: list[_Live] = []
    finished: list[Trajectory] = []
    progress = _Progress(len(queue), limits.progress)

    def finish(episode: _Live) -> None:
        episode.trajectory.wall_s = time.perf_counter() - episode.started
        episode.trajectory.messages = _transcript(episode)
        finished.append(episode.trajectory)
        progress.update(episode.trajectory)
        if on_done:
            on_done(episode.trajectory)

    while queue or live:
        while queue and len(live) < limits.concurrency:
            episode = _start(make_env, *queue.pop())
            (finish if episode.trajectory.status else live.append)(episode)
        prompts, waiting = _collect_prompts(generator, live, sampling, limits, finish)
        if not waiting:
            live = []
            continue
        t0 = time.perf_counter()
        generations = generator.generate(prompts, sampling)
        share = (time.perf_counter() - t0) / len(waiting)
        for episode, prompt, gen in zip(waiting, prompts, generations, strict=True):
            _advance(episode, prompt, gen, share, limits)
            if episode.trajectory.status:
                finish(episode)
        live = [e for e in waiting if not e.trajectory.status]
    progress.close()
    return finished


def _start(make_env: Callable[[], TextEnv], spec: EpisodeSpec, seed: int) -> _Live:
    trajectory = Trajectory(spec.index, seed, spec.type)
    t0 = time.perf_counter()
    try:
        env = make_env()
    except Exception as err:  # e.g. the database is gone: an infrastructure failure, not a grade
        _fail(trajectory, TASK_ERROR, err)
        return _Live(None, trajectory, t0, EpisodeRef(spec.index, seed, spec.task, None))
    episode = _Live(env, trajectory, time.perf_counter(), EpisodeRef(spec.index, seed, spec.task, env))
    try:
        env.reset(spec.task, seed=seed)
    except Exception as err:  # a broken task is graded as AgentBench does, with the error kept
        _fail(trajectory, TASK_ERROR, err)
    trajectory.env_s += time.perf_counter() - t0
    return episode


def _collect_prompts(generator, live, sampling, limits, finish) -> tuple[list[Prompt], list[_Live]]:
    prompts, waiting = [], []
    for episode in live:
        trajectory = episode.trajectory
        if len(trajectory.turns) >= limits.max_turns:
            trajectory.status = TASK_LIMIT
            finish(episode)
            continue
        messages = [dict(m) for m in episode.env.messages]
        ids = render_prompt(generator.tokenizer, messages) if generator.tokenizer is not None else []
        # vLLM rejects a prompt longer than max_model_len and clamps max_tokens to what is left.
        room = limits.max_context - len(ids)
        if room <= 0:
            trajectory.info["prompt_tokens"] = len(ids)
            _end_for_context(episode)
            finish(episode)
            continue
        seed = trajectory.seed * 1_000_003 + trajectory.index * 1_009 + len(trajectory.turns)
        prompts.append(Prompt(messages, ids, min(sampling.max_new_tokens, room), seed, episode.ref))
        waiting.append(episode)
    return prompts, waiting


def _advance(episode: _Live, prompt: Prompt, gen: Generation, generate_s: float, limits: Limits) -> None:
    trajectory = episode.trajectory
    ids = gen.prompt_ids or prompt.ids
    turn = Turn(ids, gen.token_ids, gen.logprobs, gen.text, gen.finish_reason, generate_s)
    trajectory.turns.append(turn)
    if gen.finish_reason == CONTEXT:
        _end_for_context(episode)
        return
    t0 = time.perf_counter()
    try:
        turn.stepped = True
        result = episode.env.step(gen.text)
    except Exception as err:
        _fail(trajectory, TASK_ERROR, err)
        return
    finally:
        trajectory.env_s += time.perf_counter() - t0
    turn.failed = bool(result.info.get("action_failed"))
    if result.done:
        _record_end(trajectory, result)


def _end_for_context(episode: _Live) -> None:
    """The prompt no longer fits: the env ends the episode and grades it as its harness does."""
    try:
        result = episode.env.context_limit()
    except Exception as err:
        _fail(episode.trajectory, TASK_ERROR, err)
        return
    _record_end(episode.trajectory, result)
    episode.trajectory.status = CONTEXT_LIMIT


def _record_end(trajectory: Trajectory, result) -> None:
    trajectory.info.update(result.info)
    trajectory.reward = float(result.info.get("reward", result.reward))
    trajectory.status = result.info.get("status") or TASK_ERROR
    if not result.info.get("status"):
        trajectory.info["error"] = "environment ended the episode without info['status'] (envs/base.py contract)"


def _fail(trajectory: Trajectory, status: str, err: Exception) -> None:
    trajectory.status = status
    trajectory.info["error"] = "".join(traceback.format_exception_only(type(err), err)).strip()
    trajectory.info["traceback"] = traceback.format_exc(limit=5)


def _transcript(episode: _Live) -> list[dict[str, Any]]:
    """The env's whole conversation, its last `n` assistant messages flagged as the agent's own (`sampled`),
    where `n` is the number of outputs the env took: every `step` appends exactly one assistant message."""
    try:
        messages = [dict(m) for m in episode.env.transcript]
    except Exception:  # an env that failed in reset may have no chat at all
        return []
    stepped = [t for t in episode.trajectory.turns if t.stepped]
    assistant = [i for i, m in enumerate(messages) if m.get("role") == "assistant"]
    if len(stepped) > len(assistant):
        raise RuntimeError(f"env transcript has {len(assistant)} assistant messages for {len(stepped)} steps; "
                           "the env contract says each step appends one (envs/base.py)")
    for turn, i in zip(stepped, assistant[len(assistant) - len(stepped):], strict=True):
        messages[i]["sampled"] = True
        if turn.failed:
            messages[i]["failed"] = True
    return messages


class _Progress:
    def __init__(self, total: int, enabled: bool):
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc="episodes", unit="ep")
        self.successes = 0

    def update(self, trajectory: Trajectory) -> None:
        self.successes += trajectory.success
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(success=self.successes)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
