"""`MultiTurnGRPOTrainer`: TRL's GRPOTrainer, trained on every model turn of whole episodes.

Why a subclass. TRL's `rollout_func` contract is one training row per rollout: `prompt_ids + completion_ids`
with an `env_mask`. That holds an episode exactly only when its history is append-only (DB Bench). The
ALFWorld v0.2 harness edits history (each step removes the action list from the previous observation), so
turn t+1's prompt is not turn t's prompt plus the model's reply: no single sequence carries the contexts the
model actually sampled under. Training the last turn alone (what a one-row rollout can hold) would ignore
all earlier decisions. No public hook lets a rollout return several rows for one advantage, so this class
overrides one method, `_generate_and_score_completions` (TRL 1.16), and keeps everything else of TRL:
sampler, reward functions (one logged metric each), loss (`_compute_loss`, loss_type "dapo"), KL via the
adapter-disabled model, optimiser, checkpoints.

What the override does, per generation batch:
1. calls the `rollout_func` (one episode per prompt entry, G consecutive entries per task);
2. scores each *episode* with the reward functions and computes group-relative advantages exactly as TRL's
   "sum_then_normalize" (reward weights, `scale_rewards`), counting and logging zero-variance groups;
3. expands each episode into its training rows (`grpo_rollout.episode_segments`): one flattened row for
   append-only episodes, one row per model turn under its exact sampled prompt otherwise. Every row carries
   its episode's advantage; with `turn_weighting="episode"` each of an episode's T rows weighs 1/T (a float
   loss mask), so a 35-turn episode counts as much as a 3-turn one instead of 12x more. With loss_type
   "dapo" the loss is sum(mask * token_loss) / sum(mask): a weighted token mean over the batch;
4. masks truncated episodes (`truncated="mask"`) or keeps them (`"keep"`);
5. pads the row count to the same multiple of `steps_per_generation` on every process (TRL splits the batch
   into that many equal micro-batches and gathers per-row metrics across processes) with zero-weight rows;
6. measures the rollout-vs-trainer logprob gap over model tokens (mean and max |diff|, eval mode, raw
   logits) and computes `old_per_token_logps` / reference logprobs where TRL would.

Memory: a micro-batch holds (rows of the generation batch) / steps_per_generation rows, and an ALFWorld
episode gives one row per turn. `rows_per_backward` (`grpo.rows_per_backward`) runs the loss of a micro-batch a
few rows at a time, back-propagating each chunk before the next forward (the "dapo" loss is a sum over tokens
divided by the generation batch's token count, so the chunks' gradients add up to the micro-batch's exactly);
the peak activation memory is then that of `rows_per_backward` rows, whatever the episode length. Under DDP the
earlier chunks back-propagate inside `no_sync`, so gradients are all-reduced once per micro-batch as before.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from accelerate.utils import DistributedType
from trl import GRPOTrainer
from trl.models.utils import disable_gradient_checkpointing
from trl.trainer.utils import nanmax, nanstd, pad, use_adapter

__all__ = ["MultiTurnGRPOTrainer", "Row", "build_rows", "group_advantages", "logprob_gap", "unpadded_rows"]


@dataclass
class Row:
    prompt_ids: list[int]
    completion_ids: list[int]
    mask: list[float]  # loss weight per completion token: 0 on environment tokens, row weight on model tokens
    logprobs: list[float]  # sampler logprobs (NaN where unknown)
    advantage: float
    episode: int  # index into the process's episodes (-1 for padding rows)


def group_advantages(rewards: torch.Tensor, group_size: int, scale: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(advantages, per-row "my group has zero reward std") as TRL's sum_then_normalize computes them:
    reward minus its group's mean, divided by the group std (+1e-4) for scale "group", the batch std for
    "batch", nothing for "none". NaN rewards (unscorable) are left out of the statistics and get advantage 0."""
    grouped = rewards.view(-1, group_size)
    mean = torch.nanmean(grouped, dim=1).repeat_interleave(group_size)
    group_std = nanstd(grouped, dim=1).repeat_interleave(group_size)
    std = nanstd(rewards).expand_as(rewards) if scale == "batch" else group_std
    advantages = rewards - mean
    if scale != "none":
        advantages = advantages / (std + 1e-4)
    return torch.nan_to_num(advantages, nan=0.0), torch.isclose(group_std, torch.zeros_like(group_std))


