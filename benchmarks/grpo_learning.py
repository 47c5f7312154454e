"""Learning check for multi-turn GRPO: does the mechanism move a policy toward a rewarded choice?

A two-turn fork: the user asks "left or right?", the model answers, the environment says where it went and
asks it to say "done", the model answers again (two model turns, the second under a longer prompt). A tiny
Qwen2.5-shaped model (39M, random init) is warm-started with full SFT on three answers, one of them "left",
then trained with GRPO (the package's MultiTurnGRPOTrainer and EpisodeRollout, transformers engine) in two
arms from the same SFT adapter:
- rewarded: reward 1 when the first answer says "left";
- control: reward is a coin drawn from the episode's index, independent of what the model says.
The rate of "left" is measured by sampling fresh episodes (temperature 1) before and after GRPO.

    python benchmarks/grpo_learning.py [--steps 25] [--sft-steps 40] [--eval-episodes 64]
-> benchmarks/results/grpo_learning.{json,md,png}
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import shutil
import time
from pathlib import Path

from agentbench_tuning.envs.base import COMPLETED, CONTEXT_LIMIT, EpisodeSpec, StepResult

RESULTS = Path(__file__).parent / "results"
RUNS = Path("runs/bench_grpo_learning")
QUESTION = "You stand at a fork in the road. Answer with one word: left or right."


class ForkEnv:
    """Two model turns; `info["left"]` says whether the first answer chose left."""

    def reset(self, task, seed=None) -> str:
        self._messages = [{"role": "user", "content": QUESTION}]
        self.choice = None
        self.index = task["index"]
        return QUESTION

    @property
    def messages(self):
        return list(self._messages)

    transcript = messages

    def step(self, action: str) -> StepResult:
        self._messages.append({"role": "assistant", "content": action})
        if self.choice is None:
            self.choice = "left" if "left" in action.lower() else "right"
            observation = f"You walk {self.choice}. Say done."
            self._messages.append({"role": "user", "content": observation})
            return StepResult(observation, 0.0, False, {})
        info = {"status": COMPLETED, "reward": 0.0, "left": self.choice == "left"}
        return StepResult("", 0.0, True, info)

    def context_limit(self) -> StepResult:
        return StepResult("", 0.0, True, {"status": CONTEXT_LIMIT, "reward": 0.0, "left": False})


def sft_data(path: Path) -> None:
    """Three distinct conversations (SFT data loading drops duplicates), one of which says left: the warm-started
    model chooses left roughly a third of the time."""
    rows = []
    for answer in ("left", "right", "Right."):
        choice = "left" if "left" in answer else "right"
        rows.append({"messages": [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": answer},
                                  {"role": "user", "content": f"You walk {choice}. Say done."},
                                  {"role": "assistant", "content": "done"}]})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


# Reward functions (TRL signature); the rollout passes each episode's final `info` and `episode_index`.
def chose_left(completions, info, **kwargs) -> list[float]:
    return [1.0 if i.get("left") else 0.0 for i in info]


def coin(completions, episode_index, **kwargs) -> list[float]:
    return [1.0 if random.Random(i).random() < 0.4 else 0.0 for i in episode_index]


def warm_start(model: str, sft_steps: int) -> Path:
    from agentbench_tuning.config import load_sft_config
    from agentbench_tuning.training.sft import run_sft

    data = RUNS / "sft.jsonl"
    sft_data(data)
    cfg = load_sft_config(None, [
        f"model.name_or_path={model}", f"data.train=[{data}]", "data.eval_fraction=0.0", "data.max_length=256",
        f"train.output_dir={RUNS / 'sft'}", f"train.max_steps={sft_steps}", "train.per_device_train_batch_size=3",
        "train.gradient_accumulation_steps=1", "train.learning_rate=1e-2", "train.warmup_ratio=0.0",
        "train.logging_steps=5", "train.save_steps=1000", "train.gradient_checkpointing=false",
        "train.precision=fp32", "train.resume=never",
        # Full fine-tuning for the warm start: a random tiny model's output layer cannot put mass on a chosen
        # word through attention/MLP adapters alone (its logits span a few nats), and TRL does not train a LoRA
        # on lm_head. GRPO then trains a fresh LoRA on the warm-started model, as it would on a merged SFT model.
        "lora.enabled=false"])
    return run_sft(cfg).adapter_dir


def left_rate(model, tokenizer, episodes: int, seed: int) -> float:
    """Share of fresh sampled episodes (temperature 1) whose first answer says left."""
    import torch

    from agentbench_tuning.config import Limits, Sampling
    from agentbench_tuning.rollout.episodes import run_episodes
    from agentbench_tuning.rollout.hf import TransformersGenerator

    torch.manual_seed(seed)
    with TransformersGenerator.around(model, tokenizer, batch_size=64) as gen:
        specs = [EpisodeSpec(10_000 + i, {"index": 10_000 + i}) for i in range(episodes)]
        played = run_episodes(gen, ForkEnv, specs, [seed], Sampling(temperature=1.0, max_new_tokens=8),
                              Limits(max_context=512, concurrency=episodes))
    return sum(bool(t.info.get("left")) for t in played) / len(played)


def grpo_arm(name: str, model: str, steps: int, eval_episodes: int, lr: float) -> dict:
    from agentbench_tuning.config import load_config
    from agentbench_tuning.models import load_policy
    from agentbench_tuning.training.grpo import grpo_trainer_for
    from agentbench_tuning.training.grpo_rollout import TaskKey

    out = RUNS / name
    overrides = [
        f"model.name_or_path={model}", f"train.output_dir={out}", f"train.max_steps={steps}",
        "train.per_device_train_batch_size=8", "train.gradient_accumulation_steps=1", f"train.learning_rate={lr}",
        "train.warmup_ratio=0.0", "train.logging_steps=1", "train.save_steps=1000", "train.precision=fp32",
        "train.gradient_checkpointing=false", "train.resume=never", "rollout.engine=transformers",
        "rollout.sampling.temperature=1.0", "rollout.sampling.max_new_tokens=8", "rollout.limits.max_context=512",
        "grpo.num_generations=8", "lora.r=8", "lora.alpha=16", "lora.dropout=0.0",
    ]
    # control: the coin is the reward; chose_left is only logged (weight 0)
    weights = "grpo.reward_weights=[1.0, 0.0]" if name == "control" else "grpo.reward_weights=[1.0]"
    cfg = load_config(None, "grpo", [*overrides, weights, "grpo.rewards=[" + ("coin, chose_left]" if name == "control" else "chose_left]")])
    policy = load_policy(model)
    before = left_rate(policy.model, policy.tokenizer, eval_episodes, seed=1)
    tasks = {f"fork/{i}/0": TaskKey(EpisodeSpec(i, {"index": i}), 0) for i in range(4)}
    rewards = [chose_left] if name == "rewarded" else [coin, chose_left]
    trainer, rollout = grpo_trainer_for(cfg, policy, tasks, ForkEnv, rewards)
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    after = left_rate(trainer.model, policy.tokenizer, eval_episodes, seed=2)
    history = trainer.state.log_history
    return {
        "arm": name, "left_rate_before": before, "left_rate_after": after, "steps": steps,
        "seconds_per_step": seconds / steps,
        "left_rate_per_step": [e["rewards/chose_left/mean"] for e in history if "rewards/chose_left/mean" in e],
        "logprob_gap_max": max(e["logprob_gap/max"] for e in history if e.get("logprob_gap/max") is not None),
        "logprob_gap_mean": [e["logprob_gap/mean"] for e in history if e.get("logprob_gap/mean") is not None],
        "turns_per_episode": [e["episodes/turns"] for e in history if "episodes/turns" in e],
    }


def plot(arms: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for arm in arms:
        ax.plot(range(1, len(arm["left_rate_per_step"]) + 1), arm["left_rate_per_step"], marker="o", ms=3,
                label=f"{arm['arm']} (eval {arm['left_rate_before']:.2f} -> {arm['left_rate_after']:.2f})")
    ax.set_xlabel("GRPO step")
    ax.set_ylabel('share of rollouts choosing "left"')
    ax.set_ylim(0, 1)
    ax.legend()
    ax.set_title("Multi-turn GRPO learning check (tiny Qwen2.5-shaped model, CPU)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="tiny:qwen2.5")
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--sft-steps", type=int, default=40)
    parser.add_argument("--eval-episodes", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-2, help="GRPO learning rate (LoRA)")
    parser.add_argument("--warm", help="a warm-started model directory to reuse (skips the SFT step)")
    parser.add_argument("--name", default="grpo_learning", help="results file stem and run directory name")
    parser.add_argument("--report", action="store_true", help="only re-render <name>.md from <name>.json")
    args = parser.parse_args()
    if args.report:
        print(write_report(json.loads((RESULTS / f"{args.name}.json").read_text()), args.name))
        return
    global RUNS
    RUNS = Path("runs") / f"bench_{args.name}"
    shutil.rmtree(RUNS, ignore_errors=True)
    RUNS.mkdir(parents=True)
    started = time.perf_counter()
    warm = args.warm or str(warm_start(args.model, args.sft_steps))
    arms = [grpo_arm(name, warm, args.steps, args.eval_episodes, args.lr) for name in ("rewarded", "control")]
    result = {"model": args.model, "sft_steps": args.sft_steps, "grpo_learning_rate": args.lr, "grpo_steps": args.steps, "group_size": 8,
              "episodes_per_step": 8, "eval_episodes": args.eval_episodes, "arms": arms,
              "wall_s": round(time.perf_counter() - started, 1), "machine": f"{platform.machine()}, CPU only",
              "cpu_note": "2 cores shared with other jobs; seconds include that contention"}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(arms, RESULTS / f"{args.name}.png")
    print(write_report(result, args.name))


def write_report(result: dict, name: str) -> str:
    """`<name>.md` from the measured result (also `--report`: re-render from `<name>.json`)."""
    from agentbench_tuning.eval.stats import wilson_interval

    n = result["eval_episodes"]

    def rate(value: float) -> str:
        ci = wilson_interval(round(value * n), n)
        return f"{value:.2f} [{ci.low:.2f}, {ci.high:.2f}]"

    lines = ["# GRPO learning check (benchmarks/grpo_learning.py)", "",
             f"Tiny Qwen2.5-shaped model ({result['model']}), SFT warm start {result['sft_steps']} steps on three answers "
             f"(one \"left\"), then {result['grpo_steps']} multi-turn GRPO steps (G=8, 8 two-turn episodes per step), CPU.",
             "", "| arm | reward | left rate before (95% CI) | left rate after (95% CI) | s/step | max logprob gap |",
             "|---|---|---|---|---|---|"]
    for arm in result["arms"]:
        reward = "1 if first answer says left" if arm["arm"] == "rewarded" else "coin (p=0.4), action-independent"
        lines.append(f"| {arm['arm']} | {reward} | {rate(arm['left_rate_before'])} | {rate(arm['left_rate_after'])} | "
                     f"{arm['seconds_per_step']:.1f} | {arm['logprob_gap_max']:.2e} |")
    lines += ["", f"Left rates: {n} fresh episodes sampled at temperature 1 (Wilson 95% CIs). GRPO learning rate "
              f"{result['grpo_learning_rate']}. Wall {result['wall_s']} s; seconds per step on 2 CPU cores shared "
              f"with other jobs. ![curves]({name}.png)"]
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