def build_rows(episodes: list[list], advantages: list[float], drop: list[bool], weighting: str) -> list[Row]:
    """Training rows of a process's episodes: every segment (see `grpo_rollout.Segment`) with its episode's
    advantage; weight 1/len(segments) per row with weighting "episode", 1 with "token"; dropped (truncated and
    masked) episodes contribute no row."""
    rows = []
    for index, (segments, advantage, dropped) in enumerate(zip(episodes, advantages, drop, strict=True)):
        if dropped or not segments:
            continue
        weight = 1.0 / len(segments) if weighting == "episode" else 1.0
        for seg in segments:
            rows.append(Row(seg.prompt_ids, seg.completion_ids, [weight * m for m in seg.env_mask],
                            seg.logprobs, advantage, index))
    return rows


def logprob_gap(trainer_logps: torch.Tensor, sampler_logps: torch.Tensor, mask: torch.Tensor) -> tuple[float, float]:
    """(mean, max) |trainer - sampler| over tokens with mask > 0 and a known sampler logprob; (nan, nan) if none."""
    keep = (mask > 0) & ~torch.isnan(sampler_logps)
    diff = (trainer_logps - sampler_logps).abs()[keep]
    if diff.numel() == 0:
        return math.nan, math.nan
    return diff.mean().item(), diff.max().item()


def unpadded_rows(inputs: dict, start: int, stop: int) -> dict:
    """Rows start:stop of a batch, without the padding columns none of them uses (leading prompt columns, trailing
    completion columns). A single row then has no padding at all, so the model runs without an attention mask and
    SDPA can use its memory-efficient kernel; rotary positions shift by a constant, which leaves attention
    unchanged. Per-row tensors are sliced, 2-D completion-width tensors (masks, logprobs) trimmed alike."""
    rows = inputs["completion_ids"].size(0)
    prompt_mask = inputs["prompt_mask"][start:stop]
    completion_mask = inputs["completion_mask"][start:stop]
    used_prompt = prompt_mask.any(dim=0).nonzero()
    used_completion = completion_mask.any(dim=0).nonzero()
    first = int(used_prompt[0]) if len(used_prompt) else prompt_mask.size(1) - 1
    last = int(used_completion[-1]) + 1 if len(used_completion) else 1
    width = completion_mask.size(1)
    out = {}
    for key, value in inputs.items():
        if not (torch.is_tensor(value) and value.dim() and value.size(0) == rows):
            out[key] = value
            continue
        value = value[start:stop]
        if key in ("prompt_ids", "prompt_mask"):
            value = value[:, first:]
        elif value.dim() == 2 and value.size(1) == width:
            value = value[:, :last]
        out[key] = value
    return out


class MultiTurnGRPOTrainer(GRPOTrainer):
    """GRPOTrainer over whole episodes; see the module docstring. Extra arguments: `truncated` ("mask" | "keep"),
    `turn_weighting` ("episode" | "token"), `measure_logprob_gap` (one extra no-grad forward per step),
    `rows_per_backward` (None: a micro-batch in one backward; n: n rows at a time, the same gradient)."""

    def __init__(self, *args, truncated: str = "mask", turn_weighting: str = "episode",
                 measure_logprob_gap: bool = True, rows_per_backward: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if self.rollout_func is None:
            raise ValueError("MultiTurnGRPOTrainer needs rollout_func (grpo_rollout.EpisodeRollout)")
        if self.loss_type != "dapo":
            raise ValueError(f"loss_type={self.loss_type!r}: the per-turn row weights assume 'dapo' (a token-sum loss "
                             "divided by the batch's weighted token count); set grpo.loss_type=dapo")
        self.truncated_policy = truncated
        self.turn_weighting = turn_weighting
        self.measure_logprob_gap = measure_logprob_gap
        self.rows_per_backward = rows_per_backward
        if rows_per_backward and self.accelerator.distributed_type == DistributedType.DEEPSPEED:
            raise ValueError("grpo.rows_per_backward back-propagates several times per micro-batch, which DeepSpeed's "
                             "engine does not allow; leave it unset and raise grpo.steps_per_generation instead")
        self.last_rows: list[Row] = []  # the rows of the latest generation batch (tests, notebooks)

    def compute_loss(self, model: torch.nn.Module, inputs: dict, return_outputs: bool = False,
                     num_items_in_batch: torch.Tensor | int | None = None) -> torch.Tensor:
        """TRL's loss; with `rows_per_backward`, every chunk but the last is back-propagated here and the last is
        returned (plus the others' detached values, so the logged loss is the micro-batch's) for the Trainer's
        own backward."""
        rows = inputs["completion_ids"].size(0)
        size = self.rows_per_backward
        if return_outputs or not size or rows <= size or not model.training:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        parts = [unpadded_rows(inputs, start, start + size) for start in range(0, rows, size)]
        done = torch.zeros((), device=self.accelerator.device)
        for part in parts[:-1]:
            with self.accelerator.no_sync(model):
                loss = self._compute_loss(model, part)
                self.accelerator.backward(loss)
            done = done + loss.detach()
        return self._compute_loss(model, parts[-1]) + done

    # ------------------------------------------------------------------ the override

    def _generate_and_score_completions(self, inputs: list[dict]) -> dict:
        mode = "train" if self.model.training else "eval"
        prompts = [x["prompt"] for x in inputs]
        out = dict(self.rollout_func(prompts, self))
        if len(out["segments"]) != len(prompts):
            raise ValueError(f"rollout_func returned {len(out['segments'])} episodes for {len(prompts)} prompts; "
                             "it must return exactly one per prompt entry, in order")
        segments, completions, truncated = out.pop("segments"), out.pop("completions"), out.pop("truncated")
        for key in ("prompt_ids", "completion_ids", "logprobs", "env_mask"):
            out.pop(key, None)
        for i, example in enumerate(inputs):
            example.update({key: values[i] for key, values in out.items()})
        model_ids = [[t for s in segs for t, m in zip(s.completion_ids, s.env_mask, strict=True) if m] for segs in segments]

        advantages = self._score_episodes(inputs, prompts, completions, model_ids, mode)
        drop = [bool(t) and self.truncated_policy == "mask" for t in truncated]
        rows = build_rows(segments, advantages.tolist(), drop, self.turn_weighting)
        self._log_episodes(out, truncated, model_ids, segments, rows, mode)
        self.last_rows = rows
        return self._batch(self._pad_rows(rows, mode), mode)

    def _score_episodes(self, inputs, prompts, completions, model_ids, mode) -> torch.Tensor:
        """Per-episode rewards (all processes) -> this process's advantages; logs TRL's reward metrics."""
        device = self.accelerator.device
        rewards_per_func = self._calculate_rewards(inputs, prompts, completions, model_ids)
        group_size = self.num_generations if mode == "train" else self.num_generations_eval
        weights = self.reward_weights.to(device).unsqueeze(0)
        rewards = (rewards_per_func * weights).nansum(dim=1)
        rewards[torch.isnan(rewards_per_func).all(dim=1)] = torch.nan
        advantages, zero_std = group_advantages(rewards, group_size, self.scale_rewards)
        metrics = self._metrics[mode]
        for i, name in enumerate(self.reward_func_names):
            metrics[f"rewards/{name}/mean"].append(torch.nanmean(rewards_per_func[:, i]).item())
            metrics[f"rewards/{name}/std"].append(nanstd(rewards_per_func[:, i]).item())
        metrics["reward"].append(torch.nanmean(rewards).item())
        metrics["reward_std"].append(nanstd(rewards).item())
        metrics["frac_reward_zero_std"].append(zero_std.float().mean().item())
        metrics["groups/zero_std_count"].append(zero_std.view(-1, group_size)[:, 0].sum().item())
        start = self.accelerator.process_index * len(prompts)
        return advantages[start : start + len(prompts)]

    # ------------------------------------------------------------------ rows -> batch

    def _pad_rows(self, rows: list[Row], mode: str) -> list[Row]:
        """Same row count on every process, a multiple of steps_per_generation, at least one row per micro-batch;
        padding rows have zero weight."""
        chunks = self.args.steps_per_generation if mode == "train" else 1
        count = torch.tensor([len(rows)], device=self.accelerator.device)
        most = int(self.accelerator.gather(count).max().item())
        target = max(chunks, math.ceil(most / chunks) * chunks)
        pad_id = self._tokenizer.pad_token_id
        filler = Row([pad_id], [self.eos_token_ids[0]], [0.0], [math.nan], 0.0, -1)
        return rows + [filler] * (target - len(rows))

    def _batch(self, rows: list[Row], mode: str) -> dict:
        device = self.accelerator.device
        pad_id = self._tokenizer.pad_token_id
        multiple = self.pad_to_multiple_of

        def tensors(lists, value, side, dtype):
            return pad([torch.tensor(x, dtype=dtype) for x in lists], padding_value=value, padding_side=side,
                       pad_to_multiple_of=multiple).to(device)

        prompt_ids = tensors([r.prompt_ids for r in rows], pad_id, "left", torch.long)
        prompt_mask = tensors([[1] * len(r.prompt_ids) for r in rows], 0, "left", torch.long)
        completion_ids = tensors([r.completion_ids for r in rows], pad_id, "right", torch.long)
        completion_mask = tensors([[1] * len(r.completion_ids) for r in rows], 0, "right", torch.long)
        weights = tensors([r.mask for r in rows], 0.0, "right", torch.float32)
        sampler_logps = tensors([r.logprobs for r in rows], math.nan, "right", torch.float32)
        batch = {
            "prompt_ids": prompt_ids,
            "prompt_mask": prompt_mask,
            "completion_ids": completion_ids,
            "completion_mask": completion_mask,
            "tool_mask": weights,  # TRL's name for env_mask; here a float mask carrying the row weights
            "advantages": torch.tensor([r.advantage for r in rows], dtype=torch.float32, device=device),
            "num_items_in_batch": self.accelerator.gather((completion_mask * weights).sum()).sum(),
        }
        if mode == "train":
            self.state.num_input_tokens_seen += int(self.accelerator.gather(
                prompt_mask.sum() + completion_mask.sum()).sum().item())
        self._add_logps(batch, sampler_logps, mode)
        return batch

    def _add_logps(self, batch: dict, sampler_logps: torch.Tensor, mode: str) -> None:
        input_ids = torch.cat([batch["prompt_ids"], batch["completion_ids"]], dim=1)
        attention = torch.cat([batch["prompt_mask"], batch["completion_mask"]], dim=1)
        width = batch["completion_ids"].size(1)
        size = self.args.per_device_train_batch_size if mode == "train" else self.args.per_device_eval_batch_size
        if self.measure_logprob_gap:
            trainer_logps = self._raw_logps(input_ids, attention, width, size)
            mean, most = logprob_gap(trainer_logps, sampler_logps, batch["completion_mask"] * batch["tool_mask"])
            gathered = self.accelerator.gather(torch.tensor([mean, most], device=input_ids.device)).view(-1, 2)
            self._metrics[mode]["logprob_gap/mean"].append(torch.nanmean(gathered[:, 0]).item())
            self._metrics[mode]["logprob_gap/max"].append(nanmax(gathered[:, 1]).item())
        generate_every = self.args.steps_per_generation * self.num_iterations
        with torch.no_grad(), disable_gradient_checkpointing(self.model, self.args.gradient_checkpointing_kwargs):
            if self.args.gradient_accumulation_steps % generate_every != 0:
                batch["old_per_token_logps"], _, _ = self._get_per_token_logps_and_entropies(
                    self.model, input_ids, attention, width, batch_size=size)
            if self.beta != 0.0:
                model = self.accelerator.unwrap_model(self.model)
                with use_adapter(model, adapter_name="ref" if "ref" in model.peft_config else None):
                    batch["ref_per_token_logps"], _, _ = self._get_per_token_logps_and_entropies(
                        self.model, input_ids, attention, width, batch_size=size)

    def _raw_logps(self, input_ids, attention, width: int, size: int) -> torch.Tensor:
        """log p(token) under the model's raw logits (temperature 1, no dropout): what the engines report."""
        model = self.model
        was_training = model.training
        model.eval()
        out = []
        try:
            with torch.no_grad():
                for start in range(0, input_ids.size(0), size):
                    ids, mask = input_ids[start : start + size], attention[start : start + size]
                    logits = model(input_ids=ids, attention_mask=mask, logits_to_keep=width + 1).logits[:, :-1]
                    logps = logits.float().log_softmax(-1)
                    out.append(logps.gather(-1, ids[:, -width:].unsqueeze(-1)).squeeze(-1))
        finally:
            model.train(was_training)
        return torch.cat(out)

    # ------------------------------------------------------------------ logging

    def _log_episodes(self, out: dict, truncated, model_ids, segments, rows, mode: str) -> None:
        metrics = self._metrics[mode]
        n = len(truncated)

        def mean(values):
            values = [v for v in values if not (isinstance(v, float) and math.isnan(v))]
            return sum(values) / len(values) if values else math.nan

        lengths = [len(ids) for ids in model_ids]
        stats = {
            "episodes/success": mean([float(r >= 1.0) for r in out["episode_reward"]]),
            "episodes/turns": mean(out["turns"]),
            "episodes/truncated": sum(truncated) / n,
            "episodes/flattened": sum(out["flattened"]) / n,
            "episodes/valid_action_fraction": mean(out["valid_action_fraction"]),
            "episodes/invalid_action_fraction": mean([f / t for f, t in zip(out["failed_turns"], out["turns"],
                                                                            strict=True) if t]),
            "rows/per_episode": mean([len(s) for s in segments]),
            "rows/trained": float(len(rows)),
            "completions/mean_length": mean(lengths),
            "completions/max_length": float(max(lengths, default=0)),
            "completions/clipped_ratio": sum(truncated) / n,
        }
        seconds = getattr(self.rollout_func, "seconds", None)
        if seconds is not None:
            stats["rollout/seconds"] = seconds
        for key, value in stats.items():
            gathered = self.accelerator.gather(torch.tensor([value], device=self.accelerator.device))
            metrics[key].append(torch.nanmean(gathered).item())
